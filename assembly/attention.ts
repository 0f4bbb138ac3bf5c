// Split attention's reductions, r-softmax, softmax, inference batch norm, linear, strided copies.
// Work is split across threads by independent rows.

import { exp4, lo64, hi64, fma, relu4, sigmoid4, sigmoidf, hsum, loadPartial, rowMax, expSum, copyFloats } from './simd';
import { Act, UnaryCode, BinaryCode, RadixGapArg, RadixAttendArg, RSoftmaxArg, SoftmaxArg, BatchNormArg, LinearArg, UnaryArg, BinaryArg, StridedCopyArg } from '../src/backend/wasm/ids';
import { rowSum } from './pool';
import { claim, partStart, planesPerTask, channelBlock, CHANNEL_BLOCK_FLOATS, PIXEL_SPLIT_MIN } from './tasks';
import { micro, packTransposed, NR, KC, NC } from './gemm';
import { arg, argf } from './args';

/** gap[b, j] = mean over hw of Σ_r x[b, r·c + j]. */
export function radixGap(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, RadixGapArg.X), out = <usize>arg(args, RadixGapArg.Out);
  const batch = arg(args, RadixGapArg.Batch), radix = arg(args, RadixGapArg.Radix), c = arg(args, RadixGapArg.C), hw = arg(args, RadixGapArg.Hw);
  // Contiguous channels a thread (tasks.ts), as the convs on small maps split them.
  const total = batch * c;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const b = t / c, j = t - b * c;
    let s: f32 = 0;
    for (let r = 0; r < radix; r++) s += rowSum(x + <usize>(((b * radix + r) * c + j) * hw) * 4, hw);
    store<f32>(out + <usize>t * 4, s / <f32>hw);
  }
}

/**
 * out[b, j, :] = Σ_r atten[b, r·c + j] · x[b, r·c + j, :]. On large maps (PIXEL_SPLIT_MIN),
 * with threads, tasks are (image, pixel range) over every channel, so that a thread reads the
 * pixels the conv before wrote on its core and writes those the conv after reads there
 * (tasks.ts); smaller maps, whose convs split channels, split channels too.
 */
export function radixAttend(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, RadixAttendArg.X), att = <usize>arg(args, RadixAttendArg.Atten), out = <usize>arg(args, RadixAttendArg.Out);
  const batch = arg(args, RadixAttendArg.Batch), radix = arg(args, RadixAttendArg.Radix), c = arg(args, RadixAttendArg.C), hw = arg(args, RadixAttendArg.Hw);
  if (nth > 1 && hw >= PIXEL_SPLIT_MIN) {
    const ranges = max(1, min((4 * nth + batch - 1) / batch, hw >> 6));
    const total = batch * ranges;
    for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
      const b = t / ranges, r = t - b * ranges;
      const i0 = partStart(r, hw, ranges, 4), i1 = partStart(r + 1, hw, ranges, 4);
      for (let j = 0; j < c; j++) attendRow(x, att, out, b, j, radix, c, hw, i0, i1);
    }
    return;
  }
  // Smaller maps: contiguous channels a thread.
  const total = batch * c;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const b = t / c;
    attendRow(x, att, out, b, t - b * c, radix, c, hw, 0, hw);
  }
}

/** radixAttend's pixels [i0, i1) of output channel j of image b. */
@inline function attendRow(x: usize, att: usize, out: usize, b: i32, j: i32, radix: i32, c: i32, hw: i32, i0: i32, i1: i32): void {
  const o = out + <usize>((b * c + j) * hw) * 4;
  for (let r = 0; r < radix; r++) {
    const ch = (b * radix + r) * c + j;
    const a = load<f32>(att + <usize>ch * 4);
    const av = f32x4.splat(a);
    const src = x + <usize>(ch * hw) * 4;
    let i = i0;
    for (; i + 4 <= i1; i += 4) {
      const v = f32x4.mul(av, v128.load(src + <usize>i * 4));
      v128.store(o + <usize>i * 4, r == 0 ? v : f32x4.add(v128.load(o + <usize>i * 4), v));
    }
    for (; i < i1; i++) {
      const v = a * load<f32>(src + <usize>i * 4);
      store<f32>(o + <usize>i * 4, r == 0 ? v : load<f32>(o + <usize>i * 4) + v);
    }
  }
}

