// Winograd F(4×4, 3×3) for stride-1, undilated 3×3 convolutions on maps that 4×4 tiles fill
// (the JS side's choice): each 4×4 output tile costs 36 multiply-adds per input channel where
// F(2×2, 3×3) (winograd.ts) spends 64 on the same 16 outputs. With the F(4, 3) matrices of
// Lavin & Gray,
//   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//   G  = [1/4 0 0; −1/6 −1/6 −1/6; −1/6 1/6 −1/6; 1/24 1/12 1/6; 1/24 −1/12 1/6; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1],
// the structure is winograd.ts's, and winograd-conv.ts runs both: U = G g Gᵀ, V = Bᵀ d B
// packed into the micro-kernel's panels, 36 GEMMs M[ξ] = U[ξ] · V[ξ], then Y = Aᵀ M A and
// the epilogue. Each 6×6 transform
// is two passes of 6-vector transforms, along rows and then along columns, through a small
// buffer, on four tiles (or four input channels, for weights) a vector.

import { NR } from './gemm';
import { column, patchRow, px, epilogue4, emit, lanes, planeBytes, OC, TASK_U, MAX_CG } from './winograd';
import { WINOGRAD_PLANE_PAD, WINOGRAD4_TILE_BLOCK } from '../src/backend/wasm/ids';

export const TB4: i32 = WINOGRAD4_TILE_BLOCK;
/** Products per tile (6 × 6). */
const XI: i32 = 36;
const PLANE_PAD: i32 = WINOGRAD_PLANE_PAD;
/** The transforms' buffer: a first pass's 36 vectors, then the output's 16. */
export const TMP_BYTES: i32 = (36 + 16) * 16;
/** Scratch a thread needs: V (36 planes of MAX_CG · TB4), M (36 of OC · TB4), a task's own U, the buffer. */
export const WINOGRAD4_SCRATCH: i32 = (XI * (MAX_CG * TB4 + PLANE_PAD) + XI * (OC * TB4 + PLANE_PAD) + TASK_U) * 4 + TMP_BYTES;

/** Row i of G times (v0, v1, v2) (vectors over four input channels). */
@inline function gRow(i: i32, v0: v128, v1: v128, v2: v128): v128 {
  if (i == 0) return f32x4.mul(v0, f32x4.splat(0.25));
  if (i == 5) return v2;
  if (i < 3) {
    const s = i == 1 ? f32x4.add(f32x4.add(v0, v2), v1) : f32x4.sub(f32x4.add(v0, v2), v1);
    return f32x4.mul(s, f32x4.splat(-1.0 / 6));
  }
  const a = f32x4.add(f32x4.mul(v0, f32x4.splat(1.0 / 24)), f32x4.mul(v2, f32x4.splat(1.0 / 6)));
  const b = f32x4.mul(v1, f32x4.splat(1.0 / 12));
  return i == 3 ? f32x4.add(a, b) : f32x4.sub(a, b);
}

