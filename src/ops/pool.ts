// Pooling with PyTorch's output-size rules (ceil_mode, count_include_pad).

import type { Pool2dGeometry, PoolKind } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import type { IntOrPair } from './conv.js';
import { floatInput, pair, positiveInts, rank } from './check.js';
import { apply, defineOp, gradKernel } from './op.js';
import { mulScalar } from './elementwise.js';
import { expand } from './reduce.js';

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

/** A pool's geometry for an input of shape [N, C, H, W], its options checked. */
export function pool2dGeometry(input: readonly number[], kernel: IntOrPair, opts: Pool2dOptions = {}, op = 'pool2d'): Pool2dGeometry {
  const [kh, kw] = pair(kernel);
  const [strideH, strideW] = pair(opts.stride ?? kernel);
  const [padH, padW] = pair(opts.padding ?? 0);
  positiveInts(op, 'kernel_size', [kh, kw]);
  positiveInts(op, 'stride', [strideH, strideW]);
  if (padH < 0 || padW < 0 || padH > kh / 2 || padW > kw / 2) {
    throw new ShapeError(`${op}: padding [${padH}, ${padW}] must be non-negative and at most half the kernel ${kh}×${kw}`);
  }
  const [n, c, h, w] = input as [number, number, number, number];
  const oh = outSize(h, kh, padH, strideH, !!opts.ceilMode);
  const ow = outSize(w, kw, padW, strideW, !!opts.ceilMode);
  if (oh <= 0 || ow <= 0) throw new ShapeError(`${op}: input ${fmt(input)} is too small for kernel ${kh}×${kw}`);
  return { planes: n * c, images: n, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow, countIncludePad: opts.countIncludePad ?? true };
}

function poolOp<N extends 'maxPool2d' | 'avgPool2d'>(name: N) {
  const kind: PoolKind = name === 'maxPool2d' ? 'max' : 'avg';
  return defineOp<{ g: Pool2dGeometry; input: readonly number[] }, N>({
    name,
    shape: ([x], { g }) => [x!.shape[0]!, x!.shape[1]!, g.oh, g.ow],
    kernel: ([x], out, { g }) => x!.backend.pool2d(kind, g, x!.ref, out.ref),
    save: ([x]) => (kind === 'max' ? [x!] : []),
    backward: (saved, dy, { g, input }) => {
      const pool2dBackward = gradKernel(dy.backend, 'pool2dBackward', `${kind}_pool2d backward`);
      const gc = dy.contiguous();
      const dx = Tensor.empty([g.planes, g.h, g.w], 'float32', dy.backend);
      // Average pooling's gradient needs no input: it gets the gradient in x's place.
      pool2dBackward(kind, g, kind === 'max' ? saved[0]!.ref : gc.ref, gc.ref, dx.ref);
      return [dx.reshape(input)];
    },
  });
}

export const maxPool2dOp = poolOp('maxPool2d');
export const avgPool2dOp = poolOp('avgPool2d');

function pool(kind: 'max' | 'avg', x: Tensor, kernel: IntOrPair, opts: Pool2dOptions): Tensor {
  const op = `${kind}_pool2d`;
  floatInput(op, x);
  rank(op, x, 4, 'input', 'N, C, H, W');
  const g = pool2dGeometry(x.shape, kernel, opts, op);
  // A 1×1 window at stride 1 is the identity (the seed's avg_down puts AvgPool2d(1, 1) on a
  // stride-1 block's shortcut): no copy forward, no kernel backward.
  if (g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0) return x;
  return apply(kind === 'max' ? maxPool2dOp : avgPool2dOp, [x], { g, input: x.shape });
}

export const maxPool2d = (x: Tensor, kernel: IntOrPair, opts: Pool2dOptions = {}) => pool('max', x, kernel, opts);
export const avgPool2d = (x: Tensor, kernel: IntOrPair, opts: Pool2dOptions = {}) => pool('avg', x, kernel, opts);

export const adaptiveAvgPool2dOp = defineOp<null, 'adaptiveAvgPool2d'>({
  name: 'adaptiveAvgPool2d',
  shape: ([x]) => {
    floatInput('adaptive_avg_pool2d', x!);
    rank('adaptive_avg_pool2d', x!, 4, 'input', 'N, C, H, W');
    return [x!.shape[0]!, x!.shape[1]!, 1, 1];
  },
  kernel: ([x], out) => {
    const [n, c, h, w] = x!.shape as [number, number, number, number];
    x!.backend.reduceRows('mean', x!.ref, out.ref, n * c, h * w);
  },
  save: ([x]) => [x!],
  // Each cell of a plane gets its plane's gradient / (h·w), divided before it is spread.
  backward: ([x], g) => [expand(mulScalar(g, 1 / (x!.shape[2]! * x!.shape[3]!)), x!.shape)],
});

/** adaptive_avg_pool2d(x, 1): the mean of each channel plane, kept as [N, C, 1, 1]. */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number, number] = 1): Tensor {
  const [oh, ow] = pair(outputSize);
  if (oh !== 1 || ow !== 1) throw new ShapeError(`adaptive_avg_pool2d: only output size 1 is supported, got [${oh}, ${ow}]`);
  return apply(adaptiveAvgPool2dOp, [x], null);
}
