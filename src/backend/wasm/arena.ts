// Memory for tensors inside the wasm module's linear memory: best-fit over an address-ordered
// free list, splitting large blocks and coalescing neighbours on release, with a bump pointer
// at the top that moves back down when the top block is freed. Freed memory of any size can
// serve any later request, so transient buffers (BatchNorm folding, initialisation) do not
// raise the high-water mark, and repeated inferences land on the same blocks: flat memory.
// Every block has 64 bytes of slack so vector loads may run past a tensor's last element.

import { BackendError, ResourceLimitError } from '../../errors.js';

const PAGE = 65536;
const SLACK = 64;
/** A free remainder smaller than this stays with the block rather than being split off. */
const MIN_SPLIT = 1024;

export function blockSize(bytes: number): number {
  return Math.ceil((bytes + SLACK) / 64) * 64;
}

export class Arena {
  private top: number;
  /** Free blocks, sorted by address, never adjacent to each other or to `top`. */
  private readonly freePtrs: number[] = [];
  private readonly freeSizes: number[] = [];
  private readonly sizes = new Map<number, number>();
  private live = 0;
  private highWater: number;

  constructor(private readonly memory: WebAssembly.Memory, base: number, private readonly maxBytes: number) {
    this.top = Math.ceil(base / 64) * 64;
    this.highWater = this.top;
  }

  alloc(bytes: number): number {
    const size = blockSize(bytes);
    let best = -1;
    for (let i = 0; i < this.freeSizes.length; i++) {
      const s = this.freeSizes[i]!;
      if (s >= size && (best < 0 || s < this.freeSizes[best]!)) {
        best = i;
        if (s === size) break;
      }
    }
    let ptr: number;
    let taken = size;
    if (best >= 0) {
      ptr = this.freePtrs[best]!;
      const rest = this.freeSizes[best]! - size;
      if (rest >= MIN_SPLIT) {
        this.freePtrs[best] = ptr + size;
        this.freeSizes[best] = rest;
      } else {
        taken = this.freeSizes[best]!;
        this.freePtrs.splice(best, 1);
        this.freeSizes.splice(best, 1);
      }
    } else {
      ptr = this.top;
      this.grow(ptr + size, bytes);
      this.top = ptr + size;
    }
    this.sizes.set(ptr, taken);
    this.live += taken;
    return ptr;
  }

  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new BackendError(`wasm backend: double free of block ${ptr}`);
    this.sizes.delete(ptr);
    this.live -= size;
    // Insert in address order, merging with the neighbours it touches.
    let lo = 0, hi = this.freePtrs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.freePtrs[mid]! < ptr) lo = mid + 1;
      else hi = mid;
    }
    let start = ptr, end = ptr + size;
    if (lo > 0 && this.freePtrs[lo - 1]! + this.freeSizes[lo - 1]! === start) {
      lo--;
      start = this.freePtrs[lo]!;
      this.freePtrs.splice(lo, 1);
      this.freeSizes.splice(lo, 1);
    }
    if (lo < this.freePtrs.length && this.freePtrs[lo] === end) {
      end += this.freeSizes[lo]!;
      this.freePtrs.splice(lo, 1);
      this.freeSizes.splice(lo, 1);
    }
    if (end === this.top) {
      this.top = start;
      return;
    }
    this.freePtrs.splice(lo, 0, start);
    this.freeSizes.splice(lo, 0, end - start);
  }

  /** Where the bump pointer is: a recording's own arena starts here (see adopt). */
  get end(): number {
    return this.top;
  }

  /**
   * Takes [start, end) as one live block: the memory a recording's own arena (built at
   * start = this.end while nothing was allocated here) handed out. Whatever this arena
   * freed at its top meanwhile stays free below start.
   */
  adopt(start: number, end: number): void {
    if (start < this.top) throw new BackendError(`wasm backend: block ${start} to adopt lies below the heap top ${this.top}`);
    if (start > this.top) {
      // No free block touches the top, so this one joins none.
      this.freePtrs.push(this.top);
      this.freeSizes.push(start - this.top);
    }
    this.grow(end, end - start);
    this.sizes.set(start, end - start);
    this.live += end - start;
    this.top = end;
  }

  /** Bytes of live blocks. */
  get liveBytes(): number {
    return this.live;
  }

  /** The highest address handed out so far. */
  get highWaterMark(): number {
    return this.highWater;
  }

  private grow(end: number, requested: number): void {
    if (end > this.maxBytes) {
      throw new ResourceLimitError(`wasm backend: cannot allocate ${requested} bytes (in use ${this.live} of the ${this.maxBytes}-byte limit)`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        // Grow by at least 1/8 of the memory: fewer, larger grows.
        this.memory.grow(Math.max(pages, Math.min(1024, Math.ceil(have / PAGE / 8))));
      } catch {
        this.memory.grow(pages);
      }
    }
    this.highWater = Math.max(this.highWater, end);
  }

  /** Bytes held by live blocks, the high-water mark of the heap, and the memory's size. */
  stats(): { liveBytes: number; reservedBytes: number; memoryBytes: number; freeBlocks: number } {
    return { liveBytes: this.live, reservedBytes: this.highWater, memoryBytes: this.memory.buffer.byteLength, freeBlocks: this.freePtrs.length };
  }
}
