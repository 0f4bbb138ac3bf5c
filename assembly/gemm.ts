// The GEMM core every convolution shares (forward direct conv, Winograd's 16 products, the
// backward passes): a 4×8 register-blocked f32x4 micro-kernel over packed 8-column panels,
// and the packing of contiguous rows into those panels.
//   C[rows × cols] (+)= A[rows × kc] · B[kc × cols]
// A rows are read in place (lda bytes apart), B is packed panel by panel: dst[panel][k][8].

import { fma, relu4, sigmoid4, sigmoidf, loadPartial, storePartial } from './simd';
import { Act } from '../src/backend/wasm/ids';

/** Columns of a packed panel (the micro-kernel's width). */
export const NR: i32 = 8;
/** Largest K block; K is split into equal blocks no larger (a 3×3 conv over 32 channels, K = 288, stays one block). */
export const KC: i32 = 384;
/** Largest column block packed at once. */
export const NC: i32 = 256;

@inline function loadRow(p: usize, cols: i32, half: i32): v128 {
  // Columns [4·half, 4·half + 4) of an 8-wide row with `cols` valid entries.
  const n = cols - 4 * half;
  if (n >= 4) return v128.load(p + <usize>(16 * half));
  return loadPartial(p + <usize>(16 * half), n);
}

@inline function storeRow(p: usize, v0: v128, v1: v128, cols: i32): void {
  if (cols >= 8) {
    v128.store(p, v0);
    v128.store(p, v1, 16);
  } else if (cols > 4) {
    v128.store(p, v0);
    storePartial(p + 16, v1, cols - 4);
  } else {
    storePartial(p, v0, cols);
  }
}

@inline function finish(v: v128, bias: f32, r: v128, act: i32): v128 {
  let y = f32x4.add(f32x4.add(v, f32x4.splat(bias)), r);
  if (act == Act.Relu) y = relu4(y);
  else if (act == Act.Sigmoid) y = sigmoid4(y);
  return y;
}

/** finish on one float: + bias + residual, then the activation (ReLU keeps NaN, as relu4). */
@inline export function finish1(v: f32, bias: f32, r: f32, act: i32): f32 {
  let y = v + bias + r;
  if (act == Act.Relu) { if (y <= 0) y = 0; }
  else if (act == Act.Sigmoid) y = sigmoidf(y);
  return y;
}

/**
 * C[rows × cols] (+)= A[rows × kc] · B[kc × 8]. A rows are read in place, `lda` bytes apart
 * (OIHW weights are already the GEMM's A rows: no packing, which matters for deep layers
 * whose few pixels could not amortise it); B is a packed panel (8 floats per k); C rows are
 * `ldc` bytes apart. On the last K block the epilogue multiplies by fac[col] (a rectified
 * conv's factor for the panel's pixels, if given), adds bias[row] and residual (same layout
 * as C) and applies act. One k step per iteration: V8 hoists every load of an unrolled body
 * and then spills accumulators. Inlined into each caller: there V8 sees that the pointers are
 * results of 32-bit adds and addresses memory with them directly, where through a call it
 * zero-extends each one before every load (a `mov` per load; the call and its 14 arguments
 * aside, 1×1 and 3×3 convs took 0.71–0.96× the time inlined).
 */
