// Tracing a forward pass into an ONNX graph at the op entry point. The model runs for real
// on the js backend, on a stand-in input; every op that apply() runs and every view that
// Tensor makes is shown to this recorder with its operands, output and parameters (the same
// shapes and attributes the kernels get, nothing guessed). Tensors computed from the graph
// input are "symbolic": they get ONNX values. Everything else — weights, BatchNorm folded
// into a conv, constants made in the forward — is data, and becomes an initializer the
// first time a symbolic op reads it (with its contents at that moment).

import type { Activation, Conv2dGeometry, Pool2dGeometry } from '../backend/backend.js';
import { BackendError, NotSupportedError } from '../errors.js';
import type { OpObserver } from '../autograd/tape.js';
import type { Storage, Tensor } from '../tensor/tensor.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { rectifyFactor, type RectifyMode } from '../ops/rectify.js';
import { GraphBuilder, type Value } from './graph.js';

export interface RecorderOptions {
  /** ai.onnx opset the nodes are written for (13 or later). */
  opset: number;
  /** Trace batch size when the exported batch dimension is symbolic; null for a fixed batch. */
  dynamicBatch: number | null;
}

const UNARY: Record<string, string> = { relu: 'Relu', sigmoid: 'Sigmoid', exp: 'Exp', neg: 'Neg', sqrt: 'Sqrt' };
const BINARY: Record<string, string> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div' };

/** FNV-1a over a typed array's bytes: identical constants share one initializer. */
function digest(a: Float32Array): string {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193) >>> 0;
  return `${h}:${a.length}`;
}

export class OnnxRecorder implements OpObserver {
  readonly graph = new GraphBuilder();
  private readonly values = new Map<Tensor, Value>();
  private readonly symbolic = new WeakSet<Storage>();
  /** Buffers a kernel wrote from traced data without going through an op (see guard()). */
  private readonly tainted = new WeakSet<object>();
  private readonly symbolicBufs = new WeakSet<object>();
  private readonly consts = new Map<string, Value>();
  private readonly constNames = new Set<string>();
  /** State-dict keys of the model's tensors, by storage (initializer names). */
  readonly names = new Map<Storage, string>();

  constructor(readonly opts: RecorderOptions) {
    if (opts.opset < 13) throw new NotSupportedError(`ONNX export needs opset 13 or later, got ${opts.opset}`);
  }

  /** Declares `t` the graph input `name`. */
  markInput(t: Tensor, name: string): void {
    this.graph.reserve(name);
    this.values.set(t, { name, shape: [...t.shape], dtype: 'float32' });
    this.symbolic.add(t.storage);
    this.symbolicBufs.add(t.storage.buf as object);
  }

