// Max and average pooling, one thread per output cell, with the index rules of the js
// reference (src/backend/js/pool.ts): windows clipped to the input; the average's divisor
// counts padded cells up to h+pad / w+pad only when countIncludePad.

import { ENTRY, type ProgramSpec } from '../program.js';

const PARAMS: ProgramSpec['params'] = [
  ['n', 'u32'], ['h', 'u32'], ['w', 'u32'], ['oh', 'u32'], ['ow', 'u32'], ['kh', 'i32'], ['kw', 'i32'],
  ['sh', 'i32'], ['sw', 'i32'], ['ph', 'i32'], ['pw', 'i32'], ['include_pad', 'u32'],
];

function program(kind: 'max' | 'avg', wg: number): ProgramSpec {
  const init = kind === 'max' ? 'var m = -3.4028234663852886e38;\n  var seen = false;' : 'var s = 0.0;';
  // `seen` stands in for -Infinity as the starting maximum: WGSL has no infinity literal.
  const visit = kind === 'max'
    ? 'let v = f32(t_x[base + u32(iy) * p.w + u32(ix)]);\n        if (!seen || v > m || is_nan(v)) { m = v; seen = true; }'
    : 's += f32(t_x[base + u32(iy) * p.w + u32(ix)]);';
  const result = kind === 'max'
    ? 'm'
    : `s / f32(select((y1 - y0) * (x1 - x0), (ye - ys) * (xe - xs), p.include_pad != 0u))`;
  return {
    key: `${kind}pool/${wg}`,
    params: PARAMS,
    storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `const WG = ${wg}u;
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let per = p.oh * p.ow;
  let plane = i / per;
  let cell = i % per;
  let oy = i32(cell / p.ow);
  let ox = i32(cell % p.ow);
  let base = p.t_x_off + plane * p.h * p.w;
  let ys = oy * p.sh - p.ph;
  let xs = ox * p.sw - p.pw;
  let ye = min(ys + p.kh, i32(p.h) + p.ph);
  let xe = min(xs + p.kw, i32(p.w) + p.pw);
  let y0 = max(ys, 0);
  let x0 = max(xs, 0);
  let y1 = min(${kind === 'max' ? 'ys + p.kh' : 'ye'}, i32(p.h));
  let x1 = min(${kind === 'max' ? 'xs + p.kw' : 'xe'}, i32(p.w));
  ${init}
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) {
        ${visit}
    }
  }
  t_y[p.t_y_off + i] = SF(${result});
}`,
  };
}

export const maxPoolProgram = (wg: number) => program('max', wg);
export const avgPoolProgram = (wg: number) => program('avg', wg);
