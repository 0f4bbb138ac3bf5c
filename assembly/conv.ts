// Convolution as a blocked GEMM with implicit im2col, NCHW in and out:
//   out[b, g·og + m, p] = Σ_k W[g·og + m, k] · X̂[b, g][k, p]
// where k runs over (input channel, ky, kx) of group g and p over output pixels. Blocks of
// the virtual im2col matrix X̂ (KC rows × NC columns) are packed into per-thread scratch in
// panels of NR = 8 columns; a 4×8 register-blocked micro-kernel streams four weight rows
// (read in place: OIHW rows are already the GEMM's A rows) against a panel. Stride, padding
// and dilation are resolved while packing; groups index into X and W without copies. The
// epilogue (rectify factor, bias, residual, activation) runs on the last K block, before
// the store.

import { claim, partStart } from './tasks';
import { micro, finish1, NR, KC, NC } from './gemm';
import { winogradConv } from './winograd-conv';
import { fma, hsum } from './simd';
import { Conv2dArg } from '../src/backend/wasm/ids';
import { arg } from './args';

/** Scratch bytes a thread needs for a direct conv2d: one packed KC × NC input block, two 4 × 8 tiles and a row of 8 factors. */
export const DIRECT_SCRATCH: i32 = KC * NC * 4 + 2 * 4 * NR * 4 + NR * 4;

/**
 * Packs rows [k0, k0+kc) × columns [j0, j0+jn) of the virtual im2col matrix of one group
 * (x points at image 0's first input channel of the group; images are imgStride floats
 * apart) into panels of 8 columns: dst[panel][k][8], zero-filled past jn. Columns run over
 * (image, output pixel), so a block may hold the pixels of several small images.
 * Out-of-image taps (padding) are zeros. With stride 1, a panel whose eight pixels lie on
 * one output row and read inside the input row is two vector copies.
 */
function packIm2col(x: usize, imgStride: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  oh: i32, ow: i32, k0: i32, kc: i32, j0: i32, jn: i32, dst: usize): void {
  const taps = kh * kw;
  const panels = (jn + NR - 1) >> 3;
  const P = oh * ow;
  const b0 = j0 / P, q0 = j0 - b0 * P;
  const oy0 = q0 / ow, ox0 = q0 - oy0 * ow;
  const panelBytes = <usize>(kc * NR) * 4;
  const imgBytes = <usize>imgStride * 4;
  for (let kk = 0; kk < kc; kk++) {
    const r = k0 + kk;
    const ci = r / taps;
    const rem = r - ci * taps;
    const ky = rem / kw, kx = rem - ky * kw;
    let plane = x + <usize>(b0 * imgStride + ci * h * w) * 4;
    const yOff = ky * dh - ph, xOff = kx * dw - pw;
    let oy = oy0, ox = ox0;
    let d = dst + <usize>(kk * NR) * 4;
    for (let p = 0; p < panels; p++, d += panelBytes) {
      const iy = oy * sh + yOff;
      const ix = ox * sw + xOff;
      if (sw == 1 && ox + NR <= ow && <u32>iy < <u32>h && ix >= 0 && ix + NR <= w && (p + 1) * NR <= jn) {
        const src = plane + <usize>(iy * w + ix) * 4;
        v128.store(d, v128.load(src));
        v128.store(d, v128.load(src, 16), 16);
        ox += NR;
        if (ox == ow) {
          ox = 0;
          if (++oy == oh) { oy = 0; plane += imgBytes; }
        }
        continue;
      }
      for (let t = 0; t < NR; t++) {
        let v: f32 = 0;
        if (p * NR + t < jn) {
          const yy = oy * sh + yOff, xx = ox * sw + xOff;
          if (<u32>yy < <u32>h && <u32>xx < <u32>w) v = load<f32>(plane + <usize>(yy * w + xx) * 4);
          if (++ox == ow) {
            ox = 0;
            if (++oy == oh) { oy = 0; plane += imgBytes; }
          }
        }
        store<f32>(d + <usize>t * 4, v);
      }
    }
  }
}

