// Batch norm (inference), softmax over the middle axis, linear, and row means.

import type { Activation } from '../../backend.js';
import { activationWgsl, ENTRY, type ProgramSpec } from '../program.js';

export function batchNormProgram(act: Activation, wg: number): ProgramSpec {
  return {
    key: `batchnorm/${act}/${wg}`,
    params: [['n', 'u32'], ['hw', 'u32'], ['c', 'u32'], ['plane0', 'u32'], ['eps', 'f32']],
    storage: [
      { name: 't_x', type: 'float' }, { name: 't_w', type: 'float' }, { name: 't_b', type: 'float' },
      { name: 't_mean', type: 'float' }, { name: 't_var', type: 'float' }, { name: 't_y', type: 'float', write: true },
    ],
    body: `const WG = ${wg}u;
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let ch = (p.plane0 + i / p.hw) % p.c;
  // The association of the js reference (and PyTorch's CPU kernel): (x - mean) * (w / sqrt(var + eps)) + b.
  let scale = f32(t_w[p.t_w_off + ch]) / sqrt(f32(t_var[p.t_var_off + ch]) + p.eps);
  let v = (f32(t_x[p.t_x_off + i]) - f32(t_mean[p.t_mean_off + ch])) * scale + f32(t_b[p.t_b_off + ch]);
  t_y[p.t_y_off + i] = SF(${activationWgsl(act)});
}`,
  };
}

/**
 * Softmax over `dim` of [outer, dim, inner]; one thread per (outer, inner) line. The
 * exponentials are computed again for the store rather than stored and divided in place, so
 * that only the result is rounded to the storage type.
 */
export function softmaxProgram(wg: number, log = false): ProgramSpec {
  return {
    key: `softmax/${log}/${wg}`,
    params: [['n', 'u32'], ['dim', 'u32'], ['inner', 'u32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `const WG = ${wg}u;
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let start = (i / p.inner) * p.dim * p.inner + i % p.inner;
  var m = f32(t_x[p.t_x_off + start]);
  for (var d = 1u; d < p.dim; d++) { m = max(m, f32(t_x[p.t_x_off + start + d * p.inner])); }
  var s = 0.0;
  for (var d = 0u; d < p.dim; d++) { s += exp(f32(t_x[p.t_x_off + start + d * p.inner]) - m); }
  for (var d = 0u; d < p.dim; d++) {
    let v = f32(t_x[p.t_x_off + start + d * p.inner]);
    t_y[p.t_y_off + start + d * p.inner] = SF(${log ? 'v - m - log(s)' : 'exp(v - m) / s'});
  }
}`,
  };
}

/** out[m, n] = x[m, :] · w[n, :] + bias[n]; one thread per output. */
export function linearProgram(bias: boolean, wg: number): ProgramSpec {
  return {
    key: `linear/${bias}/${wg}`,
    params: [['n', 'u32'], ['cols', 'u32'], ['k', 'u32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_w', type: 'float' }, ...(bias ? [{ name: 't_b', type: 'float' as const }] : []),
      { name: 't_y', type: 'float', write: true }],
    body: `const WG = ${wg}u;
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let row = i / p.cols;
  let col = i % p.cols;
  let xr = p.t_x_off + row * p.k;
  let wr = p.t_w_off + col * p.k;
  var s = ${bias ? 'f32(t_b[p.t_b_off + col])' : '0.0'};
  for (var j = 0u; j < p.k; j++) { s = fma(f32(t_x[xr + j]), f32(t_w[wr + j]), s); }
  t_y[p.t_y_off + i] = SF(s);
}`,
  };
}

/** Both row-mean kernels' bindings, and where radix split r of output row `row` starts in t_x. */
const ROW_MEAN: Pick<ProgramSpec, 'params' | 'storage'> = {
  params: [['rows', 'u32'], ['hw', 'u32'], ['c', 'u32'], ['radix', 'u32'], ['div', 'f32']],
  storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
};
const RADIX_ROW = `fn radix_row(row: u32, r: u32) -> u32 {
  return p.t_x_off + (((row / p.c) * p.radix + r) * p.c + row % p.c) * p.hw;
}`;

/** rowMeanProgram for CPU adapters: one thread per row and no barriers (see conv-direct.ts). */
export function rowMeanDirectProgram(wg: number): ProgramSpec {
  return {
    key: `rowmeandirect/${wg}`,
    ...ROW_MEAN,
    body: `const WG = ${wg}u;
${RADIX_ROW}
${ENTRY} {
  let row = flat_id(wid, nwg) * WG + lid;
  if (row >= p.rows) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.radix; r++) {
    let base = radix_row(row, r);
    for (var k = 0u; k < p.hw; k++) { s += f32(t_x[base + k]); }
  }
  t_y[p.t_y_off + row] = SF(s / p.div);
}`,
  };
}

/**
 * Row sums divided by `div` (`hw` for means, 1 for sums): one workgroup per output row, threads striding the row and
 * reducing in workgroup memory. `radix` rows `c·hw` apart are summed into one output
 * (split attention's pooled sum of the radix splits; radix = 1 is a plain row mean).
 */
export function rowMeanProgram(wg: number): ProgramSpec {
  return {
    key: `rowmean/${wg}`,
    ...ROW_MEAN,
    body: `const WG = ${wg}u;
var<workgroup> part: array<f32, WG>;
${RADIX_ROW}
${ENTRY} {
  let row = flat_id(wid, nwg);
  if (row >= p.rows) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.radix; r++) {
    let base = radix_row(row, r);
    for (var k = lid; k < p.hw; k += WG) { s += f32(t_x[base + k]); }
  }
  part[lid] = s;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) { part[lid] += part[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { t_y[p.t_y_off + row] = SF(part[0] / p.div); }
}`,
  };
}
