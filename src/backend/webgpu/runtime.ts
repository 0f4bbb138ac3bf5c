/// <reference types="@webgpu/types" />
// The device side of the backend: pipelines, buffer pools, and one command encoder that
// collects every kernel until a read (or a flush threshold) needs the results. Kernel
// parameters go into a uniform arena that is uploaded just before the submit, so encoding
// a kernel never touches the queue.

import { BackendError } from '../../errors.js';
import { BufferPool, type GpuBuf } from './buffer-pool.js';
import { allParams, elementBytes, layoutOf, packParams, wgslOf, type FloatStorage, type Layout, type ProgramSpec } from './program.js';

// GPUBufferUsage / GPUMapMode values from the spec; Dawn in Node does not define the globals.
const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8, UNIFORM = 0x40, STORAGE = 0x80;
const ARENA_BYTES = 64 * 1024;

/** A tensor operand: `extent` elements from element `offset` of `buf` are bound. */
export interface Binding {
  buf: GpuBuf;
  offset: number;
  extent: number;
}

export interface RuntimeOptions {
  /** Submit after this many kernels even without a read, so the GPU starts early. */
  flushEvery?: number;
  /** Lower the storage binding limit below the adapter's (tests the split paths). */
  maxBindingBytes?: number;
  /** Bytes of free buffers kept for reuse. */
  poolBytes?: number;
}

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: Layout;
  storage: number;
}

interface Arena {
  buffer: GPUBuffer;
  host: ArrayBuffer;
  view: DataView;
}

export class Runtime {
  readonly queue: GPUQueue;
  readonly pool: BufferPool;
  private readonly staging: BufferPool;
  /** Largest storage binding in bytes. */
  maxBind: number;
  readonly maxBuffer: number;
  readonly maxDim: number;
  /** Threads per workgroup for the simple kernels. */
  readonly wg: number;
  private readonly bindAlign: number;
  private readonly uniformAlign: number;
  private readonly pipelines = new Map<string, Compiled>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private readonly arenas: Arena[] = [];
  private arena = 0;
  private arenaUsed = 0;
  flushEvery: number;
  private error: string | null = null;
  private lost: string | null = null;
  /** Kernels encoded, command buffers submitted, pipelines compiled, read-backs and uploads (each a host ⇄ device transfer). */
  readonly counters = { dispatches: 0, submits: 0, pipelines: 0, reads: 0, writes: 0 };
  /** Bytes per element of a float tensor. */
  readonly floatBytes: number;

  /** `storage`: how float tensors are stored (f16 needs a device with shader-f16). */
  constructor(readonly device: GPUDevice, opts: RuntimeOptions = {}, readonly storage: FloatStorage = 'f32') {
    this.floatBytes = elementBytes('float', storage);
    const l = device.limits;
    this.queue = device.queue;
    this.maxBind = Math.min(l.maxStorageBufferBindingSize, opts.maxBindingBytes ?? Infinity);
    this.maxBuffer = l.maxBufferSize;
    this.maxDim = l.maxComputeWorkgroupsPerDimension;
    this.wg = Math.min(256, l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX);
    this.bindAlign = l.minStorageBufferOffsetAlignment;
    this.uniformAlign = l.minUniformBufferOffsetAlignment;
    this.flushEvery = opts.flushEvery ?? 64;
    this.pool = new BufferPool(device, STORAGE | COPY_SRC | COPY_DST, opts.poolBytes ?? 2 ** 31);
    this.staging = new BufferPool(device, MAP_READ | COPY_DST, 2 ** 28);
    const onError = (ev: Event) => { this.error ??= (ev as GPUUncapturedErrorEvent).error.message; };
    if (typeof device.addEventListener === 'function') device.addEventListener('uncapturederror', onError);
    else (device as { onuncapturederror: unknown }).onuncapturederror = onError;
    void device.lost.then((info) => { this.lost = info.message || String(info.reason); });
  }

  alloc(bytes: number): GpuBuf {
    this.check();
    if (bytes > this.maxBuffer) {
      throw new BackendError(`webgpu: a tensor of ${bytes} bytes exceeds this adapter's maxBufferSize (${this.maxBuffer} bytes)`);
    }
    return this.pool.acquire(Math.max(bytes, 4));
  }

  free(buf: GpuBuf): void {
    this.pool.release(buf);
  }

  /** Writes 32-bit words at element `offset` (the backend uploads f16-stored tensors as f32 and converts them). */
  write(buf: GpuBuf, offset: number, data: Float32Array | Int32Array): void {
    this.check();
    if (data.length === 0) return;
    this.counters.writes++;
    // queue.writeBuffer runs before anything still being encoded; keep program order.
    if (this.encoder) this.flush();
    this.queue.writeBuffer(buf.buffer, offset * 4, data as Float32Array<ArrayBuffer>);
  }

  /** Reads `numel` 32-bit words from element `offset`. */
  async read(buf: GpuBuf, offset: number, numel: number): Promise<ArrayBuffer> {
    this.check();
    const bytes = numel * 4;
    if (bytes === 0) return new ArrayBuffer(0);
    this.counters.reads++;
    const st = this.staging.acquire(bytes);
    this.commandEncoder().copyBufferToBuffer(buf.buffer, offset * 4, st.buffer, 0, bytes);
    this.flush();
    try {
      await st.buffer.mapAsync(1 /* READ */, 0, bytes);
    } catch (e) {
      this.check();
      throw new BackendError(`webgpu: reading back failed: ${(e as Error).message}`);
    }
    const out = st.buffer.getMappedRange(0, bytes).slice(0);
    st.buffer.unmap();
    this.staging.release(st);
    this.check();
    return out;
  }

