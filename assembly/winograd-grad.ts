// The weight gradient of a Winograd F(2×2, 3×3) convolution (stride 1, undilated 3×3). The
// forward pass is Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A per 2×2 output tile, linear in U = G g Gᵀ, so
//   ∂L/∂U[ξ][o][c] = Σ_tiles (A ∂Y Aᵀ)[ξ][o] · (Bᵀ d B)[ξ][c],   ∂L/∂g = Gᵀ (∂L/∂U) G:
// 16 GEMMs whose reduction runs over the batch's tiles, 16 multiply-adds per (o, c, tile)
// where the direct gradient (backward.ts) takes 36. The output tiles cover the map exactly
// (an odd map's last row or column of a tile reads dY as zero), so the sum is the gradient.
// Tasks own (group, chunk of output channels, segment of the tile blocks) and loop over their
// blocks in order; on large maps the blocks are cut into two segments (a choice of the JS side
// from the geometry alone), summed apart and added in a second phase. Each ∂L/∂U is summed in
// the same order whatever the chunks and threads. With slot F4 the tiles are F(4×4, 3×3)'s:
// 36 products a 4×4 tile (winograd4-grad.ts has its transforms), 2.25 multiply-adds an output
// pixel where F(2×2) takes 4.

import { claim } from './tasks';
import { micro, packTransposed, NR } from './gemm';
import { transformInput, planeBytes, tileX, tileY, TB, OC, TASK_U, WINOGRAD_SCRATCH } from './winograd';
import { transformInput4, WINOGRAD4_SCRATCH, TMP_BYTES } from './winograd4';
import { transformOutputGrad4, weightsFromU4 } from './winograd4-grad';
import { WinogradGradArg, WINOGRAD_PLANE_PAD } from '../src/backend/wasm/ids';
import { arg } from './args';

/** Floats of scratch F(4×4)'s weight gradient takes a thread (8 MB: see the chunks below). */
const F4_GRAD_FLOATS: i32 = 2 << 20;
/** Bytes of scratch the weight gradient needs a thread. */
export const WINOGRAD_GRAD_SCRATCH: i32 = F4_GRAD_FLOATS * 4;
/** Floats of a thread's scratch. */
const SCRATCH_FLOATS: i32 = max(max(WINOGRAD_SCRATCH, WINOGRAD4_SCRATCH), WINOGRAD_GRAD_SCRATCH) / 4;

/** Floats the weight gradient's scratch takes: V, D and ∂L/∂U (xis padded planes each), one packed ξ of V, the transforms' buffer. */
@inline function scratchFloats(xis: i32, cg: i32, chunk: i32, tbw: i32): i32 {
  return xis * (cg * tbw + chunk * tbw + chunk * cg + 3 * WINOGRAD_PLANE_PAD) + cg * tbw + TMP_BYTES / 4;
}

