// The one entry point every op passes through. An op is defined once: its name, a shape
// check that returns the output shape, its kernel call, what it saves for backward, and
// its backward rule (written in other ops and training kernels) — forward and backward
// side by side in src/ops/<op>.ts. apply() owns what every op needs around its kernel:
// liveness and backend checks, contiguous copies of operands (and their disposal), output
// allocation, and recording a tape node when gradients are on and an input needs one.

import type { Backend, TrainingKernels } from '../backend/backend.js';
import { NotSupportedError } from '../errors.js';
import { currentObserver, needsGrad, noGrad, record, unobserved } from '../autograd/tape.js';
import { Tensor } from '../tensor/tensor.js';
import { sameBackend } from './check.js';

/** Every op that apply() runs; the rule table (src/ops/table.ts) must cover each. */
export type OpName =
  | 'relu' | 'sigmoid' | 'exp' | 'neg' | 'sqrt' | 'rsqrt' | 'addScalar' | 'mulScalar'
  | 'add' | 'sub' | 'mul' | 'div'
  | 'sum' | 'expand' | 'cat'
  | 'conv2d' | 'batchNorm' | 'batchNormTrain'
  | 'maxPool2d' | 'avgPool2d' | 'adaptiveAvgPool2d' | 'interpolate'
  | 'softmax' | 'logSoftmax' | 'rSoftmax'
  | 'linear' | 'radixGap' | 'radixAttend';

/** Gradients for each operand, given the saved tensors, the output's gradient and the params. */
export type Rule<P> = (saved: readonly Tensor[], grad: Tensor, p: P, needs: readonly boolean[]) => readonly (Tensor | null)[];

export const NOT_DIFFERENTIABLE = 'not-differentiable' as const;

export interface OpDef<P, N extends OpName = OpName> {
  readonly name: N;
  /** Checks operands and params; returns the output shape. */
  shape(xs: readonly (Tensor | null)[], p: P): readonly number[];
  /** Writes `out` (fresh, contiguous) from the operands: contiguous unless `strided`. */
  kernel(xs: readonly (Tensor | null)[], out: Tensor, p: P): void;
  /** Tensors the rule needs, from the operands (as the kernel saw them) and the output. */
  save?(xs: readonly (Tensor | null)[], out: Tensor, p: P): Tensor[];
  /** The gradient rule, or an explicit statement that there is none. */
  readonly backward: Rule<P> | typeof NOT_DIFFERENTIABLE;
  /** The kernel reads operands through their strides (broadcasting ops): no copies. */
  readonly strided?: boolean;
}

/** The identity on a definition, typing P from its uses (`defineOp({...})`). */
export function defineOp<P, N extends OpName>(def: OpDef<P, N>): OpDef<P, N> {
  return def;
}

/** Runs an op on its operands (null for absent optional ones, e.g. no bias). */
export function apply<P>(op: OpDef<P, OpName>, xs: readonly (Tensor | null)[], p: P): Tensor {
  for (const t of xs) t?.assertLive();
  sameBackend(op.name, ...xs);
  const shape = op.shape(xs, p);
  const first = xs.find((t) => t)!;
  const tracked = needsGrad(xs);
  if (tracked && op.backward === NOT_DIFFERENTIABLE) {
    throw new NotSupportedError(`${op.name} is not differentiable: run it under noGrad() or on tensors that do not require grad`);
  }
  // Contiguous copies are the op's own business: made without recording, freed after the kernel.
  const operands = op.strided ? xs : noGrad(() => unobserved(() => xs.map((t) => t?.contiguous() ?? null)));
  const out = Tensor.empty(shape, 'float32', first.backend);
  try {
    unobserved(() => op.kernel(operands, out, p));
    currentObserver()?.op(op.name, xs, out, p);
    if (tracked) {
      const rule = op.backward as Rule<P>;
      // record() retains what it saves, so the operand copies can go below either way.
      record(op.name, out, xs, op.save?.(operands, out, p) ?? [], (ctx, g) => rule(ctx.saved, g, p, ctx.needs));
    }
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    operands.forEach((c, i) => {
      if (c && c !== xs[i]) c.dispose();
    });
  }
  return out;
}

/**
 * One training kernel by name; on a backend without training kernels, a NotSupportedError
 * naming the op, the kernel and the backend.
 */
export function gradKernel<B, K extends keyof TrainingKernels<B>>(backend: Backend<B>, name: K, op: string): TrainingKernels<B>[K] {
  const set = backend.training;
  if (!set) throw new NotSupportedError(`${op}: the ${backend.name} backend has no ${name} kernel (it does not train)`);
  return (set[name] as (...a: unknown[]) => void).bind(set) as TrainingKernels<B>[K];
}

