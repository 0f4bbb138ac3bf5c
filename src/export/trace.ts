// Tracing a forward pass into an ONNX graph. RecordingBackend implements the Backend
// interface, so a model runs its own forward on it, unchanged: there is one definition of
// the network, and the exported graph is what that definition computes.
//
// Its buffers are either constant (host data, like the js backend's: weights, and anything
// computed from weights only, such as BatchNorm folded into a conv, is folded on the host
// by the js kernels) or symbolic (an ONNX value computed from the graph input). A kernel
// with a symbolic operand appends ONNX nodes; constants it reads become initializers.
//
// Kernels address (buffer, offset) with their own idea of the operand's shape, while views
// (reshape, transpose, narrow) happen in the tensor layer with no kernel at all. So every
// symbolic value carries its shape, and a kernel that reads a buffer under another shape
// gets a Reshape; an offset or strides become Slice/Transpose/Reshape (Gather when the
// layout is not a box), and writes into part of a buffer (cat) become Concat or ScatterND.

import type {
  Activation, Backend, BinaryOp, Conv2dGeometry, DType, HostArray, Pool2dGeometry, Ref, StridedRef, UnaryOp,
} from '../backend/backend.js';
import { createJsBackend } from '../backend/js/index.js';
import { BackendError, NotSupportedError } from '../errors.js';
import { contiguousStrides, fmt, numel, sameShape } from '../tensor/shape.js';
import type { Attr, OnnxDType, OnnxNode, OnnxTensor } from './onnx-model.js';

/** An ONNX value (graph input, node output or initializer) with its static shape. */
export interface Value {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: OnnxDType;
}

type HostBuf = Float32Array | Int32Array;

interface Piece {
  offset: number;
  shape: readonly number[];
  strides: readonly number[];
  value: Value;
}

export class RecBuffer {
  private static ids = 0;
  readonly id = RecBuffer.ids++;
  /** Host contents while the buffer is constant (null: all zeros, not yet allocated). */
  data: HostBuf | null = null;
  /** An initializer views `data`: copy before writing. */
  pinned = false;
  /** Bumped by every host write, so cached initializers of older contents are not reused. */
  version = 0;
  /** Symbolic contents of the whole buffer, row-major in its own shape. */
  sym: Value | null = null;
  /** Symbolic writes into parts of the buffer, merged when it is next read. */
  pieces: Piece[] = [];
  /** Initializer name (a state-dict key) when this buffer is a parameter. */
  name: string | undefined;

  constructor(readonly numel: number, readonly dtype: DType) {}

  get isConst(): boolean {
    return this.sym === null && this.pieces.length === 0;
  }
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** True when `strides` lay `shape` out row-major without gaps (size-1 dims are free). */
function denseLayout(shape: readonly number[], strides: readonly number[]): boolean {
  const cs = contiguousStrides(shape);
  return shape.every((s, i) => s === 1 || strides[i] === cs[i]);
}

function int64(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

/** Nodes and initializers, with unique names and cached shape constants. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly names = new Set<string>();
  private readonly int64Cache = new Map<string, Value>();
  /** Dotted path of the module whose forward is running (names the nodes). */
  scope = '';

  unique(hint: string): string {
    let name = hint, k = 1;
    while (this.names.has(name)) name = `${hint}_${k++}`;
    this.names.add(name);
    return name;
  }

  reserve(name: string): void {
    if (this.names.has(name)) throw new BackendError(`ONNX export: the name '${name}' is used twice`);
    this.names.add(name);
  }

  /** Appends one node with one output of `shape`; null inputs are omitted optional inputs. */
  node(opType: string, inputs: readonly (Value | null)[], attrs: Record<string, Attr>, shape: readonly number[],
    dtype: OnnxDType = 'float32'): Value {
    const name = this.unique(this.scope ? `${this.scope}/${opType}` : opType);
    let n = inputs.length;
    while (n > 0 && inputs[n - 1] === null) n--;
    this.nodes.push({ opType, name, inputs: inputs.slice(0, n).map((v) => v?.name ?? ''), outputs: [name], attrs });
    return { name, shape: [...shape], dtype };
  }

  initializer(data: Float32Array | Int32Array | BigInt64Array, dims: readonly number[], hint: string): Value {
    const dtype: OnnxDType = data instanceof BigInt64Array ? 'int64' : data instanceof Int32Array ? 'int32' : 'float32';
    const name = this.unique(hint);
    this.initializers.push({ name, dtype, dims: [...dims], data });
    return { name, shape: [...dims], dtype };
  }

  /** A 1-D int64 constant (shapes, axes, pads, slice bounds), shared by every node that uses it. */
  ints(values: readonly number[]): Value {
    const key = values.join(',');
    let v = this.int64Cache.get(key);
    if (!v) {
      v = this.initializer(int64(values), [values.length], 'const_i64');
      this.int64Cache.set(key, v);
    }
    return v;
  }
}

export interface RecordingOptions {
  /** ai.onnx opset the nodes are written for (13 or later). */
  opset: number;
  /** Trace batch size when the exported batch dimension is symbolic; null for a fixed batch. */
  dynamicBatch: number | null;
}

/** A Backend that records ONNX nodes instead of computing (constants are still computed). */
export class RecordingBackend implements Backend<RecBuffer> {
  readonly name = 'onnx-trace';
  readonly asyncRead = false;
  readonly graph = new GraphBuilder();
  private readonly js = createJsBackend() as unknown as Backend<HostBuf>;
  private readonly constCache = new Map<string, Value>();
  private readonly reshapeCache = new Map<string, Value>();