/**
 * packIm2col for a 1×1, stride-1, unpadded conv: rows [k0, k0+kc) of the input planes
 * (P floats each, images imgStride floats apart), columns [j0, j0+jn) over (image, pixel).
 * Eight columns inside one image are two vector copies.
 */
function packPlanes(x: usize, imgStride: i32, P: i32, k0: i32, kc: i32, j0: i32, jn: i32, dst: usize): void {
  const panels = (jn + NR - 1) >> 3;
  const b0 = j0 / P, q0 = j0 - b0 * P;
  const panelBytes = <usize>(kc * NR) * 4;
  for (let kk = 0; kk < kc; kk++) {
    let row = x + <usize>(b0 * imgStride + (k0 + kk) * P) * 4;
    let q = q0;
    let d = dst + <usize>(kk * NR) * 4;
    for (let p = 0; p < panels; p++, d += panelBytes) {
      if (q + NR <= P && (p + 1) * NR <= jn) {
        const src = row + <usize>q * 4;
        v128.store(d, v128.load(src));
        v128.store(d, v128.load(src, 16), 16);
        q += NR;
        if (q == P) { q = 0; row += <usize>imgStride * 4; }
        continue;
      }
      for (let t = 0; t < NR; t++) {
        let v: f32 = 0;
        if (p * NR + t < jn) {
          v = load<f32>(row + <usize>q * 4);
          if (++q == P) { q = 0; row += <usize>imgStride * 4; }
        }
        store<f32>(d + <usize>t * 4, v);
      }
    }
  }
}

/**
 * Copies between rows × cols of an [n, o, P] tensor at (channel oc, column j over (image,
 * pixel)) and a dense tile (rows 32 bytes apart): toTile gathers, else scatters. Column
 * runs inside one image move four floats at a time.
 */
function tileCopy(t: usize, base: usize, o: i32, P: i32, oc: i32, j: i32, rows: i32, cols: i32, toTile: bool): void {
  let b = j / P, p = j - b * P;
  let q = 0;
  while (q < cols) {
    const run = min(P - p, cols - q);
    let at = base + <usize>((b * o + oc) * P + p) * 4;
    let ti = t + <usize>q * 4;
    for (let r = 0; r < rows; r++, at += <usize>P * 4, ti += <usize>NR * 4) {
      let e = 0;
      for (; e + 4 <= run; e += 4) {
        if (toTile) v128.store(ti + <usize>e * 4, v128.load(at + <usize>e * 4));
        else v128.store(at + <usize>e * 4, v128.load(ti + <usize>e * 4));
      }
      for (; e < run; e++) {
        if (toTile) store<f32>(ti + <usize>e * 4, load<f32>(at + <usize>e * 4));
        else store<f32>(at + <usize>e * 4, load<f32>(ti + <usize>e * 4));
      }
    }
    q += run;
    p = 0;
    b++;
  }
}

/** Output channels a task of gemv takes. */
const GEMV_ROWS: i32 = 16;

/**
 * A 1×1 conv on 1×1 maps for fewer images than a panel's columns (split attention's fc1 and
 * fc2 at batch 1): per image a matrix–vector product, each weight row one dot product along
 * its input channels (contiguous in both W and x). Through the GEMM, 7 of each panel's 8
 * columns would be padding. Tasks are (group, block of GEMV_ROWS output channels); images
 * innermost, so a block's rows are re-read from cache.
 */
