// The two transforms F(4×4, 3×3) adds to the Winograd weight gradient (winograd-grad.ts runs
// the GEMMs): ∂L/∂U[ξ] = Σ_tiles (A ∂Y Aᵀ)[ξ] · (Bᵀ d B)[ξ] and ∂L/∂g = Gᵀ (∂L/∂U) G, with A,
// B, G the matrices of winograd4.ts. A's rows take a 4-vector u to
//   u0, u0 + u1 + u2 + u3, u0 − u1 + u2 − u3, u0 + 2u1 + 4u2 + 8u3, u0 − 2u1 + 4u2 − 8u3, u3,
// and Gᵀ's rows take a 6-vector m to
//   m0/4 − (m1 + m2)/6 + (m3 + m4)/24, (m2 − m1)/6 + (m3 − m4)/12, (m3 + m4 − m1 − m2)/6 + m5.

import { column } from './winograd';
import { tileX4, tileY4 } from './winograd4';
import { storeKernelRow } from './winograd-grad';

/** A (u0 … u3): six vectors stored at dst + i·stride. */
@inline function a6(u0: v128, u1: v128, u2: v128, u3: v128, dst: usize, stride: usize): void {
  const e = f32x4.add(u0, u2), o = f32x4.add(u1, u3);
  const e4 = f32x4.add(u0, f32x4.mul(u2, f32x4.splat(4))), o8 = f32x4.add(f32x4.mul(u1, f32x4.splat(2)), f32x4.mul(u3, f32x4.splat(8)));
  v128.store(dst, u0);
  v128.store(dst + stride, f32x4.add(e, o));
  v128.store(dst + 2 * stride, f32x4.sub(e, o));
  v128.store(dst + 3 * stride, f32x4.add(e4, o8));
  v128.store(dst + 4 * stride, f32x4.sub(e4, o8));
  v128.store(dst + 5 * stride, u3);
}

/** Row y of a tile's 4×4 block of ∂Y at column x (four floats), zeros past the map's edge. */
@inline function blockRow(plane: usize, oh: i32, ow: i32, y: i32, x: i32): v128 {
  if (y >= oh) return f32x4.splat(0);
  const p = plane + <usize>(y * ow + x) * 4;
  if (x + 4 <= ow) return v128.load(p);
  const n = ow - x;
  return f32x4(load<f32>(p), n > 1 ? load<f32>(p, 4) : 0, n > 2 ? load<f32>(p, 8) : 0, 0);
}

/**
 * D[ξ][r][j] = (A ∂Y_t Aᵀ)[ξ] for output channels oc0 + r (r < on) and tiles t0 + j (j < tn)
 * of the batch: rows ld bytes apart, ξ planes xiStride bytes apart, written up to tn rounded
 * up to 4 (lanes past tn repeat the last tile). Four tiles a vector: each tile's rows are
 * loaded whole where they lie inside the map and transposed into columns over the tiles.
 */
export function transformOutputGrad4(dy: usize, o: i32, P: i32, oh: i32, ow: i32, T: i32, tilesX: i32, oc0: i32, on: i32, t0: i32, tn: i32,
  dst: usize, xiStride: usize, ld: usize, tmp: usize): void {
  const last = tn - 1;
  for (let j = 0; j < tn; j += 4) {
    const ta = t0 + j, tb = t0 + min(j + 1, last), tc = t0 + min(j + 2, last), te = t0 + min(j + 3, last);
    const ya = tileY4(T, tilesX, ta), xa = tileX4(T, tilesX, ta), yb = tileY4(T, tilesX, tb), xb = tileX4(T, tilesX, tb);
    const yc = tileY4(T, tilesX, tc), xc = tileX4(T, tilesX, tc), ye = tileY4(T, tilesX, te), xe = tileX4(T, tilesX, te);
    let pa = dy + <usize>(((ta / T) * o + oc0) * P) * 4, pb = dy + <usize>(((tb / T) * o + oc0) * P) * 4;
    let pc = dy + <usize>(((tc / T) * o + oc0) * P) * 4, pe = dy + <usize>(((te / T) * o + oc0) * P) * 4;
    let q = dst + <usize>j * 4;
    const step = <usize>P * 4;
    for (let r = 0; r < on; r++, pa += step, pb += step, pc += step, pe += step, q += ld) {
      // A Δ along each block row (p), then along the columns.
      for (let p = 0; p < 4; p++) {
        const a = blockRow(pa, oh, ow, ya + p, xa), b = blockRow(pb, oh, ow, yb + p, xb);
        const c = blockRow(pc, oh, ow, yc + p, xc), e = blockRow(pe, oh, ow, ye + p, xe);
        a6(column(a, b, c, e, 0), column(a, b, c, e, 1), column(a, b, c, e, 2), column(a, b, c, e, 3), tmp + <usize>p * 16, 64);
      }
      for (let k = 0; k < 6; k++) {
        const s = tmp + <usize>(k * 64);
        a6(v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48), q + <usize>k * xiStride, 6 * xiStride);
      }
    }
  }
}