/** [batch, card, radix, rest] → softmax over radix, written [batch, radix, card, rest]; four of `rest` at a time. */
export function rSoftmax(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, RSoftmaxArg.X), out = <usize>arg(args, RSoftmaxArg.Out);
  const batch = arg(args, RSoftmaxArg.Batch), card = arg(args, RSoftmaxArg.Card), radix = arg(args, RSoftmaxArg.Radix), rest = arg(args, RSoftmaxArg.Rest);
  for (let t = tid; t < batch * card; t += nth) {
    const b = t / card, k = t - b * card;
    // Row r of this (b, k) block: source rows are rest apart, destination rows card·rest apart.
    const src0 = x + <usize>((b * card + k) * radix * rest) * 4, srcStep = <usize>rest * 4;
    const dst0 = out + <usize>((b * radix * card + k) * rest) * 4, dstStep = <usize>(card * rest) * 4;
    let i = 0;
    for (; i + 4 <= rest; i += 4) {
      let m = f32x4.splat(-Infinity);
      for (let r = 0; r < radix; r++) m = f32x4.max(m, v128.load(src0 + <usize>r * srcStep + <usize>i * 4));
      let s = f32x4.splat(0);
      for (let r = 0; r < radix; r++) {
        const e = exp4(f32x4.sub(v128.load(src0 + <usize>r * srcStep + <usize>i * 4), m));
        v128.store(dst0 + <usize>r * dstStep + <usize>i * 4, e);
        s = f32x4.add(s, e);
      }
      for (let r = 0; r < radix; r++) v128.store(dst0 + <usize>r * dstStep + <usize>i * 4, f32x4.div(v128.load(dst0 + <usize>r * dstStep + <usize>i * 4), s));
    }
    for (; i < rest; i++) {
      let m: f32 = -Infinity;
      for (let r = 0; r < radix; r++) m = max(m, load<f32>(src0 + <usize>r * srcStep + <usize>i * 4));
      let s: f32 = 0;
      for (let r = 0; r < radix; r++) {
        const e = Mathf.exp(load<f32>(src0 + <usize>r * srcStep + <usize>i * 4) - m);
        store<f32>(dst0 + <usize>r * dstStep + <usize>i * 4, e);
        s += e;
      }
      for (let r = 0; r < radix; r++) store<f32>(dst0 + <usize>r * dstStep + <usize>i * 4, load<f32>(dst0 + <usize>r * dstStep + <usize>i * 4) / s);
    }
  }
}

/**
 * Softmax over the middle axis of [outer, dim, inner]: four `inner` positions at a time, or
 * (inner = 1, as for class logits) four of `dim` at a time with lane reductions.
 */
