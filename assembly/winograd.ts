// Winograd F(2×2, 3×3) for stride-1, undilated 3×3 convolutions (most of ResNeSt's split-
// attention convs): each 2×2 output tile costs 16 multiply-adds per input channel instead of
// 36. With Bᵀ, G, Aᵀ the F(2, 3) transforms,
//   U = G g Gᵀ (weights, once per call), V = Bᵀ d B (each 4×4 input tile),
//   M[ξ] = Σ_c U[ξ][o][c] · V[ξ][c][t] (16 GEMMs, the micro-kernel of gemm.ts), Y = Aᵀ M A.
// Tiles are processed in blocks of TB; a block's transformed input is packed straight into
// the micro-kernel's panel layout, and output channels go in chunks of OC so that the 16
// products stay in cache for the output transform. This file has the transforms;
// winograd-conv.ts runs the tasks, for this tile and F(4×4)'s (winograd4.ts).

import { finish1, NR } from './gemm';
import { relu4, sigmoid4 } from './simd';
import { Act, WINOGRAD_MAX_CG, WINOGRAD_PLANE_PAD, WINOGRAD_TILE_BLOCK } from '../src/backend/wasm/ids';

export const TB: i32 = WINOGRAD_TILE_BLOCK;
export const OC: i32 = 128;
/** Largest group input-channel count the scratch holds transformed (the JS side checks it). */
export const MAX_CG: i32 = WINOGRAD_MAX_CG;
/** Floats of a task's own transformed weights (16 · chunk · cg): chunks of 128 channels up to cg = 256. */
export const TASK_U: i32 = 16 * OC * 256;
const PLANE_PAD: i32 = WINOGRAD_PLANE_PAD;
// (The weight gradient, winograd-grad.ts, uses the same regions and a packed block of MAX_CG · TB.)
export const WINOGRAD_SCRATCH: i32 = (16 * MAX_CG * TB + 16 * OC * TB + TASK_U + 3 * 16 * PLANE_PAD + MAX_CG * TB) * 4;

/** Bytes from one ξ plane of `floats` floats to the next (padded: see WINOGRAD_PLANE_PAD). */
@inline export function planeBytes(floats: i32): usize {
  return <usize>(floats + PLANE_PAD) * 4;
}

/**
 * G g Gᵀ of the cg kernels (oo, 0 … cg−1) of group g, written at dst + c·4 + ξ·xi. Four input
 * channels at a time, one per lane (the 16 results are four contiguous floats at each ξ).
 * With `flip`, w holds the weights of the conv whose input gradient this conv computes —
 * [groups·cg][og][3×3], so g's kernel for (o, c) is w[g·cg + c][o] with its taps reversed —
 * and U is built from them directly, with no flipped copy.
 */