@inline export function micro(kc: i32, a: usize, lda: usize, rows: i32, b: usize, c: usize, ldc: usize, cols: i32,
  accumulate: bool, last: bool, bias: usize, res: usize, act: i32, fac: usize = 0): void {
  // Rows past the edge re-read the last valid row; their results are never stored.
  const a1 = rows > 1 ? a + lda : a;
  const a2 = rows > 2 ? a1 + lda : a1;
  const a3 = rows > 3 ? a2 + lda : a2;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let pa0 = a, pa1 = a1, pa2 = a2, pa3 = a3, pb = b;
  const end = pb + <usize>kc * 32;
  while (pb < end) {
    const b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let av = v128.load32_splat(pa0);
    c00 = fma(av, b0, c00); c01 = fma(av, b1, c01);
    av = v128.load32_splat(pa1);
    c10 = fma(av, b0, c10); c11 = fma(av, b1, c11);
    av = v128.load32_splat(pa2);
    c20 = fma(av, b0, c20); c21 = fma(av, b1, c21);
    av = v128.load32_splat(pa3);
    c30 = fma(av, b0, c30); c31 = fma(av, b1, c31);
    pa0 += 4; pa1 += 4; pa2 += 4; pa3 += 4; pb += 32;
  }
  if (accumulate) {
    c00 = f32x4.add(c00, loadRow(c, cols, 0)); c01 = f32x4.add(c01, loadRow(c, cols, 1));
    if (rows > 1) { c10 = f32x4.add(c10, loadRow(c + ldc, cols, 0)); c11 = f32x4.add(c11, loadRow(c + ldc, cols, 1)); }
    if (rows > 2) { c20 = f32x4.add(c20, loadRow(c + 2 * ldc, cols, 0)); c21 = f32x4.add(c21, loadRow(c + 2 * ldc, cols, 1)); }
    if (rows > 3) { c30 = f32x4.add(c30, loadRow(c + 3 * ldc, cols, 0)); c31 = f32x4.add(c31, loadRow(c + 3 * ldc, cols, 1)); }
  }
  // Nothing to add or apply (training's convs): straight to the stores.
  if (last && (fac != 0 || bias != 0 || res != 0 || act != Act.None)) {
    if (fac) {
      const f0 = loadRow(fac, cols, 0), f1 = loadRow(fac, cols, 1);
      c00 = f32x4.mul(c00, f0); c01 = f32x4.mul(c01, f1);
      c10 = f32x4.mul(c10, f0); c11 = f32x4.mul(c11, f1);
      c20 = f32x4.mul(c20, f0); c21 = f32x4.mul(c21, f1);
      c30 = f32x4.mul(c30, f0); c31 = f32x4.mul(c31, f1);
    }
    const zero = f32x4.splat(0);
    const hasRes = res != 0;
    c00 = finish(c00, bias ? load<f32>(bias) : 0, hasRes ? loadRow(res, cols, 0) : zero, act);
    c01 = finish(c01, bias ? load<f32>(bias) : 0, hasRes ? loadRow(res, cols, 1) : zero, act);
    if (rows > 1) {
      c10 = finish(c10, bias ? load<f32>(bias, 4) : 0, hasRes ? loadRow(res + ldc, cols, 0) : zero, act);
      c11 = finish(c11, bias ? load<f32>(bias, 4) : 0, hasRes ? loadRow(res + ldc, cols, 1) : zero, act);
    }
    if (rows > 2) {
      c20 = finish(c20, bias ? load<f32>(bias, 8) : 0, hasRes ? loadRow(res + 2 * ldc, cols, 0) : zero, act);
      c21 = finish(c21, bias ? load<f32>(bias, 8) : 0, hasRes ? loadRow(res + 2 * ldc, cols, 1) : zero, act);
    }
    if (rows > 3) {
      c30 = finish(c30, bias ? load<f32>(bias, 12) : 0, hasRes ? loadRow(res + 3 * ldc, cols, 0) : zero, act);
      c31 = finish(c31, bias ? load<f32>(bias, 12) : 0, hasRes ? loadRow(res + 3 * ldc, cols, 1) : zero, act);
    }
  }
  storeRow(c, c00, c01, cols);
  if (rows > 1) storeRow(c + ldc, c10, c11, cols);
  if (rows > 2) storeRow(c + 2 * ldc, c20, c21, cols);
  if (rows > 3) storeRow(c + 3 * ldc, c30, c31, cols);
}

/**
 * Packs rows [k0, k0+kc) × columns [j0, j0+jn) of a row-major matrix whose rows are `plane`
 * floats apart (a 1×1, stride-1, unpadded conv's X̂: the input planes themselves; the output
 * gradient dY for the input gradient) into panels of 8 columns, zero-filled past jn.
 */
export function packRows(x: usize, plane: i32, k0: i32, kc: i32, j0: i32, jn: i32, dst: usize): void {
  const full = jn >> 3, tail = jn & 7;
  for (let kk = 0; kk < kc; kk++) {
    const src = x + <usize>((k0 + kk) * plane + j0) * 4;
    let d = dst + <usize>(kk * NR) * 4;
    for (let p = 0; p < full; p++) {
      v128.store(d, v128.load(src + <usize>(p * 32)));
      v128.store(d, v128.load(src + <usize>(p * 32), 16), 16);
      d += <usize>(kc * NR) * 4;
    }
    if (tail) {
      const s = src + <usize>(full * 32);
      for (let t = 0; t < NR; t++) store<f32>(d + <usize>t * 4, t < tail ? load<f32>(s + <usize>t * 4) : 0);
    }
  }
}