  constructor(readonly opts: RecordingOptions) {
    if (opts.opset < 13) throw new NotSupportedError(`ONNX export needs opset 13 or later, got ${opts.opset}`);
  }

  // ---- memory -------------------------------------------------------------------------

  alloc(numel: number, dtype: DType): RecBuffer {
    return new RecBuffer(numel, dtype);
  }

  free(buf: RecBuffer): void {
    buf.data = null;
    buf.sym = null;
    buf.pieces = [];
  }

  /** Declares a buffer to hold the graph input `name`. */
  markInput(buf: RecBuffer, name: string, shape: readonly number[]): Value {
    this.graph.reserve(name);
    buf.sym = { name, shape: [...shape], dtype: 'float32' };
    buf.data = null;
    return buf.sym;
  }

  private host(buf: RecBuffer): HostBuf {
    if (!buf.data) buf.data = buf.dtype === 'int32' ? new Int32Array(buf.numel) : new Float32Array(buf.numel);
    return buf.data;
  }

  /** Host data about to be written: copied first if an initializer views it. */
  private writableHost(buf: RecBuffer): HostBuf {
    buf.version++;
    if (buf.pinned && buf.data) {
      buf.data = buf.data.slice();
      buf.pinned = false;
    }
    return this.host(buf);
  }

  write(dst: Ref<RecBuffer>, data: HostArray): void {
    if (dst.buf.isConst) this.writableHost(dst.buf).set(data, dst.offset);
    else this.writeValue(dst, [data.length], this.graph.initializer(data.slice(), [data.length], 'const'));
  }

  fill(dst: Ref<RecBuffer>, n: number, value: number, dtype: DType): void {
    const b = dst.buf;
    if (b.isConst) {
      if (value !== 0 || b.data) this.writableHost(b).fill(value, dst.offset, dst.offset + n);
      return;
    }
    const data = dtype === 'int32' ? new Int32Array(n).fill(value) : new Float32Array(n).fill(value);
    this.writeValue(dst, [n], this.graph.initializer(data, [n], 'const'));
  }

  readSync(src: Ref<RecBuffer>, n: number, dtype: DType): HostArray {
    if (!src.buf.isConst) {
      throw new BackendError('ONNX export: the forward pass reads a value computed from the input back to the host; a graph cannot depend on data');
    }
    const d = src.buf.data;
    if (d) return d.slice(src.offset, src.offset + n);
    return dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  }

  async read(src: Ref<RecBuffer>, n: number, dtype: DType): Promise<HostArray> {
    return this.readSync(src, n, dtype);
  }

  // ---- values of buffers ----------------------------------------------------------------

