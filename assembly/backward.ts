// Convolution gradients as GEMMs on the forward conv's micro-kernel (gemm.ts), per group g:
//   weight: dW_g [og × K] = Σ_b dY_{b,g} [og × P] · X̂_{b,g}ᵀ [P × K]
//   input:  dX_{b,g} = col2im(W_gᵀ [K × og] · dY_{b,g} [og × P])
// with K = (input channel, ky, kx) of the group and P the output pixels. For dW the A rows
// are dY's rows in place (contiguous over pixels) and B is X̂ᵀ packed in 8-column panels
// (im2col rows, then 4×4 transposes; a 1×1 stride-1 conv transposes the input planes
// directly). For dX the A rows are the transposed weights (Kernel.TransposeGroups, once per
// call) and B is dY packed like a 1×1 conv's input; the product goes through a per-thread
// column buffer that col2im adds into dX. The JS side uses this col2im kernel for strided
// convs only: with stride 1, dX is itself a convolution of dY — weights flipped and
// transposed (Kernel.FlipTransposeGroups), padding d·(k − 1) − p — and runs on the forward
// conv kernel, Winograd included, with no col2im. Likewise dW, where the forward takes
// Winograd, is Winograd's own weight gradient (winograd-grad.ts).
//
// Threads write disjoint outputs: dW tasks own (group, block of K columns, block of output
// channels) and loop over every image; dX tasks own (image, group, block of input channels). Block sizes along the
// reduction (pixels for dW, output channels for dX) never depend on the thread count, so
// results are the same on any number of threads.

import { claim } from './tasks';
import { micro, packRows, packTransposed, NR, KC, NC } from './gemm';
import { arg } from './args';
import { copyFloats } from './simd';
import { TransposeGroupsArg, FlipTransposeGroupsArg, ConvBackwardArg } from '../src/backend/wasm/ids';

/** Pixels per reduction block of dW (the micro-kernel's k); blocks are equal and no longer. */
const PC: i32 = 384;
/** K columns of dW packed at once. */
const KN: i32 = NC;
/** Rows of the dX column buffer, at most (blocks of whole 4-row panels). */
const CR: i32 = 512;
/** Columns (pixels) of a dX block. */
const CN: i32 = NC;

/** Scratch bytes a thread needs: dW packs an im2col block, its panels and four dY rows, dX a dY block and the column buffer. */
export const BACKWARD_SCRATCH: i32 = max(2 * KN * PC * 4 + 4 * PC * 4, KC * CN * 4 + CR * CN * 4);

/**
 * wt[g][k][m] = w[g·og + m][k]: each group's [og × K] weight transposed to [K × og]
 * (args: w, wt, o, groups, K), by transposeOneTap (a 1×1 kernel's K is its channels).
 */
export function transposeGroups(args: usize, tid: i32, nth: i32): void {
  const w = <usize>arg(args, TransposeGroupsArg.W), wt = <usize>arg(args, TransposeGroupsArg.Wt);
  const o = arg(args, TransposeGroupsArg.O), groups = arg(args, TransposeGroupsArg.Groups), K = arg(args, TransposeGroupsArg.K);
  transposeOneTap(w, wt, o / groups, K, groups, tid, nth);
}

/**
 * The weights of dX as a convolution over dY (stride-1 convs): per group, OIHW weights with
 * O and I swapped and the taps reversed, wf[g·cg + ci][m][t] = w[g·og + m][ci][taps − 1 − t]
 * (args: w, wf, o, groups, cg, taps). Tasks are blocks of four input channels (rows of wf)
 * split over threads: each w row's 4·taps floats for them are contiguous, read once. One tap
 * is a plain transpose (transposeOneTap).
 */