/** The first `valid` lanes of v (at most 4) stored as floats from p. */
@inline function storeLanes(p: usize, v: v128, valid: i32): void {
  if (valid >= 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (valid > 1) store<f32>(p + 4, f32x4.extract_lane(v, 1));
  if (valid > 2) store<f32>(p + 8, f32x4.extract_lane(v, 2));
}

/** G g Gᵀ of the cg kernels (oo, 0 … cg−1) of group g, written at dst + c·4 + ξ·xi; four input channels a vector; `flip` as winograd.ts's transformKernels. */
export function transformKernels4(w: usize, flip: bool, og: i32, cg: i32, g: i32, oo: i32, dst: usize, xi: usize): void {
  const cStep: usize = flip ? <usize>(og * 9) * 4 : 36;
  const k0 = flip ? w + <usize>((g * cg * og + oo) * 9) * 4 : w + <usize>((g * og + oo) * cg * 9) * 4;
  for (let c = 0; c < cg; c += 4) {
    const k = k0 + <usize>c * cStep, valid = min(4, cg - c);
    const t0 = lanes(k, cStep, flip, 0, valid), t1 = lanes(k, cStep, flip, 1, valid), t2 = lanes(k, cStep, flip, 2, valid);
    const t3 = lanes(k, cStep, flip, 3, valid), t4 = lanes(k, cStep, flip, 4, valid), t5 = lanes(k, cStep, flip, 5, valid);
    const t6 = lanes(k, cStep, flip, 6, valid), t7 = lanes(k, cStep, flip, 7, valid), t8 = lanes(k, cStep, flip, 8, valid);
    const base = dst + <usize>c * 4, row = <usize>6 * xi;
    // Row i of G g (constant i, so each folds to its arithmetic), then that row times Gᵀ.
    rowG(base, xi, valid, gRow(0, t0, t3, t6), gRow(0, t1, t4, t7), gRow(0, t2, t5, t8));
    rowG(base + row, xi, valid, gRow(1, t0, t3, t6), gRow(1, t1, t4, t7), gRow(1, t2, t5, t8));
    rowG(base + 2 * row, xi, valid, gRow(2, t0, t3, t6), gRow(2, t1, t4, t7), gRow(2, t2, t5, t8));
    rowG(base + 3 * row, xi, valid, gRow(3, t0, t3, t6), gRow(3, t1, t4, t7), gRow(3, t2, t5, t8));
    rowG(base + 4 * row, xi, valid, gRow(4, t0, t3, t6), gRow(4, t1, t4, t7), gRow(4, t2, t5, t8));
    rowG(base + 5 * row, xi, valid, t6, t7, t8);
  }
}

/** (a0, a1, a2) · Gᵀ: six values at ξ = 0 … 5 from p (xi bytes apart), first `valid` lanes. */
@inline function rowG(p: usize, xi: usize, valid: i32, a0: v128, a1: v128, a2: v128): void {
  const s = f32x4.add(a0, a2), m = f32x4.splat(-1.0 / 6);
  const e = f32x4.add(f32x4.mul(a0, f32x4.splat(1.0 / 24)), f32x4.mul(a2, f32x4.splat(1.0 / 6))), f = f32x4.mul(a1, f32x4.splat(1.0 / 12));
  storeLanes(p, f32x4.mul(a0, f32x4.splat(0.25)), valid);
  storeLanes(p + xi, f32x4.mul(f32x4.add(s, a1), m), valid);
  storeLanes(p + 2 * xi, f32x4.mul(f32x4.sub(s, a1), m), valid);
  storeLanes(p + 3 * xi, f32x4.add(e, f), valid);
  storeLanes(p + 4 * xi, f32x4.sub(e, f), valid);
  storeLanes(p + 5 * xi, a2, valid);
}

/** Bᵀ (d0 … d5): six vectors stored at dst + i·stride. */
@inline function bt6(d0: v128, d1: v128, d2: v128, d3: v128, d4: v128, d5: v128, dst: usize, stride: usize): void {
  const four = f32x4.splat(4), five = f32x4.splat(5), two = f32x4.splat(2);
  v128.store(dst, f32x4.add(f32x4.sub(f32x4.mul(d0, four), f32x4.mul(d2, five)), d4));
  const a = f32x4.add(d3, d4), b = f32x4.mul(f32x4.add(d1, d2), four);
  const c = f32x4.sub(d4, d3), e = f32x4.mul(f32x4.sub(d1, d2), four);
  const f = f32x4.sub(d4, d2), q = f32x4.mul(f32x4.sub(d1, d3), two);
  v128.store(dst + stride, f32x4.sub(a, b));
  v128.store(dst + 2 * stride, f32x4.add(c, e));
  v128.store(dst + 3 * stride, f32x4.sub(f, q));
  v128.store(dst + 4 * stride, f32x4.add(f, q));
  v128.store(dst + 5 * stride, f32x4.add(f32x4.sub(f32x4.mul(d1, four), f32x4.mul(d3, five)), d5));
}

/** The column pass of Bᵀ d B: tmp holds (d B)ᵀ row by row (vector k·6 + r); V[i·6 + k] goes to d + (i·6 + k)·xiStride. */
@inline function columnsB(tmp: usize, d: usize, xiStride: usize): void {
  for (let k = 0; k < 6; k++) {
    const s = tmp + <usize>(k * 96);
    bt6(v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48), v128.load(s, 64), v128.load(s, 80),
      d + <usize>k * xiStride, 6 * xiStride);
  }
}

