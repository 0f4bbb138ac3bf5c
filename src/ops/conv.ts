// conv2d with PyTorch's semantics (NCHW input, OIHW weight, zero padding), plus the
// inference epilogue: + residual, then an activation, in the same pass. A rectified conv
// (RFConv2d) multiplies the sum by the rectify factor in that pass, before the bias.

import type { Activation, Conv2dGeometry } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { floatInput, pair, positiveInts, rank } from './check.js';
import { add, mul, activate } from './elementwise.js';
import { apply, defineOp, gradKernel } from './op.js';
import { isGradEnabled } from '../autograd/tape.js';
import { rectifies, rectifyFactorTensor, type RectifyMode } from './rectify.js';

export type IntOrPair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: IntOrPair;
  padding?: IntOrPair;
  dilation?: IntOrPair;
  groups?: number;
  /** Added to the output before the activation (a residual branch). */
  residual?: Tensor | null;
  act?: Activation;
  /**
   * Rectified convolution: out = act(conv(x, w) · factor + bias + residual), with the factor
   * of src/ops/rectify.ts (applied when padded, or always in average mode). The bias is added
   * after the factor, as BatchNorm folded into the conv needs; RFConv2d's own bias, which
   * the factor scales too, is nn.Conv2d's business.
   */
  rectify?: RectifyMode | null;
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

/** A weight the tape is not training is fixed (conv2d's `fixedWeight`). */
export const isFixedWeight = (w: Tensor) => !(isGradEnabled() && w.requiresGrad);

export interface ConvParams {
  g: Conv2dGeometry;
  act: Activation;
  rectify: RectifyMode | null;
}

const factorOf = (x: Tensor, { g, rectify }: ConvParams) => (rectify ? rectifyFactorTensor(x.backend, g, rectify) : null);

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
  kernel: ([x, w, bias, residual], out, p) =>
    x!.backend.conv2d(p.g, x!.ref, w!.ref, factorOf(x!, p)?.ref ?? null, bias?.ref ?? null, residual?.ref ?? null, p.act, out.ref,
      isFixedWeight(w!)),
  save: ([x, w], out, { act }) => (act === 'none' ? [x!, w!] : [x!, w!, out]),
  // out = act(conv(x, w)·factor + bias + residual): z's gradient first, then the convolution's.
  backward: ([x, w, y], dy, p, needs) => {
    const { g, act } = p;
    const k = <K extends 'activationBackward' | 'conv2dBackwardInput' | 'conv2dBackwardWeight' | 'channelSum'>(name: K) => gradKernel(dy.backend, name, 'conv2d backward');
    let dz = dy.contiguous();
    if (act !== 'none') {
      const t = Tensor.empty(dy.shape, 'float32', dy.backend);
      k('activationBackward')(act, y!.ref, dz.ref, t.ref, dy.size);
      dz = t;
    }
    const factor = factorOf(dy, p);
    const dconv = factor && (needs[0] || needs[1]) ? mul(dz, factor) : dz;
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (needs[0]) {
      dx = Tensor.empty([g.n, g.c, g.h, g.w], 'float32', dy.backend);
      k('conv2dBackwardInput')(g, dconv.ref, w!.ref, dx.ref);
    }
    if (needs[1]) {
      dw = Tensor.empty(w!.shape, 'float32', dy.backend);
      k('conv2dBackwardWeight')(g, x!.ref, dconv.ref, dw.ref);
    }
    if (needs[2]) {
      db = Tensor.empty([g.o], 'float32', dy.backend);
      k('channelSum')(dz.ref, db.ref, g.n, g.o, g.oh * g.ow);
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
  const rectify = rectifies(opts.rectify, g.padH, g.padW) ? opts.rectify! : null;
  return apply(conv2dOp, [x, weight, bias, opts.residual ?? null], { g, act: opts.act ?? 'none', rectify });
}

/**
 * RFConv2d's semantics (the reference's rfconv.py): the conv's own bias is inside the
 * rescaled sum, y = (conv(x, w) + bias) · factor, then residual and act. Without a bias
 * this is conv2d with `rectify` (one fused pass).
 */
export function rfConv2d(x: Tensor, weight: Tensor, bias: Tensor | null, mode: RectifyMode, opts: Conv2dOptions = {}): Tensor {
  const { residual = null, act = 'none', ...geometry } = opts;
  if (!bias) return conv2d(x, weight, null, { ...opts, rectify: mode });
  const g = conv2dGeometry(x.shape, weight.shape, geometry);
  let y = conv2d(x, weight, bias, geometry);
  if (rectifies(mode, g.padH, g.padW)) y = mul(y, rectifyFactorTensor(x.backend, g, mode));
  if (residual) y = add(y, residual);
  return activate(y, act);
}