export function flipTransposeGroups(args: usize, tid: i32, nth: i32): void {
  const w = <usize>arg(args, FlipTransposeGroupsArg.W), wf = <usize>arg(args, FlipTransposeGroupsArg.Wt), o = arg(args, FlipTransposeGroupsArg.O);
  const groups = arg(args, FlipTransposeGroupsArg.Groups), cg = arg(args, FlipTransposeGroupsArg.Cg), taps = arg(args, FlipTransposeGroupsArg.Taps);
  const og = o / groups;
  if (taps == 1) {
    transposeOneTap(w, wf, og, cg, groups, tid, nth);
    return;
  }
  const cBlocks = (cg + 3) >> 2;
  for (let t = tid; t < groups * cBlocks; t += nth) {
    const g = t / cBlocks, c0 = (t - g * cBlocks) * 4, cn = min(4, cg - c0);
    const r0 = g * cg + c0;
    for (let m = 0; m < og; m++) {
      const src = w + <usize>(((g * og + m) * cg + c0) * taps) * 4;
      for (let cc = 0; cc < cn; cc++) {
        const s = src + <usize>(cc * taps) * 4, dst = wf + <usize>(((r0 + cc) * og + m) * taps) * 4;
        for (let k = 0; k < taps; k++) store<f32>(dst + <usize>k * 4, load<f32>(s + <usize>(taps - 1 - k) * 4));
      }
    }
  }
}

/**
 * wf[g·cg + c][m] = w[g·og + m][c]: each group's [og × cg] 1×1 weights transposed by 4×4
 * blocks. Tasks are blocks of 16 input channels, a cache line of each w row: with rows a page
 * or more apart (cg ≥ 1024), a task of 4 channels met each page again four tasks later, and
 * the transpose of a 1024 → 2048 conv took half its GEMM's time.
 */
function transposeOneTap(w: usize, wf: usize, og: i32, cg: i32, groups: i32, tid: i32, nth: i32): void {
  const cBlocks = (cg + 15) >> 4, st = <usize>cg * 4, ldd = <usize>og * 4;
  for (let t = tid; t < groups * cBlocks; t += nth) {
    const g = t / cBlocks, c0 = (t - g * cBlocks) * 16, cn = min(16, cg - c0), quads = cn >> 2;
    const src = w + <usize>(g * og * cg + c0) * 4, dst = wf + <usize>((g * cg + c0) * og) * 4;
    let m = 0;
    for (; m + 4 <= og; m += 4) {
      const p = src + <usize>m * st, q = dst + <usize>m * 4;
      for (let s = 0; s < quads; s++) {
        const ps = p + <usize>s * 16, qs = q + <usize>(s * 4) * ldd;
        const a = v128.load(ps), b = v128.load(ps + st), c = v128.load(ps + 2 * st), e = v128.load(ps + 3 * st);
        const u0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), u1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
        const u2 = v128.shuffle<f32>(c, e, 0, 4, 1, 5), u3 = v128.shuffle<f32>(c, e, 2, 6, 3, 7);
        v128.store(qs, v128.shuffle<f32>(u0, u2, 0, 1, 4, 5));
        v128.store(qs + ldd, v128.shuffle<f32>(u0, u2, 2, 3, 6, 7));
        v128.store(qs + 2 * ldd, v128.shuffle<f32>(u1, u3, 0, 1, 4, 5));
        v128.store(qs + 3 * ldd, v128.shuffle<f32>(u1, u3, 2, 3, 6, 7));
      }
    }
    // The channels past the last whole quad, for every m; then the rows past the last quad of m.
    for (let cc = quads * 4; cc < cn; cc++) {
      for (let mm = 0; mm < m; mm++) store<f32>(dst + <usize>(cc * og + mm) * 4, load<f32>(src + <usize>mm * st + <usize>cc * 4));
    }
    for (let mm = m; mm < og; mm++) {
      for (let cc = 0; cc < cn; cc++) store<f32>(dst + <usize>(cc * og + mm) * 4, load<f32>(src + <usize>mm * st + <usize>cc * 4));
    }
  }
}