/** Slots: WinogradGradArg (src/backend/wasm/ids.ts). */
export function winogradWeightGrad(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, WinogradGradArg.X), dy = <usize>arg(args, WinogradGradArg.Dy), dw = <usize>arg(args, WinogradGradArg.Dw);
  const n = arg(args, WinogradGradArg.N), c = arg(args, WinogradGradArg.C), h = arg(args, WinogradGradArg.H), w = arg(args, WinogradGradArg.Wd);
  const o = arg(args, WinogradGradArg.O), ph = arg(args, WinogradGradArg.PadH), pw = arg(args, WinogradGradArg.PadW);
  const groups = arg(args, WinogradGradArg.Groups), oh = arg(args, WinogradGradArg.Oh), ow = arg(args, WinogradGradArg.Ow);
  const scratch = <usize>arg(args, WinogradGradArg.Scratch) + <usize>(tid * arg(args, WinogradGradArg.ScratchStride));
  const partials = <usize>arg(args, WinogradGradArg.Partials), segments = arg(args, WinogradGradArg.Segments);
  const cg = c / groups, og = o / groups;
  const f4 = arg(args, WinogradGradArg.F4) != 0, xis = f4 ? 36 : 16;
  if (arg(args, WinogradGradArg.Phase) == 1) {
    addSegments(partials, segments, groups, og, cg, dw, scratch, args, tid, nth, f4);
    return;
  }
  const tilesX = f4 ? (ow + 3) >> 2 : (ow + 1) >> 1, T = (f4 ? (oh + 3) >> 2 : (oh + 1) >> 1) * tilesX, TT = n * T;
  // Chunks of output channels: ∂L/∂U of a chunk (16 · chunk · cg floats) fits the task's
  // region. Tile blocks as long as the scratch holds at that chunk (up to 256 tiles: the
  // GEMMs' reduction, which short blocks cut into short micro-kernel calls); both depend on
  // the geometry only, so each sum runs in the same order on any number of threads.
  let chunk: i32, tbw: i32;
  if (f4) {
    // F(4×4)'s ∂L/∂U is 36 planes, and each chunk transforms the input again: blocks of 64
    // tiles (fewer on small batches), and chunks as large as the scratch then holds (a
    // 512 → 1024 g2 conv on 4×4 maps took 1.6× its forward with the chunks of F(2×2)'s rule).
    tbw = 64;
    while (tbw > 8 && (tbw >> 1) >= TT) tbw >>= 1;
    const fixed = scratchFloats(xis, cg, 0, tbw);
    chunk = min(((SCRATCH_FLOATS - fixed) / (xis * (tbw + cg))) & ~3, (og + 3) & ~3);
  } else {
    chunk = min(min(OC, ((TASK_U / xis - WINOGRAD_PLANE_PAD) / cg) & ~3), (og + 3) & ~3);
    tbw = 256;
    while (tbw > TB && scratchFloats(xis, cg, chunk, tbw) > SCRATCH_FLOATS) tbw >>= 1;
  }
  const tBlocks = (TT + tbw - 1) / tbw;
  // With threads, smaller chunks until there are two tasks a thread (each chunk transforms
  // the input again); four for F(4×4), whose larger chunks left one thread waiting most of a
  // task for the other (256 → 512 g2 on 28², 8 images: 14 ms of 62).
  const perThread = f4 ? 4 : 2;
  while (nth > 1 && chunk > 16 && groups * segments * ((og + chunk - 1) / chunk) < perThread * nth) chunk = max(16, (chunk >> 1) & ~3);
  const chunks = (og + chunk - 1) / chunk;
  const total = groups * chunks * segments;
  // Scratch: V[ξ][c][t] (rows tbw long), D[ξ][o][t], ∂L/∂U[ξ][o][c], one ξ's V packed.
  const vXi = planeBytes(cg * tbw), dXi = planeBytes(chunk * tbw), uXi = planeBytes(chunk * cg);
  const v = scratch, d = v + xis * vXi, du = d + xis * dXi, packed = du + xis * uXi, tmp = packed + <usize>(cg * tbw) * 4;
  const imgStride = c * h * w, P = oh * ow, ld = <usize>tbw * 4, ldu = <usize>cg * 4;
  for (let task = claim(args, tid, nth, total); task < total; task = claim(args, tid, nth, total, task)) {
    const seg = task % segments, rest = task / segments;
    const g = rest / chunks, o0 = (rest - g * chunks) * chunk, on = min(chunk, og - o0);
    const xg = x + <usize>(g * cg * h * w) * 4;
    const b0 = seg * tBlocks / segments, b1 = (seg + 1) * tBlocks / segments;
    for (let tb = b0; tb < b1; tb++) {
      const t0 = tb * tbw, tn = min(tbw, TT - t0);
      if (f4) {
        transformInput4(xg, imgStride, T, cg, h, w, ph, pw, tilesX, t0, tn, v, vXi, tmp, tbw);
        transformOutputGrad4(dy, o, P, oh, ow, T, tilesX, g * og + o0, on, t0, tn, d, dXi, ld, tmp);
      } else {
        transformInput(xg, imgStride, T, cg, h, w, ph, pw, tilesX, t0, tn, v, vXi, tbw);
        transformOutputGrad(dy, o, P, oh, ow, T, tilesX, g * og + o0, on, t0, tn, d, dXi, ld);
      }
      for (let xi = 0; xi < xis; xi++) {
        packTransposed(v + <usize>xi * vXi, ld, cg, tn, packed);
        const dRows = d + <usize>xi * dXi, uRows = du + <usize>xi * uXi;
        for (let r = 0; r < on; r += 4) {
          for (let p = 0; p < cg; p += NR) {
            micro(tn, dRows + <usize>r * ld, ld, min(4, on - r), packed + <usize>(p * tn) * 4, uRows + <usize>(r * cg + p) * 4, ldu,
              min(NR, cg - p), tb > b0, false, 0, 0, 0);
          }
        }
      }
    }
    if (segments == 1) {
      for (let r = 0; r < on; r++) {
        const u = du + <usize>(r * cg) * 4, k = dw + <usize>(((g * og + o0 + r) * cg) * 9) * 4;
        if (f4) weightsFromU4(u, uXi, cg, k, tmp);
        else weightsFromU(u, uXi, cg, k);
      }
    } else {
      // This segment's sums, into its part of the partials: [segment][group][ξ][og][cg].
      const part = partials + <usize>((seg * groups + g) * xis * og * cg) * 4;
      for (let xi = 0; xi < xis; xi++) {
        memory.copy(part + <usize>((xi * og + o0) * cg) * 4, du + <usize>xi * uXi, <usize>(on * cg) * 4);
      }
    }
  }
}

