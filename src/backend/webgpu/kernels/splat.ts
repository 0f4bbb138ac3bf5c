// The split-attention kernels around the r-softmax (radix-major layouts as in
// src/backend/js/attention.ts).

import { ENTRY, type ProgramSpec } from '../program.js';

/**
 * [batch, card, radix, rest] → softmax over radix, written [batch, radix, card, rest]
 * (exponentials computed again for the store, as in softmaxProgram).
 */
export function rSoftmaxProgram(wg: number): ProgramSpec {
  return {
    key: `rsoftmax/${wg}`,
    params: [['n', 'u32'], ['card', 'u32'], ['radix', 'u32'], ['rest', 'u32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `const WG = ${wg}u;
fn src(b: u32, k: u32, r: u32, i: u32) -> u32 { return p.t_x_off + ((b * p.card + k) * p.radix + r) * p.rest + i; }
fn dst(b: u32, k: u32, r: u32, i: u32) -> u32 { return p.t_y_off + ((b * p.radix + r) * p.card + k) * p.rest + i; }
${ENTRY} {
  let t = flat_id(wid, nwg) * WG + lid;
  if (t >= p.n) { return; }
  let i = t % p.rest;
  let k = (t / p.rest) % p.card;
  let b = t / (p.rest * p.card);
  var m = f32(t_x[src(b, k, 0u, i)]);
  for (var r = 1u; r < p.radix; r++) { m = max(m, f32(t_x[src(b, k, r, i)])); }
  var s = 0.0;
  for (var r = 0u; r < p.radix; r++) { s += exp(f32(t_x[src(b, k, r, i)]) - m); }
  for (var r = 0u; r < p.radix; r++) { t_y[dst(b, k, r, i)] = SF(exp(f32(t_x[src(b, k, r, i)]) - m) / s); }
}`,
  };
}

/** out[b, j, q] = Σ_r atten[b, r·c + j] · x[b, r·c + j, q]; one thread per output. */
export function radixAttendProgram(wg: number): ProgramSpec {
  return {
    key: `radixattend/${wg}`,
    params: [['n', 'u32'], ['radix', 'u32'], ['c', 'u32'], ['hw', 'u32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_a', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `const WG = ${wg}u;
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let q = i % p.hw;
  let j = (i / p.hw) % p.c;
  let b = i / (p.hw * p.c);
  var s = 0.0;
  for (var r = 0u; r < p.radix; r++) {
    let ch = (b * p.radix + r) * p.c + j;
    s += f32(t_a[p.t_a_off + ch]) * f32(t_x[p.t_x_off + ch * p.hw + q]);
  }
  t_y[p.t_y_off + i] = SF(s);
}`,
  };
}
