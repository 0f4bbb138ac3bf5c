// conv2d with PyTorch's semantics (NCHW input, OIHW weight, zero padding), plus the
// inference epilogue: + residual, then an activation, in the same pass.

import type { Activation, Conv2dGeometry } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { floatInput, pair, positiveInts, rank } from './check.js';
import { apply, defineOp, trainingKernels } from './op.js';

export type IntOrPair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: IntOrPair;
  padding?: IntOrPair;
  dilation?: IntOrPair;
  groups?: number;
  /** Added to the output before the activation (a residual branch). */
  residual?: Tensor | null;
  act?: Activation;
}

export function conv2dGeometry(x: readonly number[], w: readonly number[], opts: Conv2dOptions): Conv2dGeometry {
  const [n, c, h, wd] = x as [number, number, number, number];
  const [o, cg, kh, kw] = w as [number, number, number, number];
  const [strideH, strideW] = pair(opts.stride ?? 1);
  const [padH, padW] = pair(opts.padding ?? 0);
  const [dilH, dilW] = pair(opts.dilation ?? 1);
  const groups = opts.groups ?? 1;
  positiveInts('conv2d', 'stride', [strideH, strideW]);
  positiveInts('conv2d', 'dilation', [dilH, dilW]);
  positiveInts('conv2d', 'groups', [groups]);
  if (padH < 0 || padW < 0 || !Number.isInteger(padH) || !Number.isInteger(padW)) {
    throw new ShapeError(`conv2d: padding must be non-negative integers, got [${padH}, ${padW}]`);
  }
  if (c !== cg * groups || o % groups !== 0) {
    throw new ShapeError(`conv2d: input ${fmt(x)} and weight ${fmt(w)} do not match with groups=${groups} (expected ${cg * groups} input channels and output channels divisible by ${groups})`);
  }
  const oh = Math.floor((h + 2 * padH - dilH * (kh - 1) - 1) / strideH) + 1;
  const ow = Math.floor((wd + 2 * padW - dilW * (kw - 1) - 1) / strideW) + 1;
  if (oh <= 0 || ow <= 0) {
    throw new ShapeError(`conv2d: input ${fmt(x)} is too small for kernel ${kh}×${kw} (dilation ${dilH}, padding ${padH}): output would be ${oh}×${ow}`);
  }
  return { n, c, h, w: wd, o, kh, kw, strideH, strideW, padH, padW, dilH, dilW, groups, oh, ow };
}

interface ConvParams {
  g: Conv2dGeometry;
  act: Activation;
}

export const conv2dOp = defineOp<ConvParams, 'conv2d'>({
  name: 'conv2d',
  shape: ([, , bias, residual], { g }) => {
    const outShape = [g.n, g.o, g.oh, g.ow];
    if (bias && (bias.rank !== 1 || bias.shape[0] !== g.o)) {
      throw new ShapeError(`conv2d: bias ${fmt(bias.shape)} does not match ${g.o} output channels`);
    }
    if (residual && !sameShape(residual.shape, outShape)) {
      throw new ShapeError(`conv2d: residual ${fmt(residual.shape)} does not match output ${fmt(outShape)}`);
    }
    return outShape;
  },
  kernel: ([x, w, bias, residual], out, { g, act }) =>
    x!.backend.conv2d(g, x!.ref, w!.ref, bias?.ref ?? null, residual?.ref ?? null, act, out.ref),
  save: ([x, w], out, { act }) => (act === 'none' ? [x!, w!] : [x!, w!, out]),
  // out = act(conv(x, w) + bias + residual): z's gradient first, then the convolution's.
  backward: ([x, w, y], dy, { g, act }, needs) => {
    const k = trainingKernels(dy.backend, 'conv2d backward');
    let dz = dy.contiguous();
    if (act !== 'none') {
      const t = Tensor.empty(dy.shape, 'float32', dy.backend);
      k.activationBackward(act, y!.ref, dz.ref, t.ref, dy.size);
      dz = t;
    }
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (needs[0]) {
      dx = Tensor.empty([g.n, g.c, g.h, g.w], 'float32', dy.backend);
      k.conv2dBackwardInput(g, dz.ref, w!.ref, dx.ref);
    }
    if (needs[1]) {
      dw = Tensor.empty(w!.shape, 'float32', dy.backend);
      k.conv2dBackwardWeight(g, x!.ref, dz.ref, dw.ref);
    }
    if (needs[2]) {
      db = Tensor.empty([g.o], 'float32', dy.backend);
      k.channelSum(dz.ref, db.ref, g.n, g.o, g.oh * g.ow);
    }
    return [dx, dw, db, needs[3] ? dz : null];
  },
});

export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  floatInput('conv2d', x);
  floatInput('conv2d', weight, 'weight');
  rank('conv2d', x, 4, 'input', 'N, C, H, W');
  rank('conv2d', weight, 4, 'weight', 'out, in/groups, kH, kW');
  const g = conv2dGeometry(x.shape, weight.shape, opts);
  return apply(conv2dOp, [x, weight, bias, opts.residual ?? null], { g, act: opts.act ?? 'none' });
}
