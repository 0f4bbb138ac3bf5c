// Training kernels besides the conv and pool gradients: batch statistics and batch norm's
// gradient, activation, softmax and split-attention gradients, row sums, the optimizers'
// updates. SIMD over contiguous
// runs; per-channel kernels split channels over threads, element-wise ones equal chunks.
// Sums follow the js reference (src/backend/js/training.ts), which adds in float64: here
// float32 lanes add up blocks of 64 values and the blocks are added in float64. The
// optimizers repeat the reference's float32 operations one for one (plain multiplies and
// adds, never a fused multiply-add), so their results are the same bits.

import { lo64, hi64, exp4, loadPartial, storePartial, rowMax, expSum } from './simd';
import { Act, ChannelSumArg, ChannelMomentsArg, BatchNormBackwardArg, ActivationBackwardArg, RadixAttendBackwardArg, SgdStepArg, AdamwStepArg, RowsArg, SoftmaxFamilyArg, RSoftmaxBackwardArg } from '../src/backend/wasm/ids';
import { arg, argf } from './args';
import { claim, channelBlock } from './tasks';

// What a run reduction adds up, per element (literals at every call site).
const SUM = 0; // a
const SQDEV = 1; // (a − μ)²
const DOT = 2; // a · b

@inline function term(mode: i32, a: v128, b: v128, mu: v128): v128 {
  if (mode == SUM) return a;
  if (mode == SQDEV) {
    const d = f32x4.sub(a, mu);
    return f32x4.mul(d, d);
  }
  return f32x4.mul(a, b);
}

@inline function term1(mode: i32, a: f32, b: f32, mu: f32): f32 {
  if (mode == SUM) return a;
  if (mode == SQDEV) return (a - mu) * (a - mu);
  return a * b;
}

/** Σ term(a[i], b[i]) over n floats: float32 lanes within blocks of 64, blocks in float64. */
@inline function reduceRun(mode: i32, a: usize, b: usize, n: i32, mu: f32): f64 {
  const muv = f32x4.splat(mu);
  let acc = f64x2.splat(0);
  let i = 0;
  const n4 = n & ~3;
  while (i < n4) {
    const end = min(n4, i + 64);
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    for (; i + 8 <= end; i += 8) {
      const o = <usize>i * 4;
      s0 = f32x4.add(s0, term(mode, v128.load(a + o), mode >= DOT ? v128.load(b + o) : muv, muv));
      s1 = f32x4.add(s1, term(mode, v128.load(a + o, 16), mode >= DOT ? v128.load(b + o, 16) : muv, muv));
    }
    if (i < end) {
      const o = <usize>i * 4;
      s0 = f32x4.add(s0, term(mode, v128.load(a + o), mode >= DOT ? v128.load(b + o) : muv, muv));
      i += 4;
    }
    const s = f32x4.add(s0, s1);
    acc = f64x2.add(acc, f64x2.add(lo64(s), hi64(s)));
  }
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < n; i++) {
    const o = <usize>i * 4;
    s += <f64>term1(mode, load<f32>(a + o), mode >= DOT ? load<f32>(b + o) : 0, mu);
  }
  return s;
}

/**
 * Σ a and Σ a·(b − μ) over one run in one sweep, each in reduceRun's order (blocks of 64 in
 * float32 lanes, blocks in float64), added into the float64 pair at acc.
 */
@inline function addRunSums(a: usize, b: usize, n: i32, mu: f32, acc: usize): void {
  const muv = f32x4.splat(mu);
  let sa = f64x2.splat(0), da = f64x2.splat(0);
  let i = 0;
  const n4 = n & ~3;
  while (i < n4) {
    const end = min(n4, i + 64);
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), d0 = f32x4.splat(0), d1 = f32x4.splat(0);
    for (; i + 8 <= end; i += 8) {
      const o = <usize>i * 4;
      const a0 = v128.load(a + o), a1 = v128.load(a + o, 16);
      s0 = f32x4.add(s0, a0);
      s1 = f32x4.add(s1, a1);
      d0 = f32x4.add(d0, f32x4.mul(a0, f32x4.sub(v128.load(b + o), muv)));
      d1 = f32x4.add(d1, f32x4.mul(a1, f32x4.sub(v128.load(b + o, 16), muv)));
    }
    if (i < end) {
      const o = <usize>i * 4;
      const a0 = v128.load(a + o);
      s0 = f32x4.add(s0, a0);
      d0 = f32x4.add(d0, f32x4.mul(a0, f32x4.sub(v128.load(b + o), muv)));
      i += 4;
    }
    const sv = f32x4.add(s0, s1), dv = f32x4.add(d0, d1);
    sa = f64x2.add(sa, f64x2.add(lo64(sv), hi64(sv)));
    da = f64x2.add(da, f64x2.add(lo64(dv), hi64(dv)));
  }
  let ss = f64x2.extract_lane(sa, 0) + f64x2.extract_lane(sa, 1);
  let ds = f64x2.extract_lane(da, 0) + f64x2.extract_lane(da, 1);
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const av = load<f32>(a + o);
    ss += <f64>av;
    ds += <f64>(av * (load<f32>(b + o) - mu));
  }
  store<f64>(acc, load<f64>(acc) + ss);
  store<f64>(acc, load<f64>(acc, 8) + ds, 8);
}

