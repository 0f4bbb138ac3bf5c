// Resizing (F.interpolate) and its gradient. Forward: one thread per output pixel, its taps
// from PyTorch's float32 coordinate rules (src/backend/backend.ts ResizeGeometry; the js
// reference is src/backend/js/interpolate.ts). Gradient: WGSL has no float atomics, so rather
// than scattering each dy to its taps, one thread per input pixel gathers the dy of every
// output pixel that tapped it, in a fixed order: deterministic, the same bits every run.

import type { ResizeGeometry } from '../../backend.js';
import { elementHead, type ProgramSpec } from '../program.js';

const PARAMS: ProgramSpec['params'] = [['n', 'u32'], ['ih', 'u32'], ['iw', 'u32'], ['oh', 'u32'], ['ow', 'u32'], ['bilinear', 'u32'], ['align', 'u32'],
  ['sh', 'f32'], ['sw', 'f32']];

/** The source coordinate of output index o along a side (size inputs, count outputs); its floor is the first tap. */
const TAP = `fn tap(o: u32, size: u32, count: u32, scale: f32) -> f32 {
  if (p.bilinear == 0u) {
    if (count == size) { return f32(o); }
    if (count == 2u * size) { return f32(o >> 1u); }
    return f32(min(u32(floor(f32(o) * scale)), size - 1u));
  }
  if (p.align != 0u) { return scale * f32(o); }
  return max(scale * (f32(o) + 0.5) - 0.5, 0.0);
}`;

export function interpolateProgram(wg: number): ProgramSpec {
  return {
    key: `interpolate/${wg}`,
    params: PARAMS,
    storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `${TAP}
${elementHead(wg)}  let xo = i % p.ow;
  let y = (i / p.ow) % p.oh;
  let plane = i / (p.ow * p.oh);
  let sy = tap(y, p.ih, p.oh, p.sh);
  let sx = tap(xo, p.iw, p.ow, p.sw);
  let y0 = u32(sy);
  let x0 = u32(sx);
  let y1 = select(y0, y0 + 1u, y0 + 1u < p.ih);
  let x1 = select(x0, x0 + 1u, x0 + 1u < p.iw);
  let wy1 = sy - f32(y0);
  let wx1 = sx - f32(x0);
  let base = p.t_x_off + plane * p.ih * p.iw;
  let top = (1.0 - wx1) * f32(t_x[base + y0 * p.iw + x0]) + wx1 * f32(t_x[base + y0 * p.iw + x1]);
  let bottom = (1.0 - wx1) * f32(t_x[base + y1 * p.iw + x0]) + wx1 * f32(t_x[base + y1 * p.iw + x1]);
  t_y[p.t_y_off + i] = SF((1.0 - wy1) * top + wy1 * bottom);
}`,
  };
}

/**
 * dx [planes, ih, iw] from dy [planes, oh, ow]: each input pixel sums weight·dy over the output
 * pixels whose taps include it. The candidates along a side are the outputs whose source
 * coordinate lies within one of the pixel (the tap is monotone in the output index), widened
 * by one for rounding and to the end at the last pixel (clamped taps); each is tested exactly
 * as the forward computes it.
 */
export function interpolateBackwardProgram(wg: number): ProgramSpec {
  return {
    key: `interpolate_backward/${wg}`,
    params: PARAMS,
    storage: [{ name: 't_dy', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `${TAP}
fn weight(o: u32, i: u32, size: u32, count: u32, scale: f32) -> f32 {
  let s = tap(o, size, count, scale);
  let t0 = u32(s);
  let t1 = select(t0, t0 + 1u, t0 + 1u < size);
  var w = 0.0;
  if (t0 == i) { w += select(1.0, 1.0 - (s - f32(t0)), p.bilinear != 0u); }
  if (t1 == i && p.bilinear != 0u) { w += s - f32(t0); }
  return w;
}
fn lo_of(i: u32, count: u32, scale: f32) -> u32 {
  if (i == 0u || scale <= 0.0) { return 0u; }
  let off = select(0.5, 0.0, p.align != 0u || p.bilinear == 0u);
  return u32(max(floor((f32(i) - 1.0 + off) / scale - off) - 1.0, 0.0));
}
fn hi_of(i: u32, size: u32, count: u32, scale: f32) -> u32 {
  if (i + 1u >= size || scale <= 0.0) { return count - 1u; }
  let off = select(0.5, 0.0, p.align != 0u || p.bilinear == 0u);
  return u32(min(ceil((f32(i) + 1.0 + off) / scale - off) + 1.0, f32(count - 1u)));
}
${elementHead(wg)}  let ix = i % p.iw;
  let iy = (i / p.iw) % p.ih;
  let plane = i / (p.iw * p.ih);
  let base = p.t_dy_off + plane * p.oh * p.ow;
  var acc = 0.0;
  for (var oy = lo_of(iy, p.oh, p.sh); oy <= hi_of(iy, p.ih, p.oh, p.sh); oy++) {
    let wy = weight(oy, iy, p.ih, p.oh, p.sh);
    if (wy == 0.0) { continue; }
    var row = 0.0;
    for (var ox = lo_of(ix, p.ow, p.sw); ox <= hi_of(ix, p.iw, p.ow, p.sw); ox++) {
      let wx = weight(ox, ix, p.iw, p.ow, p.sw);
      if (wx != 0.0) { row += wx * f32(t_dy[base + oy * p.ow + ox]); }
    }
    acc += wy * row;
  }
  t_dx[p.t_dx_off + i] = SF(acc);
}`,
  };
}

/** The resize kernels' parameters (n: threads). */
export function resizeValues(g: ResizeGeometry, n: number): Record<string, number> {
  return { n, ih: g.ih, iw: g.iw, oh: g.oh, ow: g.ow, bilinear: g.mode === 'bilinear' ? 1 : 0, align: g.alignCorners ? 1 : 0, sh: g.scaleH, sw: g.scaleW };
}
