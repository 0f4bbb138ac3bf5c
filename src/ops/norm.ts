// Batch normalisation: with running statistics (inference, optionally followed by an
// activation), and in training mode with the batch's statistics, updating the running ones
// as PyTorch does (momentum 0.1, unbiased running variance).

import type { Activation } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { noGrad } from '../autograd/tape.js';
import { tidy } from '../tensor/scope.js';
import { floatInput } from './check.js';
import { apply, defineOp, gradKernel } from './op.js';
import { add, mul, rsqrt, addScalar, sub, mulScalar, activationBackward } from './elementwise.js';
import { sumDims } from './reduce.js';

interface Layout {
  n: number;
  c: number;
  hw: number;
}

function layout(x: Tensor, params: [string, Tensor | null][]): Layout {
  floatInput('batch_norm', x);
  if (x.rank < 2) throw new ShapeError(`batch_norm: input must be at least 2-D (N, C, …), got ${fmt(x.shape)}`);
  const c = x.shape[1]!;
  for (const [name, t] of params) {
    if (t && t.size !== c) throw new ShapeError(`batch_norm: ${name} ${fmt(t.shape)} does not match ${c} channels of input ${fmt(x.shape)}`);
  }
  return { n: x.shape[0]!, c, hw: x.size / (x.shape[0]! * c || 1) };
}

/** Per-channel view [1, C, 1, …] of a [C] tensor, to broadcast against x. */
const perChannel = (t: Tensor, rank: number) => t.reshape([1, t.size, ...new Array<number>(Math.max(rank - 2, 0)).fill(1)]);

export const batchNormOp = defineOp<{ eps: number; act: Activation }, 'batchNorm'>({
  name: 'batchNorm',
  shape: ([x, rm, rv, w, b]) => (layout(x!, [['running_mean', rm!], ['running_var', rv!], ['weight', w!], ['bias', b!]]), x!.shape),
  kernel: ([x, rm, rv, w, b], out, { eps, act }) => {
    const { n, c, hw } = layout(x!, []);
    x!.backend.batchNorm(x!.ref, w!.ref, b!.ref, rm!.ref, rv!.ref, eps, n, c, hw, act, out.ref);
  },
  save: ([x, rm, rv, w]) => [x!, rm!, rv!, w!],
  // With fixed statistics BN is affine per channel: y = (x − mean)·s + β, s = γ/√(var+ε).
  backward: ([x, rm, rv, w], g, { eps, act }, needs) => {
    if (act !== 'none') throw new ShapeError('batch_norm: the fused activation is for inference; run relu as its own op when training');
    const r = x!.rank;
    const invstd = rsqrt(addScalar(rv!, eps));
    const scale = mul(w!, invstd);
    const dims = [0, ...x!.shape.map((_, i) => i).slice(2)];
    const xhat = mul(sub(x!, perChannel(rm!, r)), perChannel(invstd, r));
    return [
      needs[0] ? mul(g, perChannel(scale, r)) : null,
      null,
      null,
      needs[3] ? sumDims(mul(g, xhat), dims) : null,
      needs[4] ? sumDims(g, dims) : null,
    ];
  },
});

export interface TrainParams {
  eps: number;
  /** Applied in the normalising pass; its gradient is taken from the output. */
  act: Activation;
  /** Filled by the kernel with the batch's mean and biased variance. */
  mean: Tensor;
  variance: Tensor;
}

export const batchNormTrainOp = defineOp<TrainParams, 'batchNormTrain'>({
  name: 'batchNormTrain',
  shape: ([x, w, b]) => (layout(x!, [['weight', w], ['bias', b]]), x!.shape),
  kernel: ([x, w, b], out, { eps, act, mean, variance }) => {
    const { n, c, hw } = layout(x!, []);
    gradKernel(x!.backend, 'channelMoments', 'batch_norm (training)')(x!.ref, mean.ref, variance.ref, n, c, hw);
    // Normalising with the batch statistics is inference BN with those as its "running" ones.
    x!.backend.batchNorm(x!.ref, w!.ref, b!.ref, mean.ref, variance.ref, eps, n, c, hw, act, out.ref);
  },
  save: ([x, w], out, { act, mean, variance }) => (act === 'none' ? [x!, w!, mean, variance] : [x!, w!, mean, variance, out]),
  backward: ([x, w, mean, variance, y], g, { eps, act }) => {
    const { n, c, hw } = layout(x!, []);
    // Through the activation first, from its output (as relu's and sigmoid's own rules do).
    const ga = act === 'none' ? g : activationBackward(act, y!, g);
    const gc = ga.contiguous();
    const dx = Tensor.empty(x!.shape, 'float32', g.backend);
    const dw = Tensor.empty([c], 'float32', g.backend), db = Tensor.empty([c], 'float32', g.backend);
    gradKernel(g.backend, 'batchNormBackward', 'batch_norm backward')(x!.ref, gc.ref, mean!.ref, variance!.ref, w!.ref, eps,
      n, c, hw, dx.ref, dw.ref, db.ref);
    if (ga !== g) ga.dispose();
    return [dx, dw.reshape(w!.shape), db.reshape(w!.shape)];
  },
});

export interface BatchNormOptions {
  /** Use the batch's statistics and update the running ones (PyTorch's training mode). */
  training?: boolean;
  momentum?: number;
  eps?: number;
  /** An activation in the same pass (in training, relu or sigmoid: one read and write of the map fewer). */
  act?: Activation;
}

/**
 * F.batch_norm: with running statistics, or (training) with the batch's, after which
 * running_mean ← (1 − m)·running_mean + m·mean and running_var ← (1 − m)·running_var +
 * m·var·N/(N − 1), written in place.
 */
export function batchNorm(x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor, bias: Tensor,
  opts: BatchNormOptions | number = {}, actArg: Activation = 'none'): Tensor {
  const o: BatchNormOptions = typeof opts === 'number' ? { eps: opts, act: actArg } : opts;
  const eps = o.eps ?? 1e-5;
  if (!o.training) return apply(batchNormOp, [x, runningMean, runningVar, weight, bias], { eps, act: o.act ?? 'none' });
  const { n, c, hw } = layout(x, [['running_mean', runningMean], ['running_var', runningVar], ['weight', weight], ['bias', bias]]);
  const count = n * hw;
  if (count <= 1) throw new ShapeError(`batch_norm: expected more than 1 value per channel when training, got input ${fmt(x.shape)}`);
  const mean = Tensor.empty([c], 'float32', x.backend), variance = Tensor.empty([c], 'float32', x.backend);
  const out = apply(batchNormTrainOp, [x, weight, bias], { eps, act: o.act ?? 'none', mean, variance });
  const m = o.momentum ?? 0.1;
  noGrad(() => tidy(() => {
    const newMean = add(mulScalar(runningMean, 1 - m), mulScalar(mean, m));
    const newVar = add(mulScalar(runningVar, 1 - m), mulScalar(variance, (m * count) / (count - 1)));
    for (const [dst, src] of [[runningMean, newMean], [runningVar, newVar]] as const) {
      dst.backend.copy(dst.shape, src.stridedRef, dst.stridedRef, 'float32');
    }
  }));
  mean.dispose();
  variance.dispose();
  return out;
}
