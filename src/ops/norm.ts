// Batch normalisation with running statistics (inference), optionally followed by an activation.

import type { Activation } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { floatInput, sameBackend } from './check.js';

export function batchNorm(x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor, bias: Tensor,
  eps = 1e-5, act: Activation = 'none'): Tensor {
  floatInput('batch_norm', x);
  sameBackend('batch_norm', x, runningMean, runningVar, weight, bias);
  if (x.rank < 2) throw new ShapeError(`batch_norm: input must be at least 2-D (N, C, …), got ${fmt(x.shape)}`);
  const c = x.shape[1]!;
  for (const [name, t] of [['running_mean', runningMean], ['running_var', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t.size !== c) throw new ShapeError(`batch_norm: ${name} ${fmt(t.shape)} does not match ${c} channels of input ${fmt(x.shape)}`);
  }
  const xc = x.contiguous();
  const out = Tensor.empty(x.shape, 'float32', x.backend);
  const hw = x.size / (x.shape[0]! * c || 1);
  x.backend.batchNorm(xc.ref, weight.contiguous().ref, bias.contiguous().ref, runningMean.contiguous().ref,
    runningVar.contiguous().ref, eps, x.shape[0]!, c, hw, act, out.ref);
  if (xc !== x) xc.dispose();
  return out;
}
