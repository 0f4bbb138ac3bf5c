// Memory for tensors inside the wasm module's linear memory. Blocks are rounded to size
// classes (64-byte steps up to 4 KiB, then quarter powers of two) and recycled through one
// free list per class, so repeated inferences reuse the same blocks and memory stays flat.
// Every block has 64 bytes of slack so vector loads may run past a tensor's last element.

import { BackendError, ResourceLimitError } from '../../errors.js';

const PAGE = 65536;
const SLACK = 64;

export function sizeClass(bytes: number): number {
  const n = bytes + SLACK;
  if (n <= 4096) return Math.ceil(n / 64) * 64;
  const p = 2 ** Math.floor(Math.log2(n));
  const step = p / 4;
  return Math.ceil(n / step) * step;
}

export class Arena {
  private top: number;
  private readonly free = new Map<number, number[]>();
  private readonly sizes = new Map<number, number>();
  private live = 0;

  constructor(private readonly memory: WebAssembly.Memory, base: number, private readonly maxBytes: number) {
    this.top = Math.ceil(base / 64) * 64;
  }

  alloc(bytes: number): number {
    const size = sizeClass(bytes);
    const reuse = this.free.get(size)?.pop();
    if (reuse !== undefined) {
      this.sizes.set(reuse, size);
      this.live += size;
      return reuse;
    }
    const ptr = this.top;
    const end = ptr + size;
    if (end > this.maxBytes) {
      throw new ResourceLimitError(`wasm backend: cannot allocate ${bytes} bytes (in use ${this.live} of the ${this.maxBytes}-byte limit)`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(Math.max(pages, Math.min(1024, Math.ceil(have / PAGE / 8))));
      } catch {
        this.memory.grow(pages);
      }
    }
    this.top = end;
    this.sizes.set(ptr, size);
    this.live += size;
    return ptr;
  }

  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new BackendError(`wasm backend: double free of block ${ptr}`);
    this.sizes.delete(ptr);
    this.live -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(ptr);
  }

  /** Bytes held by live blocks / reserved from the memory (high-water mark). */
  stats(): { liveBytes: number; reservedBytes: number; memoryBytes: number } {
    return { liveBytes: this.live, reservedBytes: this.top, memoryBytes: this.memory.buffer.byteLength };
  }
}
