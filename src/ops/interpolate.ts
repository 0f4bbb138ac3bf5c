// F.interpolate on NCHW maps: bilinear (align_corners true or false) and nearest, as
// torch.nn.functional.interpolate computes them in float32 — the upsampling of the
// segmentation heads (FCN, DeepLabV3) and of ASPP's pooled branch. Backward sends each
// output's gradient to the taps it was made from.

import type { ResizeGeometry } from '../backend/backend.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { floatInput, pair, positiveInts, rank } from './check.js';
import { apply, defineOp, gradKernel } from './op.js';

export interface InterpolateOptions {
  /** Output height and width (one number: both). Give this or scaleFactor. */
  size?: number | readonly [number, number];
  /** Output = floor(input · factor) per side; the coordinates then use 1 / factor, as PyTorch does. */
  scaleFactor?: number | readonly [number, number];
  /** Default 'nearest', as PyTorch's. */
  mode?: 'nearest' | 'bilinear';
  /** Bilinear only (PyTorch's default false): corner pixels' centres aligned, src = dst·(in − 1)/(out − 1). */
  alignCorners?: boolean;
}

export interface InterpolateParams {
  g: ResizeGeometry;
  /** The scale factors when given instead of a size (ONNX Resize then takes them as its scales). */
  factors: readonly [number, number] | null;
}

/** PyTorch's float32 source scale for one side (area_pixel_compute_scale). */
function sideScale(inSize: number, outSize: number, alignCorners: boolean, factor: number | undefined): number {
  if (alignCorners) return outSize > 1 ? Math.fround((inSize - 1) / (outSize - 1)) : 0;
  return Math.fround(factor !== undefined ? 1 / factor : inSize / outSize);
}

export function resizeGeometry(input: readonly number[], o: InterpolateOptions): ResizeGeometry {
  const [n, c, ih, iw] = input as [number, number, number, number];
  const mode = o.mode ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'bilinear') throw new ArgumentError(`interpolate: mode must be 'nearest' or 'bilinear', got '${String(mode)}'`);
  if (o.alignCorners !== undefined && mode === 'nearest') throw new ArgumentError("interpolate: alignCorners applies to mode 'bilinear' only (as in PyTorch)");
  if ((o.size === undefined) === (o.scaleFactor === undefined)) throw new ArgumentError('interpolate: give exactly one of size and scaleFactor');
  let oh: number, ow: number, factors: [number, number] | undefined;
  if (o.size !== undefined) {
    [oh, ow] = pair(o.size);
    positiveInts('interpolate', 'size', [oh, ow]);
  } else {
    factors = pair(o.scaleFactor!);
    if (factors.some((s) => !(s > 0) || !Number.isFinite(s))) throw new ArgumentError(`interpolate: scaleFactor must be positive, got ${fmt(factors)}`);
    [oh, ow] = [Math.floor(ih * factors[0]), Math.floor(iw * factors[1])];
    if (oh < 1 || ow < 1) throw new ShapeError(`interpolate: scaleFactor ${fmt(factors)} makes input ${fmt(input)} ${oh}×${ow}`);
  }
  const alignCorners = mode === 'bilinear' && !!o.alignCorners;
  return {
    planes: n * c, ih, iw, oh, ow, mode, alignCorners,
    scaleH: sideScale(ih, oh, alignCorners, factors?.[0]), scaleW: sideScale(iw, ow, alignCorners, factors?.[1]),
  };
}

export const interpolateOp = defineOp<InterpolateParams, 'interpolate'>({
  name: 'interpolate',
  shape: ([x], { g }) => [x!.shape[0]!, x!.shape[1]!, g.oh, g.ow],
  kernel: ([x], out, { g }) => x!.backend.interpolate(g, x!.ref, out.ref),
  backward: (_, dy, { g }) => {
    const dx = Tensor.empty([g.planes, g.ih, g.iw], 'float32', dy.backend);
    gradKernel(dy.backend, 'interpolateBackward', 'interpolate backward')(g, dy.contiguous().ref, dx.ref);
    return [dx.reshape(dy.shape[0]!, dy.shape[1]!, g.ih, g.iw)];
  },
});

/** `torch.nn.functional.interpolate(x, size | scale_factor, mode, align_corners)` for [N, C, H, W]. */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  floatInput('interpolate', x);
  rank('interpolate', x, 4, 'input', 'N, C, H, W');
  const factors = opts.scaleFactor === undefined ? null : pair(opts.scaleFactor);
  return apply(interpolateOp, [x], { g: resizeGeometry(x.shape, opts), factors });
}
