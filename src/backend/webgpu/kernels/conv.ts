// Convolution as an implicit GEMM: per group, out[og, n·oh·ow] = W[og, K] · X̂[K, n·oh·ow]
// with K = cg·kh·kw and X̂ the im2col matrix, which is never materialised: each tile of X̂
// is gathered from the input straight into workgroup memory. A workgroup computes a
// TM×TN output tile, each thread an RM×RN block of it, stepping through K by TK. The
// batch is folded into the GEMM's columns so that small late-stage feature maps still
// fill tiles. A 1×1, stride-1, unpadded conv reads X̂ directly (its im2col is the input).
// The epilogue multiplies by the rectify factor, adds bias and residual and applies the
// activation before the one store.

import type { Activation } from '../../backend.js';
import { activationWgsl, ENTRY, memo, type ProgramSpec } from '../program.js';

export const TM = 64, TN = 64, TK = 16;

export interface ConvVariant {
  pointwise: boolean;
  /** A rectified conv: the sum is multiplied by t_f[pixel] before the bias. */
  factor: boolean;
  bias: boolean;
  residual: boolean;
  act: Activation;
  /** Threads per workgroup: a multiple of 64 (256 unless the adapter allows fewer). */
  wg: number;
}

export const CONV_PARAMS: ProgramSpec['params'] = [
  ['c', 'u32'], ['h', 'u32'], ['w', 'u32'], ['o', 'u32'], ['kw', 'u32'], ['khw', 'u32'],
  ['sh', 'u32'], ['sw', 'u32'], ['ph', 'u32'], ['pw', 'u32'], ['dh', 'u32'], ['dw', 'u32'],
  ['ow', 'u32'], ['plane', 'u32'], ['hwin', 'u32'], ['cg', 'u32'], ['og', 'u32'], ['k', 'u32'],
  ['cols', 'u32'], ['tiles_n', 'u32'], ['tiles_m', 'u32'], ['groups', 'u32'], ['g0', 'u32'],
];

/** The operands of a conv kernel: input, weight, factor, bias and residual as the variant has them, output. */
export function convStorage(v: ConvVariant): ProgramSpec['storage'] {
  const storage: ProgramSpec['storage'] = [{ name: 't_x', type: 'float' }, { name: 't_w', type: 'float' }];
  if (v.factor) storage.push({ name: 't_f', type: 'float' });
  if (v.bias) storage.push({ name: 't_b', type: 'float' });
  if (v.residual) storage.push({ name: 't_r', type: 'float' });
  storage.push({ name: 't_y', type: 'float', write: true });
  return storage;
}

export function convProgram(v: ConvVariant): ProgramSpec {
  return memo(`conv/${v.pointwise ? '1x1' : 'kxk'}/${v.factor}/${v.bias}/${v.residual}/${v.act}/${v.wg}`, () => {
    const T = v.wg, TX = TN / 4, TY = T / TX, RM = TM / TY;
    const rows = Array.from({ length: RM }, (_, i) => i);
    const gather = v.pointwise
      ? `      v = f32(t_x[xbase + k * p.plane + col_q]);`
      : `      let ci = k / p.khw;
        let rk = k - ci * p.khw;
        let ki = rk / p.kw;
        let kj = rk - ki * p.kw;
        let iy = iy0 + i32(ki * p.dh);
        let ix = ix0 + i32(kj * p.dw);
        if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
          v = f32(t_x[xbase + ci * p.hwin + u32(iy) * p.w + u32(ix)]);
        }`;
    const storage = convStorage(v);
    return {
      params: CONV_PARAMS,
      storage,
      body: `const WG = ${T}u;
const TM = ${TM}u;
const TN = ${TN}u;
const TK = ${TK}u;
const TY = ${TY}u;
const RM = ${RM}u;
var<private> g_now: u32;
var<workgroup> As: array<f32, ${TM * TK}>;
var<workgroup> Bs: array<vec4<f32>, ${(TN * TK) / 4}>;
fn store(m: u32, c0: u32, acc: vec4<f32>) {
  if (m >= p.og) { return; }
  let oc = g_now * p.og + m;
  for (var j = 0u; j < 4u; j++) {
    let cc = c0 + j;
    if (cc >= p.cols) { return; }
    let idx = ((cc / p.plane) * p.o + oc) * p.plane + cc % p.plane;
    var v = acc[j];
    ${v.factor ? 'v *= f32(t_f[p.t_f_off + cc % p.plane]);' : ''}
    ${v.bias ? 'v += f32(t_b[p.t_b_off + oc]);' : ''}
    ${v.residual ? 'v += f32(t_r[p.t_r_off + idx]);' : ''}
    t_y[p.t_y_off + idx] = SF(${activationWgsl(v.act)});
  }
}
${ENTRY} {
  let f = flat_id(wid, nwg);
  if (f >= p.tiles_n * p.tiles_m * p.groups) { return; }
  let tn = f % p.tiles_n;
  let tm = (f / p.tiles_n) % p.tiles_m;
  let g = f / (p.tiles_n * p.tiles_m);
  g_now = g;
  let tx = lid % ${TX}u;
  let ty = lid / ${TX}u;

  // This thread's one column of every B tile it loads, and its one k of every A tile.
  let b_col = lid % TN;
  let b_kk = lid / TN;
  let col = tn * TN + b_col;
  let col_ok = col < p.cols;
  let col_b = col / p.plane;
  let col_q = col % p.plane;
  let xbase = p.t_x_off + (col_b * p.c + g * p.cg) * p.hwin;
  let iy0 = i32((col_q / p.ow) * p.sh) - i32(p.ph);
  let ix0 = i32((col_q % p.ow) * p.sw) - i32(p.pw);
  let a_kk = lid % TK;
  let a_row = lid / TK;
  let wbase = p.t_w_off + (g * p.og + tm * TM) * p.k;

${rows.map((i) => `  var acc${i} = vec4<f32>();`).join('\n')}
  for (var k0 = 0u; k0 < p.k; k0 += TK) {
    for (var l = 0u; l < ${(TM * TK) / T}u; l++) {
      let row = a_row + l * (WG / TK);
      let k = k0 + a_kk;
      var v = 0.0;
      if (tm * TM + row < p.og && k < p.k) { v = f32(t_w[wbase + row * p.k + k]); }
      As[a_kk * TM + row] = v;
    }
    for (var l = 0u; l < ${(TN * TK) / T}u; l++) {
      let kk = b_kk + l * (WG / TN);
      let k = k0 + kk;
      var v = 0.0;
      if (col_ok && k < p.k) {
${gather}
      }
      Bs[kk * ${TN / 4}u + b_col / 4u][b_col % 4u] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let bv = Bs[kk * ${TN / 4}u + tx];
${rows.map((i) => `      acc${i} = fma(vec4<f32>(As[kk * TM + ty + ${i}u * TY]), bv, acc${i});`).join('\n')}
    }
    workgroupBarrier();
  }

  let c0 = tn * TN + tx * 4u;
${rows.map((i) => `  store(tm * TM + ty + ${i}u * TY, c0, acc${i});`).join('\n')}
}`,
    };
  });
}
