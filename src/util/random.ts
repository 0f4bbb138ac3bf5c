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

/** A seeded stream of uniforms in [0, 1) (hash32 of a counter): reproducible across runs. */
export class Rng {
  private i = 0;
  constructor(readonly seed: number) {}
  next(): number {
    return hash32((this.seed + this.i++) >>> 0) / 4294967296;
  }
  /** A standard normal (Box–Muller). */
  normal(): number {
    const u1 = 1 - this.next(), u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  /** Gamma(shape, 1) by Marsaglia–Tsang (with the shape < 1 boost). */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * this.next() ** (1 / shape);
    const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }
  /** Beta(a, b) as X / (X + Y) of two gammas. */
  beta(a: number, b: number): number {
    const x = this.gamma(a), y = this.gamma(b);
    return x / (x + y);
  }
}
