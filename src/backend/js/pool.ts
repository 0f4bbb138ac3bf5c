// Pooling over [planes, h, w] with PyTorch's window rules: windows are clipped to the
// input; the avg divisor counts padded cells (within h+pad) only if countIncludePad.

import type { Pool2dGeometry, PoolKind, Ref } from '../backend.js';

type F32 = Float32Array;

export function pool2d(kind: PoolKind, g: Pool2dGeometry, x: Ref<F32>, out: Ref<F32>): void {
  if (kind === 'max') maxPool2d(g, x, out);
  else avgPool2d(g, x, out);
}

function maxPool2d(g: Pool2dGeometry, x: Ref<F32>, out: Ref<F32>): void {
  const { planes, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow } = g;
  const X = x.buf, Y = out.buf;
  let o = out.offset;
  for (let p = 0; p < planes; p++) {
    const base = x.offset + p * h * w;
    for (let y = 0; y < oh; y++) {
      const y0 = Math.max(y * strideH - padH, 0), y1 = Math.min(y * strideH - padH + kh, h);
      for (let xo = 0; xo < ow; xo++, o++) {
        const x0 = Math.max(xo * strideW - padW, 0), x1 = Math.min(xo * strideW - padW + kw, w);
        let m = -Infinity;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const v = X[base + iy * w + ix]!;
            if (v > m || v !== v) m = v;
          }
        }
        Y[o] = m;
      }
    }
  }
}

/**
 * Every avg-pool window in output order: fn(plane, output index, clipped rows [y0, y1) and
 * columns [x0, x1), divisor). The divisor counts padded cells within h+pad / w+pad only if
 * countIncludePad (PyTorch's rule); forward and backward both walk the windows with this.
 */
export function forEachAvgWindow(g: Pool2dGeometry, fn: (plane: number, o: number, y0: number, y1: number, x0: number, x1: number, count: number) => void): void {
  const { planes, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow, countIncludePad } = g;
  let o = 0;
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < oh; y++) {
      const ys = y * strideH - padH, ye = Math.min(ys + kh, h + padH);
      const y0 = Math.max(ys, 0), y1 = Math.min(ye, h);
      for (let xo = 0; xo < ow; xo++, o++) {
        const xs = xo * strideW - padW, xe = Math.min(xs + kw, w + padW);
        const x0 = Math.max(xs, 0), x1 = Math.min(xe, w);
        fn(p, o, y0, y1, x0, x1, countIncludePad ? (ye - ys) * (xe - xs) : (y1 - y0) * (x1 - x0));
      }
    }
  }
}

function avgPool2d(g: Pool2dGeometry, x: Ref<F32>, out: Ref<F32>): void {
  const { h, w } = g, X = x.buf;
  forEachAvgWindow(g, (p, o, y0, y1, x0, x1, count) => {
    const base = x.offset + p * h * w;
    let s = 0;
    for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) s += X[base + iy * w + ix]!;
    out.buf[out.offset + o] = s / count;
  });
}

/** out[r] = Σ x[r, :cols] (or its mean), summed in float64. */
export function reduceRows(kind: 'sum' | 'mean', x: Ref<F32>, out: Ref<F32>, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const b = x.offset + r * cols;
    for (let i = b; i < b + cols; i++) s += x.buf[i]!;
    out.buf[out.offset + r] = kind === 'mean' ? s / cols : s;
  }
}
