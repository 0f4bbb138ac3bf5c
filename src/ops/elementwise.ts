// Element-wise ops with PyTorch broadcasting; each with its gradient beside it. Binary ops
// read their operands through broadcast strides; their gradients are summed back over the
// broadcast dims (sumTo).

import type { Activation, BinaryOp, UnaryOp } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastShapes, broadcastStrides } from '../tensor/shape.js';
import { ShapeError } from '../errors.js';
import { floatInput } from './check.js';
import { apply, defineOp, gradKernel, type OpDef } from './op.js';
import { sumTo } from './reduce.js';

type UnaryRule = (x: Tensor, y: Tensor, g: Tensor, alpha: number) => Tensor;

function unaryDef<N extends UnaryOp>(op: N, rule: UnaryRule, saves: 'x' | 'y' | 'none'): OpDef<number, N> {
  return defineOp<number, N>({
    name: op,
    shape: ([x]) => (floatInput(op, x!), x!.shape),
    kernel: ([x], out, alpha) => x!.backend.unary(op, x!.ref, out.ref, x!.size, alpha),
    save: ([x], out) => (saves === 'x' ? [x!] : saves === 'y' ? [out] : []),
    backward: (saved, g, alpha) => [rule(saved[0]!, saved[0]!, g, alpha)],
  });
}

/** act as an op of its own (relu, sigmoid; x itself for none), where no kernel fuses it. */
export function activate(x: Tensor, act: Activation): Tensor {
  return act === 'relu' ? relu(x) : act === 'sigmoid' ? sigmoid(x) : x;
}

/** The gradient through relu or sigmoid from the activation's output y (also batch norm's fused activation, norm.ts). */
export function activationBackward(act: Activation, y: Tensor, g: Tensor): Tensor {
  if (act !== 'relu' && act !== 'sigmoid') throw new ShapeError(`activation backward: no rule for '${act}'`);
  const dx = Tensor.empty(g.shape, 'float32', g.backend);
  const gc = g.contiguous();
  gradKernel(g.backend, 'activationBackward', `${act} backward`)(act, y.ref, gc.ref, dx.ref, g.size);
  if (gc !== g) gc.dispose();
  return dx;
}

const activationGrad = (act: 'relu' | 'sigmoid'): UnaryRule => (_, y, g) => activationBackward(act, y, g);

export const reluOp = unaryDef('relu', activationGrad('relu'), 'y');
export const sigmoidOp = unaryDef('sigmoid', activationGrad('sigmoid'), 'y');
export const expOp = unaryDef('exp', (_, y, g) => mul(g, y), 'y');
export const negOp = unaryDef('neg', (_, __, g) => neg(g), 'none');
// d sqrt(x) = 1 / (2 sqrt(x)); d x^-1/2 = -x^-3/2 / 2 = -y³ / 2.
export const sqrtOp = unaryDef('sqrt', (_, y, g) => div(mulScalar(g, 0.5), y), 'y');
export const rsqrtOp = unaryDef('rsqrt', (_, y, g) => mul(g, mulScalar(mul(y, mul(y, y)), -0.5)), 'y');
export const addScalarOp = unaryDef('addScalar', (_, __, g) => g, 'none');
export const mulScalarOp = unaryDef('mulScalar', (_, __, g, alpha) => mulScalar(g, alpha), 'none');

export const relu = (x: Tensor): Tensor => apply(reluOp, [x], 0);
export const sigmoid = (x: Tensor): Tensor => apply(sigmoidOp, [x], 0);
export const exp = (x: Tensor): Tensor => apply(expOp, [x], 0);
export const neg = (x: Tensor): Tensor => apply(negOp, [x], 0);
export const sqrt = (x: Tensor): Tensor => apply(sqrtOp, [x], 0);
export const rsqrt = (x: Tensor): Tensor => apply(rsqrtOp, [x], 0);
export const addScalar = (x: Tensor, s: number): Tensor => apply(addScalarOp, [x], s);
export const mulScalar = (x: Tensor, s: number): Tensor => apply(mulScalarOp, [x], s);

/** The shape check and kernel every binary op shares: operands read through broadcast strides. */
function broadcasting(op: BinaryOp) {
  return {
    shape: ([a, b]: readonly (Tensor | null)[]) => {
      floatInput(op, a!, 'a');
      floatInput(op, b!, 'b');
      return broadcastShapes(a!.shape, b!.shape, op);
    },
    kernel: ([a, b]: readonly (Tensor | null)[], out: Tensor) => a!.backend.binary(op, out.shape,
      { ...a!.ref, strides: broadcastStrides(a!.shape, a!.strides, out.shape) },
      { ...b!.ref, strides: broadcastStrides(b!.shape, b!.strides, out.shape) },
      out.ref),
  };
}

type BinaryRule = (a: Tensor, b: Tensor, g: Tensor, needs: readonly boolean[]) => [Tensor | null, Tensor | null];

/** mul and div save their operands (views: no copies). */
function binaryDef<N extends 'mul' | 'div'>(op: N, rule: BinaryRule): OpDef<null, N> {
  return defineOp<null, N>({
    name: op,
    strided: true,
    ...broadcasting(op),
    save: ([a, b]) => [a!, b!],
    backward: ([a, b], g, _, needs) => {
      const [ga, gb] = rule(a!, b!, g, needs);
      return [ga ? sumTo(ga, a!.shape) : null, gb ? sumTo(gb, b!.shape) : null];
    },
  });
}

/** add and sub save nothing: their operand shapes are the params. */
function linearBinary<N extends 'add' | 'sub'>(op: N): OpDef<readonly [readonly number[], readonly number[]], N> {
  return defineOp<readonly [readonly number[], readonly number[]], N>({
    name: op,
    strided: true,
    ...broadcasting(op),
    backward: (_, g, [sa, sb], needs) => [
      needs[0] ? sumTo(g, sa) : null,
      needs[1] ? sumTo(op === 'add' ? g : neg(g), sb) : null,
    ],
  });
}

export const addOp = linearBinary('add');
export const subOp = linearBinary('sub');
export const mulOp = binaryDef('mul', (a, b, g, needs) => [needs[0] ? mul(g, b) : null, needs[1] ? mul(g, a) : null]);
// d(a/b)/db = −a/b² = −(a/b)/b.
export const divOp = binaryDef('div', (a, b, g, needs) => [
  needs[0] ? div(g, b) : null,
  needs[1] ? neg(div(mul(g, a), mul(b, b))) : null,
]);

export const add = (a: Tensor, b: Tensor): Tensor => apply(addOp, [a, b], [a.shape, b.shape] as const);
export const sub = (a: Tensor, b: Tensor): Tensor => apply(subOp, [a, b], [a.shape, b.shape] as const);
export const mul = (a: Tensor, b: Tensor): Tensor => apply(mulOp, [a, b], null);
export const div = (a: Tensor, b: Tensor): Tensor => apply(divOp, [a, b], null);

/** Python's sum() of a list of tensors: ((t0 + t1) + t2) + …, broadcasting. */
export function addN(ts: readonly Tensor[]): Tensor {
  if (ts.length === 0) throw new ShapeError('sum: needs at least one tensor');
  let acc = ts[0]!;
  for (let i = 1; i < ts.length; i++) {
    const next = add(acc, ts[i]!);
    if (i > 1) acc.dispose();
    acc = next;
  }
  return acc;
}