  /** An initializer holding a constant region (shared when read again the same way). */
  private constValue(b: RecBuffer, offset: number, shape: readonly number[]): Value {
    const key = `${b.id}.${b.version}:${offset}:${shape.join('x')}`;
    let v = this.constCache.get(key);
    if (v) return v;
    const n = numel(shape);
    let data: HostBuf;
    if (b.data) {
      data = b.data.subarray(offset, offset + n);
      b.pinned = true;
    } else {
      data = b.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    }
    const whole = offset === 0 && n === b.numel;
    v = this.graph.initializer(data, shape, b.name ? (whole ? b.name : `${b.name}@${offset}`) : 'const');
    this.constCache.set(key, v);
    return v;
  }

  /** Reshape, checked against the symbolic batch dimension when there is one. */
  reshape(v: Value, shape: readonly number[]): Value {
    if (sameShape(v.shape, shape)) return v;
    if (numel(v.shape) !== numel(shape)) throw new BackendError(`ONNX export: cannot reshape ${fmt(v.shape)} to ${fmt(shape)}`);
    const key = `${v.name}->${shape.join('x')}`;
    let out = this.reshapeCache.get(key);
    if (out) return out;
    const batch = this.opts.dynamicBatch;
    let target = [...shape];
    if (batch !== null) {
      if (v.shape[0] !== batch || shape[0] !== batch) {
        throw new NotSupportedError(`ONNX export with a dynamic batch: the graph reshapes ${fmt(v.shape)} to ${fmt(shape)} across the batch dimension (traced at batch ${batch}); export with a fixed batch instead`);
      }
      target = [-1, ...shape.slice(1)];
    }
    out = this.graph.node('Reshape', [v, this.graph.ints(target)], {}, shape, v.dtype);
    this.reshapeCache.set(key, out);
    return out;
  }

  /** The symbolic contents of a whole buffer, merging partial writes. */
  private materialize(b: RecBuffer): Value {
    if (b.pieces.length === 0) {
      if (!b.sym) throw new BackendError('ONNX export: internal error: materialising a constant buffer');
      return b.sym;
    }
    const merged = this.concatPieces(b) ?? this.scatterPieces(b);
    b.sym = merged;
    b.pieces = [];
    b.data = null;
    return merged;
  }

  /** Pieces that tile the buffer along one dim in order (what cat writes): one Concat. */
  private concatPieces(b: RecBuffer): Value | null {
    const ps = [...b.pieces].sort((p, q) => p.offset - q.offset);
    const first = ps[0]!;
    const rank = first.shape.length;
    for (let d = 0; d < rank; d++) {
      if (ps.some((p) => p.shape.length !== rank || p.shape.some((s, i) => i !== d && s !== first.shape[i]))) continue;
      const full = [...first.shape];
      full[d] = ps.reduce((a, p) => a + p.shape[d]!, 0);
      if (numel(full) !== b.numel) continue;
      const cs = contiguousStrides(full);
      let at = 0, ok = true;
      for (const p of ps) {
        if (p.offset !== at * cs[d]! || !p.shape.every((s, i) => s === 1 || p.strides[i] === cs[i])) {
          ok = false;
          break;
        }
        at += p.shape[d]!;
      }
      if (ok) {
        if (ps.length === 1) return this.reshape(first.value, full);
        return this.graph.node('Concat', ps.map((p) => this.reshape(p.value, p.shape)), { axis: { i: d } }, full);
      }
    }
    return null;
  }

  /** The general case: each write is a ScatterND of its elements' flat positions. */
  private scatterPieces(b: RecBuffer): Value {
    if (this.opts.dynamicBatch !== null) {
      throw new NotSupportedError('ONNX export with a dynamic batch: the forward pass writes into part of a buffer in a way that is not a concatenation; export with a fixed batch instead');
    }
    let flat = b.sym ? this.reshape(b.sym, [b.numel]) : this.constValue(b, 0, [b.numel]);
    for (const p of b.pieces) {
      const n = numel(p.shape);
      const idx = new BigInt64Array(n);
      let k = 0;
      forEachOffset(p.shape, p.strides, p.offset, (o) => { idx[k++] = BigInt(o); });
      const positions = this.graph.initializer(idx, [n, 1], 'scatter_indices');
      flat = this.graph.node('ScatterND', [flat, positions, this.reshape(p.value, [n])], {}, [b.numel], flat.dtype);
    }
    return flat;
  }

