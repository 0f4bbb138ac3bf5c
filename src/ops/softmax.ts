// softmax and log-softmax over one dim, and the r-softmax of split attention, each with its
// gradient (from the output alone).

import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normDim } from '../tensor/shape.js';
import { floatInput } from './check.js';
import { sigmoid } from './elementwise.js';
import { apply, defineOp, gradKernel } from './op.js';

export interface Axis {
  /** The dim itself (for export); the kernels see the tensor as (outer, dim, inner). */
  axis: number;
  outer: number;
  dim: number;
  inner: number;
}

function axis(x: Tensor, dim: number): Axis {
  const d = normDim(dim, x.rank);
  return {
    axis: d,
    outer: x.shape.slice(0, d).reduce((a, b) => a * b, 1),
    dim: x.shape[d] ?? 1,
    inner: x.shape.slice(d + 1).reduce((a, b) => a * b, 1),
  };
}

function softmaxDef<N extends 'softmax' | 'logSoftmax'>(name: N) {
  const log = name === 'logSoftmax';
  const label = log ? 'log_softmax' : 'softmax';
  return defineOp<Axis, N>({
    name,
    shape: ([x]) => (floatInput(label, x!), x!.shape),
    kernel: ([x], out, { outer, dim, inner }) => x!.backend.softmax(x!.ref, out.ref, outer, dim, inner, log),
    save: (_, out) => [out],
    backward: ([y], g, { outer, dim, inner }) => {
      const k = gradKernel(g.backend, 'softmaxBackward', `${label} backward`);
      const gc = g.contiguous();
      const dx = Tensor.empty(g.shape, 'float32', g.backend);
      k(log, y!.ref, gc.ref, dx.ref, outer, dim, inner);
      return [dx];
    },
  });
}

export const softmaxOp = softmaxDef('softmax');
export const logSoftmaxOp = softmaxDef('logSoftmax');

export const softmax = (x: Tensor, dim: number) => apply(softmaxOp, [x], axis(x, dim));
export const logSoftmax = (x: Tensor, dim: number) => apply(logSoftmaxOp, [x], axis(x, dim));

export interface RSoftmaxParams {
  batch: number;
  cardinality: number;
  radix: number;
  rest: number;
}

export const rSoftmaxOp = defineOp<RSoftmaxParams, 'rSoftmax'>({
  name: 'rSoftmax',
  shape: ([x], p) => (floatInput('rsoftmax', x!), [p.batch, p.cardinality * p.radix * p.rest]),
  kernel: ([x], out, p) => x!.backend.rSoftmax(x!.ref, out.ref, p.batch, p.cardinality, p.radix, p.rest),
  save: ([x], out) => [x!, out],
  backward: ([x, y], g, p) => {
    const gc = g.contiguous();
    const dx = Tensor.empty([p.batch, p.cardinality * p.radix * p.rest], 'float32', g.backend);
    gradKernel(g.backend, 'rSoftmaxBackward', 'rsoftmax backward')(y!.ref, gc.ref, dx.ref, p.batch, p.cardinality, p.radix, p.rest);
    return [dx.reshape(x!.shape)];
  },
});

/**
 * rSoftMax of the seed, for input [batch, …] holding cardinality·radix·rest values per
 * sample: radix > 1 views it as (batch, cardinality, radix, rest), softmaxes over radix and
 * returns it radix-major as (batch, radix·cardinality·rest), i.e.
 * `softmax(x.view(b, card, radix, -1).transpose(1, 2), dim=1).reshape(b, -1)`;
 * radix = 1 is a sigmoid gate that keeps the input's shape.
 */
export function rSoftmax(x: Tensor, radix: number, cardinality: number): Tensor {
  floatInput('rsoftmax', x);
  const batch = x.shape[0] ?? 0;
  const per = batch ? x.size / batch : 0;
  if (radix <= 1) return sigmoid(x);
  if (per % (radix * cardinality) !== 0) {
    throw new ShapeError(`rsoftmax: input ${fmt(x.shape)} cannot be viewed as (batch, cardinality=${cardinality}, radix=${radix}, -1)`);
  }
  return apply(rSoftmaxOp, [x], { batch, cardinality, radix, rest: per / (radix * cardinality) });
}