@inline export function transformKernels(w: usize, flip: bool, og: i32, cg: i32, g: i32, oo: i32, dst: usize, xi: usize): void {
  const half = f32x4.splat(0.5);
  // Kernel (oc, c): its first float, the step between consecutive c, and the tap order.
  const cStep: usize = flip ? <usize>(og * 9) * 4 : 36;
  const k0 = flip ? w + <usize>((g * cg * og + oo) * 9) * 4 : w + <usize>((g * og + oo) * cg * 9) * 4;
  let c = 0;
  for (; c + 4 <= cg; c += 4) {
    const k = k0 + <usize>c * cStep;
    let t00: v128, t01: v128, t02: v128, a0: v128, a1: v128, a2: v128, b0: v128, b1: v128, b2: v128;
    if (flip) {
      t00 = lanes(k, cStep, flip, 0); t01 = lanes(k, cStep, flip, 1); t02 = lanes(k, cStep, flip, 2);
      a0 = lanes(k, cStep, flip, 3); a1 = lanes(k, cStep, flip, 4); a2 = lanes(k, cStep, flip, 5);
      b0 = lanes(k, cStep, flip, 6); b1 = lanes(k, cStep, flip, 7); b2 = lanes(k, cStep, flip, 8);
    } else {
      // Four kernels of 9 contiguous taps: taps 0–3 and 4–7 of each as one load, transposed.
      const p0 = v128.load(k), p1 = v128.load(k + 36), p2 = v128.load(k + 72), p3 = v128.load(k + 108);
      const q0 = v128.load(k, 16), q1 = v128.load(k + 36, 16), q2 = v128.load(k + 72, 16), q3 = v128.load(k + 108, 16);
      t00 = column(p0, p1, p2, p3, 0); t01 = column(p0, p1, p2, p3, 1); t02 = column(p0, p1, p2, p3, 2); a0 = column(p0, p1, p2, p3, 3);
      a1 = column(q0, q1, q2, q3, 0); a2 = column(q0, q1, q2, q3, 1); b0 = column(q0, q1, q2, q3, 2); b1 = column(q0, q1, q2, q3, 3);
      b2 = lanes(k, cStep, false, 8);
    }
    const t10 = f32x4.mul(f32x4.add(f32x4.add(t00, a0), b0), half), t11 = f32x4.mul(f32x4.add(f32x4.add(t01, a1), b1), half);
    const t12 = f32x4.mul(f32x4.add(f32x4.add(t02, a2), b2), half);
    const t20 = f32x4.mul(f32x4.add(f32x4.sub(t00, a0), b0), half), t21 = f32x4.mul(f32x4.add(f32x4.sub(t01, a1), b1), half);
    const t22 = f32x4.mul(f32x4.add(f32x4.sub(t02, a2), b2), half);
    const base = dst + <usize>c * 4;
    storeRowG4(base, xi, 0, t00, t01, t02, half);
    storeRowG4(base, xi, 4, t10, t11, t12, half);
    storeRowG4(base, xi, 8, t20, t21, t22, half);
    storeRowG4(base, xi, 12, b0, b1, b2, half);
  }
  for (; c < cg; c++) {
    const k = k0 + <usize>c * cStep;
    // G g: rows g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2 of the 3×3 kernel.
    const t00 = tap(k, flip, 0), t01 = tap(k, flip, 1), t02 = tap(k, flip, 2);
    const a0 = tap(k, flip, 3), a1 = tap(k, flip, 4), a2 = tap(k, flip, 5);
    const b0 = tap(k, flip, 6), b1 = tap(k, flip, 7), b2 = tap(k, flip, 8);
    const t10 = (t00 + a0 + b0) * 0.5, t11 = (t01 + a1 + b1) * 0.5, t12 = (t02 + a2 + b2) * 0.5;
    const t20 = (t00 - a0 + b0) * 0.5, t21 = (t01 - a1 + b1) * 0.5, t22 = (t02 - a2 + b2) * 0.5;
    const base = dst + <usize>c * 4;
    storeRowG(base, xi, 0, t00, t01, t02);
    storeRowG(base, xi, 4, t10, t11, t12);
    storeRowG(base, xi, 8, t20, t21, t22);
    storeRowG(base, xi, 12, b0, b1, b2);
  }
}

/** Tap e of a 3×3 kernel at k (reversed with flip). */
@inline function tap(k: usize, flip: bool, e: i32): f32 {
  return load<f32>(k + <usize>(flip ? 8 - e : e) * 4);
}

/** Tap e of four kernels cStep bytes apart, one per lane (lanes past `valid` repeat the last kernel). */
@inline export function lanes(k: usize, cStep: usize, flip: bool, e: i32, valid: i32 = 4): v128 {
  const p = k + <usize>(flip ? 8 - e : e) * 4;
  const s1 = valid > 1 ? cStep : 0, s2 = valid > 2 ? 2 * cStep : s1, s3 = valid > 3 ? 3 * cStep : s2;
  return f32x4(load<f32>(p), load<f32>(p + s1), load<f32>(p + s2), load<f32>(p + s3));
}

/** storeRowG over four input channels: v0, (v0 + v1 + v2)/2, (v0 − v1 + v2)/2, v2 at ξ = first … first+3. */
@inline function storeRowG4(base: usize, xi: usize, first: i32, v0: v128, v1: v128, v2: v128, half: v128): void {
  v128.store(base + <usize>first * xi, v0);
  v128.store(base + <usize>(first + 1) * xi, f32x4.mul(f32x4.add(f32x4.add(v0, v1), v2), half));
  v128.store(base + <usize>(first + 2) * xi, f32x4.mul(f32x4.add(f32x4.sub(v0, v1), v2), half));
  v128.store(base + <usize>(first + 3) * xi, v2);
}

/** (row of G g) · Gᵀ: four values, written at ξ = first … first+3. */
@inline function storeRowG(base: usize, xi: usize, first: i32, v0: f32, v1: f32, v2: f32): void {
  store<f32>(base + <usize>first * xi, v0);
  store<f32>(base + <usize>(first + 1) * xi, (v0 + v1 + v2) * 0.5);
  store<f32>(base + <usize>(first + 2) * xi, (v0 - v1 + v2) * 0.5);
  store<f32>(base + <usize>(first + 3) * xi, v2);
}