  /** A contiguous region read as a value of `shape`. */
  valueOf(ref: Ref<RecBuffer>, shape: readonly number[]): Value {
    const b = ref.buf;
    if (b.isConst) return this.constValue(b, ref.offset, shape);
    const whole = this.materialize(b);
    if (ref.offset === 0 && numel(shape) === b.numel) return this.reshape(whole, shape);
    return this.view(whole, b.numel, ref.offset, shape, contiguousStrides(shape));
  }

  /** A strided region; dims with stride 0 (broadcast) come out with size 1. */
  stridedValueOf(ref: StridedRef<RecBuffer>, shape: readonly number[]): Value {
    const reduced = shape.map((s, i) => (ref.strides[i] === 0 ? 1 : s));
    if (denseLayout(reduced, ref.strides)) return this.valueOf(ref, reduced);
    const b = ref.buf;
    if (b.isConst) {
      const src = this.host(b);
      const out = b.dtype === 'int32' ? new Int32Array(numel(reduced)) : new Float32Array(numel(reduced));
      let k = 0;
      forEachOffset(reduced, ref.strides, ref.offset, (o) => { out[k++] = src[o]!; });
      return this.graph.initializer(out, reduced, b.name ? `${b.name}@view` : 'const');
    }
    return this.view(this.materialize(b), b.numel, ref.offset, reduced, ref.strides);
  }

  /** The shape a kernel's operand already has when it is a whole symbolic buffer. */
  private shapeOf(ref: Ref<RecBuffer>, n: number): readonly number[] | null {
    const b = ref.buf;
    if (b.isConst || ref.offset !== 0 || n !== b.numel) return null;
    return b.pieces.length ? null : b.sym!.shape;
  }

  /**
   * A strided view of a buffer as Reshape → Slice → Transpose → Reshape: sorted by stride,
   * the view's dims are axes of some row-major factorisation of the buffer, each sliced to
   * the view's range. Layouts that are no such box (overlapping or non-dividing strides)
   * fall back to a Gather of the flat positions.
   */
  private view(whole: Value, total: number, offset: number, shape: readonly number[], strides: readonly number[]): Value {
    const dims = shape.map((_, i) => i).filter((i) => shape[i]! > 1);
    const order = [...dims].sort((a, b) => strides[b]! - strides[a]!);
    interface Axis { size: number; stride: number; dim: number }
    const axes: Axis[] = [];
    let ok = true, prev = total;
    for (const d of order) {
      const s = strides[d]!;
      if (s <= 0 || s >= prev || prev % s !== 0) {
        ok = false;
        break;
      }
      axes.push({ size: prev / s, stride: s, dim: d });
      prev = s;
    }
    if (ok && prev > 1) axes.push({ size: prev, stride: 1, dim: -1 });
    const starts: number[] = [];
    let rem = offset;
    if (ok) {
      for (const a of axes) {
        const digit = Math.floor(rem / a.stride);
        rem -= digit * a.stride;
        starts.push(digit);
        if (digit + (a.dim >= 0 ? shape[a.dim]! : 1) > a.size) ok = false;
      }
      if (rem !== 0) ok = false;
    }
    const batch = this.opts.dynamicBatch;
    if (ok && batch !== null && (order[0] !== 0 || axes[0]!.size !== batch || starts[0] !== 0 || shape[0] !== batch)) ok = false;
    if (!ok) {
      if (batch !== null) {
        throw new NotSupportedError(`ONNX export with a dynamic batch: a view ${fmt(shape)} with strides ${fmt(strides)} mixes the batch dimension; export with a fixed batch instead`);
      }
      const idx = new BigInt64Array(numel(shape));
      let k = 0;
      forEachOffset(shape, strides, offset, (o) => { idx[k++] = BigInt(o); });
      const positions = this.graph.initializer(idx, shape, 'gather_indices');
      return this.graph.node('Gather', [this.reshape(whole, [total]), positions], { axis: { i: 0 } }, shape, whole.dtype);
    }
    let v = this.reshape(whole, axes.map((a) => a.size));
    const sl = axes.map((a, j) => ({ axis: j, start: starts[j]!, end: starts[j]! + (a.dim >= 0 ? shape[a.dim]! : 1), size: a.size }))
      .filter((s) => s.start !== 0 || s.end !== s.size);
    const sizes = axes.map((a) => (a.dim >= 0 ? shape[a.dim]! : 1));
    if (sl.length) {
      const g = this.graph;
      v = g.node('Slice', [v, g.ints(sl.map((s) => s.start)), g.ints(sl.map((s) => s.end)), g.ints(sl.map((s) => s.axis))], {}, sizes, v.dtype);
    }
    const perm = dims.map((d) => order.indexOf(d));
    if (perm.some((p, i) => p !== i)) {
      v = this.reshape(v, order.map((d) => shape[d]!));
      v = this.graph.node('Transpose', [v], { perm: { ints: perm } }, dims.map((d) => shape[d]!), v.dtype);
    }
    return this.reshape(v, shape);
  }

