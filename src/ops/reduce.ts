// Reductions (sum, mean over dims) and expand, each the other's gradient. A reduction moves
// the reduced dims last (a strided copy when they are not already) and sums rows.

import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { broadcastStrides, fmt, normDim, numel, sameShape } from '../tensor/shape.js';
import { noGrad } from '../autograd/tape.js';
import { floatInput } from './check.js';
import { apply, defineOp } from './op.js';
// elementwise.ts imports sumTo from here; both only call each other at run time.
import { addN, mulScalar } from './elementwise.js';

export interface SumParams {
  /** Reduced dims, sorted. */
  dims: readonly number[];
  keepdim: boolean;
  /** The input's shape (the rule expands back to it). */
  from: readonly number[];
}

function reducedShape(shape: readonly number[], dims: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((s, i) => {
    if (!dims.includes(i)) out.push(s);
    else if (keepdim) out.push(1);
  });
  return out;
}

export const sumOp = defineOp<SumParams, 'sum'>({
  name: 'sum',
  shape: ([x], p) => (floatInput('sum', x!), reducedShape(x!.shape, p.dims, p.keepdim)),
  kernel: ([x], out, p) => {
    const kept = x!.shape.map((_, i) => i).filter((i) => !p.dims.includes(i));
    const moved = noGrad(() => x!.permute(...kept, ...p.dims));
    const src = moved.contiguous();
    const cols = numel(p.dims.map((d) => x!.shape[d]!));
    x!.backend.reduceRows('sum', src.ref, out.ref, out.size, cols);
    if (src !== moved) src.dispose();
    moved.dispose();
  },
  backward: (_, g, p) => {
    const kept = reducedShape(p.from, p.dims, true);
    const gk = g.reshape(kept);
    const out = expand(gk, p.from).contiguous();
    return [out];
  },
});

function normDims(x: Tensor, dim: number | readonly number[] | null | undefined): number[] {
  if (dim === null || dim === undefined) return x.shape.map((_, i) => i);
  const ds = (typeof dim === 'number' ? [dim] : [...dim]).map((d) => normDim(d, x.rank));
  if (new Set(ds).size !== ds.length) throw new ShapeError(`sum: dims ${fmt(ds)} repeat a dim of ${fmt(x.shape)}`);
  return ds.sort((a, b) => a - b);
}

/** torch.sum(x, dim, keepdim): over all dims when dim is omitted. */
export function sumDims(x: Tensor, dim?: number | readonly number[] | null, keepdim = false): Tensor {
  return apply(sumOp, [x], { dims: normDims(x, dim), keepdim, from: x.shape });
}

/** torch.sum(x, dim, keepdim) of a tensor; of a list, Python's sum() (addN). */
export function sum(x: Tensor | readonly Tensor[], dim?: number | readonly number[] | null, keepdim = false): Tensor {
  return Array.isArray(x) ? addN(x) : sumDims(x as Tensor, dim, keepdim);
}

/** torch.mean(x, dim, keepdim). */
export function mean(x: Tensor, dim?: number | readonly number[] | null, keepdim = false): Tensor {
  const dims = normDims(x, dim);
  const s = sumDims(x, dims, keepdim);
  const count = numel(dims.map((d) => x.shape[d]!));
  const m = mulScalar(s, 1 / count);
  s.dispose();
  return m;
}

export const expandOp = defineOp<readonly number[], 'expand'>({
  name: 'expand',
  strided: true,
  shape: ([x], shape) => {
    const off = shape.length - x!.rank;
    if (off < 0 || x!.shape.some((s, i) => s !== 1 && s !== shape[i + off])) {
      throw new ShapeError(`expand: ${fmt(x!.shape)} cannot be expanded to ${fmt(shape)}`);
    }
    return shape;
  },
  kernel: ([x], out) => {
    x!.backend.copy(out.shape, { ...x!.ref, strides: broadcastStrides(x!.shape, x!.strides, out.shape) }, out.stridedRef, 'float32');
  },
  save: ([x]) => [x!],
  backward: ([x], g) => [sumTo(g, x!.shape)],
});

/** x broadcast to `shape`, materialised (torch's expand(...).contiguous()). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  return sameShape(x.shape, shape) ? x : apply(expandOp, [x], [...shape]);
}

/** Sums g over the dims on which `shape` was broadcast to g's shape: the gradient of broadcasting. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const off = g.rank - shape.length;
  if (off < 0) throw new ShapeError(`sumTo: ${fmt(g.shape)} has fewer dims than ${fmt(shape)}`);
  const dims = g.shape.map((_, i) => i).filter((i) => i < off || (shape[i - off] === 1 && g.shape[i] !== 1));
  const s = sumDims(g, dims, true);
  const out = s.reshape(shape);
  if (out !== s) s.dispose();
  return out;
}
