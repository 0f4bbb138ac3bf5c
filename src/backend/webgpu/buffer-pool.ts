/// <reference types="@webgpu/types" />
// GPU buffers recycled by size class. A forward pass allocates and frees the same few
// shapes over and over; creating a GPUBuffer each time costs a driver allocation, reusing
// one costs nothing. There are eight classes per power of two, so a buffer is at most
// 12.5% larger than asked for.

export interface GpuBuf {
  readonly buffer: GPUBuffer;
  /** Capacity in bytes (the size class). */
  readonly bytes: number;
  freed: boolean;
}

export interface PoolStats {
  created: number;
  reused: number;
  /** Bytes held by live tensors. */
  liveBytes: number;
  /** Bytes parked in free lists. */
  freeBytes: number;
}

export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const top = 2 ** Math.ceil(Math.log2(bytes));
  const step = top / 16;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  /** Over-budget buffers, destroyed after the next submit (encoded commands may still name them). */
  private doomed: GPUBuffer[] = [];
  readonly stats: PoolStats = { created: 0, reused: 0, liveBytes: 0, freeBytes: 0 };

  constructor(private readonly device: GPUDevice, private readonly usage: number, public maxFreeBytes: number) {}

  acquire(bytes: number): GpuBuf {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    const reused = list?.pop();
    this.stats.liveBytes += size;
    if (reused) {
      this.stats.reused++;
      this.stats.freeBytes -= size;
      return { buffer: reused, bytes: size, freed: false };
    }
    this.stats.created++;
    return { buffer: this.device.createBuffer({ size, usage: this.usage }), bytes: size, freed: false };
  }

  /**
   * Parks the buffer for reuse. Safe while commands that use it are still queued: every
   * later use is encoded or queued after them (Runtime.write submits pending work before
   * queue.writeBuffer), and the queue runs in order.
   */
  release(buf: GpuBuf): void {
    if (buf.freed) return;
    buf.freed = true;
    this.stats.liveBytes -= buf.bytes;
    if (this.stats.freeBytes + buf.bytes > this.maxFreeBytes) {
      this.doomed.push(buf.buffer);
      return;
    }
    let list = this.free.get(buf.bytes);
    if (!list) this.free.set(buf.bytes, (list = []));
    list.push(buf.buffer);
    this.stats.freeBytes += buf.bytes;
  }

  /** Called after a submit: destroying a submitted buffer waits for the GPU, an encoded one would not. */
  collect(): void {
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
  }

  /** Destroys every parked buffer; only after a submit, like collect(). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats.freeBytes = 0;
    this.collect();
  }
}