// An im2col row's tap lies inside the input row for the output columns [firstInside,
// endInside): 0 ≤ ox·sw + xOff < w. im2colRows reads those columns and col2imAdd adds them back.
@inline function firstInside(xOff: i32, sw: i32): i32 {
  return xOff >= 0 ? 0 : (sw - 1 - xOff) / sw;
}
@inline function endInside(xOff: i32, sw: i32, w: i32): i32 {
  return w - xOff <= 0 ? 0 : (w - xOff + sw - 1) / sw;
}

/**
 * Rows [k0, k0+kn) × pixels [p0, p0+pn) of one image's group's im2col matrix, row-major into
 * dst (rows ld floats apart). Each output row's run of valid taps is a straight copy (stride
 * 1) or a strided gather; taps in the padding are zeros.
 */
function im2colRows(x: usize, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32,
  ow: i32, k0: i32, kn: i32, p0: i32, pn: i32, dst: usize, ld: i32): void {
  const taps = kh * kw;
  for (let kk = 0; kk < kn; kk++) {
    const r = k0 + kk;
    const ci = r / taps, rem = r - ci * taps;
    const ky = rem / kw, kx = rem - ky * kw;
    const plane = x + <usize>(ci * h * w) * 4;
    const yOff = ky * dh - ph, xOff = kx * dw - pw;
    const lo = firstInside(xOff, sw), hi = endInside(xOff, sw, w);
    let d = dst + <usize>(kk * ld) * 4;
    let oy = p0 / ow, ox = p0 - oy * ow;
    let p = 0;
    while (p < pn) {
      const run = min(ow - ox, pn - p);
      const iy = oy * sh + yOff;
      const a = <u32>iy < <u32>h ? min(max(lo, ox), ox + run) : ox + run;
      const b = <u32>iy < <u32>h ? max(min(hi, ox + run), a) : ox + run;
      // [ox, a) zeros, [a, b) taps, [b, ox + run) zeros.
      for (let q = ox; q < a; q++) store<f32>(d + <usize>(q - ox) * 4, 0);
      if (b > a) {
        const src = plane + <usize>(iy * w + xOff) * 4;
        let q = a;
        if (sw == 1) {
          for (; q + 4 <= b; q += 4) v128.store(d + <usize>(q - ox) * 4, v128.load(src + <usize>q * 4));
          for (; q < b; q++) store<f32>(d + <usize>(q - ox) * 4, load<f32>(src + <usize>q * 4));
        } else {
          for (; q < b; q++) store<f32>(d + <usize>(q - ox) * 4, load<f32>(src + <usize>(q * sw) * 4));
        }
      }
      for (let q = b; q < ox + run; q++) store<f32>(d + <usize>(q - ox) * 4, 0);
      d += <usize>run * 4;
      p += run;
      ox = 0;
      oy++;
    }
  }
}

