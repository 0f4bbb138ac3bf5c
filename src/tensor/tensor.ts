// Tensor: a view (shape, strides, offset) onto reference-counted, backend-owned storage.
// Views (reshape of contiguous data, transpose, narrow, split) share storage and copy
// nothing; contiguous() copies only when the layout requires it.

import { BackendError, ShapeError } from '../errors.js';
import type { Backend, DType, HostArray, Ref, StridedRef } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { checkNumel, contiguousStrides, fmt, inferShape, normDim, numel, type Shape } from './shape.js';
import { keep, track, type Disposable } from './scope.js';
import { currentObserver, GradNode, recordView, noGrad } from '../autograd/tape.js';
import { backward as runBackward } from '../autograd/engine.js';

export class Storage {
  refs = 0;
  constructor(readonly backend: Backend, public buf: unknown, readonly numel: number, readonly dtype: DType) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0) {
      this.backend.free(this.buf);
      this.buf = undefined;
    }
  }
}

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  private disposed = false;
  /** The autograd node that made this tensor (null for leaves and untracked results). */
  gradFn: GradNode | null = null;
  /** The gradient accumulated by backward() (leaves that require grad). */
  grad: Tensor | null = null;
  private wantsGrad = false;

  constructor(readonly storage: Storage, shape: Shape, strides?: Shape, offset = 0) {
    this.shape = [...shape];
    this.strides = strides ? [...strides] : contiguousStrides(shape);
    this.offset = offset;
    storage.retain();
    track(this);
  }

  /** A fresh, uninitialised contiguous tensor on `backend`. */
  static empty(shape: Shape, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
    const n = checkNumel(shape);
    return new Tensor(new Storage(backend, backend.alloc(n, dtype), n, dtype), shape);
  }

  get backend(): Backend {
    return this.storage.backend;
  }
  get dtype(): DType {
    return this.storage.dtype;
  }
  get rank(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** (buffer, offset) for kernels; only meaningful on contiguous tensors. */
  get ref(): Ref<unknown> {
    this.assertLive();
    return { buf: this.storage.buf, offset: this.offset };
  }

  get stridedRef(): StridedRef<unknown> {
    this.assertLive();
    return { buf: this.storage.buf, offset: this.offset, strides: this.strides };
  }

  /** A leaf that requires grad collects gradients in .grad; results of ops on it are tracked. */
  get requiresGrad(): boolean {
    return this.wantsGrad || this.gradFn !== null;
  }
  set requiresGrad(on: boolean) {
    if (this.gradFn) {
      if (!on) throw new ShapeError(`requiresGrad = false on a result of '${this.gradFn.name}': use detach()`);
      return;
    }
    if (on && this.dtype !== 'float32') throw new ShapeError(`only float32 tensors can require gradients, got ${this.dtype} ${fmt(this.shape)}`);
    this.wantsGrad = on;
  }

  /** Sets requiresGrad and returns this (torch's requires_grad_()). */
  requiresGrad_(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** A view of the same data outside the graph. */
  detach(): Tensor {
    this.assertLive();
    const out = new Tensor(this.storage, this.shape, this.strides, this.offset);
    currentObserver()?.view('detach', this, out, []);
    return out;
  }

  /**
   * Backpropagates from this tensor: a scalar by default, or any shape with the given
   * gradient. Leaves that require grad accumulate into .grad; the graph is freed.
   */
  backward(gradOutput?: Tensor): void {
    runBackward(this, gradOutput);
  }

  /** Frees .grad (optimizer.zeroGrad()). */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /** The scope keeps this tensor's graph alive while the tensor survives. */
  dependents(inScope: (d: Disposable) => boolean): Iterable<GradNode> {
    return this.gradFn ? this.gradFn.reachable((n) => inScope(n)) : [];
  }

  isContiguous(): boolean {
    let s = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== s) return false;
      s *= this.shape[i]!;
    }
    return true;
  }

  /** This tensor if already contiguous, else a contiguous copy. */
  contiguous(): Tensor {
    if (this.isContiguous()) return this;
    const out = Tensor.empty(this.shape, this.dtype, this.backend);
    this.backend.copy(this.shape, this.stridedRef, out.stridedRef, this.dtype);
    return recordView('contiguous', out, this, [], (_, g) => [g]);
  }

  reshape(...shape: number[] | [readonly number[]]): Tensor {
    const target = inferShape(Array.isArray(shape[0]) ? shape[0] : (shape as number[]), this.size, this.shape);
    const src = noGrad(() => this.contiguous());
    const view = new Tensor(src.storage, target, undefined, src.offset);
    if (src !== this) src.dispose(); // the view holds the copy's storage
    const from = this.shape;
    return recordView('reshape', view, this, target, (_, g) => [g.reshape(from)]);
  }

  /** Flattens dims start..end into one, like torch.flatten. */
  flatten(start = 0, end = -1): Tensor {
    if (this.rank === 0) return this.reshape(1);
    const s = normDim(start, this.rank), e = normDim(end, this.rank);
    const merged = this.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return this.reshape([...this.shape.slice(0, s), merged, ...this.shape.slice(e + 1)]);
  }

  transpose(d0: number, d1: number): Tensor {
    const a = normDim(d0, this.rank), b = normDim(d1, this.rank);
    const shape = [...this.shape], strides = [...this.strides];
    [shape[a], shape[b]] = [shape[b]!, shape[a]!];
    [strides[a], strides[b]] = [strides[b]!, strides[a]!];
    return recordView('transpose', new Tensor(this.storage, shape, strides, this.offset), this, [a, b], (_, g) => [g.transpose(a, b)]);
  }

  permute(...dims: number[]): Tensor {
    if (dims.length !== this.rank || new Set(dims.map((d) => normDim(d, this.rank))).size !== this.rank) {
      throw new ShapeError(`permute: ${fmt(dims)} is not a permutation of the ${this.rank} dims of ${fmt(this.shape)}`);
    }
    const ds = dims.map((d) => normDim(d, this.rank));
    const inverse = ds.map((_, i) => ds.indexOf(i));
    const out = new Tensor(this.storage, ds.map((d) => this.shape[d]!), ds.map((d) => this.strides[d]!), this.offset);
    return recordView('permute', out, this, ds, (_, g) => [g.permute(...inverse)]);
  }

  /** The slice [start, start+length) along dim, sharing storage. */
  narrow(dim: number, start: number, length: number): Tensor {
    const d = normDim(dim, this.rank);
    if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > this.shape[d]!) {
      throw new ShapeError(`narrow: [${start}, ${start + length}) is outside dim ${d} of size ${this.shape[d]} in ${fmt(this.shape)}`);
    }
    const shape = [...this.shape];
    shape[d] = length;
    const out = new Tensor(this.storage, shape, this.strides, this.offset + start * this.strides[d]!);
    const from = this.shape;
    // Backward: the gradient in its slice of zeros.
    return recordView('narrow', out, this, [d, start, length], (_, g) => {
      const full = zeros(from, { backend: g.backend });
      const slot = full.narrow(d, start, length);
      g.backend.copy(g.shape, g.stridedRef, slot.stridedRef, 'float32');
      slot.dispose();
      return [full];
    });
  }

  /** torch.split: chunks of `size` (or the given sizes) along dim, as views. */
  split(size: number | readonly number[], dim = 0): Tensor[] {
    const d = normDim(dim, this.rank);
    const total = this.shape[d]!;
    let sizes: number[];
    if (typeof size === 'number') {
      if (!Number.isInteger(size) || size <= 0) throw new ShapeError(`split: size must be a positive integer, got ${size}`);
      sizes = [];
      for (let at = 0; at < total; at += size) sizes.push(Math.min(size, total - at));
    } else {
      sizes = [...size];
      if (sizes.reduce((a, b) => a + b, 0) !== total) {
        throw new ShapeError(`split: sizes ${fmt(sizes)} do not sum to dim ${d} of ${fmt(this.shape)}`);
      }
    }
    let at = 0;
    return sizes.map((s) => {
      const part = this.narrow(d, at, s);
      at += s;
      return part;
    });
  }

  /** A new view of the same data that no scope disposes: the caller owns it (keep a hook's tensor). */
  retain(): Tensor {
    this.assertLive();
    const out = keep(new Tensor(this.storage, this.shape, this.strides, this.offset));
    currentObserver()?.view('retain', this, out, []);
    return out;
  }

  /** Copies the elements to the host, in row-major order. */
  async data(): Promise<HostArray> {
    this.assertReadable();
    const c = this.contiguous();
    const out = await this.backend.read(c.ref, this.size, this.dtype);
    if (c !== this) c.dispose();
    return out;
  }

  /** Synchronous read; CPU backends only. */
  dataSync(): HostArray {
    if (this.backend.asyncRead) {
      throw new BackendError(`dataSync() is not available on the ${this.backend.name} backend: use await tensor.data()`);
    }
    this.assertReadable();
    const c = this.contiguous();
    const out = this.backend.readSync(c.ref, this.size, this.dtype);
    if (c !== this) c.dispose();
    return out;
  }

  /** Releases this view; storage is freed when its last view is disposed. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
  }

  /** While an ONNX trace runs, tensors computed from its input stand for graph values. */
  private assertReadable(): void {
    if (currentObserver()?.isSymbolic(this)) {
      throw new BackendError(`ONNX export: the forward reads the data of a tensor ${fmt(this.shape)} computed from the input; a graph's control flow cannot depend on data`);
    }
  }

  assertLive(): void {
    if (this.disposed || this.storage.buf === undefined) {
      throw new BackendError(`tensor of shape ${fmt(this.shape)} was used after dispose()`);
    }
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}, ${this.backend.name})`;
  }
}

/** A tensor holding `data` (copied) with `shape`. */
export function tensor(data: ArrayLike<number> | HostArray, shape?: Shape, opts: { dtype?: DType; backend?: Backend } = {}): Tensor {
  const dtype = opts.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32');
  const s = shape ?? [data.length];
  const n = checkNumel(s);
  if (n !== data.length) throw new ShapeError(`tensor: ${data.length} values do not fill shape ${fmt(s)}`);
  const host = dtype === 'int32'
    ? (data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>))
    : (data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
  const t = Tensor.empty(s, dtype, opts.backend);
  t.backend.write(t.ref, host);
  return t;
}

export function zeros(shape: Shape, opts: { dtype?: DType; backend?: Backend } = {}): Tensor {
  return full(shape, 0, opts);
}

export function full(shape: Shape, value: number, opts: { dtype?: DType; backend?: Backend } = {}): Tensor {
  const t = Tensor.empty(shape, opts.dtype ?? 'float32', opts.backend);
  t.backend.fill(t.ref, t.size, value, t.dtype);
  return t;
}