/**
 * Bᵀ d B for the tiles [t0, t0 + tn) of one group, packed for the micro-kernel:
 * dst[ξ][panel][c][8] with panel = (t − t0) / 8; tiles past tn are zeros. Tiles run over
 * (image, tile) — T tiles an image, images imgStride floats apart from x — so small maps of
 * a batch share blocks. Tiles go four at a time, one per lane, for every channel: four
 * neighbours of one tile row inside the image take their patch columns from the even and odd
 * lanes of two loads per row; any other four (across a row's end or an image's, or touching
 * the zero padding) gather a 4-float row of each patch and transpose. Only the last tn mod 4
 * tiles go one by one. With rowLen > 0, the layout is V[ξ][c][j] instead, rows rowLen floats
 * long (the weight gradient's operand, winograd-grad.ts); no padding tiles.
 */
export function transformInput(x: usize, imgStride: i32, T: i32, cg: i32, h: i32, w: i32, ph: i32, pw: i32, tilesX: i32, t0: i32, tn: i32,
  dst: usize, xiStride: usize, rowLen: i32 = 0): void {
  const rows = rowLen > 0;
  const panels = rows ? 0 : (tn + NR - 1) / NR;
  const imagePlane = <usize>(h * w) * 4, rowBytes = <usize>w * 4, cStep = rows ? <usize>rowLen * 4 : <usize>NR * 4;
  for (let j = tn; j < panels * NR; j++) {
    const d = tileAt(dst, j, cg, rows);
    for (let c = 0; c < cg; c++) for (let xi = 0; xi < 16; xi++) store<f32>(d + <usize>c * cStep + <usize>xi * xiStride, 0);
  }
  let j = 0;
  for (; j + 4 <= tn; j += 4) {
    const d = tileAt(dst, j, cg, rows);
    const tg = t0 + j;
    const y0 = tileY(T, tilesX, tg) - ph, x0 = tileX(T, tilesX, tg) - pw;
    const plane0 = tilePlane(x, imgStride, T, tg);
    if (x0 + pw + 8 <= 2 * tilesX && y0 >= 0 && y0 + 4 <= h && x0 >= 0 && x0 + 10 <= w) {
      let p = plane0 + <usize>(y0 * w + x0) * 4;
      for (let c = 0; c < cg; c++, p += imagePlane) transform4(p, rowBytes, d + <usize>c * cStep, xiStride);
      continue;
    }
    // Each tile's image plane (channel 0), patch corner, and whether its patch lies inside.
    const p1 = tilePlane(x, imgStride, T, tg + 1), p2 = tilePlane(x, imgStride, T, tg + 2), p3 = tilePlane(x, imgStride, T, tg + 3);
    const y1 = tileY(T, tilesX, tg + 1) - ph, y2 = tileY(T, tilesX, tg + 2) - ph, y3 = tileY(T, tilesX, tg + 3) - ph;
    const x1 = tileX(T, tilesX, tg + 1) - pw, x2 = tileX(T, tilesX, tg + 2) - pw, x3 = tileX(T, tilesX, tg + 3) - pw;
    const in0 = inside(h, w, y0, x0), in1 = inside(h, w, y1, x1), in2 = inside(h, w, y2, x2), in3 = inside(h, w, y3, x3);
    let o: usize = 0;
    for (let c = 0; c < cg; c++, o += imagePlane) {
      gatherTransform(plane0 + o, in0, y0, x0, p1 + o, in1, y1, x1, p2 + o, in2, y2, x2, p3 + o, in3, y3, x3, h, w,
        d + <usize>c * cStep, xiStride);
    }
  }
  for (; j < tn; j++) {
    const d = tileAt(dst, j, cg, rows);
    const tg = t0 + j;
    const y0 = tileY(T, tilesX, tg) - ph, x0 = tileX(T, tilesX, tg) - pw;
    let plane = tilePlane(x, imgStride, T, tg);
    for (let c = 0; c < cg; c++, plane += imagePlane) transform1(plane, h, w, y0, x0, d + <usize>c * cStep, xiStride);
  }
}

/** Where tile j of a block goes: its lane in the micro-kernel's panels, or (`rows`) column j of V[ξ][c][j]. */
@inline function tileAt(dst: usize, j: i32, cg: i32, rows: bool): usize {
  return rows ? dst + <usize>j * 4 : dst + <usize>(((j >> 3) * cg) * NR + (j & 7)) * 4;
}

