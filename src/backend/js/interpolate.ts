// Resizing (F.interpolate), the reference: each output pixel's source taps along each axis
// from PyTorch's float32 coordinate rules (ResizeGeometry), bilinear as two 1-D weightings.

import type { Ref, ResizeGeometry } from '../backend.js';

type F32 = Float32Array;
const f = Math.fround;

/** Along one axis: per output index its two taps and the second tap's weight (nearest: one tap, weight 0). */
export interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  w1: Float32Array;
}

export function axisTaps(g: ResizeGeometry, inSize: number, outSize: number, scale: number): AxisTaps {
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), w1 = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    if (g.mode === 'nearest') {
      const i = outSize === inSize ? o : outSize === 2 * inSize ? o >> 1 : Math.min(Math.floor(f(o * scale)), inSize - 1);
      i0[o] = i1[o] = i;
      continue;
    }
    const src = g.alignCorners ? f(scale * o) : Math.max(f(f(scale * f(o + 0.5)) - 0.5), 0);
    const i = Math.trunc(src);
    i0[o] = i;
    i1[o] = i < inSize - 1 ? i + 1 : i;
    w1[o] = f(src - i);
  }
  return { i0, i1, w1 };
}

export function interpolate(g: ResizeGeometry, x: Ref<F32>, out: Ref<F32>): void {
  const { planes, ih, iw, oh, ow } = g;
  const ty = axisTaps(g, ih, oh, g.scaleH), tx = axisTaps(g, iw, ow, g.scaleW);
  for (let p = 0; p < planes; p++) {
    const src = x.offset + p * ih * iw, dst = out.offset + p * oh * ow;
    for (let y = 0; y < oh; y++) {
      const r0 = src + ty.i0[y]! * iw, r1 = src + ty.i1[y]! * iw;
      const wy1 = ty.w1[y]!, wy0 = f(1 - wy1);
      for (let xo = 0; xo < ow; xo++) {
        const c0 = tx.i0[xo]!, c1 = tx.i1[xo]!;
        const wx1 = tx.w1[xo]!, wx0 = f(1 - wx1);
        const top = f(f(wx0 * x.buf[r0 + c0]!) + f(wx1 * x.buf[r0 + c1]!));
        const bottom = f(f(wx0 * x.buf[r1 + c0]!) + f(wx1 * x.buf[r1 + c1]!));
        out.buf[dst + y * ow + xo] = f(f(wy0 * top) + f(wy1 * bottom));
      }
    }
  }
}

/** Gradient sums in float64: this is the reference the other backends' gradients are held to. */
export function interpolateBackward(g: ResizeGeometry, dy: Ref<F32>, dx: Ref<F32>): void {
  const { planes, ih, iw, oh, ow } = g;
  const ty = axisTaps(g, ih, oh, g.scaleH), tx = axisTaps(g, iw, ow, g.scaleW);
  const acc = new Float64Array(ih * iw);
  for (let p = 0; p < planes; p++) {
    acc.fill(0);
    const src = dy.offset + p * oh * ow;
    for (let y = 0; y < oh; y++) {
      const r0 = ty.i0[y]! * iw, r1 = ty.i1[y]! * iw;
      const wy1 = ty.w1[y]!, wy0 = 1 - wy1;
      for (let xo = 0; xo < ow; xo++) {
        const v = dy.buf[src + y * ow + xo]!;
        const c0 = tx.i0[xo]!, c1 = tx.i1[xo]!;
        const wx1 = tx.w1[xo]!, wx0 = 1 - wx1;
        acc[r0 + c0] += wy0 * wx0 * v;
        acc[r0 + c1] += wy0 * wx1 * v;
        acc[r1 + c0] += wy1 * wx0 * v;
        acc[r1 + c1] += wy1 * wx1 * v;
      }
    }
    dx.buf.set(acc, dx.offset + p * ih * iw);
  }
}