export function softmax(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, SoftmaxArg.X), out = <usize>arg(args, SoftmaxArg.Out);
  const outer = arg(args, SoftmaxArg.Outer), dim = arg(args, SoftmaxArg.Dim), inner = arg(args, SoftmaxArg.Inner);
  if (inner == 1) {
    for (let o = tid; o < outer; o += nth) {
      const px = x + <usize>(o * dim) * 4, po = out + <usize>(o * dim) * 4;
      const s = <f32>expSum(px, rowMax(px, dim), dim, po);
      const inv = f32x4.splat(s);
      let d = 0;
      for (; d + 4 <= dim; d += 4) v128.store(po + <usize>d * 4, f32x4.div(v128.load(po + <usize>d * 4), inv));
      for (; d < dim; d++) store<f32>(po + <usize>d * 4, load<f32>(po + <usize>d * 4) / s);
    }
    return;
  }
  const groups = (inner + 3) >> 2;
  for (let t = tid; t < outer * groups; t += nth) {
    const o = t / groups, i = (t - o * groups) * 4;
    const lanes = min(4, inner - i);
    const b = o * dim * inner + i;
    const step = <usize>inner * 4;
    if (lanes == 4) {
      let m = f32x4.splat(-Infinity);
      for (let d = 0; d < dim; d++) m = f32x4.max(m, v128.load(x + <usize>b * 4 + <usize>d * step));
      let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
      for (let d = 0; d < dim; d++) {
        const e = exp4(f32x4.sub(v128.load(x + <usize>b * 4 + <usize>d * step), m));
        v128.store(out + <usize>b * 4 + <usize>d * step, e);
        s0 = f64x2.add(s0, lo64(e));
        s1 = f64x2.add(s1, hi64(e));
      }
      const s = v128.shuffle<f32>(f32x4.demote_f64x2_zero(s0), f32x4.demote_f64x2_zero(s1), 0, 1, 4, 5);
      for (let d = 0; d < dim; d++) v128.store(out + <usize>b * 4 + <usize>d * step, f32x4.div(v128.load(out + <usize>b * 4 + <usize>d * step), s));
      continue;
    }
    for (let l = 0; l < lanes; l++) {
      let m: f32 = -Infinity;
      for (let d = 0; d < dim; d++) m = max(m, load<f32>(x + <usize>b * 4 + <usize>d * step + <usize>l * 4));
      let s64: f64 = 0;
      for (let d = 0; d < dim; d++) {
        const e = Mathf.exp(load<f32>(x + <usize>b * 4 + <usize>d * step + <usize>l * 4) - m);
        store<f32>(out + <usize>b * 4 + <usize>d * step + <usize>l * 4, e);
        s64 += <f64>e;
      }
      const s = <f32>s64;
      for (let d = 0; d < dim; d++) store<f32>(out + <usize>b * 4 + <usize>d * step + <usize>l * 4, load<f32>(out + <usize>b * 4 + <usize>d * step + <usize>l * 4) / s);
    }
  }
}

/** y = (x − mean) · (γ / √(var + ε)) + β per channel of [n, c, hw], then act. */
export function batchNorm(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, BatchNormArg.X), wt = <usize>arg(args, BatchNormArg.Weight), bs = <usize>arg(args, BatchNormArg.Bias);
  const mean = <usize>arg(args, BatchNormArg.Mean), vr = <usize>arg(args, BatchNormArg.Variance), out = <usize>arg(args, BatchNormArg.Out);
  const n = arg(args, BatchNormArg.N), c = arg(args, BatchNormArg.C), hw = arg(args, BatchNormArg.Hw), act = arg(args, BatchNormArg.Act);
  const eps = argf(args, BatchNormArg.Eps);
  if (hw < SMALL_MAP) {
    // Small maps: a plane is a few floats, and its channel's scale (a square root and a
    // division) cost more than normalizing it. Tasks are blocks of channels instead, each
    // scale made once into scratch, then the block swept image by image (its planes lie side
    // by side in each image).
    const scratch = <usize>arg(args, BatchNormArg.Scratch) + <usize>(tid * arg(args, BatchNormArg.ScratchStride));
    const cb = channelBlock(hw, c), cBlocks = (c + cb - 1) / cb;
    for (let t = claim(args, tid, nth, cBlocks); t < cBlocks; t = claim(args, tid, nth, cBlocks, t)) {
      const j0 = t * cb, j1 = min(c, j0 + cb);
      for (let j = j0; j < j1; j++) store<f32>(scratch + <usize>(j - j0) * 4, channelScale(wt, vr, eps, j));
      for (let b = 0; b < n; b++) {
        let j = j0;
        // 1×1 maps (split attention's and the last layer's at training batch sizes): a plane
        // is one float, so four channels make a vector.
        if (hw == 1) {
          for (; j + 4 <= j1; j += 4) {
            const at = <usize>(b * c + j) * 4;
            let y = f32x4.sub(v128.load(x + at), v128.load(mean + <usize>j * 4));
            y = f32x4.add(f32x4.mul(y, v128.load(scratch + <usize>(j - j0) * 4)), v128.load(bs + <usize>j * 4));
            if (act == Act.Relu) y = relu4(y);
            else if (act == Act.Sigmoid) y = sigmoid4(y);
            v128.store(out + at, y);
          }
        }
        for (; j < j1; j++) {
          const at = <usize>((b * c + j) * hw) * 4;
          normalizePlane(x + at, out + at, hw, load<f32>(mean + <usize>j * 4), load<f32>(scratch + <usize>(j - j0) * 4), load<f32>(bs + <usize>j * 4), act);
        }
      }
    }
    return;
  }
  // Tasks: runs of planes (tasks.ts), as long as a channel block.
  const per = planesPerTask(hw, CHANNEL_BLOCK_FLOATS), planes = n * c, blocks = (planes + per - 1) / per;
  for (let b = claim(args, tid, nth, blocks); b < blocks; b = claim(args, tid, nth, blocks, b)) {
    for (let t = b * per, t1 = min(planes, t + per); t < t1; t++) {
      const ch = t % c;
      normalizePlane(x + <usize>(t * hw) * 4, out + <usize>(t * hw) * 4, hw, load<f32>(mean + <usize>ch * 4), channelScale(wt, vr, eps, ch), load<f32>(bs + <usize>ch * 4), act);
    }
  }
}