/** Gᵀ (m0 … m5): three vectors. */
@inline function gt0(m0: v128, m1: v128, m2: v128, m3: v128, m4: v128): v128 {
  return f32x4.add(f32x4.sub(f32x4.mul(m0, f32x4.splat(0.25)), f32x4.mul(f32x4.add(m1, m2), f32x4.splat(1.0 / 6))),
    f32x4.mul(f32x4.add(m3, m4), f32x4.splat(1.0 / 24)));
}
@inline function gt1(m1: v128, m2: v128, m3: v128, m4: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.sub(m2, m1), f32x4.splat(1.0 / 6)), f32x4.mul(f32x4.sub(m3, m4), f32x4.splat(1.0 / 12)));
}
@inline function gt2(m1: v128, m2: v128, m3: v128, m4: v128, m5: v128): v128 {
  return f32x4.add(f32x4.mul(f32x4.sub(f32x4.add(m3, m4), f32x4.add(m1, m2)), f32x4.splat(1.0 / 6)), m5);
}

/**
 * dw[c][3×3] = Gᵀ M_c G for the cg 6×6 matrices M_c[ξ] = u[ξ][c] (ξ planes xiStride bytes
 * apart); four input channels a step, one per lane, as winograd-grad.ts's weightsFromU.
 * Gᵀ M (3 × 6) goes through tmp (18 vectors), so each of M's 36 vectors is read once.
 */
export function weightsFromU4(u: usize, xiStride: usize, cg: i32, dw: usize, tmp: usize): void {
  for (let c = 0; c < cg; c += 4) {
    const p = u + <usize>c * 4, lanes = min(4, cg - c);
    // Column k of M is ξ = k, 6 + k, … 30 + k; rows a of Gᵀ M go to tmp + (a·6 + k)·16.
    for (let k = 0; k < 6; k++) {
      const q = p + <usize>k * xiStride, s = 6 * xiStride;
      const m1 = v128.load(q + s), m2 = v128.load(q + 2 * s), m3 = v128.load(q + 3 * s), m4 = v128.load(q + 4 * s);
      v128.store(tmp + <usize>k * 16, gt0(v128.load(q), m1, m2, m3, m4));
      v128.store(tmp + <usize>(6 + k) * 16, gt1(m1, m2, m3, m4));
      v128.store(tmp + <usize>(12 + k) * 16, gt2(m1, m2, m3, m4, v128.load(q + 5 * s)));
    }
    const out = dw + <usize>(c * 9) * 4;
    for (let a = 0; a < 3; a++) {
      const r = tmp + <usize>(a * 96);
      const r1 = v128.load(r, 16), r2 = v128.load(r, 32), r3 = v128.load(r, 48), r4 = v128.load(r, 64);
      storeKernelRow(out + <usize>(a * 3) * 4, gt0(v128.load(r), r1, r2, r3, r4), gt1(r1, r2, r3, r4), gt2(r1, r2, r3, r4, v128.load(r, 80)), lanes);
    }
  }
}