  /** Records that a region now holds `v` (laid out as `shape`, at the ref's strides if any). */
  private writeValue(ref: Ref<RecBuffer> | StridedRef<RecBuffer>, shape: readonly number[], v: Value): void {
    const b = ref.buf;
    const strides = 'strides' in ref ? ref.strides : contiguousStrides(shape);
    if (ref.offset === 0 && numel(shape) === b.numel && denseLayout(shape, strides)) {
      b.sym = v;
      b.pieces = [];
      b.data = null;
      b.pinned = false;
      return;
    }
    b.pieces.push({ offset: ref.offset, shape: [...shape], strides: [...strides], value: this.reshape(v, shape) });
  }

  /** Runs a kernel on the host when every operand is constant (weights, BN folding). */
  private fold(inputs: readonly (Ref<RecBuffer> | null)[], out: Ref<RecBuffer>, outShape: readonly number[],
    run: (h: <R extends Ref<RecBuffer>>(r: R) => R & Ref<HostBuf>, o: Ref<HostBuf>) => void): boolean {
    if (!inputs.every((r) => !r || r.buf.isConst)) return false;
    const h = <R extends Ref<RecBuffer>>(r: R) => ({ ...r, buf: this.host(r.buf) }) as unknown as R & Ref<HostBuf>;
    if (out.buf.isConst) {
      run(h, { buf: this.writableHost(out.buf), offset: out.offset });
    } else {
      const tmp = out.buf.dtype === 'int32' ? new Int32Array(numel(outShape)) : new Float32Array(numel(outShape));
      run(h, { buf: tmp, offset: 0 });
      this.writeValue(out, outShape, this.graph.initializer(tmp, outShape, 'const'));
    }
    return true;
  }

  private act(v: Value, act: Activation): Value {
    if (act === 'relu') return this.graph.node('Relu', [v], {}, v.shape);
    if (act === 'sigmoid') return this.graph.node('Sigmoid', [v], {}, v.shape);
    return v;
  }

  private reduce(op: 'ReduceSum' | 'ReduceMean', v: Value, axes: number[], keepdims: boolean, shape: readonly number[]): Value {
    const g = this.graph;
    if (op === 'ReduceSum' || this.opts.opset >= 18) return g.node(op, [v, g.ints(axes)], { keepdims: { i: keepdims ? 1 : 0 } }, shape);
    return g.node(op, [v], { axes: { ints: axes }, keepdims: { i: keepdims ? 1 : 0 } }, shape);
  }

  // ---- kernels --------------------------------------------------------------------------

  copy(shape: readonly number[], src: StridedRef<RecBuffer>, dst: StridedRef<RecBuffer>, dtype: DType): void {
    if (src.buf.isConst && dst.buf.isConst) {
      this.js.copy(shape, { ...src, buf: this.host(src.buf) }, { ...dst, buf: this.writableHost(dst.buf) }, dtype);
      return;
    }
    let v = this.stridedValueOf(src, shape);
    if (!sameShape(v.shape, shape)) v = this.graph.node('Expand', [v, this.graph.ints(shape)], {}, shape, v.dtype);
    this.writeValue(dst, shape, v);
  }

