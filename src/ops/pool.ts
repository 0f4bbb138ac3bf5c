// Pooling with PyTorch's output-size rules (ceil_mode, count_include_pad).

import type { Pool2dGeometry } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import type { IntOrPair } from './conv.js';
import { floatInput, pair, positiveInts, rank } from './check.js';

export interface Pool2dOptions {
  stride?: IntOrPair | null;
  padding?: IntOrPair;
  ceilMode?: boolean;
  /** avg_pool2d only; PyTorch's default is true. */
  countIncludePad?: boolean;
}

/** PyTorch's pooling_output_shape: with ceil_mode the last window must start inside input + left padding. */
function outSize(n: number, k: number, pad: number, stride: number, ceil: boolean): number {
  let o = Math.floor((n + 2 * pad - (k - 1) - 1 + (ceil ? stride - 1 : 0)) / stride) + 1;
  if (ceil && (o - 1) * stride >= n + pad) o--;
  return o;
}

function geometry(op: string, x: Tensor, kernel: IntOrPair, opts: Pool2dOptions): Pool2dGeometry {
  floatInput(op, x);
  rank(op, x, 4, 'input', 'N, C, H, W');
  const [kh, kw] = pair(kernel);
  const [strideH, strideW] = pair(opts.stride ?? kernel);
  const [padH, padW] = pair(opts.padding ?? 0);
  positiveInts(op, 'kernel_size', [kh, kw]);
  positiveInts(op, 'stride', [strideH, strideW]);
  if (padH < 0 || padW < 0 || padH > kh / 2 || padW > kw / 2) {
    throw new ShapeError(`${op}: padding [${padH}, ${padW}] must be non-negative and at most half the kernel ${kh}×${kw}`);
  }
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const oh = outSize(h, kh, padH, strideH, !!opts.ceilMode);
  const ow = outSize(w, kw, padW, strideW, !!opts.ceilMode);
  if (oh <= 0 || ow <= 0) throw new ShapeError(`${op}: input ${fmt(x.shape)} is too small for kernel ${kh}×${kw}`);
  return { planes: n * c, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow, countIncludePad: opts.countIncludePad ?? true };
}

function pool(kind: 'max' | 'avg', x: Tensor, kernel: IntOrPair, opts: Pool2dOptions): Tensor {
  const g = geometry(`${kind}_pool2d`, x, kernel, opts);
  const xc = x.contiguous();
  const out = Tensor.empty([x.shape[0]!, x.shape[1]!, g.oh, g.ow], 'float32', x.backend);
  if (kind === 'max') x.backend.maxPool2d(g, xc.ref, out.ref);
  else x.backend.avgPool2d(g, xc.ref, out.ref);
  if (xc !== x) xc.dispose();
  return out;
}

export const maxPool2d = (x: Tensor, kernel: IntOrPair, opts: Pool2dOptions = {}) => pool('max', x, kernel, opts);
export const avgPool2d = (x: Tensor, kernel: IntOrPair, opts: Pool2dOptions = {}) => pool('avg', x, kernel, opts);

/** adaptive_avg_pool2d(x, 1): the mean of each channel plane, kept as [N, C, 1, 1]. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number, number] = 1): Tensor {
  const [oh, ow] = pair(outputSize);
  if (oh !== 1 || ow !== 1) throw new ShapeError(`adaptive_avg_pool2d: only output size 1 is supported, got [${oh}, ${ow}]`);
  floatInput('adaptive_avg_pool2d', x);
  rank('adaptive_avg_pool2d', x, 4, 'input', 'N, C, H, W');
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const xc = x.contiguous();
  const out = Tensor.empty([n, c, 1, 1], 'float32', x.backend);
  x.backend.meanRows(xc.ref, out.ref, n * c, h * w);
  if (xc !== x) xc.dispose();
  return out;
}