/** Slots: x, dy, dw, n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow, scratch, scratch stride. */
export function conv2dBackwardWeight(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, ConvBackwardArg.A), dy = <usize>arg(args, ConvBackwardArg.B), dwt = <usize>arg(args, ConvBackwardArg.Out);
  const n = arg(args, ConvBackwardArg.N), c = arg(args, ConvBackwardArg.C), h = arg(args, ConvBackwardArg.H), w = arg(args, ConvBackwardArg.Wd);
  const o = arg(args, ConvBackwardArg.O), kh = arg(args, ConvBackwardArg.Kh), kw = arg(args, ConvBackwardArg.Kw);
  const sh = arg(args, ConvBackwardArg.StrideH), sw = arg(args, ConvBackwardArg.StrideW), ph = arg(args, ConvBackwardArg.PadH), pw = arg(args, ConvBackwardArg.PadW);
  const dh = arg(args, ConvBackwardArg.DilH), dw = arg(args, ConvBackwardArg.DilW), groups = arg(args, ConvBackwardArg.Groups);
  const oh = arg(args, ConvBackwardArg.Oh), ow = arg(args, ConvBackwardArg.Ow);
  const scratch = <usize>arg(args, ConvBackwardArg.Scratch) + <usize>(tid * arg(args, ConvBackwardArg.ScratchStride));
  const cg = c / groups, og = o / groups;
  const K = cg * kh * kw, P = oh * ow;
  const direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  // Blocks of K columns, equal widths (multiples of NR, at most KN). With threads, about four
  // tasks a thread: cut K into narrower blocks, or, where dY has more
  // rows than X̂ columns, the output channels into row blocks. A K block reads every dY row of
  // the batch; a row block packs every X̂ column (about twice the cost a float, as it is read
  // and written): so rows are cut when og > K / 2 (a 64→256 1×1 conv on 56² maps took longer
  // on two threads than on one with eight K blocks of eight columns, each reading all of dY).
  // Only for 1×1 stride-1 convs, whose X̂ is the input itself: an im2col column is gathered tap
  // by tap, and a strided stem (3 → 32, K = 27) packing all of it in every row block ran
  // slower on two threads than on one.
  let nBlocks = (K + KN - 1) / KN;
  const wanted = (4 * nth + groups - 1) / groups;
  const rowSplit = nth > 1 && 2 * og > K && direct;
  if (nth > 1 && !rowSplit) nBlocks = max(nBlocks, min(wanted, (K + NR - 1) / NR));
  const kb = min(KN, ((K + nBlocks - 1) / nBlocks + NR - 1) & ~(NR - 1));
  nBlocks = (K + kb - 1) / kb;
  const rowPanels = (og + 3) >> 2;
  const mSplit = rowSplit ? min(rowPanels, max(1, (wanted + nBlocks - 1) / nBlocks)) : 1;
  const perSplit = (rowPanels + mSplit - 1) / mSplit;
  // Reduction blocks: whole images when maps are small (several images' pixels in one block,
  // so the micro-kernel runs long k loops and updates dW once per block, not per image),
  // else equal pixel blocks within each image. None depends on the thread count.
  let perBlock = max(1, PC / max(P, 1));
  const iBlocks = (n + perBlock - 1) / perBlock;
  perBlock = (n + iBlocks - 1) / iBlocks;
  const pBlocks = perBlock > 1 ? 1 : (P + PC - 1) / PC;
  const pc = (P + pBlocks - 1) / pBlocks;
  const rowsBuf = scratch, panels = scratch + <usize>(KN * PC) * 4, aBuf = panels + <usize>(KN * PC) * 4;
  const total = groups * nBlocks * mSplit;
  const ldc = <usize>K * 4;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const ms = t % mSplit, rest = t / mSplit;
    const g = rest / nBlocks, k0 = (rest - g * nBlocks) * kb;
    const mLo = ms * perSplit * 4, mHi = min(og, mLo + perSplit * 4);
    if (mLo >= mHi) continue;
    const kn = min(kb, K - k0);
    const np = (kn + NR - 1) / NR;
    let first = true;
    for (let ib = 0; ib < iBlocks; ib++) {
      const b0 = ib * perBlock, nb = min(perBlock, n - b0);
      if (nb <= 0) break;
      for (let p0 = 0; p0 < P; p0 += pc) {
        const pn = min(pc, P - p0);
        const kc = nb * pn; // the reduction length of this block
        if (direct && nb == 1) {
          packTransposed(x + <usize>((b0 * c + g * cg + k0) * P + p0) * 4, <usize>P * 4, kn, pn, panels);
        } else {
          for (let i = 0; i < nb; i++) {
            const xg = x + <usize>(((b0 + i) * c + g * cg) * h * w) * 4;
            if (direct) {
              for (let kk = 0; kk < kn; kk++) copyFloats(rowsBuf + <usize>(kk * kc + i * pn) * 4, xg + <usize>((k0 + kk) * P + p0) * 4, pn);
            } else {
              im2colRows(xg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ow, k0, kn, p0, pn, rowsBuf + <usize>(i * pn) * 4, kc);
            }
          }
          packTransposed(rowsBuf, <usize>kc * 4, kn, kc, panels);
        }
        for (let m0 = mLo; m0 < mHi; m0 += 4) {
          const rows = min(4, mHi - m0);
          // A: dY's rows of this block, in place for one image, else gathered (rows kc floats apart).
          let a = dy + <usize>((b0 * o + g * og + m0) * P + p0) * 4;
          let lda = <usize>P * 4;
          if (nb > 1) {
            for (let r = 0; r < rows; r++) {
              for (let i = 0; i < nb; i++) {
                copyFloats(aBuf + <usize>(r * kc + i * pn) * 4, dy + <usize>(((b0 + i) * o + g * og + m0 + r) * P + p0) * 4, pn);
              }
            }
            a = aBuf;
            lda = <usize>kc * 4;
          }
          const cRow = dwt + <usize>((g * og + m0) * K + k0) * 4;
          for (let j = 0; j < np; j++) {
            micro(kc, a, lda, rows, panels + <usize>(j * kc * NR) * 4, cRow + <usize>(j * NR) * 4, ldc, min(NR, kn - j * NR),
              !first, false, 0, 0, 0);
          }
        }
        first = false;
      }
    }
  }
}

