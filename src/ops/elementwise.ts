// Element-wise ops with PyTorch broadcasting.

import type { BinaryOp, UnaryOp } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes, broadcastStrides } from '../tensor/shape.js';
import { NotSupportedError, ShapeError } from '../errors.js';
import { floatInput, sameBackend } from './check.js';

function unaryOp(op: UnaryOp, x: Tensor, alpha = 0): Tensor {
  floatInput(op, x);
  const src = x.contiguous();
  const out = Tensor.empty(x.shape, 'float32', x.backend);
  x.backend.unary(op, src.ref, out.ref, x.size, alpha);
  if (src !== x) src.dispose();
  return out;
}

export const relu = (x: Tensor) => unaryOp('relu', x);
export const sigmoid = (x: Tensor) => unaryOp('sigmoid', x);
export const exp = (x: Tensor) => unaryOp('exp', x);
export const neg = (x: Tensor) => unaryOp('neg', x);
export const sqrt = (x: Tensor) => unaryOp('sqrt', x);
export const rsqrt = (x: Tensor) => unaryOp('rsqrt', x);
export const addScalar = (x: Tensor, s: number) => unaryOp('addScalar', x, s);
export const mulScalar = (x: Tensor, s: number) => unaryOp('mulScalar', x, s);

function binaryOp(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  floatInput(op, a, 'a');
  floatInput(op, b, 'b');
  sameBackend(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape, op);
  const out = Tensor.empty(shape, 'float32', a.backend);
  a.backend.binary(op, shape,
    { ...a.ref, strides: broadcastStrides(a.shape, a.strides, shape) },
    { ...b.ref, strides: broadcastStrides(b.shape, b.strides, shape) },
    out.ref);
  return out;
}

export const add = (a: Tensor, b: Tensor) => binaryOp('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binaryOp('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binaryOp('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binaryOp('div', a, b);

/** Python's sum() of a list of tensors: ((t0 + t1) + t2) + …, broadcasting. */
export function sum(ts: readonly Tensor[]): Tensor {
  if (ts.length === 0) throw new ShapeError('sum: needs at least one tensor');
  let acc = ts[0]!;
  for (let i = 1; i < ts.length; i++) {
    const next = add(acc, ts[i]!);
    if (i > 1) acc.dispose();
    acc = next;
  }
  return acc;
}

/** Inference dropout is the identity; training dropout arrives with autograd. */
export function dropout(x: Tensor, _p: number, training: boolean): Tensor {
  if (training && _p > 0) throw new NotSupportedError('dropout: training mode needs autograd, which is not available yet; call model.eval()');
  return x;
}