  unary(op: UnaryOp, x: Ref<RecBuffer>, out: Ref<RecBuffer>, n: number, alpha: number): void {
    if (this.fold([x], out, [n], (h, o) => this.js.unary(op, h(x), o, n, alpha))) return;
    const g = this.graph;
    const X = this.valueOf(x, this.shapeOf(x, n) ?? [n]);
    const scalar = (s: number) => g.initializer(new Float32Array([s]), [], 'scalar');
    const simple: Partial<Record<UnaryOp, string>> = { relu: 'Relu', sigmoid: 'Sigmoid', exp: 'Exp', neg: 'Neg', sqrt: 'Sqrt' };
    let y: Value;
    if (simple[op]) y = g.node(simple[op]!, [X], {}, X.shape);
    else if (op === 'rsqrt') y = g.node('Reciprocal', [g.node('Sqrt', [X], {}, X.shape)], {}, X.shape);
    else if (op === 'addScalar') y = g.node('Add', [X, scalar(alpha)], {}, X.shape);
    else if (op === 'mulScalar') y = g.node('Mul', [X, scalar(alpha)], {}, X.shape);
    else throw new NotSupportedError(`ONNX export: unary op '${op}' has no translation`);
    this.writeValue(out, X.shape, y);
  }

  binary(op: BinaryOp, shape: readonly number[], a: StridedRef<RecBuffer>, b: StridedRef<RecBuffer>, out: Ref<RecBuffer>): void {
    if (this.fold([a, b], out, shape, (h, o) => this.js.binary(op, shape, h(a), h(b), o))) return;
    const types: Record<BinaryOp, string> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div' };
    const y = this.graph.node(types[op], [this.stridedValueOf(a, shape), this.stridedValueOf(b, shape)], {}, shape);
    this.writeValue(out, shape, y);
  }

  conv2d(g: Conv2dGeometry, x: Ref<RecBuffer>, w: Ref<RecBuffer>, bias: Ref<RecBuffer> | null, residual: Ref<RecBuffer> | null,
    act: Activation, out: Ref<RecBuffer>): void {
    const outShape = [g.n, g.o, g.oh, g.ow];
    if (this.fold([x, w, bias, residual], out, outShape,
      (h, o) => this.js.conv2d(g, h(x), h(w), bias && h(bias), residual && h(residual), act, o))) return;
    const X = this.valueOf(x, [g.n, g.c, g.h, g.w]);
    const W = this.valueOf(w, [g.o, g.c / g.groups, g.kh, g.kw]);
    const B = bias ? this.valueOf(bias, [g.o]) : null;
    let y = this.graph.node('Conv', [X, W, B], {
      dilations: { ints: [g.dilH, g.dilW] }, group: { i: g.groups }, kernel_shape: { ints: [g.kh, g.kw] },
      pads: { ints: [g.padH, g.padW, g.padH, g.padW] }, strides: { ints: [g.strideH, g.strideW] },
    }, outShape);
    if (residual) y = this.graph.node('Add', [y, this.valueOf(residual, outShape)], {}, outShape);
    this.writeValue(out, outShape, this.act(y, act));
  }

  batchNorm(x: Ref<RecBuffer>, weight: Ref<RecBuffer>, bias: Ref<RecBuffer>, mean: Ref<RecBuffer>, variance: Ref<RecBuffer>,
    eps: number, n: number, c: number, hw: number, act: Activation, out: Ref<RecBuffer>): void {
    if (this.fold([x, weight, bias, mean, variance], out, [n * c * hw],
      (h, o) => this.js.batchNorm(h(x), h(weight), h(bias), h(mean), h(variance), eps, n, c, hw, act, o))) return;
    const s = this.shapeOf(x, n * c * hw);
    const shape = s && s.length >= 3 && s[0] === n && s[1] === c ? s : [n, c, hw];
    const p = (r: Ref<RecBuffer>) => this.valueOf(r, [c]);
    const y = this.graph.node('BatchNormalization', [this.valueOf(x, shape), p(weight), p(bias), p(mean), p(variance)],
      { epsilon: { f: eps } }, shape);
    this.writeValue(out, shape, this.act(y, act));
  }