/** Phase 1: per output channel, ∂L/∂U as the segments' sums added in order, then dw = Gᵀ (∂L/∂U) G. */
function addSegments(partials: usize, segments: i32, groups: i32, og: i32, cg: i32, dw: usize, scratch: usize, args: usize, tid: i32, nth: i32,
  f4: bool): void {
  const xis = f4 ? 36 : 16;
  const total = groups * og, plane = <usize>(og * cg) * 4, block = <usize>xis * plane;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const g = t / og, oo = t - g * og;
    const first = partials + <usize>g * block + <usize>(oo * cg) * 4;
    for (let xi = 0; xi < xis; xi++) {
      const dst = scratch + <usize>(xi * cg) * 4;
      memory.copy(dst, first + <usize>xi * plane, <usize>cg * 4);
      for (let s = 1; s < segments; s++) {
        const src = first + <usize>(s * groups) * block + <usize>xi * plane;
        let k = 0;
        for (; k + 4 <= cg; k += 4) v128.store(dst + <usize>k * 4, f32x4.add(v128.load(dst + <usize>k * 4), v128.load(src + <usize>k * 4)));
        for (; k < cg; k++) store<f32>(dst + <usize>k * 4, load<f32>(dst + <usize>k * 4) + load<f32>(src + <usize>k * 4));
      }
    }
    if (f4) weightsFromU4(scratch, <usize>cg * 4, cg, dw + <usize>(t * cg * 9) * 4, scratch + <usize>(xis * cg) * 4);
    else weightsFromU(scratch, <usize>cg * 4, cg, dw + <usize>(t * cg * 9) * 4);
  }
}

/**
 * D[ξ][r][j] = (A ∂Y_t Aᵀ)[ξ] for output channels oc0 + r (r < on) and tiles t0 + j (j < tn)
 * of the batch: rows ld bytes apart, ξ planes xiStride bytes apart. Four neighbouring tiles of
 * one tile row whose 2×2 blocks lie inside the map go as one vector per entry; the rest one by
 * one, reading dY as zero past the map's edge.
 */