function gemv(x: usize, wt: usize, bias: usize, res: usize, out: usize, fac: usize, n: i32, c: i32, o: i32, groups: i32,
  act: i32, args: usize, tid: i32, nth: i32): void {
  const cg = c / groups, og = o / groups;
  const blocks = (og + GEMV_ROWS - 1) / GEMV_ROWS;
  const total = groups * blocks;
  const k8 = cg & ~7;
  const f: f32 = fac ? load<f32>(fac) : 1;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const g = t / blocks, m0 = (t - g * blocks) * GEMV_ROWS;
    const m1 = min(og, m0 + GEMV_ROWS);
    for (let b = 0; b < n; b++) {
      const xv = x + <usize>(b * c + g * cg) * 4;
      for (let m = m0; m < m1; m++) {
        const oc = g * og + m;
        const wr = wt + <usize>(oc * cg) * 4;
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
        let k = 0;
        for (; k < k8; k += 8) {
          const o4 = <usize>k * 4;
          a0 = fma(v128.load(wr + o4), v128.load(xv + o4), a0);
          a1 = fma(v128.load(wr + o4, 16), v128.load(xv + o4, 16), a1);
        }
        let y = hsum(f32x4.add(a0, a1));
        for (; k < cg; k++) y += load<f32>(wr + <usize>k * 4) * load<f32>(xv + <usize>k * 4);
        const at = <usize>(b * o + oc) * 4;
        store<f32>(out + at, finish1(y * f, bias ? load<f32>(bias + <usize>oc * 4) : 0, res ? load<f32>(res + at) : 0, act));
      }
    }
  }
}

