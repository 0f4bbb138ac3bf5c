// Normalisation and the split-attention kernels: batch norm (inference), softmax over an
// axis, and the radix reductions of SplAtConv2d.

import type { Activation, Ref } from '../backend.js';
import { applyActivation } from './elementwise.js';

type F32 = Float32Array;

export function batchNorm(x: Ref<F32>, weight: Ref<F32>, bias: Ref<F32>, mean: Ref<F32>, variance: Ref<F32>, eps: number,
  n: number, c: number, hw: number, act: Activation, out: Ref<F32>): void {
  for (let ch = 0; ch < c; ch++) {
    // Same association as PyTorch's CPU kernel: (x - mean) * (invstd * weight) + bias.
    const scale = weight.buf[weight.offset + ch]! / Math.sqrt(variance.buf[variance.offset + ch]! + eps);
    const shift = bias.buf[bias.offset + ch]!, mu = mean.buf[mean.offset + ch]!;
    for (let b = 0; b < n; b++) {
      const s = (b * c + ch) * hw;
      for (let i = 0; i < hw; i++) out.buf[out.offset + s + i] = (x.buf[x.offset + s + i]! - mu) * scale + shift;
    }
  }
  applyActivation(out.buf, out.offset, n * c * hw, act);
}

export function softmax(x: Ref<F32>, out: Ref<F32>, outer: number, dim: number, inner: number, log = false): void {
  const X = x.buf, Y = out.buf;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const b = o * dim * inner + i;
      let m = -Infinity;
      for (let d = 0; d < dim; d++) m = Math.max(m, X[x.offset + b + d * inner]!);
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const e = Math.exp(X[x.offset + b + d * inner]! - m);
        if (!log) Y[out.offset + b + d * inner] = e;
        s += e;
      }
      if (log) {
        const lse = m + Math.log(s);
        for (let d = 0; d < dim; d++) Y[out.offset + b + d * inner] = X[x.offset + b + d * inner]! - lse;
      } else {
        for (let d = 0; d < dim; d++) Y[out.offset + b + d * inner]! /= s;
      }
    }
  }
}

export function radixGap(x: Ref<F32>, out: Ref<F32>, batch: number, radix: number, c: number, hw: number): void {
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let r = 0; r < radix; r++) {
        const base = x.offset + ((b * radix + r) * c + j) * hw;
        for (let i = base; i < base + hw; i++) s += x.buf[i]!;
      }
      out.buf[out.offset + b * c + j] = s / hw;
    }
  }
}

export function rSoftmax(x: Ref<F32>, out: Ref<F32>, batch: number, card: number, radix: number, rest: number): void {
  const X = x.buf, Y = out.buf;
  for (let b = 0; b < batch; b++) {
    for (let k = 0; k < card; k++) {
      for (let i = 0; i < rest; i++) {
        // input index [b, k, r, i]; output index [b, r, k, i]
        const src = (r: number) => x.offset + ((b * card + k) * radix + r) * rest + i;
        const dst = (r: number) => out.offset + ((b * radix + r) * card + k) * rest + i;
        let m = -Infinity;
        for (let r = 0; r < radix; r++) m = Math.max(m, X[src(r)]!);
        let s = 0;
        for (let r = 0; r < radix; r++) {
          const e = Math.exp(X[src(r)]! - m);
          Y[dst(r)] = e;
          s += e;
        }
        for (let r = 0; r < radix; r++) Y[dst(r)]! /= s;
      }
    }
  }
}

export function radixAttend(x: Ref<F32>, atten: Ref<F32>, out: Ref<F32>, batch: number, radix: number, c: number, hw: number): void {
  const X = x.buf, A = atten.buf, Y = out.buf;
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < c; j++) {
      const o = out.offset + (b * c + j) * hw;
      Y.fill(0, o, o + hw);
      for (let r = 0; r < radix; r++) {
        const a = A[atten.offset + (b * radix + r) * c + j]!;
        const base = x.offset + ((b * radix + r) * c + j) * hw;
        for (let i = 0; i < hw; i++) Y[o + i] += a * X[base + i]!;
      }
    }
  }
}
