// Resizing (F.interpolate): one thread per output pixel, its taps from PyTorch's float32
// coordinate rules (src/backend/backend.ts ResizeGeometry; the js reference is
// src/backend/js/interpolate.ts).

import { ENTRY, type ProgramSpec } from '../program.js';

export function interpolateProgram(wg: number): ProgramSpec {
  return {
    key: `interpolate/${wg}`,
    params: [['n', 'u32'], ['ih', 'u32'], ['iw', 'u32'], ['oh', 'u32'], ['ow', 'u32'], ['bilinear', 'u32'], ['align', 'u32'],
      ['sh', 'f32'], ['sw', 'f32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `const WG = ${wg}u;
fn tap(o: u32, size: u32, count: u32, scale: f32) -> f32 {
  if (p.bilinear == 0u) {
    if (count == size) { return f32(o); }
    if (count == 2u * size) { return f32(o >> 1u); }
    return f32(min(u32(floor(f32(o) * scale)), size - 1u));
  }
  if (p.align != 0u) { return scale * f32(o); }
  return max(scale * (f32(o) + 0.5) - 0.5, 0.0);
}
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let xo = i % p.ow;
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
