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

// Activation codes shared with the JS side (src/backend/wasm/kernels.ts).
export const ACT_NONE: i32 = 0;
export const ACT_RELU: i32 = 1;
export const ACT_SIGMOID: i32 = 2;