/** Tile tg's image plane (its first channel), and its top row and left column (of its 2×2 outputs; of its 4×4 patch before padding). */
@inline function tilePlane(x: usize, imgStride: i32, T: i32, tg: i32): usize {
  return x + <usize>((tg / T) * imgStride) * 4;
}
@inline export function tileY(T: i32, tilesX: i32, tg: i32): i32 {
  return ((tg % T) / tilesX) * 2;
}
@inline export function tileX(T: i32, tilesX: i32, tg: i32): i32 {
  return ((tg % T) % tilesX) * 2;
}

@inline function inside(h: i32, w: i32, y0: i32, x0: i32): bool {
  return y0 >= 0 && y0 + 4 <= h && x0 >= 0 && x0 + 4 <= w;
}

/** Row y of a tile's patch (columns x0 … x0+3), zeros outside the image unless `ok` says it lies inside. */
@inline export function patchRow(plane: usize, ok: bool, h: i32, w: i32, y: i32, x0: i32): v128 {
  if (ok) return v128.load(plane + <usize>(y * w + x0) * 4);
  const zero = f32x4.splat(0);
  if (<u32>y >= <u32>h) return zero;
  // On small maps most tiles touch the padding: a row that lies inside, or sticks out by one
  // or two columns at either edge, is one load inside the row and a shuffle with zeros.
  const row = plane + <usize>(y * w) * 4;
  if (w >= 4) {
    if (x0 >= 0 && x0 + 4 <= w) return v128.load(row + <usize>x0 * 4);
    if (x0 == -1) return v128.shuffle<f32>(zero, v128.load(row), 0, 4, 5, 6);
    if (x0 == -2) return v128.shuffle<f32>(zero, v128.load(row), 0, 1, 4, 5);
    const last = row + <usize>(w - 4) * 4;
    if (x0 == w - 3) return v128.shuffle<f32>(v128.load(last), zero, 1, 2, 3, 4);
    if (x0 == w - 2) return v128.shuffle<f32>(v128.load(last), zero, 2, 3, 4, 5);
  }
  return f32x4(px(plane, h, w, y, x0), px(plane, h, w, y, x0 + 1), px(plane, h, w, y, x0 + 2), px(plane, h, w, y, x0 + 3));
}

/** Lanes: [a0 b0 c0 e0], [a1 b1 c1 e1], … of four rows: column k of four patches as one vector over the tiles. */
@inline export function column(a: v128, b: v128, c: v128, e: v128, k: i32): v128 {
  const ab = k < 2 ? v128.shuffle<f32>(a, b, 0, 4, 1, 5) : v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const ce = k < 2 ? v128.shuffle<f32>(c, e, 0, 4, 1, 5) : v128.shuffle<f32>(c, e, 2, 6, 3, 7);
  return (k & 1) == 0 ? v128.shuffle<f32>(ab, ce, 0, 1, 4, 5) : v128.shuffle<f32>(ab, ce, 2, 3, 6, 7);
}

/** Bᵀ d B of four tiles anywhere (patch corners (y, x) in their planes), one per lane, stored as transform4 does. */
@inline function gatherTransform(pa: usize, oa: bool, ya: i32, xa: i32, pb: usize, ob: bool, yb: i32, xb: i32,
  pc: usize, oc: bool, yc: i32, xc: i32, pd: usize, od: bool, yd: i32, xd: i32, h: i32, w: i32, d: usize, xiStride: usize): void {
  let a = patchRow(pa, oa, h, w, ya, xa), b = patchRow(pb, ob, h, w, yb, xb);
  let c = patchRow(pc, oc, h, w, yc, xc), e = patchRow(pd, od, h, w, yd, xd);
  const e00 = column(a, b, c, e, 0), e01 = column(a, b, c, e, 1), e02 = column(a, b, c, e, 2), e03 = column(a, b, c, e, 3);
  a = patchRow(pa, oa, h, w, ya + 1, xa); b = patchRow(pb, ob, h, w, yb + 1, xb);
  c = patchRow(pc, oc, h, w, yc + 1, xc); e = patchRow(pd, od, h, w, yd + 1, xd);
  const e10 = column(a, b, c, e, 0), e11 = column(a, b, c, e, 1), e12 = column(a, b, c, e, 2), e13 = column(a, b, c, e, 3);
  a = patchRow(pa, oa, h, w, ya + 2, xa); b = patchRow(pb, ob, h, w, yb + 2, xb);
  c = patchRow(pc, oc, h, w, yc + 2, xc); e = patchRow(pd, od, h, w, yd + 2, xd);
  const e20 = column(a, b, c, e, 0), e21 = column(a, b, c, e, 1), e22 = column(a, b, c, e, 2), e23 = column(a, b, c, e, 3);
  a = patchRow(pa, oa, h, w, ya + 3, xa); b = patchRow(pb, ob, h, w, yb + 3, xb);
  c = patchRow(pc, oc, h, w, yc + 3, xc); e = patchRow(pd, od, h, w, yd + 3, xd);
  const e30 = column(a, b, c, e, 0), e31 = column(a, b, c, e, 1), e32 = column(a, b, c, e, 2), e33 = column(a, b, c, e, 3);
  transformCols(d, xiStride, e00, e01, e02, e03, e10, e11, e12, e13, e20, e21, e22, e23, e30, e31, e32, e33);
}