function transformOutputGrad(dy: usize, o: i32, P: i32, oh: i32, ow: i32, T: i32, tilesX: i32, oc0: i32, on: i32, t0: i32, tn: i32,
  dst: usize, xiStride: usize, ld: usize): void {
  const rowBytes = <usize>ow * 4;
  let j = 0;
  while (j < tn) {
    const tg = t0 + j;
    const b = tg / T, y = tileY(T, tilesX, tg), x = tileX(T, tilesX, tg);
    if (j + 4 <= tn && x + 8 <= ow && y + 2 <= oh) {
      let p = dy + <usize>((b * o + oc0) * P + y * ow + x) * 4;
      let q = dst + <usize>j * 4;
      for (let r = 0; r < on; r++, p += <usize>P * 4, q += ld) {
        const a0 = v128.load(p), a1 = v128.load(p, 16), b0 = v128.load(p + rowBytes), b1 = v128.load(p + rowBytes, 16);
        tileGrad(q, xiStride, v128.shuffle<f32>(a0, a1, 0, 2, 4, 6), v128.shuffle<f32>(a0, a1, 1, 3, 5, 7),
          v128.shuffle<f32>(b0, b1, 0, 2, 4, 6), v128.shuffle<f32>(b0, b1, 1, 3, 5, 7));
      }
      j += 4;
      continue;
    }
    let p = dy + <usize>((b * o + oc0) * P) * 4;
    let q = dst + <usize>j * 4;
    for (let r = 0; r < on; r++, p += <usize>P * 4, q += ld) {
      tileGrad1(q, xiStride, at(p, oh, ow, y, x), at(p, oh, ow, y, x + 1), at(p, oh, ow, y + 1, x), at(p, oh, ow, y + 1, x + 1));
    }
    j++;
  }
}

@inline function at(plane: usize, oh: i32, ow: i32, y: i32, x: i32): f32 {
  return y < oh && x < ow ? load<f32>(plane + <usize>(y * ow + x) * 4) : 0;
}

/**
 * A Δ Aᵀ of 2×2 blocks Δ (entries e_yx, one tile per lane), stored at ξ = 0 … 15. With Aᵀ's
 * rows (1, 1, 1, 0) and (0, 1, −1, −1), A Δ's rows are Δ0, Δ0 + Δ1, Δ0 − Δ1, −Δ1, and each
 * row (u0, u1) becomes u0, u0 + u1, u0 − u1, −u1.
 */
@inline function tileGrad(q: usize, xi: usize, e00: v128, e01: v128, e10: v128, e11: v128): void {
  rowA(q, xi, 0, e00, e01);
  rowA(q, xi, 4, f32x4.add(e00, e10), f32x4.add(e01, e11));
  rowA(q, xi, 8, f32x4.sub(e00, e10), f32x4.sub(e01, e11));
  rowA(q, xi, 12, f32x4.neg(e10), f32x4.neg(e11));
}

@inline function rowA(q: usize, xi: usize, first: i32, u0: v128, u1: v128): void {
  v128.store(q + <usize>first * xi, u0);
  v128.store(q + <usize>(first + 1) * xi, f32x4.add(u0, u1));
  v128.store(q + <usize>(first + 2) * xi, f32x4.sub(u0, u1));
  v128.store(q + <usize>(first + 3) * xi, f32x4.neg(u1));
}

/** tileGrad of one tile. */
@inline function tileGrad1(q: usize, xi: usize, e00: f32, e01: f32, e10: f32, e11: f32): void {
  rowA1(q, xi, 0, e00, e01);
  rowA1(q, xi, 4, e00 + e10, e01 + e11);
  rowA1(q, xi, 8, e00 - e10, e01 - e11);
  rowA1(q, xi, 12, -e10, -e11);
}

@inline function rowA1(q: usize, xi: usize, first: i32, u0: f32, u1: f32): void {
  store<f32>(q + <usize>first * xi, u0);
  store<f32>(q + <usize>(first + 1) * xi, u0 + u1);
  store<f32>(q + <usize>(first + 2) * xi, u0 - u1);
  store<f32>(q + <usize>(first + 3) * xi, -u1);
}

/**
 * dw[c][3×3] = Gᵀ M_c G for the cg 4×4 matrices M_c[ξ] = u[ξ][c] (ξ planes xiStride bytes
 * apart). With G's rows (1, 0, 0), (½, ½, ½), (½, −½, ½), (0, 0, 1), Gᵀ M's rows are
 * m0 + (m1 + m2)/2, (m1 − m2)/2, (m1 + m2)/2 + m3, and the columns are combined the same way.
 * Four input channels a step, one per lane; past cg the lanes read what follows a row (the
 * next row, or a plane's padding) and are not stored.
 */