/**
 * acc[jj] = Σ over channel j0 + jj's n runs of hw floats in [n, c, hw] of reduceRun(mode) (SUM,
 * or SQDEV about mean[j0 + jj]), runs added in image order into float64 scratch. The block is
 * swept image by image: each image's runs of it lie side by side, where channel by channel
 * every run was a jump of c·hw floats. Inlined, so that mode is a literal in each loop.
 */
@inline function sumChannels(mode: i32, x: usize, n: i32, c: i32, hw: i32, j0: i32, cn: i32, mean: usize, acc: usize): void {
  memory.fill(acc, 0, <usize>cn * 8);
  const run = <usize>hw * 4;
  for (let bi = 0; bi < n; bi++) {
    let o = x + <usize>((bi * c + j0) * hw) * 4;
    for (let jj = 0; jj < cn; jj++, o += run) {
      const at = acc + <usize>jj * 8;
      store<f64>(at, load<f64>(at) + reduceRun(mode, o, 0, hw, mode == SQDEV ? load<f32>(mean + <usize>(j0 + jj) * 4) : 0));
    }
  }
}

/** Lane l of the four float64 lanes lo, hi. */
@inline function lane(lo: v128, hi: v128, l: i32): f64 {
  if (l == 0) return f64x2.extract_lane(lo, 0);
  if (l == 1) return f64x2.extract_lane(lo, 1);
  if (l == 2) return f64x2.extract_lane(hi, 0);
  return f64x2.extract_lane(hi, 1);
}

/** Four channels' float64 means of a 1×1 map's sums, as float32 lanes. */
@inline function means4(lo: v128, hi: v128, m: f64): v128 {
  return f32x4(<f32>(f64x2.extract_lane(lo, 0) / m), <f32>(f64x2.extract_lane(lo, 1) / m), <f32>(f64x2.extract_lane(hi, 0) / m), <f32>(f64x2.extract_lane(hi, 1) / m));
}

/** out[j] = Σ_{b, p} x[b, j, p]. Slots: x, out, n, c, hw, scratch, scratch stride. */
export function channelSum(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, ChannelSumArg.X), out = <usize>arg(args, ChannelSumArg.Out);
  const n = arg(args, ChannelSumArg.N), c = arg(args, ChannelSumArg.C), hw = arg(args, ChannelSumArg.Hw);
  const scratch = <usize>arg(args, ChannelSumArg.Scratch) + <usize>(tid * arg(args, ChannelSumArg.ScratchStride));
  const cb = channelBlock(hw, c), blocks = (c + cb - 1) / cb;
  for (let t = claim(args, tid, nth, blocks); t < blocks; t = claim(args, tid, nth, blocks, t)) {
    const j0 = t * cb, cn = min(c, j0 + cb) - j0;
    sumChannels(SUM, x, n, c, hw, j0, cn, 0, scratch);
    for (let jj = 0; jj < cn; jj++) store<f32>(out + <usize>(j0 + jj) * 4, <f32>load<f64>(scratch + <usize>jj * 8));
  }
}

