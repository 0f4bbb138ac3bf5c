// Linear layer: y = x Wᵀ + b, with W stored [out_features, in_features] as in PyTorch.

import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { floatInput, rank, sameBackend } from './check.js';

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  floatInput('linear', x);
  rank('linear', weight, 2, 'weight', 'out_features, in_features');
  sameBackend('linear', x, weight, bias);
  const k = x.shape[x.rank - 1];
  const [n, wk] = weight.shape as [number, number];
  if (x.rank < 1 || k !== wk) throw new ShapeError(`linear: input ${fmt(x.shape)} does not match weight ${fmt(weight.shape)}`);
  if (bias && bias.size !== n) throw new ShapeError(`linear: bias ${fmt(bias.shape)} does not match ${n} output features`);
  const m = x.size / wk;
  const xc = x.contiguous();
  const out = Tensor.empty([...x.shape.slice(0, -1), n], 'float32', x.backend);
  x.backend.linear(xc.ref, weight.contiguous().ref, bias?.contiguous().ref ?? null, out.ref, m, wk, n);
  if (xc !== x) xc.dispose();
  return out;
}