/** Patch columns k of four tiles 2 apart, from a row starting at p: lanes p[k], p[k+2], p[k+4], p[k+6]. */
@inline function cols(p: usize, k: i32): v128 {
  return v128.shuffle<f32>(v128.load(p + <usize>k * 4), v128.load(p + <usize>k * 4, 16), 0, 2, 4, 6);
}

@inline function transform4(p: usize, row: usize, d: usize, xiStride: usize): void {
  const p1 = p + row, p2 = p1 + row, p3 = p2 + row;
  transformCols(d, xiStride, cols(p, 0), cols(p, 1), cols(p, 2), cols(p, 3), cols(p1, 0), cols(p1, 1), cols(p1, 2), cols(p1, 3),
    cols(p2, 0), cols(p2, 1), cols(p2, 2), cols(p2, 3), cols(p3, 0), cols(p3, 1), cols(p3, 2), cols(p3, 3));
}

/** Bᵀ d B of four tiles, one per lane, from their patches' 16 entries e[r][k] (vectors over the tiles). */
@inline function transformCols(d: usize, xiStride: usize, e00: v128, e01: v128, e02: v128, e03: v128, e10: v128, e11: v128, e12: v128, e13: v128,
  e20: v128, e21: v128, e22: v128, e23: v128, e30: v128, e31: v128, e32: v128, e33: v128): void {
  // Bᵀ d per column k: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3 (vectors over the 4 tiles).
  vrowB(d, xiStride, 0, f32x4.sub(e00, e20), f32x4.sub(e01, e21), f32x4.sub(e02, e22), f32x4.sub(e03, e23));
  vrowB(d, xiStride, 4, f32x4.add(e10, e20), f32x4.add(e11, e21), f32x4.add(e12, e22), f32x4.add(e13, e23));
  vrowB(d, xiStride, 8, f32x4.sub(e20, e10), f32x4.sub(e21, e11), f32x4.sub(e22, e12), f32x4.sub(e23, e13));
  vrowB(d, xiStride, 12, f32x4.sub(e10, e30), f32x4.sub(e11, e31), f32x4.sub(e12, e32), f32x4.sub(e13, e33));
}

@inline function vrowB(d: usize, xiStride: usize, first: i32, v0: v128, v1: v128, v2: v128, v3: v128): void {
  v128.store(d + <usize>first * xiStride, f32x4.sub(v0, v2));
  v128.store(d + <usize>(first + 1) * xiStride, f32x4.add(v1, v2));
  v128.store(d + <usize>(first + 2) * xiStride, f32x4.sub(v2, v1));
  v128.store(d + <usize>(first + 3) * xiStride, f32x4.sub(v1, v3));
}

/** One tile, any position: the patch is read with bounds checks (zero padding). */
function transform1(plane: usize, h: i32, w: i32, y0: i32, x0: i32, d: usize, xiStride: usize): void {
  const d00 = px(plane, h, w, y0, x0), d01 = px(plane, h, w, y0, x0 + 1), d02 = px(plane, h, w, y0, x0 + 2), d03 = px(plane, h, w, y0, x0 + 3);
  const d10 = px(plane, h, w, y0 + 1, x0), d11 = px(plane, h, w, y0 + 1, x0 + 1), d12 = px(plane, h, w, y0 + 1, x0 + 2), d13 = px(plane, h, w, y0 + 1, x0 + 3);
  const d20 = px(plane, h, w, y0 + 2, x0), d21 = px(plane, h, w, y0 + 2, x0 + 1), d22 = px(plane, h, w, y0 + 2, x0 + 2), d23 = px(plane, h, w, y0 + 2, x0 + 3);
  const d30 = px(plane, h, w, y0 + 3, x0), d31 = px(plane, h, w, y0 + 3, x0 + 1), d32 = px(plane, h, w, y0 + 3, x0 + 2), d33 = px(plane, h, w, y0 + 3, x0 + 3);
  storeRowB(d, xiStride, 0, d00 - d20, d01 - d21, d02 - d22, d03 - d23);
  storeRowB(d, xiStride, 4, d10 + d20, d11 + d21, d12 + d22, d13 + d23);
  storeRowB(d, xiStride, 8, d20 - d10, d21 - d11, d22 - d12, d23 - d13);
  storeRowB(d, xiStride, 12, d10 - d30, d11 - d31, d12 - d32, d13 - d33);
}

