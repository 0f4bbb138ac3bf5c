// Convolution for CPU adapters (SwiftShader, lavapipe): the same implicit GEMM as conv.ts
// without workgroup memory. A software adapter runs each workgroup barrier as a switch
// between many emulated invocations, which costs far more than the re-reads that tiling
// saves; the CPU's caches do the tiling instead. Each thread computes a 4×4 block
// (4 output channels × 4 output columns) straight from global memory.

import { activationWgsl, ENTRY, memo, type ProgramSpec } from '../program.js';
import { CONV_PARAMS, convStorage, type ConvVariant } from './conv.js';

// Larger blocks (8×4, 4×8) made SwiftShader's shader compiler run for minutes.
export const DIRECT_RM = 4, DIRECT_RN = 4;

/**
 * Variants: 'kxk' gathers the input through the im2col index arithmetic; 'pointwise' reads
 * a 1×1 conv's input directly; 'matrix' reads an im2col matrix [K, cols] written by
 * im2colProgram, one group at a time (p.g0) — on SwiftShader, writing that matrix and then
 * running the plain GEMM is three times faster than gathering with bounds checks in the
 * inner loop.
 */
export type DirectInput = 'kxk' | 'pointwise' | 'matrix';

export function convDirectProgram(v: ConvVariant, input: DirectInput): ProgramSpec {
  return memo(`convdirect/${input}/${v.factor}/${v.bias}/${v.residual}/${v.act}/${v.wg}`, () => {
    const direct = input !== 'kxk';
    const rows = Array.from({ length: DIRECT_RM }, (_, i) => i), cols = Array.from({ length: DIRECT_RN }, (_, j) => j);
    const vecs = Array.from({ length: DIRECT_RN / 4 }, (_, u) => u);
    return {
      params: CONV_PARAMS,
      storage: convStorage(v),
      body: `const WG = ${v.wg}u;
fn store(g: u32, m: u32, cc: u32, acc: f32) {
  if (m >= p.og || cc >= p.cols) { return; }
  let oc = g * p.og + m;
  let idx = ((cc / p.plane) * p.o + oc) * p.plane + cc % p.plane;
  var v = acc;
  ${v.factor ? 'v *= f32(t_f[p.t_f_off + cc % p.plane]);' : ''}
  ${v.bias ? 'v += f32(t_b[p.t_b_off + oc]);' : ''}
  ${v.residual ? 'v += f32(t_r[p.t_r_off + idx]);' : ''}
  t_y[p.t_y_off + idx] = SF(${activationWgsl(v.act)});
}
${ENTRY} {
  let t = flat_id(wid, nwg) * WG + lid;
  // tiles_n / tiles_m count 4-wide blocks here.
  if (t >= p.tiles_n * p.tiles_m * p.groups) { return; }
  let bn = t % p.tiles_n;
  let bm = (t / p.tiles_n) % p.tiles_m;
  let g = p.g0 + t / (p.tiles_n * p.tiles_m);
  let m0 = bm * ${DIRECT_RM}u;
  let c0 = bn * ${DIRECT_RN}u;
${cols.map((j) => `  let cc${j} = c0 + ${j}u;
  let ok${j} = cc${j} < p.cols;
  let q${j} = cc${j} % p.plane;
  let xb${j} = p.t_x_off + ${input === 'matrix' ? `cc${j}` : `((cc${j} / p.plane) * p.c + g * p.cg) * p.hwin${input === 'pointwise' ? ` + q${j}` : ''}`};
  let iy${j} = i32((q${j} / p.ow) * p.sh) - i32(p.ph);
  let ix${j} = i32((q${j} % p.ow) * p.sw) - i32(p.pw);`).join('\n')}
${rows.map((i) => `  let wr${i} = p.t_w_off + (g * p.og + min(m0 + ${i}u, p.og - 1u)) * p.k;
${vecs.map((u) => `
  var acc${i}_${u} = vec4<f32>();`).join('')}`).join('\n')}
${direct ? `  let kstride = ${input === 'matrix' ? 'p.cols' : 'p.plane'};
  for (var k = 0u; k < p.k; k++) {
${vecs.map((u) => `    let xv${u} = vec4<f32>(${cols.slice(4 * u, 4 * u + 4).map((j) => `select(0.0, f32(t_x[xb${j} + k * kstride]), ok${j})`).join(', ')});`).join('\n')}
${rows.map((i) => `    let w${i} = vec4<f32>(f32(t_w[wr${i} + k]));\n${vecs.map((u) => `    acc${i}_${u} = fma(w${i}, xv${u}, acc${i}_${u});`).join('\n')}`).join('\n')}
  }` : `  // Nested loops over (ci, ki, kj) keep divisions out of the inner loop.
  var k = 0u;
  let kh = p.khw / p.kw;
  for (var ci = 0u; ci < p.cg; ci++) {
    for (var ki = 0u; ki < kh; ki++) {
${cols.map((j) => `      let y${j} = iy${j} + i32(ki * p.dh);
      let row${j} = ok${j} && y${j} >= 0 && y${j} < i32(p.h);
      let rb${j} = xb${j} + ci * p.hwin + u32(max(y${j}, 0)) * p.w;`).join('\n')}
      for (var kj = 0u; kj < p.kw; kj++) {
        let dx = i32(kj * p.dw);
${vecs.map((u) => `        var xv${u} = vec4<f32>();`).join('\n')}
${cols.map((j) => `        let x${j} = ix${j} + dx;
        if (row${j} && x${j} >= 0 && x${j} < i32(p.w)) { xv${j >> 2}[${j & 3}] = f32(t_x[rb${j} + u32(x${j})]); }`).join('\n')}
${rows.map((i) => `        let w${i} = vec4<f32>(f32(t_w[wr${i} + k]));\n${vecs.map((u) => `        acc${i}_${u} = fma(w${i}, xv${u}, acc${i}_${u});`).join('\n')}`).join('\n')}
        k++;
      }
    }
  }`}
${rows.map((i) => cols.map((j) => `  store(g, m0 + ${i}u, c0 + ${j}u, acc${i}_${j >> 2}[${j & 3}]);`).join('\n')).join('\n')}
}`,
    };
  });
}

/** The im2col matrix of group p.g0: col[k, cc] for k < K, cc < n·oh·ow (one thread each). */
export function im2colProgram(wg: number): ProgramSpec {
  return {
    key: `im2col/${wg}`,
    params: [...CONV_PARAMS, ['n', 'u32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `const WG = ${wg}u;
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let k = i / p.cols;
  let cc = i % p.cols;
  let q = cc % p.plane;
  let ci = k / p.khw;
  let rk = k - ci * p.khw;
  let ki = rk / p.kw;
  let kj = rk - ki * p.kw;
  let iy = i32((q / p.ow) * p.sh + ki * p.dh) - i32(p.ph);
  let ix = i32((q % p.ow) * p.sw + kj * p.dw) - i32(p.pw);
  var v = 0.0;
  if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
    v = f32(t_x[p.t_x_off + (((cc / p.plane) * p.c + p.g0 * p.cg + ci) * p.h + u32(iy)) * p.w + u32(ix)]);
  }
  t_y[p.t_y_off + i] = SF(v);
}`,
  };
}
