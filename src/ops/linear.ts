// Linear layer: y = x Wᵀ + b, with W stored [out_features, in_features] as in PyTorch.
// Its gradients are linears too: dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy.

import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { floatInput, rank } from './check.js';
import { apply, defineOp } from './op.js';
import { sumDims } from './reduce.js';

export interface LinearParams {
  m: number;
  k: number;
  n: number;
}

export const linearOp = defineOp<LinearParams, 'linear'>({
  name: 'linear',
  shape: ([x, weight, bias]) => {
    floatInput('linear', x!);
    rank('linear', weight!, 2, 'weight', 'out_features, in_features');
    const k = x!.shape[x!.rank - 1];
    const [n, wk] = weight!.shape as [number, number];
    if (x!.rank < 1 || k !== wk) throw new ShapeError(`linear: input ${fmt(x!.shape)} does not match weight ${fmt(weight!.shape)}`);
    if (bias && bias.size !== n) throw new ShapeError(`linear: bias ${fmt(bias.shape)} does not match ${n} output features`);
    return [...x!.shape.slice(0, -1), n];
  },
  kernel: ([x, w, b], out, { m, k, n }) => x!.backend.linear(x!.ref, w!.ref, b?.ref ?? null, out.ref, m, k, n),
  save: ([x, w]) => [x!, w!],
  backward: ([x, w], g, { m, k, n }, needs) => {
    const g2 = g.reshape(m, n);
    return [
      needs[0] ? linear(g2, w!.transpose(0, 1)).reshape(x!.shape) : null,
      needs[1] ? linear(g2.transpose(0, 1), x!.reshape(m, k).transpose(0, 1)) : null,
      needs[2] ? sumDims(g2, 0) : null,
    ];
  },
});

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const k = weight.shape[1] ?? 0;
  return apply(linearOp, [x, weight, bias], { m: k ? x.size / k : 0, k, n: weight.shape[0] ?? 0 });
}
