// The rectify factor of RFConv2d (rectified convolution; the reference's rfconv.py): each
// output pixel of a convolution is rescaled by how many kernel taps fell inside the input,
// so that zero padding no longer dims the borders.
//   normal  : (kh·kw) / valid taps
//   average : 1 / valid taps            (the mean over the valid taps)
// The factor depends only on the geometry, so each backend holds one map per geometry and
// every conv of that shape reuses it (the kernels multiply by it in their store).

import type { Backend, Conv2dGeometry } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import { keep } from '../tensor/scope.js';
import { tensor, type Tensor } from '../tensor/tensor.js';

export type RectifyMode = 'normal' | 'average';

/** Whether a conv with this padding is rectified at all (RFConv2d: padded, or average mode). */
export function rectifies(mode: RectifyMode | null | undefined, padH: number, padW: number): boolean {
  return !!mode && (mode === 'average' || padH > 0 || padW > 0);
}

/** How many of a k-tap, dilated kernel's taps land inside [0, size) at each output position. */
function validTaps(size: number, out: number, k: number, stride: number, pad: number, dil: number): number[] {
  const taps: number[] = [];
  for (let o = 0; o < out; o++) {
    let n = 0;
    for (let i = 0; i < k; i++) {
      const at = o * stride - pad + i * dil;
      if (at >= 0 && at < size) n++;
    }
    taps.push(n);
  }
  return taps;
}

/**
 * The [oh·ow] factor map. The valid region of a window is a rectangle, so the count is the
 * product of a row count and a column count.
 */
export function rectifyFactor(g: Conv2dGeometry, mode: RectifyMode): Float32Array {
  const rows = validTaps(g.h, g.oh, g.kh, g.strideH, g.padH, g.dilH);
  const cols = validTaps(g.w, g.ow, g.kw, g.strideW, g.padW, g.dilW);
  const top = mode === 'average' ? 1 : g.kh * g.kw;
  const f = new Float32Array(g.oh * g.ow);
  for (let y = 0; y < g.oh; y++) {
    for (let x = 0; x < g.ow; x++) {
      const taps = rows[y]! * cols[x]!;
      if (taps === 0) {
        throw new ShapeError(`rectified conv2d: output pixel (${y}, ${x}) of ${g.oh}×${g.ow} has no kernel tap inside the ${g.h}×${g.w} input (padding ${g.padH}, dilation ${g.dilH})`);
      }
      f[y * g.ow + x] = top / taps;
    }
  }
  return f;
}

const cache = new WeakMap<Backend, Map<string, Tensor>>();

/** The factor map as a [1, 1, oh, ow] tensor on `backend`, made once per geometry and mode. */
export function rectifyFactorTensor(backend: Backend, g: Conv2dGeometry, mode: RectifyMode): Tensor {
  let maps = cache.get(backend);
  if (!maps) cache.set(backend, (maps = new Map()));
  const key = `${mode}:${g.h}x${g.w}:${g.kh}x${g.kw}:${g.strideH},${g.strideW}:${g.padH},${g.padW}:${g.dilH},${g.dilW}`;
  let t = maps.get(key);
  if (!t || t.isDisposed) {
    t = keep(tensor(rectifyFactor(g, mode), [1, 1, g.oh, g.ow], { backend }));
    maps.set(key, t);
  }
  return t;
}