/** Per-channel mean and biased variance (two passes). Slots: x, mean, variance, n, c, hw. */
export function channelMoments(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, ChannelMomentsArg.X), mean = <usize>arg(args, ChannelMomentsArg.Mean), variance = <usize>arg(args, ChannelMomentsArg.Variance);
  const n = arg(args, ChannelMomentsArg.N), c = arg(args, ChannelMomentsArg.C), hw = arg(args, ChannelMomentsArg.Hw);
  const scratch = <usize>arg(args, ChannelMomentsArg.Scratch) + <usize>(tid * arg(args, ChannelMomentsArg.ScratchStride));
  const m = <f64>n * <f64>hw;
  const cb = channelBlock(hw, c), blocks = (c + cb - 1) / cb;
  for (let t = claim(args, tid, nth, blocks); t < blocks; t = claim(args, tid, nth, blocks, t)) {
    let j = t * cb;
    const j1 = min(c, j + cb);
    if (hw == 1) {
      // On 1×1 maps a channel is one float per image, c floats apart: four channels are one
      // vector load per image, added in float64 lanes in the per-channel path's order (the
      // same bits).
      for (; j + 4 <= j1; j += 4) {
        let lo = f64x2.splat(0), hi = f64x2.splat(0);
        for (let bi = 0; bi < n; bi++) {
          const v = v128.load(x + <usize>(bi * c + j) * 4);
          lo = f64x2.add(lo, lo64(v));
          hi = f64x2.add(hi, hi64(v));
        }
        const mu = means4(lo, hi, m);
        v128.store(mean + <usize>j * 4, mu);
        lo = f64x2.splat(0);
        hi = f64x2.splat(0);
        for (let bi = 0; bi < n; bi++) {
          const d = f32x4.sub(v128.load(x + <usize>(bi * c + j) * 4), mu);
          const v = f32x4.mul(d, d);
          lo = f64x2.add(lo, lo64(v));
          hi = f64x2.add(hi, hi64(v));
        }
        v128.store(variance + <usize>j * 4, means4(lo, hi, m));
      }
    }
    if (j < j1) momentsBlock(x, mean, variance, n, c, hw, m, j, j1, scratch);
  }
}

/** Channels [j0, j1) of channelMoments: the means' sums, then the squared deviations' (sumChannels). */
function momentsBlock(x: usize, mean: usize, variance: usize, n: i32, c: i32, hw: i32, m: f64, j0: i32, j1: i32, scratch: usize): void {
  const cn = j1 - j0;
  sumChannels(SUM, x, n, c, hw, j0, cn, 0, scratch);
  for (let jj = 0; jj < cn; jj++) store<f32>(mean + <usize>(j0 + jj) * 4, <f32>(load<f64>(scratch + <usize>jj * 8) / m));
  sumChannels(SQDEV, x, n, c, hw, j0, cn, mean, scratch);
  for (let jj = 0; jj < cn; jj++) store<f32>(variance + <usize>(j0 + jj) * 4, <f32>(load<f64>(scratch + <usize>jj * 8) / m));
}

/**
 * Training batch norm's gradients, per channel: dbias = Σ dy, dweight = Σ dy·(x − μ)·σ⁻¹,
 * dx = γσ⁻¹ · (dy − dbias/m − (x − μ)·σ⁻¹ · dweight/m).
 * Slots: x, dy, mean, variance, weight, dx, dweight, dbias, n, c, hw; float 11: eps.
 */
export function batchNormBackward(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, BatchNormBackwardArg.X), dy = <usize>arg(args, BatchNormBackwardArg.Dy);
  const mean = <usize>arg(args, BatchNormBackwardArg.Mean), variance = <usize>arg(args, BatchNormBackwardArg.Variance);
  const weight = <usize>arg(args, BatchNormBackwardArg.Weight), dx = <usize>arg(args, BatchNormBackwardArg.Dx);
  const dweight = <usize>arg(args, BatchNormBackwardArg.DWeight), dbias = <usize>arg(args, BatchNormBackwardArg.DBias);
  const n = arg(args, BatchNormBackwardArg.N), c = arg(args, BatchNormBackwardArg.C), hw = arg(args, BatchNormBackwardArg.Hw);
  const eps = argf(args, BatchNormBackwardArg.Eps);
  const scratch = <usize>arg(args, BatchNormBackwardArg.Scratch) + <usize>(tid * arg(args, BatchNormBackwardArg.ScratchStride));
  const m = <f64>n * <f64>hw;
  const cb = channelBlock(hw, c), blocks = (c + cb - 1) / cb;
  for (let t = claim(args, tid, nth, blocks); t < blocks; t = claim(args, tid, nth, blocks, t)) {
    let j = t * cb;
    const j1 = min(c, j + cb);
    if (hw == 1) {
      // Four channels a step, as in channelMoments.
      for (; j + 4 <= j1; j += 4) {
        const mu = v128.load(mean + <usize>j * 4);
        let slo = f64x2.splat(0), shi = f64x2.splat(0), dlo = f64x2.splat(0), dhi = f64x2.splat(0);
        for (let bi = 0; bi < n; bi++) {
          const o = <usize>(bi * c + j) * 4;
          const g = v128.load(dy + o), v = f32x4.mul(g, f32x4.sub(v128.load(x + o), mu));
          slo = f64x2.add(slo, lo64(g));
          shi = f64x2.add(shi, hi64(g));
          dlo = f64x2.add(dlo, lo64(v));
          dhi = f64x2.add(dhi, hi64(v));
        }
        // The per-channel path's scalars, channel by channel: each is put in lane 0 and the
        // vectors rotated, so that after four channels lane l holds channel j + l.
        let sv = f32x4.splat(0), bv = f32x4.splat(0), kv = f32x4.splat(0);
        for (let l = 0; l < 4; l++) {
          const ch = j + l;
          const s1 = lane(slo, shi, l), s2 = lane(dlo, dhi, l);
          const invstd = 1 / Math.sqrt(<f64>load<f32>(variance + <usize>ch * 4) + <f64>eps);
          const dw = s2 * invstd;
          store<f32>(dweight + <usize>ch * 4, <f32>dw);
          store<f32>(dbias + <usize>ch * 4, <f32>s1);
          sv = v128.shuffle<f32>(f32x4.replace_lane(sv, 0, <f32>(<f64>load<f32>(weight + <usize>ch * 4) * invstd)), sv, 1, 2, 3, 0);
          bv = v128.shuffle<f32>(f32x4.replace_lane(bv, 0, <f32>(s1 / m)), bv, 1, 2, 3, 0);
          kv = v128.shuffle<f32>(f32x4.replace_lane(kv, 0, <f32>(invstd * (dw / m))), kv, 1, 2, 3, 0);
        }
        for (let bi = 0; bi < n; bi++) {
          const o = <usize>(bi * c + j) * 4;
          const xm = f32x4.sub(v128.load(x + o), mu);
          v128.store(dx + o, f32x4.mul(sv, f32x4.sub(f32x4.sub(v128.load(dy + o), bv), f32x4.mul(xm, kv))));
        }
      }
    }
    if (j < j1) bnBackwardBlock(x, dy, mean, variance, weight, dx, dweight, dbias, n, c, hw, eps, m, j, j1, scratch);
  }
}