  private pool(kind: 'max' | 'avg', g: Pool2dGeometry, x: Ref<RecBuffer>, out: Ref<RecBuffer>): void {
    const s = this.shapeOf(x, g.planes * g.h * g.w);
    const shape = s && s.length === 4 && s[2] === g.h && s[3] === g.w ? s : [1, g.planes, g.h, g.w];
    let X = this.valueOf(x, shape);
    const outShape = [shape[0]!, shape[1]!, g.oh, g.ow];
    // End padding that yields PyTorch's output size (ceil_mode included); never < the start padding.
    const endH = Math.max(g.padH, (g.oh - 1) * g.strideH + g.kh - g.h - g.padH);
    const endW = Math.max(g.padW, (g.ow - 1) * g.strideW + g.kw - g.w - g.padW);
    const common = { kernel_shape: { ints: [g.kh, g.kw] }, strides: { ints: [g.strideH, g.strideW] } };
    const pads = { ints: [g.padH, g.padW, endH, endW] };
    let y: Value;
    if (kind === 'max') {
      y = this.graph.node('MaxPool', [X], { ...common, pads }, outShape);
    } else if (!g.countIncludePad || (endH === g.padH && endW === g.padW)) {
      y = this.graph.node('AveragePool', [X], { ...common, pads, count_include_pad: { i: g.countIncludePad ? 1 : 0 } }, outShape);
    } else {
      // PyTorch counts the zero padding in the divisor but not a ceil-mode window's overhang
      // beyond it: pad explicitly, then average over real (now padded) cells only.
      if (g.padH || g.padW) {
        X = this.graph.node('Pad', [X, this.graph.ints([0, 0, g.padH, g.padW, 0, 0, g.padH, g.padW])], {},
          [shape[0]!, shape[1]!, g.h + 2 * g.padH, g.w + 2 * g.padW]);
      }
      y = this.graph.node('AveragePool', [X], { ...common, pads: { ints: [0, 0, endH - g.padH, endW - g.padW] }, count_include_pad: { i: 0 } }, outShape);
    }
    this.writeValue(out, outShape, y);
  }

  maxPool2d(g: Pool2dGeometry, x: Ref<RecBuffer>, out: Ref<RecBuffer>): void {
    if (this.fold([x], out, [g.planes * g.oh * g.ow], (h, o) => this.js.maxPool2d(g, h(x), o))) return;
    this.pool('max', g, x, out);
  }

  avgPool2d(g: Pool2dGeometry, x: Ref<RecBuffer>, out: Ref<RecBuffer>): void {
    if (this.fold([x], out, [g.planes * g.oh * g.ow], (h, o) => this.js.avgPool2d(g, h(x), o))) return;
    this.pool('avg', g, x, out);
  }

  meanRows(x: Ref<RecBuffer>, out: Ref<RecBuffer>, rows: number, hw: number): void {
    if (this.fold([x], out, [rows], (h, o) => this.js.meanRows(h(x), o, rows, hw))) return;
    const s = this.shapeOf(x, rows * hw);
    let k = -1;
    if (s) for (let i = 1; i < s.length && k < 0; i++) if (prod(s.slice(0, i)) === rows) k = i;
    let y: Value;
    if (s && s.length === 4 && k === 2) {
      y = this.graph.node('GlobalAveragePool', [this.valueOf(x, s)], {}, [s[0]!, s[1]!, 1, 1]);
    } else if (s && k > 0) {
      const axes = s.map((_, i) => i).slice(k);
      y = this.reduce('ReduceMean', this.valueOf(x, s), axes, true, s.map((d, i) => (i < k ? d : 1)));
    } else {
      y = this.reduce('ReduceMean', this.valueOf(x, [rows, hw]), [1], true, [rows, 1]);
    }
    this.writeValue(out, y.shape, y);
  }

  softmax(x: Ref<RecBuffer>, out: Ref<RecBuffer>, outer: number, dim: number, inner: number): void {
    if (this.fold([x], out, [outer * dim * inner], (h, o) => this.js.softmax(h(x), o, outer, dim, inner))) return;
    const s = this.shapeOf(x, outer * dim * inner);
    let axis = -1;
    if (s) for (let a = 0; a < s.length && axis < 0; a++) if (prod(s.slice(0, a)) === outer && s[a] === dim) axis = a;
    const shape = axis >= 0 ? s! : [outer, dim, inner];
    const y = this.graph.node('Softmax', [this.valueOf(x, shape)], { axis: { i: axis >= 0 ? axis : 1 } }, shape);
    this.writeValue(out, shape, y);
  }