/**
 * dx += col2im of rows [r0, r0+rn) × pixels [j0, j0+jn) of the column buffer (rows ldb bytes
 * apart) for one image's group (dx at its first channel).
 */
function col2imAdd(col: usize, ldb: usize, dx: usize, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32,
  dh: i32, dw: i32, ow: i32, r0: i32, rn: i32, j0: i32, jn: i32): void {
  const taps = kh * kw;
  for (let rr = 0; rr < rn; rr++) {
    const r = r0 + rr;
    const ci = r / taps, rem = r - ci * taps;
    const ky = rem / kw, kx = rem - ky * kw;
    const plane = dx + <usize>(ci * h * w) * 4;
    const yOff = ky * dh - ph, xOff = kx * dw - pw;
    const lo = firstInside(xOff, sw), hi = endInside(xOff, sw, w);
    let s = col + <usize>rr * ldb;
    let oy = j0 / ow, ox = j0 - oy * ow;
    let p = 0;
    while (p < jn) {
      const run = min(ow - ox, jn - p);
      const iy = oy * sh + yOff;
      if (<u32>iy < <u32>h) {
        const a = min(max(lo, ox), ox + run), b = max(min(hi, ox + run), a);
        const dst = plane + <usize>(iy * w + xOff) * 4;
        const src = s - <usize>ox * 4;
        let q = a;
        if (sw == 1) {
          for (; q + 4 <= b; q += 4) {
            const at = dst + <usize>q * 4;
            v128.store(at, f32x4.add(v128.load(at), v128.load(src + <usize>q * 4)));
          }
          for (; q < b; q++) store<f32>(dst + <usize>q * 4, load<f32>(dst + <usize>q * 4) + load<f32>(src + <usize>q * 4));
        } else {
          for (; q < b; q++) {
            const at = dst + <usize>(q * sw) * 4;
            store<f32>(at, load<f32>(at) + load<f32>(src + <usize>q * 4));
          }
        }
      }
      s += <usize>run * 4;
      p += run;
      ox = 0;
      oy++;
    }
  }
}

