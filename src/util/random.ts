// Deterministic pseudo-random numbers for weight initialisation and tests. A counter-based
// hash (Chris Wellons' lowbias32) so that element i of a stream is computable on its own
// and reproducible in other languages (scripts/make_fixtures.py implements the same).

export function hash32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a of a string, used to give every parameter name its own stream. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Uniform floats in [lo, hi): value i = lo + (hi - lo) · hash32(seed + i) / 2^32, computed in float64. */
export function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * (hash32((seed + i) >>> 0) / 4294967296);
  return out;
}

/** Normal samples (Box–Muller over two uniform streams). */
export function normal(n: number, seed: number, mean: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = (hash32((seed + 2 * i) >>> 0) + 1) / 4294967297;
    const u2 = hash32((seed + 2 * i + 1) >>> 0) / 4294967296;
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}