/**
 * The transposed packing: B = Sᵀ for a row-major S whose rows are `ld` bytes apart. Columns
 * [0, kn) of B are rows of S, B's k runs along S's rows: dst[panel][k][8] = S[panel·8 + t][k]
 * for k < kc, zero for t past kn. Four k at a time: two 4×4 transposes of 4-float loads.
 */
export function packTransposed(s: usize, ld: usize, kn: i32, kc: i32, dst: usize): void {
  const panels = (kn + NR - 1) >> 3;
  for (let pnl = 0; pnl < panels; pnl++) {
    const r = pnl * NR;
    // Rows past kn read row 0 and are masked to zero below.
    const s0 = s + <usize>r * ld;
    const s1 = r + 1 < kn ? s0 + ld : s0, s2 = r + 2 < kn ? s0 + 2 * ld : s0, s3 = r + 3 < kn ? s0 + 3 * ld : s0;
    const s4 = r + 4 < kn ? s0 + 4 * ld : s0, s5 = r + 5 < kn ? s0 + 5 * ld : s0;
    const s6 = r + 6 < kn ? s0 + 6 * ld : s0, s7 = r + 7 < kn ? s0 + 7 * ld : s0;
    const valid = kn - r;
    // Lane masks: all-ones for rows that exist.
    const m0 = i32x4(valid > 0 ? -1 : 0, valid > 1 ? -1 : 0, valid > 2 ? -1 : 0, valid > 3 ? -1 : 0);
    const m1 = i32x4(valid > 4 ? -1 : 0, valid > 5 ? -1 : 0, valid > 6 ? -1 : 0, valid > 7 ? -1 : 0);
    let d = dst + <usize>(pnl * kc * NR) * 4;
    let k = 0;
    if (valid >= NR) {
      for (; k + 4 <= kc; k += 4, d += 128) {
        const o = <usize>k * 4;
        transpose4(v128.load(s0 + o), v128.load(s1 + o), v128.load(s2 + o), v128.load(s3 + o), false, m0, d);
        transpose4(v128.load(s4 + o), v128.load(s5 + o), v128.load(s6 + o), v128.load(s7 + o), false, m1, d + 16);
      }
    } else {
      for (; k + 4 <= kc; k += 4, d += 128) {
        const o = <usize>k * 4;
        transpose4(v128.load(s0 + o), v128.load(s1 + o), v128.load(s2 + o), v128.load(s3 + o), true, m0, d);
        transpose4(v128.load(s4 + o), v128.load(s5 + o), v128.load(s6 + o), v128.load(s7 + o), true, m1, d + 16);
      }
    }
    for (; k < kc; k++, d += 32) {
      const o = <usize>k * 4;
      const lo = f32x4(load<f32>(s0 + o), load<f32>(s1 + o), load<f32>(s2 + o), load<f32>(s3 + o));
      const hi = f32x4(load<f32>(s4 + o), load<f32>(s5 + o), load<f32>(s6 + o), load<f32>(s7 + o));
      v128.store(d, v128.and(lo, m0));
      v128.store(d, v128.and(hi, m1), 16);
    }
  }
}

/** Rows a, b, c, e (4 floats each) transposed: column j (masked, if `masked`) stored at d + 32·j. */
@inline function transpose4(a: v128, b: v128, c: v128, e: v128, masked: bool, mask: v128, d: usize): void {
  const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), t1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(c, e, 0, 4, 1, 5), t3 = v128.shuffle<f32>(c, e, 2, 6, 3, 7);
  let r0 = v128.shuffle<f32>(t0, t2, 0, 1, 4, 5), r1 = v128.shuffle<f32>(t0, t2, 2, 3, 6, 7);
  let r2 = v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), r3 = v128.shuffle<f32>(t1, t3, 2, 3, 6, 7);
  if (masked) {
    r0 = v128.and(r0, mask);
    r1 = v128.and(r1, mask);
    r2 = v128.and(r2, mask);
    r3 = v128.and(r3, mask);
  }
  v128.store(d, r0);
  v128.store(d, r1, 32);
  v128.store(d, r2, 64);
  v128.store(d, r3, 96);
}
