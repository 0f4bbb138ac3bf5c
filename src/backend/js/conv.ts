// Convolution as im2col + GEMM per (image, group); a 1×1/stride-1/no-padding convolution
// reads its input directly as the GEMM's B matrix. The epilogue (rectify factor, bias,
// residual, activation) runs once per image over the whole output.

import type { Activation, Conv2dGeometry, Ref } from '../backend.js';
import { sgemm } from './gemm.js';
import { applyActivation } from './elementwise.js';

type F32 = Float32Array;

/**
 * Walks the im2col matrix of cg channels of one image (input planes from xOff), row by row:
 * visit(j, i) for its element j, which reads input element i, or −1 where the tap falls in
 * the padding. im2col gathers along this walk and col2im (training.ts) adds back along it.
 */
export function im2colWalk(g: Conv2dGeometry, xOff: number, cg: number, visit: (j: number, i: number) => void): void {
  const { h, w, kh, kw, strideH, strideW, padH, padW, dilH, dilW, oh, ow } = g;
  let j = 0;
  for (let ci = 0; ci < cg; ci++) {
    const plane = xOff + ci * h * w;
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        for (let y = 0; y < oh; y++) {
          const iy = y * strideH - padH + ki * dilH;
          const inside = iy >= 0 && iy < h, row = plane + iy * w;
          for (let xo = 0; xo < ow; xo++, j++) {
            const ix = xo * strideW - padW + kj * dilW;
            visit(j, inside && ix >= 0 && ix < w ? row + ix : -1);
          }
        }
      }
    }
  }
}

export function im2col(g: Conv2dGeometry, x: F32, xOff: number, cg: number, col: F32): void {
  im2colWalk(g, xOff, cg, (j, i) => {
    col[j] = i < 0 ? 0 : x[i]!;
  });
}

export function conv2d(
  g: Conv2dGeometry, x: Ref<F32>, w: Ref<F32>, factor: Ref<F32> | null, bias: Ref<F32> | null, residual: Ref<F32> | null,
  act: Activation, out: Ref<F32>,
): void {
  const { n, c, h, o, kh, kw, groups, oh, ow } = g;
  const cg = c / groups, og = o / groups;
  const k = cg * kh * kw, p = oh * ow;
  const direct = kh === 1 && kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
  const col = direct ? null : new Float32Array(k * p);
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const xOff = x.offset + (b * c + gi * cg) * h * g.w;
      const outOff = out.offset + (b * o + gi * og) * p;
      if (col) {
        im2col(g, x.buf, xOff, cg, col);
        sgemm(og, p, k, w.buf, w.offset + gi * og * k, k, col, 0, p, out.buf, outOff, p);
      } else {
        sgemm(og, p, k, w.buf, w.offset + gi * og * k, k, x.buf, xOff, p, out.buf, outOff, p);
      }
    }
    const off = out.offset + b * o * p;
    if (factor) scalePlanes(out.buf, off, o, p, factor);
    epilogue(out.buf, off, o, p, bias, residual && { buf: residual.buf, offset: residual.offset + b * o * p }, act);
  }
}

/** y[ch, i] ·= factor[i] over a [channels, plane] block. */
function scalePlanes(y: F32, off: number, channels: number, plane: number, factor: Ref<F32>): void {
  for (let ch = 0; ch < channels; ch++) {
    const s = off + ch * plane;
    for (let i = 0; i < plane; i++) y[s + i] *= factor.buf[factor.offset + i]!;
  }
}

/** y[ch, i] = act(y[ch, i] + bias[ch] + residual[ch, i]) over a [channels, plane] block. */
export function epilogue(y: F32, off: number, channels: number, plane: number, bias: Ref<F32> | null, residual: Ref<F32> | null, act: Activation): void {
  if (bias) {
    for (let ch = 0; ch < channels; ch++) {
      const bv = bias.buf[bias.offset + ch]!;
      const s = off + ch * plane;
      for (let i = s; i < s + plane; i++) y[i] += bv;
    }
  }
  if (residual) {
    const r = residual.buf, d = residual.offset - off;
    for (let i = off; i < off + channels * plane; i++) y[i] += r[i + d]!;
  }
  applyActivation(y, off, channels * plane, act);
}

export function linear(x: Ref<F32>, w: Ref<F32>, bias: Ref<F32> | null, out: Ref<F32>, m: number, k: number, n: number): void {
  for (let i = 0; i < m; i++) {
    const xr = x.offset + i * k;
    for (let j = 0; j < n; j++) {
      const wr = w.offset + j * k;
      let s = bias ? bias.buf[bias.offset + j]! : 0;
      for (let p = 0; p < k; p++) s += x.buf[xr + p]! * w.buf[wr + p]!;
      out.buf[out.offset + i * n + j] = s;
    }
  }
}
