// The rule table: every op name with its definition. An op added to OpName without an
// entry here, or a definition without a backward rule (or an explicit NOT_DIFFERENTIABLE),
// does not compile. Tensor views (reshape, transpose, permute, narrow, contiguous) record
// their rules in src/tensor/tensor.ts, where they are made.

import type { OpDef, OpName } from './op.js';
import {
  addOp, addScalarOp, divOp, expOp, mulOp, mulScalarOp, negOp, reluOp, rsqrtOp, sigmoidOp, sqrtOp, subOp,
} from './elementwise.js';
import { expandOp, sumOp } from './reduce.js';
import { conv2dOp } from './conv.js';
import { batchNormOp, batchNormTrainOp } from './norm.js';
import { adaptiveAvgPool2dOp, avgPool2dOp, maxPool2dOp } from './pool.js';
import { interpolateOp } from './interpolate.js';
import { logSoftmaxOp, rSoftmaxOp, softmaxOp } from './softmax.js';
import { linearOp } from './linear.js';
import { radixAttendOp, radixGapOp } from './splat.js';
import { catOp } from './concat.js';

export const OPS = {
  relu: reluOp,
  sigmoid: sigmoidOp,
  exp: expOp,
  neg: negOp,
  sqrt: sqrtOp,
  rsqrt: rsqrtOp,
  addScalar: addScalarOp,
  mulScalar: mulScalarOp,
  add: addOp,
  sub: subOp,
  mul: mulOp,
  div: divOp,
  sum: sumOp,
  expand: expandOp,
  cat: catOp,
  conv2d: conv2dOp,
  batchNorm: batchNormOp,
  batchNormTrain: batchNormTrainOp,
  maxPool2d: maxPool2dOp,
  avgPool2d: avgPool2dOp,
  adaptiveAvgPool2d: adaptiveAvgPool2dOp,
  interpolate: interpolateOp,
  softmax: softmaxOp,
  logSoftmax: logSoftmaxOp,
  rSoftmax: rSoftmaxOp,
  linear: linearOp,
  radixGap: radixGapOp,
  radixAttend: radixAttendOp,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
} as const satisfies { readonly [K in OpName]: OpDef<any, K> };

/** An op's parameters as its definition types them: what tables beside this one (export) receive. */
export type ParamsOf<K extends OpName> = (typeof OPS)[K] extends OpDef<infer P, K> ? P : never;