/**
 * Channels [j0, j1) of batch norm's gradient, image by image: each image's runs of the block
 * lie side by side, so both sweeps (the two sums in one, then dx) read memory in order,
 * where channel by channel every run was a jump of c·hw floats. Each channel's sums are the
 * per-channel path's, added in the same order (the same bits). scratch: two float64 sums,
 * then four float32 coefficients, per channel.
 */
function bnBackwardBlock(x: usize, dy: usize, mean: usize, variance: usize, weight: usize, dx: usize, dweight: usize, dbias: usize,
  n: i32, c: i32, hw: i32, eps: f32, m: f64, j0: i32, j1: i32, scratch: usize): void {
  const cn = j1 - j0;
  const sums = scratch, coef = scratch + <usize>cn * 16;
  memory.fill(sums, 0, <usize>cn * 16);
  const run = <usize>hw * 4;
  for (let bi = 0; bi < n; bi++) {
    let o = <usize>((bi * c + j0) * hw) * 4;
    for (let jj = 0; jj < cn; jj++, o += run) addRunSums(dy + o, x + o, hw, load<f32>(mean + <usize>(j0 + jj) * 4), sums + <usize>jj * 16);
  }
  for (let jj = 0; jj < cn; jj++) {
    const j = j0 + jj;
    const sdy = load<f64>(sums + <usize>jj * 16), sdyx = load<f64>(sums + <usize>jj * 16, 8);
    const invstd = 1 / Math.sqrt(<f64>load<f32>(variance + <usize>j * 4) + <f64>eps);
    const dw = sdyx * invstd;
    store<f32>(dweight + <usize>j * 4, <f32>dw);
    store<f32>(dbias + <usize>j * 4, <f32>sdy);
    const q = coef + <usize>jj * 16;
    store<f32>(q, load<f32>(mean + <usize>j * 4));
    store<f32>(q, <f32>(<f64>load<f32>(weight + <usize>j * 4) * invstd), 4);
    store<f32>(q, <f32>(sdy / m), 8);
    store<f32>(q, <f32>(invstd * (dw / m)), 12);
  }
  for (let bi = 0; bi < n; bi++) {
    let o = <usize>((bi * c + j0) * hw) * 4;
    for (let jj = 0; jj < cn; jj++, o += run) {
      const q = coef + <usize>jj * 16;
      const mu = load<f32>(q), scale = load<f32>(q, 4), shift = load<f32>(q, 8), k = load<f32>(q, 12);
      const sv = f32x4.splat(scale), bv = f32x4.splat(shift), kv = f32x4.splat(k), mv = f32x4.splat(mu);
      const px = x + o, pd = dy + o, po = dx + o;
      let i = 0;
      for (; i + 4 <= hw; i += 4) {
        const e = <usize>i * 4;
        const xm = f32x4.sub(v128.load(px + e), mv);
        v128.store(po + e, f32x4.mul(sv, f32x4.sub(f32x4.sub(v128.load(pd + e), bv), f32x4.mul(xm, kv))));
      }
      for (; i < hw; i++) {
        const e = <usize>i * 4;
        store<f32>(po + e, scale * ((load<f32>(pd + e) - shift) - (load<f32>(px + e) - mu) * k));
      }
    }
  }
}