@inline export function tileY4(T: i32, tilesX: i32, tg: i32): i32 {
  return ((tg % T) / tilesX) * 4;
}
@inline export function tileX4(T: i32, tilesX: i32, tg: i32): i32 {
  return ((tg % T) % tilesX) * 4;
}
@inline function tilePlane(x: usize, imgStride: i32, T: i32, tg: i32): usize {
  return x + <usize>((tg / T) * imgStride) * 4;
}
@inline function inside6(h: i32, w: i32, y0: i32, x0: i32): bool {
  return y0 >= 0 && y0 + 6 <= h && x0 >= 0 && x0 + 6 <= w;
}

/** Columns 4 and 5 of a patch row (lanes 0, 1), zeros outside the image. */
@inline function patchTail(plane: usize, ok: bool, h: i32, w: i32, y: i32, x0: i32): v128 {
  const x4 = x0 + 4;
  if (ok || (x4 >= 0 && x4 + 2 <= w && <u32>y < <u32>h)) return v128.load64_zero(plane + <usize>(y * w + x4) * 4);
  if (<u32>y >= <u32>h || x4 >= w || x4 + 2 <= 0) return f32x4.splat(0);
  return f32x4(px(plane, h, w, y, x4), px(plane, h, w, y, x4 + 1), 0, 0);
}

/**
 * Bᵀ d B for the tiles [t0, t0 + tn) of one group, packed for the micro-kernel:
 * dst[ξ][panel][c][8]. Tiles run over (image, tile) as in winograd.ts; lanes past tn repeat
 * the last tile (their products are never read), so every panel is whole. Four neighbours on
 * one tile row whose patches lie inside take their 6 columns from five loads a row; others
 * gather each patch row with bounds. With rowLen > 0 the layout is V[ξ][c][j] instead, rows
 * rowLen floats long (the weight gradient's operand, winograd4-grad.ts), written up to tn
 * rounded up to 4.
 */
