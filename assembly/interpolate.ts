// Resizing (F.interpolate) and its gradient: each output's taps along each axis from
// PyTorch's float32 coordinate rules (src/backend/backend.ts ResizeGeometry; the js reference
// is src/backend/js/interpolate.ts). Tasks are planes: the backward scatters into its own
// plane only, so threads never add into the same input.

import { arg, argf } from './args';
import { claim } from './tasks';
import { InterpolateArg } from '../src/backend/wasm/ids';

/** Output index o's first tap along an axis of `size` inputs resized to `count`. */
@inline function tap(o: i32, size: i32, count: i32, scale: f32, bilinear: bool, align: bool): f32 {
  if (!bilinear) {
    if (count == size) return <f32>o;
    if (count == 2 * size) return <f32>(o >> 1);
    return <f32>min(<i32>Mathf.floor(<f32>o * scale), size - 1);
  }
  return align ? scale * <f32>o : max(scale * (<f32>o + 0.5) - 0.5, 0);
}

/**
 * The forward (out from x) or, with `backward`, the gradient (dx from dy, scattered into the
 * taps each output was made from). One walk over the outputs serves both, so the two can
 * never pair an output with different taps.
 */
@inline function resize(args: usize, tid: i32, nth: i32, backward: bool): void {
  const src = <usize>arg(args, InterpolateArg.X), dst = <usize>arg(args, InterpolateArg.Out), planes = arg(args, InterpolateArg.Planes);
  const ih = arg(args, InterpolateArg.Ih), iw = arg(args, InterpolateArg.Iw), oh = arg(args, InterpolateArg.Oh), ow = arg(args, InterpolateArg.Ow);
  const bilinear = arg(args, InterpolateArg.Bilinear) != 0, align = arg(args, InterpolateArg.AlignCorners) != 0;
  const sh = argf(args, InterpolateArg.ScaleH), sw = argf(args, InterpolateArg.ScaleW);
  for (let p = claim(args, tid, nth, planes); p < planes; p = claim(args, tid, nth, planes, p)) {
    // The input plane (x, or dx being accumulated) and the output plane (out, or dy).
    const inPlane = (backward ? dst : src) + <usize>(p * ih * iw) * 4, outPlane = (backward ? src : dst) + <usize>(p * oh * ow) * 4;
    if (backward) memory.fill(inPlane, 0, <usize>(ih * iw) * 4);
    for (let y = 0; y < oh; y++) {
      const sy = tap(y, ih, oh, sh, bilinear, align);
      const y0 = <i32>sy, y1 = y0 < ih - 1 ? y0 + 1 : y0;
      const wy1 = sy - <f32>y0, wy0: f32 = 1 - wy1;
      const r0 = inPlane + <usize>(y0 * iw) * 4, r1 = inPlane + <usize>(y1 * iw) * 4;
      for (let xo = 0; xo < ow; xo++) {
        const sx = tap(xo, iw, ow, sw, bilinear, align);
        const x0 = <i32>sx, x1 = x0 < iw - 1 ? x0 + 1 : x0;
        const wx1 = sx - <f32>x0, wx0: f32 = 1 - wx1;
        const a0 = r0 + <usize>x0 * 4, a1 = r0 + <usize>x1 * 4, b0 = r1 + <usize>x0 * 4, b1 = r1 + <usize>x1 * 4;
        const o = outPlane + <usize>(y * ow + xo) * 4;
        if (!backward) {
          store<f32>(o, wy0 * (wx0 * load<f32>(a0) + wx1 * load<f32>(a1)) + wy1 * (wx0 * load<f32>(b0) + wx1 * load<f32>(b1)));
          continue;
        }
        const v = load<f32>(o);
        store<f32>(a0, load<f32>(a0) + wy0 * wx0 * v);
        store<f32>(a1, load<f32>(a1) + wy0 * wx1 * v);
        store<f32>(b0, load<f32>(b0) + wy1 * wx0 * v);
        store<f32>(b1, load<f32>(b1) + wy1 * wx1 * v);
      }
    }
  }
}

export function interpolate(args: usize, tid: i32, nth: i32): void {
  resize(args, tid, nth, false);
}

export function interpolateBackward(args: usize, tid: i32, nth: i32): void {
  resize(args, tid, nth, true);
}
