// Reference GEMM in plain TypeScript: C = A·B, row-major with leading dimensions. Columns are
// processed in panels so that the rows of B being streamed stay in cache, and four rows of A
// share each load of B. C's type sets the accumulation: float32 for the forward pass, like
// PyTorch's; float64 for the reference training kernels, which the others are held to.

const PANEL = 256;

export function sgemm(
  m: number, n: number, k: number,
  a: Float32Array, aOff: number, lda: number,
  b: Float32Array, bOff: number, ldb: number,
  c: Float32Array | Float64Array, cOff: number, ldc: number,
): void {
  for (let j0 = 0; j0 < n; j0 += PANEL) {
    const j1 = Math.min(n, j0 + PANEL);
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const c0 = cOff + i * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
      c.fill(0, c0 + j0, c0 + j1); c.fill(0, c1 + j0, c1 + j1);
      c.fill(0, c2 + j0, c2 + j1); c.fill(0, c3 + j0, c3 + j1);
      const a0 = aOff + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
      for (let p = 0; p < k; p++) {
        const v0 = a[a0 + p]!, v1 = a[a1 + p]!, v2 = a[a2 + p]!, v3 = a[a3 + p]!;
        const r = bOff + p * ldb;
        for (let j = j0; j < j1; j++) {
          const x = b[r + j]!;
          c[c0 + j] += v0 * x;
          c[c1 + j] += v1 * x;
          c[c2 + j] += v2 * x;
          c[c3 + j] += v3 * x;
        }
      }
    }
    for (; i < m; i++) {
      const c0 = cOff + i * ldc;
      c.fill(0, c0 + j0, c0 + j1);
      const a0 = aOff + i * lda;
      for (let p = 0; p < k; p++) {
        const v0 = a[a0 + p]!;
        const r = bOff + p * ldb;
        for (let j = j0; j < j1; j++) c[c0 + j] += v0 * b[r + j]!;
      }
    }
  }
}