/** Maps smaller than this many pixels are normalized by blocks of channels. */
const SMALL_MAP: i32 = 16;

/** γ / √(σ² + ε) of channel ch, in float64, rounded once. */
@inline function channelScale(wt: usize, vr: usize, eps: f32, ch: i32): f32 {
  return <f32>(<f64>load<f32>(wt + <usize>ch * 4) / Math.sqrt(<f64>load<f32>(vr + <usize>ch * 4) + <f64>eps));
}

@inline function normalizePlane(src: usize, dst: usize, hw: i32, mu: f32, scale: f32, shift: f32, act: i32): void {
  const sv = f32x4.splat(scale), mv = f32x4.splat(mu), bv = f32x4.splat(shift);
  let i = 0;
  for (; i + 4 <= hw; i += 4) {
    let y = f32x4.add(f32x4.mul(f32x4.sub(v128.load(src + <usize>i * 4), mv), sv), bv);
    if (act == Act.Relu) y = relu4(y);
    v128.store(dst + <usize>i * 4, y);
  }
  for (; i < hw; i++) {
    let y = (load<f32>(src + <usize>i * 4) - mu) * scale + shift;
    if (act == Act.Relu && y <= 0) y = 0;
    store<f32>(dst + <usize>i * 4, y);
  }
  if (act == Act.Sigmoid) {
    let j = 0;
    for (; j + 4 <= hw; j += 4) v128.store(dst + <usize>j * 4, sigmoid4(v128.load(dst + <usize>j * 4)));
    for (; j < hw; j++) store<f32>(dst + <usize>j * 4, sigmoidf(load<f32>(dst + <usize>j * 4)));
  }
}

/**
 * out[i, j] = x[i, :] · w[j, :] + bias[j] (slots: x, w, bias, out, m, k, n, scratch,
 * scratch stride). From four rows of x up, a blocked GEMM on the conv micro-kernel: x's
 * rows are its A rows in place, wᵀ is packed in 8-column panels (packTransposed), tasks own
 * (column block, share of the row panels). Fewer rows (inference at batch 1–3, which only
 * streams w once) are dot products, (i, j) pairs split across threads.
 */