@inline export function px(plane: usize, h: i32, w: i32, y: i32, x: i32): f32 {
  return <u32>y < <u32>h && <u32>x < <u32>w ? load<f32>(plane + <usize>(y * w + x) * 4) : 0;
}

@inline function storeRowB(d: usize, xiStride: usize, first: i32, v0: f32, v1: f32, v2: f32, v3: f32): void {
  store<f32>(d + <usize>first * xiStride, v0 - v2);
  store<f32>(d + <usize>(first + 1) * xiStride, v1 + v2);
  store<f32>(d + <usize>(first + 2) * xiStride, v2 - v1);
  store<f32>(d + <usize>(first + 3) * xiStride, v1 - v3);
}

/**
 * Y = Aᵀ M A for the tiles [t0, t0 + tn) of output channels oc0 … oc0 + on − 1 (M[ξ][r][j] at
 * m, rows ldm bytes apart, ξ planes mXi apart), then rectify factor, bias, residual,
 * activation; tiles four at a time (one per lane) wherever four remain, the channels
 * innermost. (winograd-conv.ts runs the rest.)
 */
export function outputTiles2(m: usize, mXi: usize, ldm: usize, t0: i32, tn: i32, T: i32, tilesX: i32, o: i32, oh: i32, ow: i32,
  oc0: i32, on: i32, out: usize, res: usize, fac: usize, bias: usize, act: i32): void {
  const P = oh * ow;
  let j = 0;
  while (j < tn) {
    const tg = t0 + j;
    const b = tg / T, y = tileY(T, tilesX, tg), xx = tileX(T, tilesX, tg);
    const mj = m + <usize>j * 4;
    if (j + 4 <= tn && y + 2 <= oh && xx + 8 <= ow) {
      const pix = <usize>(y * ow + xx);
      for (let r = 0; r < on; r++) {
        const oc = oc0 + r;
        outputs4(mj + <usize>r * ldm, mXi, out, res, fac ? fac + pix * 4 : 0, ow, oh, true, <usize>((b * o + oc) * P) + pix,
          0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, bias ? load<f32>(bias + <usize>oc * 4) : 0, act);
      }
      j += 4;
      continue;
    }
    if (j + 4 <= tn) {
      // Each tile's image (as the element offset of its channel-0 plane) and first output pixel.
      const i0 = b * o * P, i1 = ((tg + 1) / T) * o * P, i2 = ((tg + 2) / T) * o * P, i3 = ((tg + 3) / T) * o * P;
      const y1 = tileY(T, tilesX, tg + 1), x1 = tileX(T, tilesX, tg + 1);
      const y2 = tileY(T, tilesX, tg + 2), x2 = tileX(T, tilesX, tg + 2);
      const y3 = tileY(T, tilesX, tg + 3), x3 = tileX(T, tilesX, tg + 3);
      for (let r = 0; r < on; r++) {
        const oc = oc0 + r;
        const at = oc * P;
        outputs4(mj + <usize>r * ldm, mXi, out, res, fac, ow, oh, false, 0, i0 + at, y, xx, i1 + at, y1, x1, i2 + at, y2, x2, i3 + at, y3, x3,
          bias ? load<f32>(bias + <usize>oc * 4) : 0, act);
      }
      j += 4;
      continue;
    }
    for (let r = 0; r < on; r++) {
      const oc = oc0 + r;
      output1(mj + <usize>r * ldm, mXi, out, res, fac, <usize>((b * o + oc) * P), ow, oh, y, xx,
        bias ? load<f32>(bias + <usize>oc * 4) : 0, act);
    }
    j++;
  }
}