export function transformInput4(x: usize, imgStride: i32, T: i32, cg: i32, h: i32, w: i32, ph: i32, pw: i32, tilesX: i32, t0: i32, tn: i32,
  dst: usize, xiStride: usize, tmp: usize, rowLen: i32 = 0): void {
  const rows = rowLen > 0;
  const lanes = rows ? (tn + 3) & ~3 : ((tn + NR - 1) / NR) * NR, last = tn - 1;
  const cStep = rows ? <usize>rowLen * 4 : <usize>NR * 4;
  const imagePlane = <usize>(h * w) * 4, rowBytes = <usize>w * 4;
  for (let j = 0; j < lanes; j += 4) {
    const d = rows ? dst + <usize>j * 4 : dst + <usize>(((j >> 3) * cg) * NR + (j & 7)) * 4;
    const ja = min(j, last), je = min(j + 3, last);
    const ta = t0 + ja, tb = t0 + min(j + 1, last), tc = t0 + min(j + 2, last), te = t0 + je;
    const ya = tileY4(T, tilesX, ta) - ph, xa = tileX4(T, tilesX, ta) - pw;
    const pa = tilePlane(x, imgStride, T, ta);
    if (je == ja + 3 && ta / T == te / T && tileY4(T, tilesX, te) == ya + ph && ya >= 0 && ya + 6 <= h && xa >= 0 && xa + 18 <= w) {
      let p = pa + <usize>(ya * w + xa) * 4;
      for (let c = 0; c < cg; c++, p += imagePlane) {
        for (let r = 0; r < 6; r++) {
          const row = p + <usize>r * rowBytes;
          const l0 = v128.load(row), l1 = v128.load(row, 16), l2 = v128.load(row, 32), l3 = v128.load(row, 48);
          const l4 = v128.load64_zero(row + 64);
          const c0 = column(l0, l1, l2, l3, 0), c1 = column(l0, l1, l2, l3, 1);
          bt6(c0, c1, column(l0, l1, l2, l3, 2), column(l0, l1, l2, l3, 3), v128.shuffle<f32>(c0, l4, 1, 2, 3, 4),
            v128.shuffle<f32>(c1, l4, 1, 2, 3, 5), tmp + <usize>r * 16, 96);
        }
        columnsB(tmp, d + <usize>c * cStep, xiStride);
      }
      continue;
    }
    const pb = tilePlane(x, imgStride, T, tb), pc = tilePlane(x, imgStride, T, tc), pe = tilePlane(x, imgStride, T, te);
    const yb = tileY4(T, tilesX, tb) - ph, yc = tileY4(T, tilesX, tc) - ph, ye = tileY4(T, tilesX, te) - ph;
    const xb = tileX4(T, tilesX, tb) - pw, xc = tileX4(T, tilesX, tc) - pw, xe = tileX4(T, tilesX, te) - pw;
    const ia = inside6(h, w, ya, xa), ib = inside6(h, w, yb, xb), ic = inside6(h, w, yc, xc), ie = inside6(h, w, ye, xe);
    let o: usize = 0;
    for (let c = 0; c < cg; c++, o += imagePlane) {
      for (let r = 0; r < 6; r++) {
        const a = patchRow(pa + o, ia, h, w, ya + r, xa), b = patchRow(pb + o, ib, h, w, yb + r, xb);
        const cc = patchRow(pc + o, ic, h, w, yc + r, xc), e = patchRow(pe + o, ie, h, w, ye + r, xe);
        const ab = v128.shuffle<f32>(patchTail(pa + o, ia, h, w, ya + r, xa), patchTail(pb + o, ib, h, w, yb + r, xb), 0, 4, 1, 5);
        const ce = v128.shuffle<f32>(patchTail(pc + o, ic, h, w, yc + r, xc), patchTail(pe + o, ie, h, w, ye + r, xe), 0, 4, 1, 5);
        bt6(column(a, b, cc, e, 0), column(a, b, cc, e, 1), column(a, b, cc, e, 2), column(a, b, cc, e, 3),
          v128.shuffle<f32>(ab, ce, 0, 1, 4, 5), v128.shuffle<f32>(ab, ce, 2, 3, 6, 7), tmp + <usize>r * 16, 96);
      }
      columnsB(tmp, d + <usize>c * cStep, xiStride);
    }
  }
}

/** Aᵀ (m0 … m5): four vectors stored at dst + i·stride. */
@inline function at6(m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128, dst: usize, stride: usize): void {
  const s12 = f32x4.add(m1, m2), d12 = f32x4.sub(m1, m2), s34 = f32x4.add(m3, m4), d34 = f32x4.sub(m3, m4);
  v128.store(dst, f32x4.add(f32x4.add(m0, s12), s34));
  v128.store(dst + stride, f32x4.add(d12, f32x4.mul(d34, f32x4.splat(2))));
  v128.store(dst + 2 * stride, f32x4.add(s12, f32x4.mul(s34, f32x4.splat(4))));
  v128.store(dst + 3 * stride, f32x4.add(f32x4.add(d12, f32x4.mul(d34, f32x4.splat(8))), m5));
}

/** Y = Aᵀ M A of four tiles (one per lane; M[ξ] at mp + ξ·xiStride): Y[p][q] at out + (p·4 + q)·16. */
@inline function outputTransform(mp: usize, xiStride: usize, tmp: usize, out: usize): void {
  for (let i = 0; i < 6; i++) {
    const s = mp + <usize>(i * 6) * xiStride;
    at6(v128.load(s), v128.load(s + xiStride), v128.load(s + 2 * xiStride), v128.load(s + 3 * xiStride), v128.load(s + 4 * xiStride),
      v128.load(s + 5 * xiStride), tmp + <usize>i * 16, 96);
  }
  for (let q = 0; q < 4; q++) {
    const s = tmp + <usize>(q * 96);
    at6(v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48), v128.load(s, 64), v128.load(s, 80), out + <usize>q * 16, 64);
  }
}

