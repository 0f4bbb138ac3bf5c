// Tracing a forward pass into an ONNX graph at the op entry point. The model runs for real
// on the js backend, on a stand-in input; every op that apply() runs and every view that
// Tensor makes is shown to this recorder with its operands, output and parameters (the same
// shapes and attributes the kernels get, nothing guessed). Tensors computed from the graph
// input are "symbolic": they get ONNX values. Everything else — weights, BatchNorm folded
// into a conv, constants made in the forward — is data, and becomes an initializer the
// first time a symbolic op reads it (with its contents at that moment). What each op becomes
// is its rule in src/export/rules.ts; this file holds what every rule shares.

import type { Pool2dGeometry } from '../backend/backend.js';
import { BackendError, NotSupportedError } from '../errors.js';
import type { OpObserver } from '../autograd/tape.js';
import type { Storage, Tensor } from '../tensor/tensor.js';
import { fmt, sameShape } from '../tensor/shape.js';
import type { OpName } from '../ops/op.js';
import { GraphBuilder, type Value } from './graph.js';
import { EXPORT, NotExportable, type ExportRule } from './rules.js';

export interface RecorderOptions {
  /** ai.onnx opset the nodes are written for (13 or later). */
  opset: number;
  /** Trace batch size when the exported batch dimension is symbolic; null for a fixed batch. */
  dynamicBatch: number | null;
}

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
  /** The op being translated, for errors about its operands. */
  private current = 'output';

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
  value(t: Tensor, op = this.current): Value {
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

  reshape(v: Value, shape: readonly number[]): Value {
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

  reduce(op: 'ReduceSum' | 'ReduceMean', v: Value, axes: number[], keepdims: boolean, shape: readonly number[]): Value {
    const g = this.graph;
    if (op === 'ReduceSum' || this.opts.opset >= 18) return g.node(op, [v, g.ints(axes)], { keepdims: { i: keepdims ? 1 : 0 } }, shape);
    return g.node(op, [v], { axes: { ints: axes }, keepdims: { i: keepdims ? 1 : 0 } }, shape);
  }

  scalar(s: number): Value {
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

  op(name: OpName, inputs: readonly (Tensor | null)[], out: Tensor, params: unknown): void {
    if (!inputs.some((t) => t && this.isSymbolic(t))) return; // computed from data only: folded
    this.current = name;
    const rule = EXPORT[name];
    if (rule instanceof NotExportable) throw new NotSupportedError(`ONNX export: '${name}': ${rule.reason}`);
    // The one place the table is indexed by a run-time name: apply() passes the params of that op.
    this.set(out, (rule as ExportRule<unknown>)(this, inputs, out, params));
  }

  pool(kind: 'max' | 'avg', geo: Pool2dGeometry, x: Value, outShape: readonly number[]): Value {
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