/** Two pixels at element i and two at i + ow (lanes 0–1, 2–3 of a vector). */
@inline function loadPairs(p: usize, i: i32, ow: usize): v128 {
  const at = p + <usize>i * 4;
  return v128.load64_lane(at + ow * 4, v128.load64_zero(at), 1);
}

/** One tile's 2×2 outputs v (top row in lanes 0–1) at (y, x) of the plane at element pl: · factor, + bias, + residual, activation, stored. */
@inline function storeTile(out: usize, res: usize, fac: usize, ow: i32, oh: i32, pl: i32, y: i32, x: i32, v: v128, bias: f32, act: i32): void {
  const f = y * ow + x, q = pl + f;
  if (y + 2 > oh || x + 2 > ow) {
    emit(out, res, fac, <usize>pl, ow, oh, y, x, f32x4.extract_lane(v, 0), bias, act);
    emit(out, res, fac, <usize>pl, ow, oh, y, x + 1, f32x4.extract_lane(v, 1), bias, act);
    emit(out, res, fac, <usize>pl, ow, oh, y + 1, x, f32x4.extract_lane(v, 2), bias, act);
    emit(out, res, fac, <usize>pl, ow, oh, y + 1, x + 1, f32x4.extract_lane(v, 3), bias, act);
    return;
  }
  const row = <usize>ow;
  const z = epilogue4(v, fac != 0, fac ? loadPairs(fac, f, row) : v, bias, res != 0, res ? loadPairs(res, q, row) : v, act);
  const at = out + <usize>q * 4;
  v128.store64_lane(at, z, 0);
  v128.store64_lane(at + row * 4, z, 1);
}

@inline function mload(mp: usize, xiStride: usize, xi: i32): v128 {
  return v128.load(mp + <usize>xi * xiStride);
}

/**
 * Aᵀ M A of four tiles, one per lane. `inRow`: four neighbours on one tile row with whole
 * blocks, stored as two rows of 8 contiguous pixels from element `at` (factors from fac at the
 * same pixels). Otherwise tile i's output plane starts at element pl_i and its 2×2 block at
 * (y_i, x_i): each tile's four pixels are transposed into one vector for the epilogue and
 * stored as two pairs, or pixel by pixel where an odd map size clips the block.
 */
@inline function outputs4(mp: usize, xiStride: usize, out: usize, res: usize, fac: usize, ow: i32, oh: i32, inRow: bool, at: usize,
  pl0: i32, y0: i32, x0: i32, pl1: i32, y1: i32, x1: i32, pl2: i32, y2: i32, x2: i32, pl3: i32, y3: i32, x3: i32, bias: f32, act: i32): void {
  // Aᵀ M: rows m0 + m1 + m2 and m1 − m2 − m3, per column.
  const a0 = f32x4.add(f32x4.add(mload(mp, xiStride, 0), mload(mp, xiStride, 4)), mload(mp, xiStride, 8));
  const a1 = f32x4.add(f32x4.add(mload(mp, xiStride, 1), mload(mp, xiStride, 5)), mload(mp, xiStride, 9));
  const a2 = f32x4.add(f32x4.add(mload(mp, xiStride, 2), mload(mp, xiStride, 6)), mload(mp, xiStride, 10));
  const a3 = f32x4.add(f32x4.add(mload(mp, xiStride, 3), mload(mp, xiStride, 7)), mload(mp, xiStride, 11));
  const b0 = f32x4.sub(f32x4.sub(mload(mp, xiStride, 4), mload(mp, xiStride, 8)), mload(mp, xiStride, 12));
  const b1 = f32x4.sub(f32x4.sub(mload(mp, xiStride, 5), mload(mp, xiStride, 9)), mload(mp, xiStride, 13));
  const b2 = f32x4.sub(f32x4.sub(mload(mp, xiStride, 6), mload(mp, xiStride, 10)), mload(mp, xiStride, 14));
  const b3 = f32x4.sub(f32x4.sub(mload(mp, xiStride, 7), mload(mp, xiStride, 11)), mload(mp, xiStride, 15));
  // ... · A, per tile (lane): top-left, top-right, bottom-left, bottom-right pixel.
  const tl = f32x4.add(f32x4.add(a0, a1), a2), tr = f32x4.sub(f32x4.sub(a1, a2), a3);
  const bl = f32x4.add(f32x4.add(b0, b1), b2), br = f32x4.sub(f32x4.sub(b1, b2), b3);
  if (inRow) {
    const row = <usize>ow;
    storePixels(out, res, at * 4, fac, v128.shuffle<f32>(tl, tr, 0, 4, 1, 5), v128.shuffle<f32>(tl, tr, 2, 6, 3, 7), bias, act);
    storePixels(out, res, (at + row) * 4, fac ? fac + row * 4 : 0, v128.shuffle<f32>(bl, br, 0, 4, 1, 5), v128.shuffle<f32>(bl, br, 2, 6, 3, 7), bias, act);
    return;
  }
  storeTile(out, res, fac, ow, oh, pl0, y0, x0, column(tl, tr, bl, br, 0), bias, act);
  storeTile(out, res, fac, ow, oh, pl1, y1, x1, column(tl, tr, bl, br, 1), bias, act);
  storeTile(out, res, fac, ow, oh, pl2, y2, x2, column(tl, tr, bl, br, 2), bias, act);
  storeTile(out, res, fac, ow, oh, pl3, y3, x3, column(tl, tr, bl, br, 3), bias, act);
}