export function linear(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, LinearArg.X), w = <usize>arg(args, LinearArg.W), bias = <usize>arg(args, LinearArg.Bias), out = <usize>arg(args, LinearArg.Out);
  const m = arg(args, LinearArg.M), k = arg(args, LinearArg.K), n = arg(args, LinearArg.N);
  if (m < 4) {
    linearDots(x, w, bias, out, m, k, n, args, tid, nth);
    return;
  }
  const scratch = <usize>arg(args, LinearArg.Scratch) + <usize>(tid * arg(args, LinearArg.ScratchStride));
  let nBlocks = (n + NC - 1) / NC;
  if (nth > 1) nBlocks = max(nBlocks, min(4 * nth, (n + NR - 1) / NR));
  const nc = min(NC, ((n + nBlocks - 1) / nBlocks + NR - 1) & ~(NR - 1));
  nBlocks = (n + nc - 1) / nc;
  const panels = (m + 3) >> 2;
  let mSplit = 1;
  while (mSplit < panels && nBlocks * mSplit < 2 * nth) mSplit++;
  const perSplit = (panels + mSplit - 1) / mSplit;
  const kBlocks = (k + KC - 1) / KC;
  const kStep = (k + kBlocks - 1) / kBlocks;
  const ld = <usize>k * 4, ldc = <usize>n * 4;
  const total = nBlocks * mSplit;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const ms = t % mSplit, nb = t / mSplit;
    const p0 = ms * perSplit, p1 = min(panels, p0 + perSplit);
    if (p0 >= p1) continue;
    const j0 = nb * nc, jn = min(nc, n - j0);
    for (let k0 = 0; k0 < k; k0 += kStep) {
      const kc = min(kStep, k - k0);
      packTransposed(w + <usize>(j0 * k + k0) * 4, ld, jn, kc, scratch);
      for (let pn = p0; pn < p1; pn++) {
        const i0 = pn * 4, rows = min(4, m - i0);
        const a = x + <usize>(i0 * k + k0) * 4;
        const c = out + <usize>(i0 * n + j0) * 4;
        for (let jp = 0; jp < jn; jp += NR) {
          micro(kc, a, ld, rows, scratch + <usize>(jp * kc) * 4, c + <usize>jp * 4, ldc, min(NR, jn - jp), k0 > 0, false, 0, 0, 0);
        }
      }
    }
    if (bias) {
      for (let i = p0 * 4; i < min(m, p1 * 4); i++) {
        const c = out + <usize>(i * n + j0) * 4, bb = bias + <usize>j0 * 4;
        let j = 0;
        for (; j + 4 <= jn; j += 4) v128.store(c + <usize>j * 4, f32x4.add(v128.load(c + <usize>j * 4), v128.load(bb + <usize>j * 4)));
        for (; j < jn; j++) store<f32>(c + <usize>j * 4, load<f32>(c + <usize>j * 4) + load<f32>(bb + <usize>j * 4));
      }
    }
  }
}

/** Outputs a task of linearDots computes: 64 bytes of them. */
const DOT_OUTPUTS: i32 = 16;

/** linear for a few rows: one dot product per output. */
function linearDots(x: usize, w: usize, bias: usize, out: usize, m: i32, k: i32, n: i32, args: usize, tid: i32, nth: i32): void {
  // Tasks of DOT_OUTPUTS outputs (one cache line of them), contiguous ones a thread: two
  // threads taking alternate outputs wrote into the same lines and read w's rows interleaved
  // (the classifier at batch 1 ran 0.49 ms on two threads against 0.32 on one).
  const blocks = (n + DOT_OUTPUTS - 1) / DOT_OUTPUTS;
  const total = m * blocks;
  for (let t = claim(args, tid, nth, total); t < total; t = claim(args, tid, nth, total, t)) {
    const i = t / blocks, j0 = (t - i * blocks) * DOT_OUTPUTS;
    const xr = x + <usize>(i * k) * 4, j1 = min(n, j0 + DOT_OUTPUTS);
    for (let j = j0; j < j1; j++) {
      const wr = w + <usize>(j * k) * 4;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      let p = 0;
      for (; p + 8 <= k; p += 8) {
        a0 = fma(v128.load(xr + <usize>p * 4), v128.load(wr + <usize>p * 4), a0);
        a1 = fma(v128.load(xr + <usize>p * 4, 16), v128.load(wr + <usize>p * 4, 16), a1);
      }
      a0 = fma(loadPartial(xr + <usize>p * 4, min(4, k - p)), loadPartial(wr + <usize>p * 4, min(4, k - p)), a0);
      if (k - p > 4) a1 = fma(loadPartial(xr + <usize>(p + 4) * 4, k - p - 4), loadPartial(wr + <usize>(p + 4) * 4, k - p - 4), a1);
      let s = hsum(f32x4.add(a0, a1));
      if (bias) s += load<f32>(bias + <usize>j * 4);
      store<f32>(out + <usize>(i * n + j) * 4, s);
    }
  }
}