function weightsFromU(u: usize, xiStride: usize, cg: i32, dw: usize): void {
  const half = f32x4.splat(0.5);
  for (let c = 0; c < cg; c += 4) {
    const p = u + <usize>c * 4, lanes = min(4, cg - c);
    // Gᵀ M: three rows of four columns.
    const r00 = gRow0(p, xiStride, 0, half), r01 = gRow0(p, xiStride, 1, half), r02 = gRow0(p, xiStride, 2, half), r03 = gRow0(p, xiStride, 3, half);
    const r10 = gRow1(p, xiStride, 0, half), r11 = gRow1(p, xiStride, 1, half), r12 = gRow1(p, xiStride, 2, half), r13 = gRow1(p, xiStride, 3, half);
    const r20 = gRow2(p, xiStride, 0, half), r21 = gRow2(p, xiStride, 1, half), r22 = gRow2(p, xiStride, 2, half), r23 = gRow2(p, xiStride, 3, half);
    const out = dw + <usize>(c * 9) * 4;
    storeTaps(out, 0, r00, r01, r02, r03, half, lanes);
    storeTaps(out, 3, r10, r11, r12, r13, half, lanes);
    storeTaps(out, 6, r20, r21, r22, r23, half, lanes);
  }
}

@inline function mv(p: usize, xiStride: usize, xi: i32): v128 {
  return v128.load(p + <usize>xi * xiStride);
}

/** Column k of Gᵀ M's rows 0, 1, 2 (vectors over four channels). */
@inline function gRow0(p: usize, xs: usize, k: i32, half: v128): v128 {
  return f32x4.add(mv(p, xs, k), f32x4.mul(f32x4.add(mv(p, xs, 4 + k), mv(p, xs, 8 + k)), half));
}
@inline function gRow1(p: usize, xs: usize, k: i32, half: v128): v128 {
  return f32x4.mul(f32x4.sub(mv(p, xs, 4 + k), mv(p, xs, 8 + k)), half);
}
@inline function gRow2(p: usize, xs: usize, k: i32, half: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.add(mv(p, xs, 4 + k), mv(p, xs, 8 + k)), half), mv(p, xs, 12 + k));
}

/** Row i of the first `lanes` channels' 3×3 gradients from (Gᵀ M)'s row x0 … x3: x0 + (x1 + x2)/2, (x1 − x2)/2, (x1 + x2)/2 + x3, at tap 3i of each channel (9 floats apart). */
@inline function storeTaps(out: usize, tap: i32, x0: v128, x1: v128, x2: v128, x3: v128, half: v128, lanes: i32): void {
  const s = f32x4.mul(f32x4.add(x1, x2), half);
  storeKernelRow(out + <usize>tap * 4, f32x4.add(x0, s), f32x4.mul(f32x4.sub(x1, x2), half), f32x4.add(s, x3), lanes);
}

/** Taps t0, t1, t2 of a kernel row for the first `lanes` channels (one per lane; kernels 9 floats apart). */
@inline export function storeKernelRow(q: usize, t0: v128, t1: v128, t2: v128, lanes: i32): void {
  store<f32>(q, f32x4.extract_lane(t0, 0)); store<f32>(q, f32x4.extract_lane(t1, 0), 4); store<f32>(q, f32x4.extract_lane(t2, 0), 8);
  if (lanes > 1) { store<f32>(q, f32x4.extract_lane(t0, 1), 36); store<f32>(q, f32x4.extract_lane(t1, 1), 40); store<f32>(q, f32x4.extract_lane(t2, 1), 44); }
  if (lanes > 2) { store<f32>(q, f32x4.extract_lane(t0, 2), 72); store<f32>(q, f32x4.extract_lane(t1, 2), 76); store<f32>(q, f32x4.extract_lane(t2, 2), 80); }
  if (lanes > 3) { store<f32>(q, f32x4.extract_lane(t0, 3), 108); store<f32>(q, f32x4.extract_lane(t1, 3), 112); store<f32>(q, f32x4.extract_lane(t2, 3), 116); }
}