@inline function storePixels(out: usize, res: usize, i: usize, fac: usize, lo: v128, hi: v128, bias: f32, act: i32): void {
  v128.store(out + i, epilogue4(lo, fac != 0, fac ? v128.load(fac) : lo, bias, res != 0, res ? v128.load(res + i) : lo, act));
  v128.store(out + i, epilogue4(hi, fac != 0, fac ? v128.load(fac, 16) : hi, bias, res != 0, res ? v128.load(res + i, 16) : hi, act), 16);
}

/** The store's epilogue on four outputs: · factor f (if any), + bias, + residual r (if any), then act. */
@inline export function epilogue4(v: v128, hasFac: bool, f: v128, bias: f32, hasRes: bool, r: v128, act: i32): v128 {
  let z = hasFac ? f32x4.mul(v, f) : v;
  z = f32x4.add(z, f32x4.splat(bias));
  if (hasRes) z = f32x4.add(z, r);
  if (act == Act.Relu) z = relu4(z);
  else if (act == Act.Sigmoid) z = sigmoid4(z);
  return z;
}

/** One tile at any position (odd output sizes clip its right column or bottom row). */
function output1(mp: usize, xiStride: usize, out: usize, res: usize, fac: usize, plane: usize, ow: i32, oh: i32, y: i32, x: i32, bv: f32, act: i32): void {
  const m00 = load<f32>(mp), m01 = load<f32>(mp + xiStride), m02 = load<f32>(mp + 2 * xiStride), m03 = load<f32>(mp + 3 * xiStride);
  const m10 = load<f32>(mp + 4 * xiStride), m11 = load<f32>(mp + 5 * xiStride), m12 = load<f32>(mp + 6 * xiStride), m13 = load<f32>(mp + 7 * xiStride);
  const m20 = load<f32>(mp + 8 * xiStride), m21 = load<f32>(mp + 9 * xiStride), m22 = load<f32>(mp + 10 * xiStride), m23 = load<f32>(mp + 11 * xiStride);
  const m30 = load<f32>(mp + 12 * xiStride), m31 = load<f32>(mp + 13 * xiStride), m32 = load<f32>(mp + 14 * xiStride), m33 = load<f32>(mp + 15 * xiStride);
  const a0 = m00 + m10 + m20, a1 = m01 + m11 + m21, a2 = m02 + m12 + m22, a3 = m03 + m13 + m23;
  const b0 = m10 - m20 - m30, b1 = m11 - m21 - m31, b2 = m12 - m22 - m32, b3 = m13 - m23 - m33;
  emit(out, res, fac, plane, ow, oh, y, x, a0 + a1 + a2, bv, act);
  emit(out, res, fac, plane, ow, oh, y, x + 1, a1 - a2 - a3, bv, act);
  emit(out, res, fac, plane, ow, oh, y + 1, x, b0 + b1 + b2, bv, act);
  emit(out, res, fac, plane, ow, oh, y + 1, x + 1, b1 - b2 - b3, bv, act);
}

/** One output value: · factor, + bias, + residual, activation, store — if the tile's pixel exists (odd sizes). */
@inline export function emit(out: usize, res: usize, fac: usize, plane: usize, ow: i32, oh: i32, y: i32, x: i32, v: f32, bias: f32, act: i32): void {
  if (y >= oh || x >= ow) return;
  const pix = <usize>(y * ow + x);
  const i = (plane + pix) * 4;
  if (fac) v *= load<f32>(fac + pix * 4);
  store<f32>(out + i, finish1(v, bias, res ? load<f32>(res + i) : 0, act));
}