/** Elements per thread of an element-wise kernel: equal shares, a multiple of 4 long. */
@inline function share(n: i32, nth: i32): i32 {
  return (((n + nth - 1) / nth) + 3) & ~3;
}

/** dx = dy · act'(y) from the activation's output y. Slots: act, y, dy, dx, numel. */
export function activationBackward(args: usize, tid: i32, nth: i32): void {
  const act = arg(args, ActivationBackwardArg.Act), y = <usize>arg(args, ActivationBackwardArg.Y), dy = <usize>arg(args, ActivationBackwardArg.Dy);
  const dx = <usize>arg(args, ActivationBackwardArg.Dx), n = arg(args, ActivationBackwardArg.N);
  const chunk = share(n, nth);
  const i0 = tid * chunk, i1 = min(n, i0 + chunk);
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  let i = i0;
  if (act == Act.Relu) {
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i * 4;
      v128.store(dx + o, v128.bitselect(v128.load(dy + o), zero, f32x4.gt(v128.load(y + o), zero)));
    }
    for (; i < i1; i++) {
      const o = <usize>i * 4;
      store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
    }
  } else {
    for (; i + 4 <= i1; i += 4) {
      const o = <usize>i * 4;
      const v = v128.load(y + o);
      v128.store(dx + o, f32x4.mul(f32x4.mul(v128.load(dy + o), v), f32x4.sub(one, v)));
    }
    for (; i < i1; i++) {
      const o = <usize>i * 4;
      const v = load<f32>(y + o);
      store<f32>(dx + o, load<f32>(dy + o) * v * (1 - v));
    }
  }
}

/**
 * radixAttend's gradients: dx[b, r·c + j] = atten[b, r·c + j] · dy[b, j] and
 * datten[b, r·c + j] = x[b, r·c + j] · dy[b, j] (a dot over hw), rows split over threads.
 * Slots: x, atten, dy, dx, datten, batch, radix, c, hw.
 */
export function radixAttendBackward(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, RadixAttendBackwardArg.X), atten = <usize>arg(args, RadixAttendBackwardArg.Atten);
  const dy = <usize>arg(args, RadixAttendBackwardArg.Dy), dx = <usize>arg(args, RadixAttendBackwardArg.Dx), datten = <usize>arg(args, RadixAttendBackwardArg.DAtten);
  const batch = arg(args, RadixAttendBackwardArg.Batch), radix = arg(args, RadixAttendBackwardArg.Radix);
  const c = arg(args, RadixAttendBackwardArg.C), hw = arg(args, RadixAttendBackwardArg.Hw);
  for (let ch = tid; ch < batch * radix * c; ch += nth) {
    const b = ch / (radix * c), j = ch % c;
    const a = load<f32>(atten + <usize>ch * 4);
    const av = f32x4.splat(a);
    const px = x + <usize>(ch * hw) * 4, pd = dy + <usize>((b * c + j) * hw) * 4, po = dx + <usize>(ch * hw) * 4;
    let i = 0;
    for (; i + 4 <= hw; i += 4) {
      const o = <usize>i * 4;
      v128.store(po + o, f32x4.mul(av, v128.load(pd + o)));
    }
    for (; i < hw; i++) store<f32>(po + <usize>i * 4, a * load<f32>(pd + <usize>i * 4));
    store<f32>(datten + <usize>ch * 4, <f32>reduceRun(DOT, px, pd, hw, 0));
  }
}

/**
 * torch.optim.SGD's update, in place, in the reference's float32 order: d = g + wd·p;
 * buf = first ? d : m·buf + d; d = nesterov ? d + m·buf : buf; p −= lr·d.
 * Slots: p, grad, buf, numel, use buf (momentum and a buffer), nesterov, first; floats 7–9: lr, momentum, wd.
 */
