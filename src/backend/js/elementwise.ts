// Element-wise kernels: unary maps, broadcasting binary ops, strided copies.

import type { Activation, BinaryOp, Ref, StridedRef, UnaryOp } from '../backend.js';

type Arr = Float32Array | Int32Array;

export function sigmoid(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

export function applyActivation(y: Float32Array, off: number, n: number, act: Activation): void {
  if (act === 'relu') {
    // `<= 0` is false for NaN, so NaN passes through as in PyTorch.
    for (let i = off; i < off + n; i++) if (y[i]! <= 0) y[i] = 0;
  } else if (act === 'sigmoid') {
    for (let i = off; i < off + n; i++) y[i] = sigmoid(y[i]!);
  }
}

const unaryFns: Record<UnaryOp, (v: number, alpha: number) => number> = {
  relu: (v) => (v <= 0 ? 0 : v),
  sigmoid: (v) => sigmoid(v),
  exp: (v) => Math.exp(v),
  neg: (v) => -v,
  sqrt: (v) => Math.sqrt(v),
  rsqrt: (v) => 1 / Math.sqrt(v),
  addScalar: (v, a) => v + a,
  mulScalar: (v, a) => v * a,
};

export function unary(op: UnaryOp, x: Ref<Float32Array>, out: Ref<Float32Array>, n: number, alpha: number): void {
  const f = unaryFns[op];
  const xs = x.buf, ys = out.buf, d = x.offset - out.offset;
  for (let i = out.offset; i < out.offset + n; i++) ys[i] = f(xs[i + d]!, alpha);
}

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

/** Visits every index of `shape` in row-major order, calling fn with the flat offsets of two strided views. */
function forEachIndex(shape: readonly number[], sa: readonly number[], oa: number, sb: readonly number[], ob: number,
  fn: (i: number, ia: number, ib: number) => void): void {
  const rank = shape.length;
  if (rank === 0) {
    fn(0, oa, ob);
    return;
  }
  const idx = new Array<number>(rank).fill(0);
  const last = rank - 1, n = shape[last]!, la = sa[last]!, lb = sb[last]!;
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  let ia = oa, ib = ob;
  for (let i = 0; i < total; i += n) {
    for (let j = 0; j < n; j++) fn(i + j, ia + j * la, ib + j * lb);
    for (let d = last - 1; d >= 0; d--) {
      ia += sa[d]!;
      ib += sb[d]!;
      if (++idx[d]! < shape[d]!) break;
      ia -= sa[d]! * shape[d]!;
      ib -= sb[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

export function binary(op: BinaryOp, shape: readonly number[], a: StridedRef<Float32Array>, b: StridedRef<Float32Array>, out: Ref<Float32Array>): void {
  const f = binaryFns[op];
  const A = a.buf, B = b.buf, Y = out.buf, o = out.offset;
  if (op === 'add') forEachIndex(shape, a.strides, a.offset, b.strides, b.offset, (i, ia, ib) => { Y[o + i] = A[ia]! + B[ib]!; });
  else if (op === 'mul') forEachIndex(shape, a.strides, a.offset, b.strides, b.offset, (i, ia, ib) => { Y[o + i] = A[ia]! * B[ib]!; });
  else forEachIndex(shape, a.strides, a.offset, b.strides, b.offset, (i, ia, ib) => { Y[o + i] = f(A[ia]!, B[ib]!); });
}

export function copy(shape: readonly number[], src: StridedRef<Arr>, dst: StridedRef<Arr>): void {
  const S = src.buf, D = dst.buf;
  forEachIndex(shape, src.strides, src.offset, dst.strides, dst.offset, (_i, is, id) => { D[id] = S[is]!; });
}