  /**
   * The backend to trace on: `backend`'s kernels, each marking what it wrote as derived from
   * the input when it read traced data. Ops and views record what they make, so only a
   * kernel called by model code itself leaves such a buffer unrecorded — and using it fails
   * instead of exporting the stand-in input's numbers.
   */
  guard<B extends object>(backend: B): B {
    const memory = new Set(['alloc', 'free', 'write', 'read', 'readSync', 'fill', 'configure', 'dispose']);
    const bufsOf = (args: unknown[]) => args.flatMap((a) => (a !== null && typeof a === 'object' && 'buf' in a ? [(a as { buf: object }).buf] : []));
    return new Proxy(backend, {
      get: (target, prop, receiver) => {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || memory.has(String(prop))) return v;
        return (...args: unknown[]) => {
          const r = (v as (...a: unknown[]) => unknown).apply(target, args);
          // Every forward kernel writes its last operand (out / dst).
          const bufs = bufsOf(args);
          const out = bufs.pop();
          if (out && !this.symbolicBufs.has(out) && bufs.some((b) => this.symbolicBufs.has(b))) this.tainted.add(out);
          return r;
        };
      },
    });
  }

  isSymbolic(t: Tensor): boolean {
    return this.symbolic.has(t.storage) || this.tainted.has(t.storage.buf as object);
  }

  /** The value of an operand: its traced value, or its data as an initializer. */
  value(t: Tensor, op: string): Value {
    const v = this.values.get(t);
    if (v) return v;
    if (this.symbolic.has(t.storage) || this.tainted.has(t.storage.buf as object)) {
      throw new NotSupportedError(`ONNX export: '${op}' reads a tensor ${fmt(t.shape)} computed from the input outside the traced ops (made by a backend call or a raw Tensor constructor); use the ops and Tensor's view methods`);
    }
    const data = t.dataSync() as Float32Array;
    const key = digest(data);
    let c = this.consts.get(key);
    if (!c) {
      const whole = t.offset === 0 && t.size === t.storage.numel ? this.names.get(t.storage) : undefined;
      c = this.graph.initializer(Float32Array.from(data), t.shape, whole ?? 'const');
      this.consts.set(key, c);
      this.constNames.add(c.name);
    }
    return sameShape(c.shape, t.shape) ? c : this.reshape(c, t.shape);
  }

  private set(out: Tensor, v: Value): void {
    if (!sameShape(v.shape, out.shape)) throw new BackendError(`ONNX export: internal error: ${fmt(v.shape)} recorded for ${fmt(out.shape)}`);
    this.values.set(out, v);
    this.symbolic.add(out.storage);
    this.symbolicBufs.add(out.storage.buf as object);
  }

  private reshape(v: Value, shape: readonly number[]): Value {
    if (sameShape(v.shape, shape)) return v;
    const batch = this.opts.dynamicBatch;
    let target = [...shape];
    if (batch !== null && this.isValueSymbolicBatch(v)) {
      if (v.shape[0] !== batch || shape[0] !== batch) {
        throw new NotSupportedError(`ONNX export with a dynamic batch: the graph reshapes ${fmt(v.shape)} to ${fmt(shape)} across the batch dimension (traced at batch ${batch}); export with a fixed batch instead`);
      }
      target = [0, ...shape.slice(1)];
    }
    return this.graph.node('Reshape', [v, this.graph.ints(target)], {}, shape, v.dtype);
  }

  /** Initializers keep their traced shape; only graph values carry the batch dimension. */
  private isValueSymbolicBatch(v: Value): boolean {
    return !this.constNames.has(v.name);
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

  private scalar(s: number): Value {
    return this.graph.initializer(new Float32Array([s]), [], 'scalar');
  }

  // ---- the observer ---------------------------------------------------------------------

  view(name: string, input: Tensor, out: Tensor, params: readonly number[]): void {
    if (!this.isSymbolic(input)) return; // a view of data stays data
    const x = this.value(input, name);
    const g = this.graph;
    let y: Value;
    switch (name) {
      case 'reshape':
        y = this.reshape(x, out.shape);
        break;
      case 'transpose': {
        const perm = x.shape.map((_, i) => i);
        [perm[params[0]!], perm[params[1]!]] = [perm[params[1]!]!, perm[params[0]!]!];
        y = g.node('Transpose', [x], { perm: { ints: perm } }, out.shape);
        break;
      }
      case 'permute':
        y = g.node('Transpose', [x], { perm: { ints: [...params] } }, out.shape);
        break;
      case 'narrow': {
        const [dim, start, length] = params as [number, number, number];
        if (start === 0 && length === input.shape[dim]) {
          y = x;
          break;
        }
        y = g.node('Slice', [x, g.ints([start]), g.ints([start + length]), g.ints([dim])], {}, out.shape);
        break;
      }
      default: // contiguous, detach, retain: the same values
        y = x;
    }
    this.set(out, y);
  }

  op(name: string, inputs: readonly (Tensor | null)[], out: Tensor, params: unknown): void {
    if (!inputs.some((t) => t && this.isSymbolic(t))) return; // computed from data only: folded
    const g = this.graph;
    const v = (t: Tensor | null | undefined) => (t ? this.value(t, name) : null);
    const [a, b] = inputs;
    let y: Value;
    if (UNARY[name]) y = g.node(UNARY[name]!, [v(a)], {}, out.shape);
    else if (name === 'rsqrt') y = g.node('Reciprocal', [g.node('Sqrt', [v(a)], {}, out.shape)], {}, out.shape);
    else if (name === 'addScalar') y = g.node('Add', [v(a), this.scalar(params as number)], {}, out.shape);
    else if (name === 'mulScalar') y = g.node('Mul', [v(a), this.scalar(params as number)], {}, out.shape);
    else if (BINARY[name]) y = g.node(BINARY[name]!, [v(a), v(b)], {}, out.shape);
    else if (name === 'conv2d') {
      const { g: geo, act, rectify } = params as { g: Conv2dGeometry; act: Activation; rectify: RectifyMode | null };
      // A rectified conv: Conv without bias, × the factor map (a constant), + the bias.
      y = g.node('Conv', [v(a), v(b), rectify ? null : v(inputs[2])], {
        dilations: { ints: [geo.dilH, geo.dilW] }, group: { i: geo.groups }, kernel_shape: { ints: [geo.kh, geo.kw] },
        pads: { ints: [geo.padH, geo.padW, geo.padH, geo.padW] }, strides: { ints: [geo.strideH, geo.strideW] },
      }, out.shape);
      if (rectify) {
        y = g.node('Mul', [y, g.initializer(rectifyFactor(geo, rectify), [1, 1, geo.oh, geo.ow], 'rectify')], {}, out.shape);
        if (inputs[2]) y = g.node('Add', [y, this.reshape(v(inputs[2])!, [geo.o, 1, 1])], {}, out.shape);
      }
      if (inputs[3]) y = g.node('Add', [y, v(inputs[3])], {}, out.shape);
      y = this.act(y, act);
    } else if (name === 'batchNorm') {
      const { eps, act } = params as { eps: number; act: Activation };
      const x = v(a)!;
      const nchw = x.shape.length >= 3 ? x : this.reshape(x, [...x.shape, 1]);
      let bn = g.node('BatchNormalization', [nchw, v(inputs[3]), v(inputs[4]), v(inputs[1]), v(inputs[2])], { epsilon: { f: eps } }, nchw.shape);
      bn = this.act(bn, act);
      y = this.reshape(bn, out.shape);
    } else if (name === 'maxPool2d' || name === 'avgPool2d') {
      y = this.pool(name === 'maxPool2d' ? 'max' : 'avg', (params as { g: Pool2dGeometry }).g, v(a)!, out.shape);
    } else if (name === 'adaptiveAvgPool2d') {
      y = g.node('GlobalAveragePool', [v(a)], {}, out.shape);
    } else if (name === 'softmax' || name === 'logSoftmax') {
      const { outer, dim } = params as { outer: number; dim: number };
      const s = a!.shape;
      let axis = 0;
      while (axis < s.length - 1 && !(s.slice(0, axis).reduce((p, q) => p * q, 1) === outer && s[axis] === dim)) axis++;
      y = g.node(name === 'softmax' ? 'Softmax' : 'LogSoftmax', [v(a)], { axis: { i: axis } }, out.shape);
    } else if (name === 'rSoftmax') {
      const { batch, cardinality, radix, rest } = params as { batch: number; cardinality: number; radix: number; rest: number };
      const s = g.node('Softmax', [this.reshape(v(a)!, [batch, cardinality, radix, rest])], { axis: { i: 2 } }, [batch, cardinality, radix, rest]);
      const t = g.node('Transpose', [s], { perm: { ints: [0, 2, 1, 3] } }, [batch, radix, cardinality, rest]);
      y = this.reshape(t, out.shape);
    } else if (name === 'linear') {
      const x = v(a)!;
      if (x.shape.length === 2) y = g.node('Gemm', [x, v(b), v(inputs[2])], { transB: { i: 1 } }, out.shape);
      else {
        const wt = g.node('Transpose', [v(b)], { perm: { ints: [1, 0] } }, [b!.shape[1]!, b!.shape[0]!]);
        y = g.node('MatMul', [x, wt], {}, out.shape);
        if (inputs[2]) y = g.node('Add', [y, v(inputs[2])], {}, out.shape);
      }
    } else if (name === 'radixGap') {
      const { n, radix, c, h, w } = params as { n: number; radix: number; c: number; h: number; w: number };
      let s = v(a)!;
      if (radix > 1) s = this.reduce('ReduceSum', this.reshape(s, [n, radix, c, h, w]), [1], false, [n, c, h, w]);
      y = g.node('GlobalAveragePool', [s], {}, out.shape);
    } else if (name === 'radixAttend') {
      const { n, radix, c, h, w } = params as { n: number; radix: number; c: number; h: number; w: number };
      if (radix > 1) {
        const prod = g.node('Mul', [this.reshape(v(a)!, [n, radix, c, h, w]), this.reshape(v(b)!, [n, radix, c, 1, 1])], {}, [n, radix, c, h, w]);
        y = this.reduce('ReduceSum', prod, [1], false, out.shape);
      } else {
        y = g.node('Mul', [v(a), this.reshape(v(b)!, [n, c, 1, 1])], {}, out.shape);
      }
    } else if (name === 'sum') {
      const { dims, keepdim } = params as { dims: number[]; keepdim: boolean };
      y = this.reduce('ReduceSum', v(a)!, [...dims], keepdim, out.shape);
    } else if (name === 'expand') {
      const target = this.opts.dynamicBatch !== null && a!.shape.length === out.shape.length ? [1, ...out.shape.slice(1)] : [...out.shape];
      y = g.node('Expand', [v(a), g.ints(target)], {}, out.shape);
    } else if (name === 'cat') {
      y = g.node('Concat', inputs.map((t) => v(t)!), { axis: { i: (params as { dim: number }).dim } }, out.shape);
    } else {
      throw new NotSupportedError(`ONNX export: '${name}' has no ONNX translation (export an eval-mode model)`);
    }
    this.set(out, y);
  }

  private pool(kind: 'max' | 'avg', geo: Pool2dGeometry, x: Value, outShape: readonly number[]): Value {
    const g = this.graph;
    // End padding that yields PyTorch's output size (ceil_mode included); never < the start padding.
    const endH = Math.max(geo.padH, (geo.oh - 1) * geo.strideH + geo.kh - geo.h - geo.padH);
    const endW = Math.max(geo.padW, (geo.ow - 1) * geo.strideW + geo.kw - geo.w - geo.padW);
    const common = { kernel_shape: { ints: [geo.kh, geo.kw] }, strides: { ints: [geo.strideH, geo.strideW] } };
    const pads = { ints: [geo.padH, geo.padW, endH, endW] };
    if (kind === 'max') return g.node('MaxPool', [x], { ...common, pads }, outShape);
    if (!geo.countIncludePad || (endH === geo.padH && endW === geo.padW)) {
      return g.node('AveragePool', [x], { ...common, pads, count_include_pad: { i: geo.countIncludePad ? 1 : 0 } }, outShape);
    }
    // PyTorch counts the zero padding in the divisor but not a ceil-mode window's overhang
    // beyond it: pad explicitly, then average over real (now padded) cells only.
    let p = x;
    if (geo.padH || geo.padW) {
      p = g.node('Pad', [x, g.ints([0, 0, geo.padH, geo.padW, 0, 0, geo.padH, geo.padW])], {},
        [x.shape[0]!, x.shape[1]!, geo.h + 2 * geo.padH, geo.w + 2 * geo.padW]);
    }
    return g.node('AveragePool', [p], { ...common, pads: { ints: [0, 0, endH - geo.padH, endW - geo.padW] }, count_include_pad: { i: 0 } }, outShape);
  }

  /** The value of the forward's result. */
  result(t: Tensor): Value {
    if (!this.symbolic.has(t.storage)) throw new NotSupportedError('ONNX export: the output does not depend on the input');
    return this.value(t, 'output');
  }
}
