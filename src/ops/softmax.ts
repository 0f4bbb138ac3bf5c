// softmax over one dim, and the r-softmax of split attention.

import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normDim } from '../tensor/shape.js';
import { floatInput } from './check.js';
import { sigmoid } from './elementwise.js';

export function softmax(x: Tensor, dim: number): Tensor {
  floatInput('softmax', x);
  const d = normDim(dim, x.rank);
  const outer = x.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const xc = x.contiguous();
  const out = Tensor.empty(x.shape, 'float32', x.backend);
  x.backend.softmax(xc.ref, out.ref, outer, x.shape[d]!, inner);
  if (xc !== x) xc.dispose();
  return out;
}

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
  const xc = x.contiguous();
  const out = Tensor.empty([batch, per], 'float32', x.backend);
  x.backend.rSoftmax(xc.ref, out.ref, batch, cardinality, radix, per / (radix * cardinality));
  if (xc !== x) xc.dispose();
  return out;
}
