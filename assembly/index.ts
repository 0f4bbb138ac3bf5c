// Kernel entry point. Every kernel takes its arguments from a block of i32/f32 slots in
// linear memory and the (thread id, thread count) pair that says which share of the output
// it computes, so the JS main thread and the pool's workers call the same export.

import { conv2d, CONV_SCRATCH } from './conv';
import { maxPool2d, avgPool2d, meanRows } from './pool';
import { radixGap, radixAttend, rSoftmax, softmax, batchNorm, linear, unary, binary } from './attention';
import { fma } from './simd';

// Kernel ids shared with src/backend/wasm/kernels.ts.
const K_CONV2D = 0;
const K_MAXPOOL = 1;
const K_AVGPOOL = 2;
const K_MEANROWS = 3;
const K_RADIXGAP = 4;
const K_RADIXATTEND = 5;
const K_RSOFTMAX = 6;
const K_SOFTMAX = 7;
const K_BATCHNORM = 8;
const K_LINEAR = 9;
const K_UNARY = 10;
const K_BINARY = 11;
const K_PEAK = 12;

export function dispatch(kernel: i32, args: usize, tid: i32, nth: i32): void {
  switch (kernel) {
    case K_CONV2D: conv2d(args, tid, nth); break;
    case K_MAXPOOL: maxPool2d(args, tid, nth); break;
    case K_AVGPOOL: avgPool2d(args, tid, nth); break;
    case K_MEANROWS: meanRows(args, tid, nth); break;
    case K_RADIXGAP: radixGap(args, tid, nth); break;
    case K_RADIXATTEND: radixAttend(args, tid, nth); break;
    case K_RSOFTMAX: rSoftmax(args, tid, nth); break;
    case K_SOFTMAX: softmax(args, tid, nth); break;
    case K_BATCHNORM: batchNorm(args, tid, nth); break;
    case K_LINEAR: linear(args, tid, nth); break;
    case K_UNARY: unary(args, tid, nth); break;
    case K_BINARY: binary(args, tid, nth); break;
    case K_PEAK: peak(args, tid); break;
    default: unreachable();
  }
}

/** First byte the JS allocator may use (after this module's static data). */
export function heapBase(): usize {
  return (__heap_base + 63) & ~63;
}

export function convScratchBytes(): i32 {
  return CONV_SCRATCH;
}

export function relaxed(): bool {
  return ASC_FEATURE_RELAXED_SIMD;
}

/**
 * The machine's SIMD peak, measured: `iters` rounds of 12 independent f32x4 multiply-adds
 * (enough chains to hide latency), the same instruction mix as the GEMM micro-kernel.
 * Writes a checksum to out[tid] so the work cannot be optimised away.
 */
function peak(args: usize, tid: i32): void {
  const iters = load<i32>(args), out = <usize>load<i32>(args, 4);
  const m = f32x4.splat(0.999999), d = f32x4.splat(1e-7);
  let a0 = f32x4.splat(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  let a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  for (let i = 0; i < iters; i++) {
    a0 = fma(a0, m, d); a1 = fma(a1, m, d); a2 = fma(a2, m, d); a3 = fma(a3, m, d);
    a4 = fma(a4, m, d); a5 = fma(a5, m, d); a6 = fma(a6, m, d); a7 = fma(a7, m, d);
    a8 = fma(a8, m, d); a9 = fma(a9, m, d); a10 = fma(a10, m, d); a11 = fma(a11, m, d);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  const t = f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
  store<f32>(out + <usize>tid * 4, f32x4.extract_lane(t, 0));
}