  /** Throws the first asynchronous device error since the last check. */
  check(): void {
    if (this.lost !== null) throw new BackendError(`webgpu: the device was lost (${this.lost})`);
    if (this.error !== null) {
      const e = this.error;
      this.error = null;
      throw new BackendError(`webgpu: ${e.split('\n')[0]}`);
    }
  }

  private compiled(spec: ProgramSpec): Compiled {
    let c = this.pipelines.get(spec.key);
    if (!c) {
      const code = wgslOf(spec, this.storage);
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({ code, label: spec.key });
      const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: spec.key });
      void this.device.popErrorScope().then((err) => {
        if (err) this.error ??= `kernel ${spec.key}: ${err.message}`;
      });
      c = { pipeline, layout: layoutOf(allParams(spec)), storage: spec.storage.length };
      this.pipelines.set(spec.key, c);
      this.counters.pipelines++;
    }
    return c;
  }

  private commandEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = (this.encoder ??= this.device.createCommandEncoder()).beginComputePass();
    return this.pass;
  }

  private uniformSlot(bytes: number): { arena: Arena; offset: number } {
    const size = Math.ceil(bytes / this.uniformAlign) * this.uniformAlign;
    if (this.arenaUsed + size > ARENA_BYTES) {
      this.arena++;
      this.arenaUsed = 0;
    }
    while (this.arenas.length <= this.arena) {
      const host = new ArrayBuffer(ARENA_BYTES);
      this.arenas.push({ buffer: this.device.createBuffer({ size: ARENA_BYTES, usage: UNIFORM | COPY_DST }), host, view: new DataView(host) });
    }
    const offset = this.arenaUsed;
    this.arenaUsed += size;
    return { arena: this.arenas[this.arena]!, offset };
  }

  /**
   * The bound window of an operand of `elem`-byte elements: offsets of storage bindings must
   * be aligned, sizes a multiple of 4 bytes.
   */
  private window(b: Binding, name: string, elem: number): { offset: number; size: number; shift: number } {
    const start = Math.floor((b.offset * elem) / this.bindAlign) * this.bindAlign;
    const size = Math.max(Math.ceil(((b.offset + b.extent) * elem - start) / 4) * 4, 4);
    if (size > this.maxBind) {
      throw new BackendError(`webgpu: binding '${name}' of ${size} bytes exceeds the adapter's maxStorageBufferBindingSize (${this.maxBind})`);
    }
    if (start + size > b.buf.bytes) throw new BackendError(`webgpu: binding '${name}' runs past its buffer`);
    return { offset: start, size, shift: b.offset - start / elem };
  }

  /** Workgroup grid for `groups` workgroups, spread over y and z past the per-dimension cap. */
  grid(groups: number): [number, number, number] {
    const m = this.maxDim;
    if (groups <= m) return [groups, 1, 1];
    const y = Math.ceil(groups / m);
    if (y <= m) return [m, y, 1];
    return [m, m, Math.ceil(y / m)];
  }

  /** Encodes one kernel; buffers follow spec.storage's order. */
  dispatch(spec: ProgramSpec, buffers: Binding[], values: Record<string, number | readonly number[]>, workgroups: number): void {
    if (workgroups <= 0) return;
    const c = this.compiled(spec);
    const entries: GPUBindGroupEntry[] = [];
    const all: Record<string, number | readonly number[]> = { ...values };
    buffers.forEach((b, i) => {
      const decl = spec.storage[i]!, name = decl.name;
      const w = this.window(b, name, elementBytes(decl.type, this.storage));
      all[`${name}_off`] = w.shift;
      entries.push({ binding: i + 1, resource: { buffer: b.buf.buffer, offset: w.offset, size: w.size } });
    });
    const slot = this.uniformSlot(c.layout.size);
    packParams(c.layout, all, new DataView(slot.arena.host, slot.offset, c.layout.size));
    entries.push({ binding: 0, resource: { buffer: slot.arena.buffer, offset: slot.offset, size: c.layout.size } });
    const pass = this.computePass();
    pass.setPipeline(c.pipeline);
    pass.setBindGroup(0, this.device.createBindGroup({ layout: c.pipeline.getBindGroupLayout(0), entries }));
    const [x, y, z] = this.grid(workgroups);
    pass.dispatchWorkgroups(x, y, z);
    this.counters.dispatches++;
    if (++this.pending >= this.flushEvery) this.flush();
  }

  /** Uploads the kernels' parameters and submits everything encoded so far. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    for (let i = 0; i <= this.arena && i < this.arenas.length; i++) {
      const used = i < this.arena ? ARENA_BYTES : this.arenaUsed;
      if (used > 0) this.queue.writeBuffer(this.arenas[i]!.buffer, 0, this.arenas[i]!.host, 0, used);
    }
    this.queue.submit([this.encoder.finish()]);
    this.counters.submits++;
    this.encoder = null;
    this.pending = 0;
    this.arena = 0;
    this.arenaUsed = 0;
    this.pool.collect();
    this.staging.collect();
  }

  /** Resolves when everything submitted so far has run. */
  async idle(): Promise<void> {
    this.flush();
    await this.queue.onSubmittedWorkDone();
    this.check();
  }

  destroy(): void {
    this.flush();
    this.pool.trim();
    this.staging.trim();
    for (const a of this.arenas) a.buffer.destroy();
    this.arenas.length = 0;
    this.device.destroy();
  }
}