export function sgdStep(args: usize, tid: i32, nth: i32): void {
  const p = <usize>arg(args, SgdStepArg.P), grad = <usize>arg(args, SgdStepArg.Grad), buf = <usize>arg(args, SgdStepArg.Buf), n = arg(args, SgdStepArg.N);
  const useBuf = arg(args, SgdStepArg.UseBuf) != 0, nesterov = arg(args, SgdStepArg.Nesterov) != 0, first = arg(args, SgdStepArg.First) != 0;
  const lr = argf(args, SgdStepArg.Lr), mom = argf(args, SgdStepArg.Momentum), wd = argf(args, SgdStepArg.WeightDecay);
  const chunk = share(n, nth);
  const i0 = tid * chunk, i1 = min(n, i0 + chunk);
  const lv = f32x4.splat(lr), mv = f32x4.splat(mom), wv = f32x4.splat(wd);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i * 4;
    const pi = v128.load(p + o);
    let d = v128.load(grad + o);
    if (wd != 0) d = f32x4.add(d, f32x4.mul(wv, pi));
    if (useBuf) {
      const bi = first ? d : f32x4.add(f32x4.mul(mv, v128.load(buf + o)), d);
      v128.store(buf + o, bi);
      d = nesterov ? f32x4.add(d, f32x4.mul(mv, bi)) : bi;
    }
    v128.store(p + o, f32x4.sub(pi, f32x4.mul(lv, d)));
  }
  for (; i < i1; i++) {
    const o = <usize>i * 4;
    const pi = load<f32>(p + o);
    let d = load<f32>(grad + o);
    if (wd != 0) d = d + wd * pi;
    if (useBuf) {
      const bi = first ? d : mom * load<f32>(buf + o) + d;
      store<f32>(buf + o, bi);
      d = nesterov ? d + mom * bi : bi;
    }
    store<f32>(p + o, pi - lr * d);
  }
}

/**
 * torch.optim.AdamW's update, in place, in the reference's float32 order:
 * p ·= decay; m = m·β1 + g·(1 − β1); v = v·β2 + g²·(1 − β2); p −= stepSize · m / (√v / √bc2 + eps).
 * Slots: p, grad, expAvg, expAvgSq, numel; floats 5–12: decay, β1, 1 − β1, β2, 1 − β2, √bc2, eps, stepSize.
 */
export function adamwStep(args: usize, tid: i32, nth: i32): void {
  const p = <usize>arg(args, AdamwStepArg.P), grad = <usize>arg(args, AdamwStepArg.Grad);
  const ea = <usize>arg(args, AdamwStepArg.ExpAvg), eq = <usize>arg(args, AdamwStepArg.ExpAvgSq), n = arg(args, AdamwStepArg.N);
  const decay = argf(args, AdamwStepArg.Decay), b1 = argf(args, AdamwStepArg.Beta1), c1 = argf(args, AdamwStepArg.OneMinusBeta1);
  const b2 = argf(args, AdamwStepArg.Beta2), c2 = argf(args, AdamwStepArg.OneMinusBeta2);
  const bc2 = argf(args, AdamwStepArg.Bc2Sqrt), eps = argf(args, AdamwStepArg.Eps), step = argf(args, AdamwStepArg.StepSize);
  const chunk = share(n, nth);
  const i0 = tid * chunk, i1 = min(n, i0 + chunk);
  const dv = f32x4.splat(decay), b1v = f32x4.splat(b1), c1v = f32x4.splat(c1), b2v = f32x4.splat(b2), c2v = f32x4.splat(c2);
  const bcv = f32x4.splat(bc2), ev = f32x4.splat(eps), sv = f32x4.splat(step);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i * 4;
    const g = v128.load(grad + o);
    const pi = f32x4.mul(v128.load(p + o), dv);
    const m = f32x4.add(f32x4.mul(v128.load(ea + o), b1v), f32x4.mul(g, c1v));
    const v = f32x4.add(f32x4.mul(v128.load(eq + o), b2v), f32x4.mul(f32x4.mul(g, g), c2v));
    v128.store(ea + o, m);
    v128.store(eq + o, v);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(v), bcv), ev);
    v128.store(p + o, f32x4.sub(pi, f32x4.mul(sv, f32x4.div(m, denom))));
  }
  for (; i < i1; i++) {
    const o = <usize>i * 4;
    const g = load<f32>(grad + o);
    const pi = load<f32>(p + o) * decay;
    const m = load<f32>(ea + o) * b1 + g * c1;
    const v = load<f32>(eq + o) * b2 + (g * g) * c2;
    store<f32>(ea + o, m);
    store<f32>(eq + o, v);
    const denom = Mathf.sqrt(v) / bc2 + eps;
    store<f32>(p + o, pi - step * (m / denom));
  }
}

/** out[r] = Σ x[r, :cols]; rows split over threads. Slots: x, out, rows, cols. */
export function sumRows(args: usize, tid: i32, nth: i32): void {
  const x = <usize>arg(args, RowsArg.X), out = <usize>arg(args, RowsArg.Out), rows = arg(args, RowsArg.Rows), cols = arg(args, RowsArg.Cols);
  for (let r = tid; r < rows; r += nth) store<f32>(out + <usize>r * 4, <f32>reduceRun(SUM, x + <usize>(r * cols) * 4, 0, cols, 0));
}