/** Four pixels of a tile's row (y, x … x+3) of the plane at element pl: · factor, + bias, + residual, activation; clipped at the map's edges. */
@inline function storeRow4(out: usize, res: usize, fac: usize, ow: i32, oh: i32, pl: i32, y: i32, x: i32, v: v128, bias: f32, act: i32): void {
  if (y >= oh) return;
  const f = y * ow + x, q = pl + f;
  if (x + 4 <= ow) {
    v128.store(out + <usize>q * 4,
      epilogue4(v, fac != 0, fac ? v128.load(fac + <usize>f * 4) : v, bias, res != 0, res ? v128.load(res + <usize>q * 4) : v, act));
    return;
  }
  // The map's right edge clips the row: pixel by pixel (emit skips those past it).
  emit(out, res, fac, <usize>pl, ow, oh, y, x, f32x4.extract_lane(v, 0), bias, act);
  emit(out, res, fac, <usize>pl, ow, oh, y, x + 1, f32x4.extract_lane(v, 1), bias, act);
  emit(out, res, fac, <usize>pl, ow, oh, y, x + 2, f32x4.extract_lane(v, 2), bias, act);
}

/**
 * Y = Aᵀ M A for the tiles [t0, t0 + tn) of output channels oc0 … oc0 + on − 1 (M as
 * winograd.ts's outputTiles2 has it), four tiles at a time (one per lane), each tile's rows
 * stored with the epilogue; tmp holds the transforms' buffer. (winograd-conv.ts runs the rest.)
 */
export function outputTiles4(m: usize, mXi: usize, ldm: usize, t0: i32, tn: i32, T: i32, tilesX: i32, o: i32, oh: i32, ow: i32,
  oc0: i32, on: i32, out: usize, res: usize, fac: usize, bias: usize, act: i32, tmp: usize): void {
  const P = oh * ow, ys = tmp + 36 * 16;
  for (let j = 0; j < tn; j += 4) {
    const valid = min(4, tn - j);
    const ta = t0 + j, tb1 = t0 + min(j + 1, tn - 1), tc = t0 + min(j + 2, tn - 1), te = t0 + min(j + 3, tn - 1);
    const ia = (ta / T) * o * P, ib = (tb1 / T) * o * P, ic = (tc / T) * o * P, ie = (te / T) * o * P;
    const ya = tileY4(T, tilesX, ta), xa = tileX4(T, tilesX, ta), yb = tileY4(T, tilesX, tb1), xb = tileX4(T, tilesX, tb1);
    const yc = tileY4(T, tilesX, tc), xc = tileX4(T, tilesX, tc), ye = tileY4(T, tilesX, te), xe = tileX4(T, tilesX, te);
    const mj = m + <usize>j * 4;
    for (let r = 0; r < on; r++) {
      const oc = oc0 + r, at = oc * P;
      const bv = bias ? load<f32>(bias + <usize>oc * 4) : 0;
      outputTransform(mj + <usize>r * ldm, mXi, tmp, ys);
      for (let p = 0; p < 4; p++) {
        const y0 = v128.load(ys + <usize>(p * 64)), y1 = v128.load(ys + <usize>(p * 64), 16);
        const y2 = v128.load(ys + <usize>(p * 64), 32), y3 = v128.load(ys + <usize>(p * 64), 48);
        storeRow4(out, res, fac, ow, oh, ia + at, ya + p, xa, column(y0, y1, y2, y3, 0), bv, act);
        if (valid > 1) storeRow4(out, res, fac, ow, oh, ib + at, yb + p, xb, column(y0, y1, y2, y3, 1), bv, act);
        if (valid > 2) storeRow4(out, res, fac, ow, oh, ic + at, yc + p, xc, column(y0, y1, y2, y3, 2), bv, act);
        if (valid > 3) storeRow4(out, res, fac, ow, oh, ie + at, ye + p, xe, column(y0, y1, y2, y3, 3), bv, act);
      }
    }
  }
}