/** Argument slots: Conv2dArg (src/backend/wasm/ids.ts), written by the JS side's conv2d. */
export function conv2d(args: usize, tid: i32, nth: i32): void {
  if (arg(args, Conv2dArg.WinogradWeights) != 0 || arg(args, Conv2dArg.WinogradInTask) != 0) {
    winogradConv(args, tid, nth);
    return;
  }
  const x = <usize>arg(args, Conv2dArg.X), wt = <usize>arg(args, Conv2dArg.W), bias = <usize>arg(args, Conv2dArg.Bias);
  const res = <usize>arg(args, Conv2dArg.Residual), out = <usize>arg(args, Conv2dArg.Out);
  const n = arg(args, Conv2dArg.N), c = arg(args, Conv2dArg.C), h = arg(args, Conv2dArg.H), w = arg(args, Conv2dArg.Wd);
  const o = arg(args, Conv2dArg.O), kh = arg(args, Conv2dArg.Kh), kw = arg(args, Conv2dArg.Kw);
  const sh = arg(args, Conv2dArg.StrideH), sw = arg(args, Conv2dArg.StrideW), ph = arg(args, Conv2dArg.PadH), pw = arg(args, Conv2dArg.PadW);
  const dh = arg(args, Conv2dArg.DilH), dw = arg(args, Conv2dArg.DilW), groups = arg(args, Conv2dArg.Groups);
  const oh = arg(args, Conv2dArg.Oh), ow = arg(args, Conv2dArg.Ow), act = arg(args, Conv2dArg.Act);
  const scratch = <usize>arg(args, Conv2dArg.Scratch) + <usize>(tid * arg(args, Conv2dArg.ScratchStride));
  const tileC = scratch + <usize>(KC * NC) * 4, tileR = tileC + <usize>(4 * NR) * 4, tileF = tileR + <usize>(4 * NR) * 4;
  const fac = <usize>arg(args, Conv2dArg.Factor);

  const cg = c / groups, og = o / groups;
  const K = cg * kh * kw, P = oh * ow;
  const direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  if (direct && P == 1 && n < NR) {
    gemv(x, wt, bias, res, out, fac, n, c, o, groups, act, args, tid, nth);
    return;
  }
  // The GEMM's columns run over (image, pixel): the whole batch, so that small maps (deep
  // layers at training batch sizes) still fill whole panels and each weight row is streamed
  // once per column block rather than once per image. A panel whose columns straddle two
  // images goes through a 4 × 8 tile (gathered, computed, scattered).
  const J = n * P;
  // Column blocks of even widths (partStart: at most NC, multiples of NR but the last), so no
  // thread's segment of tasks gets a stub. With threads, big images are cut finer — to about
  // eight tasks a thread, blocks no narrower than NC/2 — because splitting columns costs
  // nothing (each block packs only its own), and more tasks even out the threads' finishing
  // times where one steals from another (tasks.ts).
  let nBlocks = (J + NC - 1) / NC;
  if (nth > 1) nBlocks = max(nBlocks, min((8 * nth + groups - 1) / groups, J / (NC / 2)));
  const panels = (og + 3) >> 2;
  // Enough tasks for every thread: split the output channels too when groups × column
  // blocks are few (deep layers: 7×7 pixels, 2048 channels).
  // Each split of the channels packs the same columns again, so split only when there would
  // be fewer than two tasks a thread; tasks are claimed dynamically, so an uneven count is fine.
  const base = groups * nBlocks;
  let mSplit = 1;
  while (mSplit < panels && base * mSplit < 2 * nth) mSplit++;
  const perSplit = (panels + mSplit - 1) / mSplit;
  const total = base * mSplit;
  const ldc = <usize>P * 4;
  const kBlocks = (K + KC - 1) / KC;
  const kStep = (K + kBlocks - 1) / kBlocks;
  const imgStride = c * h * w;

  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    // Column blocks outermost: a thread's segment of tasks covers a contiguous range of pixels
    // (tasks.ts), all groups and channels of them, as the next layer will read them.
    const ms = t % mSplit;
    const rest = t / mSplit;
    const g = rest % groups;
    const nb = rest / groups;
    const p0 = ms * perSplit;
    const p1 = min(panels, p0 + perSplit);
    if (p0 >= p1) continue;
    const j0 = partStart(nb, J, nBlocks, NR), jn = partStart(nb + 1, J, nBlocks, NR) - j0;
    if (jn <= 0) continue;
    const xg = x + <usize>(g * cg * h * w) * 4;
    for (let k0 = 0; k0 < K; k0 += kStep) {
      const kc = min(kStep, K - k0);
      if (direct) packPlanes(xg, imgStride, P, k0, kc, j0, jn, scratch);
      else packIm2col(xg, imgStride, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, k0, kc, j0, jn, scratch);
      const last = k0 + kc == K;
      for (let pn = p0; pn < p1; pn++) {
        const m0 = pn * 4;
        const rows = min(4, og - m0);
        const oc = g * og + m0;
        const a = wt + <usize>(oc * K + k0) * 4;
        const bRow = bias ? bias + <usize>oc * 4 : 0;
        let b = j0 / P, q = j0 - b * P;
        for (let jp = 0; jp < jn; jp += NR) {
          const cols = min(NR, jn - jp);
          const bp = scratch + <usize>(jp * kc) * 4;
          if (q + cols <= P) {
            const at = <usize>((b * o + oc) * P + q) * 4;
            micro(kc, a, <usize>K * 4, rows, bp, out + at, ldc, cols, k0 > 0, last, bRow, res ? res + at : 0, act,
              fac ? fac + <usize>q * 4 : 0);
          } else {
            const j = j0 + jp;
            if (k0 > 0) tileCopy(tileC, out, o, P, oc, j, rows, cols, true);
            if (last && res) tileCopy(tileR, res, o, P, oc, j, rows, cols, true);
            if (last && fac) {
              // The panel's pixels wrap from one image into the next: gather their factors.
              for (let t = 0, qq = q; t < cols; t++, qq = qq + 1 == P ? 0 : qq + 1) store<f32>(tileF + <usize>t * 4, load<f32>(fac + <usize>qq * 4));
            }
            micro(kc, a, <usize>K * 4, rows, bp, tileC, NR * 4, cols, k0 > 0, last, bRow, last && res ? tileR : 0, act,
              last && fac ? tileF : 0);
            tileCopy(tileC, out, o, P, oc, j, rows, cols, false);
          }
          q += cols;
          while (q >= P) { q -= P; b++; }
        }
      }
    }
  }
}