// The softmax family over the middle axis of [outer, dim, inner]: with inner = 1 each line is
// a contiguous row (its sums run along it); otherwise four lines (inner positions) go at once,
// one per lane, their sums in float64 lanes. Lines are split over threads.
const LOG_SOFTMAX = 0; // out = x − max − log Σ exp(x − max)
const SOFTMAX_BACKWARD = 1; // dx = y · (dy − Σ dy·y)
const LOG_SOFTMAX_BACKWARD = 2; // dx = dy − exp(y) · Σ dy

/** Slots: a, b (unused by logSoftmax), out, outer, dim, inner. a = x or y, b = dy. */
@inline function softmaxFamily(kind: i32, args: usize, tid: i32, nth: i32): void {
  const a = <usize>arg(args, SoftmaxFamilyArg.A), b = <usize>arg(args, SoftmaxFamilyArg.B), out = <usize>arg(args, SoftmaxFamilyArg.Out);
  const outer = arg(args, SoftmaxFamilyArg.Outer), dim = arg(args, SoftmaxFamilyArg.Dim), inner = arg(args, SoftmaxFamilyArg.Inner);
  if (inner == 1) {
    for (let o = tid; o < outer; o += nth) {
      const pa = a + <usize>(o * dim) * 4, pb = b + <usize>(o * dim) * 4, po = out + <usize>(o * dim) * 4;
      if (kind == LOG_SOFTMAX) {
        const m = rowMax(pa, dim);
        const lse = <f32>(<f64>m + Math.log(expSum(pa, m, dim, 0)));
        const lv = f32x4.splat(lse);
        let d = 0;
        for (; d + 4 <= dim; d += 4) v128.store(po + <usize>d * 4, f32x4.sub(v128.load(pa + <usize>d * 4), lv));
        for (; d < dim; d++) store<f32>(po + <usize>d * 4, load<f32>(pa + <usize>d * 4) - lse);
      } else if (kind == SOFTMAX_BACKWARD) {
        const dot = <f32>reduceRun(DOT, pb, pa, dim, 0);
        const dv = f32x4.splat(dot);
        let d = 0;
        for (; d + 4 <= dim; d += 4) {
          const q = <usize>d * 4;
          v128.store(po + q, f32x4.mul(v128.load(pa + q), f32x4.sub(v128.load(pb + q), dv)));
        }
        for (; d < dim; d++) {
          const q = <usize>d * 4;
          store<f32>(po + q, load<f32>(pa + q) * (load<f32>(pb + q) - dot));
        }
      } else {
        const s = <f32>reduceRun(SUM, pb, 0, dim, 0);
        const sv = f32x4.splat(s);
        let d = 0;
        for (; d + 4 <= dim; d += 4) {
          const q = <usize>d * 4;
          v128.store(po + q, f32x4.sub(v128.load(pb + q), f32x4.mul(exp4(v128.load(pa + q)), sv)));
        }
        for (; d < dim; d++) {
          const q = <usize>d * 4;
          store<f32>(po + q, load<f32>(pb + q) - Mathf.exp(load<f32>(pa + q)) * s);
        }
      }
    }
    return;
  }
  const groups = (inner + 3) >> 2;
  const step = <usize>inner * 4;
  for (let t = tid; t < outer * groups; t += nth) {
    const o = t / groups, i = (t - o * groups) * 4;
    const lanes = min(4, inner - i);
    const at = <usize>(o * dim * inner + i) * 4;
    const pa = a + at, pb = b + at, po = out + at;
    // Lines past `lanes` (the tail group) load and store element by element.
    if (kind == LOG_SOFTMAX) {
      let m = f32x4.splat(-Infinity);
      for (let d = 0; d < dim; d++) m = f32x4.max(m, ld(pa + <usize>d * step, lanes));
      let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
      for (let d = 0; d < dim; d++) {
        const e = exp4(f32x4.sub(ld(pa + <usize>d * step, lanes), m));
        s0 = f64x2.add(s0, lo64(e));
        s1 = f64x2.add(s1, hi64(e));
      }
      // lse = m + log s per lane, in float64.
      const l0 = f64x2.add(lo64(m), f64x2(Math.log(f64x2.extract_lane(s0, 0)), Math.log(f64x2.extract_lane(s0, 1))));
      const l1 = f64x2.add(hi64(m), f64x2(Math.log(f64x2.extract_lane(s1, 0)), Math.log(f64x2.extract_lane(s1, 1))));
      const lse = v128.shuffle<f32>(f32x4.demote_f64x2_zero(l0), f32x4.demote_f64x2_zero(l1), 0, 1, 4, 5);
      for (let d = 0; d < dim; d++) st(po + <usize>d * step, f32x4.sub(ld(pa + <usize>d * step, lanes), lse), lanes);
    } else if (kind == SOFTMAX_BACKWARD) {
      let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
      for (let d = 0; d < dim; d++) {
        const p = f32x4.mul(ld(pb + <usize>d * step, lanes), ld(pa + <usize>d * step, lanes));
        s0 = f64x2.add(s0, lo64(p));
        s1 = f64x2.add(s1, hi64(p));
      }
      const dot = v128.shuffle<f32>(f32x4.demote_f64x2_zero(s0), f32x4.demote_f64x2_zero(s1), 0, 1, 4, 5);
      for (let d = 0; d < dim; d++) {
        const q = <usize>d * step;
        st(po + q, f32x4.mul(ld(pa + q, lanes), f32x4.sub(ld(pb + q, lanes), dot)), lanes);
      }
    } else {
      let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
      for (let d = 0; d < dim; d++) {
        const v = ld(pb + <usize>d * step, lanes);
        s0 = f64x2.add(s0, lo64(v));
        s1 = f64x2.add(s1, hi64(v));
      }
      const s = v128.shuffle<f32>(f32x4.demote_f64x2_zero(s0), f32x4.demote_f64x2_zero(s1), 0, 1, 4, 5);
      for (let d = 0; d < dim; d++) {
        const q = <usize>d * step;
        st(po + q, f32x4.sub(ld(pb + q, lanes), f32x4.mul(exp4(ld(pa + q, lanes)), s)), lanes);
      }
    }
  }
}

