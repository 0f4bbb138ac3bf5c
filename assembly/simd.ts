// SIMD helpers shared by the kernels. One source builds twice: with relaxed SIMD, fma is a
// single f32x4.relaxed_madd (fused on hardware that has FMA); without, a multiply then an add.

@inline export function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline export function relu4(v: v128): v128 {
  // max(v, 0) that keeps NaN, like PyTorch: select v where !(v <= 0).
  return v128.bitselect(f32x4.splat(0), v, f32x4.le(v, f32x4.splat(0)));
}

@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

export function sigmoidf(x: f32): f32 {
  return 1.0 / (1.0 + Mathf.exp(-x));
}

/**
 * e^x on four lanes: x = k·ln2 + r with |r| ≤ ln2/2, e^r by its degree-7 Taylor polynomial
 * (relative error < 1e-8 before rounding), 2^k built in the exponent bits. Inputs are clamped
 * to [-87.3, 88.3] so that 2^k stays a normal float32 (e^88.3 ≈ 2.2e38 stands in for larger results); NaN stays NaN.
 */
export function exp4(x: v128): v128 {
  const v = f32x4.max(f32x4.min(x, f32x4.splat(88.3)), f32x4.splat(-87.3));
  const k = f32x4.nearest(f32x4.mul(v, f32x4.splat(1.4426950408889634)));
  // ln 2 split in two so that k·ln2 is exact to float32 precision.
  let r = f32x4.sub(v, f32x4.mul(k, f32x4.splat(0.693145751953125)));
  r = f32x4.sub(r, f32x4.mul(k, f32x4.splat(1.428606765330187e-6)));
  let p = f32x4.splat(1.0 / 5040);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 720));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  const two = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(k), i32x4.splat(127)), 23);
  return f32x4.mul(p, two);
}

/** Lanes 0–1 (lo64) or 2–3 (hi64) of an f32x4 widened to f64x2: sums of many terms stay exact to float32. */
@inline export function lo64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
@inline export function hi64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
}

/** The largest of the n floats at p. */
@inline export function rowMax(p: usize, n: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let d = 0;
  for (; d + 4 <= n; d += 4) mv = f32x4.max(mv, v128.load(p + <usize>d * 4));
  let m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  for (; d < n; d++) m = max(m, load<f32>(p + <usize>d * 4));
  return m;
}

/**
 * Σ e^(x − m) over the n floats x at p, each term also stored at out unless out is 0. The
 * sum is kept in f64: a thousand class probabilities summed in f32 lose ~1e-6.
 */
@inline export function expSum(p: usize, m: f32, n: i32, out: usize): f64 {
  const ms = f32x4.splat(m);
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0);
  let d = 0;
  for (; d + 4 <= n; d += 4) {
    const e = exp4(f32x4.sub(v128.load(p + <usize>d * 4), ms));
    if (out) v128.store(out + <usize>d * 4, e);
    s0 = f64x2.add(s0, lo64(e));
    s1 = f64x2.add(s1, hi64(e));
  }
  const s2 = f64x2.add(s0, s1);
  let s = f64x2.extract_lane(s2, 0) + f64x2.extract_lane(s2, 1);
  for (; d < n; d++) {
    const e = Mathf.exp(load<f32>(p + <usize>d * 4) - m);
    if (out) store<f32>(out + <usize>d * 4, e);
    s += <f64>e;
  }
  return s;
}

/** 1 / (1 + e^−x) on four lanes. */
export function sigmoid4(x: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), exp4(f32x4.neg(x))));
}

/** dst[0, n) = src[0, n) (floats): short runs, where memory.copy's call costs more than the copy. */
@inline export function copyFloats(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + <usize>i * 4, v128.load(src + <usize>i * 4));
  for (; i < n; i++) store<f32>(dst + <usize>i * 4, load<f32>(src + <usize>i * 4));
}

/** Stores the first n (0..4) lanes of v at p. */
@inline export function storePartial(p: usize, v: v128, n: i32): void {
  if (n > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
  if (n > 3) store<f32>(p, f32x4.extract_lane(v, 3), 12);
}

/** Loads the first n (0..4) floats at p, zeros elsewhere. */
@inline export function loadPartial(p: usize, n: i32): v128 {
  let v = f32x4.splat(0);
  if (n > 0) v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  if (n > 3) v = f32x4.replace_lane(v, 3, load<f32>(p, 12));
  return v;
}