/** out[i] = op(x[i]) over n contiguous floats, in chunks per thread. */
export function unary(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, UnaryArg.X), out = <usize>arg(args, UnaryArg.Out), n = arg(args, UnaryArg.N), op = arg(args, UnaryArg.Op);
  const alpha = argf(args, UnaryArg.Alpha);
  const chunk = (((n + nth - 1) / nth) + 3) & ~3;
  const i0 = tid * chunk, i1 = min(n, i0 + chunk);
  const av = f32x4.splat(alpha);
  let i = i0;
  if (op != UnaryCode.Rsqrt) {
    for (; i + 4 <= i1; i += 4) {
      const v = v128.load(x + <usize>i * 4);
      let y: v128;
      if (op == UnaryCode.Relu) y = relu4(v);
      else if (op == UnaryCode.Sigmoid) y = sigmoid4(v);
      else if (op == UnaryCode.Exp) y = exp4(v);
      else if (op == UnaryCode.Neg) y = f32x4.neg(v);
      else if (op == UnaryCode.Sqrt) y = f32x4.sqrt(v);
      else if (op == UnaryCode.AddScalar) y = f32x4.add(v, av);
      else y = f32x4.mul(v, av);
      v128.store(out + <usize>i * 4, y);
    }
  }
  for (; i < i1; i++) {
    const v = load<f32>(x + <usize>i * 4);
    let y: f32;
    if (op == UnaryCode.Relu) y = v <= 0 ? 0 : v;
    else if (op == UnaryCode.Sigmoid) y = sigmoidf(v);
    else if (op == UnaryCode.Exp) y = Mathf.exp(v);
    else if (op == UnaryCode.Neg) y = -v;
    else if (op == UnaryCode.Sqrt) y = Mathf.sqrt(v);
    else if (op == UnaryCode.Rsqrt) y = <f32>(1.0 / Math.sqrt(<f64>v));
    else if (op == UnaryCode.AddScalar) y = v + alpha;
    else y = v * alpha;
    store<f32>(out + <usize>i * 4, y);
  }
}

/**
 * out = a ∘ b for the two layouts inference produces: same-shape contiguous operands
 * (residual sums), and b broadcast along rows ([rows, len] ∘ [rows, 1]: per-channel scales).
 * Anything else takes the JS reference path on the same memory.
 */
export function binary(args: usize, tid: i32, nth: i32): void {
  const a = <usize>arg(args, BinaryArg.A), b = <usize>arg(args, BinaryArg.B), out = <usize>arg(args, BinaryArg.Out);
  const rows = arg(args, BinaryArg.Rows), len = arg(args, BinaryArg.Len), op = arg(args, BinaryArg.Op), bPerRow = arg(args, BinaryArg.BPerRow) != 0;
  for (let r = tid; r < rows; r += nth) {
    const pa = a + <usize>(r * len) * 4, po = out + <usize>(r * len) * 4;
    const pb = bPerRow ? b + <usize>r * 4 : b + <usize>(r * len) * 4;
    let i = 0;
    for (; i + 4 <= len; i += 4) {
      const va = v128.load(pa + <usize>i * 4);
      const vb = bPerRow ? v128.load32_splat(pb) : v128.load(pb + <usize>i * 4);
      let y: v128;
      if (op == BinaryCode.Add) y = f32x4.add(va, vb);
      else if (op == BinaryCode.Sub) y = f32x4.sub(va, vb);
      else if (op == BinaryCode.Mul) y = f32x4.mul(va, vb);
      else y = f32x4.div(va, vb);
      v128.store(po + <usize>i * 4, y);
    }
    for (; i < len; i++) {
      const va = load<f32>(pa + <usize>i * 4);
      const vb = bPerRow ? load<f32>(pb) : load<f32>(pb + <usize>i * 4);
      let y: f32;
      if (op == BinaryCode.Add) y = va + vb;
      else if (op == BinaryCode.Sub) y = va - vb;
      else if (op == BinaryCode.Mul) y = va * vb;
      else y = va / vb;
      store<f32>(po + <usize>i * 4, y);
    }
  }
}

/**
 * dst = src for a dense dst of shape [d0, d1, d2, d3] read from src at strides s0 … s3
 * (floats; 0 broadcasts), any 4-byte dtype (slots: src, dst, d0…d3, s0…s3). Rows of d3 are
 * split across threads. The innermost run is a vector copy (s3 = 1), a splat (s3 = 0), or,
 * when the next dimension is the contiguous one (s2 = 1: a transpose), 4×4 blocks moved by
 * vector loads, shuffles and stores; anything else a strided gather.
 */