@inline function ld(p: usize, lanes: i32): v128 {
  return lanes == 4 ? v128.load(p) : loadPartial(p, lanes);
}
@inline function st(p: usize, v: v128, lanes: i32): void {
  if (lanes == 4) v128.store(p, v);
  else storePartial(p, v, lanes);
}

export function logSoftmax(args: usize, tid: i32, nth: i32): void {
  softmaxFamily(LOG_SOFTMAX, args, tid, nth);
}
export function softmaxBackward(args: usize, tid: i32, nth: i32): void {
  softmaxFamily(SOFTMAX_BACKWARD, args, tid, nth);
}
export function logSoftmaxBackward(args: usize, tid: i32, nth: i32): void {
  softmaxFamily(LOG_SOFTMAX_BACKWARD, args, tid, nth);
}

/**
 * r-softmax's gradient: y and dy radix-major [batch, radix, card, rest], dx [batch, card,
 * radix, rest]; dx = y · (dy − Σ_r y·dy), four of `rest` at a time; (batch, card) pairs
 * split over threads. Slots: y, dy, dx, batch, card, radix, rest.
 */
export function rSoftmaxBackward(args: usize, tid: i32, nth: i32): void {
  const y = <usize>arg(args, RSoftmaxBackwardArg.Y), dy = <usize>arg(args, RSoftmaxBackwardArg.Dy), dx = <usize>arg(args, RSoftmaxBackwardArg.Dx);
  const batch = arg(args, RSoftmaxBackwardArg.Batch), card = arg(args, RSoftmaxBackwardArg.Card);
  const radix = arg(args, RSoftmaxBackwardArg.Radix), rest = arg(args, RSoftmaxBackwardArg.Rest);
  for (let t = tid; t < batch * card; t += nth) {
    const b = t / card, k = t - b * card;
    // Row r: source rows card·rest apart, destination rows rest apart.
    const src = <usize>((b * radix * card + k) * rest) * 4, srcStep = <usize>(card * rest) * 4;
    const dst = dx + <usize>((b * card + k) * radix * rest) * 4, dstStep = <usize>rest * 4;
    for (let i = 0; i < rest; i += 4) {
      const lanes = min(4, rest - i);
      const o = <usize>i * 4;
      let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
      for (let r = 0; r < radix; r++) {
        const q = src + <usize>r * srcStep + o;
        const p = f32x4.mul(ld(y + q, lanes), ld(dy + q, lanes));
        s0 = f64x2.add(s0, lo64(p));
        s1 = f64x2.add(s1, hi64(p));
      }
      const dot = v128.shuffle<f32>(f32x4.demote_f64x2_zero(s0), f32x4.demote_f64x2_zero(s1), 0, 1, 4, 5);
      for (let r = 0; r < radix; r++) {
        const q = src + <usize>r * srcStep + o;
        st(dst + <usize>r * dstStep + o, f32x4.mul(ld(y + q, lanes), f32x4.sub(ld(dy + q, lanes), dot)), lanes);
      }
    }
  }
}
