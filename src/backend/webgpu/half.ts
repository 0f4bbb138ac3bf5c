// Float32 → float16 bits on the host, rounding to nearest even (WGSL leaves the rounding of
// its own f32 → f16 conversion to the implementation; fill values need it exact).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE binary16 bits of `value` (first rounded to float32): round to nearest even, overflow to ±Infinity. */
export function halfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // NaN stays NaN (quiet)
  const e = exp - 112; // the binary16 exponent field
  if (e >= 0x1f) return sign | 0x7c00;
  const full = mant | 0x800000;
  // Normal results drop 13 mantissa bits; subnormal ones (e ≤ 0) shift further; below half
  // the smallest subnormal everything rounds to zero.
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign;
  const kept = e > 0 ? (e << 10) | (mant >>> 13) : full >>> shift;
  const rest = (e > 0 ? mant : full) & ((1 << shift) - 1), half = 1 << (shift - 1);
  // A carry out of the mantissa steps the exponent (to Infinity past the largest finite).
  return sign | (kept + (rest > half || (rest === half && (kept & 1)) ? 1 : 0));
}

/** The float value of binary16 bits. */
export function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1, exp = (bits >>> 10) & 0x1f, mant = bits & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (exp ? (1 + mant / 1024) * 2 ** (exp - 15) : mant * 2 ** -24);
}

/** `value` rounded to the nearest float16 (what f16 storage keeps of it). */
export const toHalf = (value: number): number => halfValue(halfBits(value));