/** Slots: dy, wt (from transposeGroups), dx, then the geometry as for the weight gradient, scratch, scratch stride. */
export function conv2dBackwardInput(args: usize, tid: i32, nth: i32): void {
  const dy = <usize>arg(args, ConvBackwardArg.A), wt = <usize>arg(args, ConvBackwardArg.B), dx = <usize>arg(args, ConvBackwardArg.Out);
  const n = arg(args, ConvBackwardArg.N), c = arg(args, ConvBackwardArg.C), h = arg(args, ConvBackwardArg.H), w = arg(args, ConvBackwardArg.Wd);
  const o = arg(args, ConvBackwardArg.O), kh = arg(args, ConvBackwardArg.Kh), kw = arg(args, ConvBackwardArg.Kw);
  const sh = arg(args, ConvBackwardArg.StrideH), sw = arg(args, ConvBackwardArg.StrideW), ph = arg(args, ConvBackwardArg.PadH), pw = arg(args, ConvBackwardArg.PadW);
  const dh = arg(args, ConvBackwardArg.DilH), dw = arg(args, ConvBackwardArg.DilW), groups = arg(args, ConvBackwardArg.Groups);
  const oh = arg(args, ConvBackwardArg.Oh), ow = arg(args, ConvBackwardArg.Ow);
  const scratch = <usize>arg(args, ConvBackwardArg.Scratch) + <usize>(tid * arg(args, ConvBackwardArg.ScratchStride));
  const cg = c / groups, og = o / groups, taps = kh * kw;
  const K = cg * taps, P = oh * ow;
  // Tasks own whole input channels: split each (image, group) into channel blocks when there
  // would be fewer than four tasks a thread (each block packs the same dY columns again).
  const base = n * groups;
  let split = 1;
  if (nth > 1) while (split < cg && base * split < 4 * nth) split++;
  const perSplit = (cg + split - 1) / split;
  const total = base * split;
  // Column blocks, output-channel (reduction) blocks and row chunks: equal sizes, no larger
  // than CN, KC and CR, none depending on the thread count.
  const cBlocks = (P + CN - 1) / CN;
  const cn = min(CN, ((P + cBlocks - 1) / cBlocks + NR - 1) & ~(NR - 1));
  const mBlocks = (og + KC - 1) / KC;
  const mStep = (og + mBlocks - 1) / mBlocks;
  const packed = scratch, col = scratch + <usize>(KC * CN) * 4;
  const ldb = <usize>cn * 4, lda = <usize>og * 4;
  const plane = h * w;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const cs = t % split, rest = t / split;
    const g = rest % groups, b = rest / groups;
    const c0 = cs * perSplit, c1 = min(cg, c0 + perSplit);
    if (c0 >= c1) continue;
    const dxg = dx + <usize>((b * c + g * cg) * plane) * 4;
    memory.fill(dxg + <usize>(c0 * plane) * 4, 0, <usize>((c1 - c0) * plane) * 4);
    const dyg = dy + <usize>((b * o + g * og) * P) * 4;
    const wtg = wt + <usize>(g * K * og) * 4;
    const rBegin = c0 * taps, rEnd = c1 * taps, R = rEnd - rBegin;
    const chunks = (R + CR - 1) / CR;
    const rc = min(CR, ((R + chunks - 1) / chunks + 3) & ~3);
    for (let j0 = 0; j0 < P; j0 += cn) {
      const jn = min(cn, P - j0);
      for (let r0 = rBegin; r0 < rEnd; r0 += rc) {
        const rn = min(rc, rEnd - r0);
        for (let m0 = 0; m0 < og; m0 += mStep) {
          const kc = min(mStep, og - m0);
          // One output-channel block is packed once per column block; more are packed per row chunk.
          if (mBlocks > 1 || r0 == rBegin) packRows(dyg, P, m0, kc, j0, jn, packed);
          for (let rr = 0; rr < rn; rr += 4) {
            const a = wtg + <usize>((r0 + rr) * og + m0) * 4;
            const rows = min(4, rn - rr);
            const cRow = col + <usize>rr * ldb;
            for (let jp = 0; jp < jn; jp += NR) {
              micro(kc, a, lda, rows, packed + <usize>(jp * kc) * 4, cRow + <usize>jp * 4, ldb, min(NR, jn - jp),
                m0 > 0, false, 0, 0, 0);
            }
          }
        }
        col2imAdd(col, ldb, dxg, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ow, r0, rn, j0, jn);
      }
    }
  }
}