  linear(x: Ref<RecBuffer>, w: Ref<RecBuffer>, bias: Ref<RecBuffer> | null, out: Ref<RecBuffer>, m: number, k: number, n: number): void {
    if (this.fold([x, w, bias], out, [m * n], (h, o) => this.js.linear(h(x), h(w), bias && h(bias), o, m, k, n))) return;
    const y = this.graph.node('Gemm', [this.valueOf(x, [m, k]), this.valueOf(w, [n, k]), bias ? this.valueOf(bias, [n]) : null],
      { transB: { i: 1 } }, [m, n]);
    this.writeValue(out, [m, n], y);
  }

  /** [batch, radix·c, H, W] keeps its H, W; anything else is read as [batch, radix·c, hw]. */
  private spatial(x: Ref<RecBuffer>, batch: number, channels: number, hw: number): number[] {
    const s = this.shapeOf(x, batch * channels * hw);
    return s && s.length === 4 && s[0] === batch && s[1] === channels ? [s[2]!, s[3]!] : [hw];
  }

  radixGap(x: Ref<RecBuffer>, out: Ref<RecBuffer>, batch: number, radix: number, c: number, hw: number): void {
    if (this.fold([x], out, [batch * c], (h, o) => this.js.radixGap(h(x), o, batch, radix, c, hw))) return;
    const sp = this.spatial(x, batch, radix * c, hw);
    let v = radix > 1
      ? this.reduce('ReduceSum', this.valueOf(x, [batch, radix, c, ...sp]), [1], false, [batch, c, ...sp])
      : this.valueOf(x, [batch, c, ...sp]);
    v = sp.length === 2
      ? this.graph.node('GlobalAveragePool', [v], {}, [batch, c, 1, 1])
      : this.reduce('ReduceMean', v, [2], true, [batch, c, 1]);
    this.writeValue(out, v.shape, v);
  }

  rSoftmax(x: Ref<RecBuffer>, out: Ref<RecBuffer>, batch: number, cardinality: number, radix: number, rest: number): void {
    const shape = [batch, cardinality, radix, rest];
    if (this.fold([x], out, [numel(shape)], (h, o) => this.js.rSoftmax(h(x), o, batch, cardinality, radix, rest))) return;
    const s = this.graph.node('Softmax', [this.valueOf(x, shape)], { axis: { i: 2 } }, shape);
    const y = this.graph.node('Transpose', [s], { perm: { ints: [0, 2, 1, 3] } }, [batch, radix, cardinality, rest]);
    this.writeValue(out, y.shape, y);
  }

  radixAttend(x: Ref<RecBuffer>, atten: Ref<RecBuffer>, out: Ref<RecBuffer>, batch: number, radix: number, c: number, hw: number): void {
    if (this.fold([x, atten], out, [batch * c * hw], (h, o) => this.js.radixAttend(h(x), h(atten), o, batch, radix, c, hw))) return;
    const sp = this.spatial(x, batch, radix * c, hw);
    const ones = sp.map(() => 1);
    let y: Value;
    if (radix > 1) {
      const shape = [batch, radix, c, ...sp];
      const prodV = this.graph.node('Mul', [this.valueOf(x, shape), this.valueOf(atten, [batch, radix, c, ...ones])], {}, shape);
      y = this.reduce('ReduceSum', prodV, [1], false, [batch, c, ...sp]);
    } else {
      const shape = [batch, c, ...sp];
      y = this.graph.node('Mul', [this.valueOf(x, shape), this.valueOf(atten, [batch, c, ...ones])], {}, shape);
    }
    this.writeValue(out, y.shape, y);
  }
}

/** Calls fn with the flat offset of every element of a strided view, in row-major order. */
function forEachOffset(shape: readonly number[], strides: readonly number[], offset: number, fn: (o: number) => void): void {
  const n = numel(shape);
  if (n === 0) return;
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let o = offset;
  for (let i = 0; i < n; i++) {
    fn(o);
    for (let d = rank - 1; d >= 0; d--) {
      o += strides[d]!;
      if (++idx[d]! < shape[d]!) break;
      o -= strides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}