export function stridedCopy(args: usize, tid: i32, nth: i32): void {
  const src = <usize>arg(args, StridedCopyArg.Src), dst = <usize>arg(args, StridedCopyArg.Dst);
  const d0 = arg(args, StridedCopyArg.D0), d1 = arg(args, StridedCopyArg.D1), d2 = arg(args, StridedCopyArg.D2), d3 = arg(args, StridedCopyArg.D3);
  const s0 = arg(args, StridedCopyArg.S0), s1 = arg(args, StridedCopyArg.S1), s2 = arg(args, StridedCopyArg.S2), s3 = arg(args, StridedCopyArg.S3);
  const transpose = s2 == 1 && s3 != 1 && s3 != 0 && d2 >= 4 && d3 >= 4;
  // Tasks: rows (i0, i1, i2), or blocks of four rows when transposing.
  const rb = transpose ? 4 : 1;
  const blocks2 = (d2 + rb - 1) / rb;
  const total = d0 * d1 * blocks2;
  const chunk = (total + nth - 1) / nth;
  const t0 = tid * chunk, t1 = min(total, t0 + chunk);
  for (let t = t0; t < t1; t++) {
    const i2b = t % blocks2, r = t / blocks2;
    const i1 = r % d1, i0 = r / d1;
    const i2 = i2b * rb;
    const sBase = src + <usize>(i0 * s0 + i1 * s1 + i2 * s2) * 4;
    const dBase = dst + <usize>(((i0 * d1 + i1) * d2 + i2) * d3) * 4;
    if (transpose && i2 + 4 <= d2) {
      // Rows i2 … i2+3 of dst: column j of dst's block is 4 contiguous src floats at j·s3.
      const ldd = <usize>d3 * 4, st = <usize>s3 * 4;
      let j = 0;
      for (; j + 4 <= d3; j += 4) {
        const p = sBase + <usize>j * st;
        const a = v128.load(p), b = v128.load(p + st), c = v128.load(p + 2 * st), e = v128.load(p + 3 * st);
        const u0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), u1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
        const u2 = v128.shuffle<f32>(c, e, 0, 4, 1, 5), u3 = v128.shuffle<f32>(c, e, 2, 6, 3, 7);
        const q = dBase + <usize>j * 4;
        v128.store(q, v128.shuffle<f32>(u0, u2, 0, 1, 4, 5));
        v128.store(q + ldd, v128.shuffle<f32>(u0, u2, 2, 3, 6, 7));
        v128.store(q + 2 * ldd, v128.shuffle<f32>(u1, u3, 0, 1, 4, 5));
        v128.store(q + 3 * ldd, v128.shuffle<f32>(u1, u3, 2, 3, 6, 7));
      }
      for (; j < d3; j++) {
        const p = sBase + <usize>j * st;
        for (let rr = 0; rr < 4; rr++) store<f32>(dBase + <usize>rr * ldd + <usize>j * 4, load<f32>(p + <usize>rr * 4));
      }
      continue;
    }
    for (let rr = 0; rr < rb && i2 + rr < d2; rr++) {
      const sp = sBase + <usize>(rr * s2) * 4, dp = dBase + <usize>(rr * d3) * 4;
      if (s3 == 1) {
        // Short runs (the pixels of a small map) by vectors: memory.copy's call costs more.
        if (d3 < 32) copyFloats(dp, sp, d3);
        else memory.copy(dp, sp, <usize>d3 * 4);
      } else if (s3 == 0) {
        const v = v128.load32_splat(sp);
        let j = 0;
        for (; j + 4 <= d3; j += 4) v128.store(dp + <usize>j * 4, v);
        for (; j < d3; j++) store<u32>(dp + <usize>j * 4, load<u32>(sp));
      } else {
        for (let j = 0; j < d3; j++) store<u32>(dp + <usize>j * 4, load<u32>(sp + <usize>(j * s3) * 4));
      }
    }
  }
}
