// Kernel entry point. Every kernel takes its arguments from a block of i32/f32 slots in
// linear memory and the (thread id, thread count) pair that says which share of the output
// it computes, so the JS main thread and the pool's workers call the same export.

import { conv2d, DIRECT_SCRATCH } from './conv';
import { WINOGRAD_SCRATCH } from './winograd';
import { WINOGRAD4_SCRATCH } from './winograd4';
import { winogradWeights } from './winograd-conv';
import { winogradWeightGrad, WINOGRAD_GRAD_SCRATCH } from './winograd-grad';
import { maxPool2d, avgPool2d, meanRows, maxPool2dBackward, avgPool2dBackward } from './pool';
import { radixGap, radixAttend, rSoftmax, softmax, batchNorm, linear, unary, binary, stridedCopy } from './attention';
import { transposeGroups, flipTransposeGroups, conv2dBackwardWeight, conv2dBackwardInput, BACKWARD_SCRATCH } from './backward';
import { channelSum, channelMoments, batchNormBackward, activationBackward, radixAttendBackward, sgdStep, adamwStep } from './train';
import { CHANNEL_SCRATCH } from './tasks';
import { sumRows, logSoftmax, softmaxBackward, logSoftmaxBackward, rSoftmaxBackward } from './train';
import { Kernel, PeakArg } from '../src/backend/wasm/ids';
import { interpolate, interpolateBackward } from './interpolate';
import { fma } from './simd';
import { arg } from './args';

export function dispatch(kernel: i32, args: usize, tid: i32, nth: i32): void {
  switch (kernel) {
    case Kernel.Conv2d: conv2d(args, tid, nth); break;
    case Kernel.MaxPool: maxPool2d(args, tid, nth); break;
    case Kernel.AvgPool: avgPool2d(args, tid, nth); break;
    case Kernel.MeanRows: meanRows(args, tid, nth); break;
    case Kernel.RadixGap: radixGap(args, tid, nth); break;
    case Kernel.RadixAttend: radixAttend(args, tid, nth); break;
    case Kernel.RSoftmax: rSoftmax(args, tid, nth); break;
    case Kernel.Softmax: softmax(args, tid, nth); break;
    case Kernel.Interpolate: interpolate(args, tid, nth); break;
    case Kernel.InterpolateBackward: interpolateBackward(args, tid, nth); break;
    case Kernel.BatchNorm: batchNorm(args, tid, nth); break;
    case Kernel.Linear: linear(args, tid, nth); break;
    case Kernel.Unary: unary(args, tid, nth); break;
    case Kernel.Binary: binary(args, tid, nth); break;
    case Kernel.Peak: peak(args, tid); break;
    case Kernel.WinogradWeights: winogradWeights(args, tid, nth); break;
    case Kernel.TransposeGroups: transposeGroups(args, tid, nth); break;
    case Kernel.FlipTransposeGroups: flipTransposeGroups(args, tid, nth); break;
    case Kernel.Conv2dBackwardWeight: conv2dBackwardWeight(args, tid, nth); break;
    case Kernel.WinogradWeightGrad: winogradWeightGrad(args, tid, nth); break;
    case Kernel.Conv2dBackwardInput: conv2dBackwardInput(args, tid, nth); break;
    case Kernel.ChannelSum: channelSum(args, tid, nth); break;
    case Kernel.ChannelMoments: channelMoments(args, tid, nth); break;
    case Kernel.BatchNormBackward: batchNormBackward(args, tid, nth); break;
    case Kernel.ActivationBackward: activationBackward(args, tid, nth); break;
    case Kernel.RadixAttendBackward: radixAttendBackward(args, tid, nth); break;
    case Kernel.SgdStep: sgdStep(args, tid, nth); break;
    case Kernel.AdamwStep: adamwStep(args, tid, nth); break;
    case Kernel.MaxPoolBackward: maxPool2dBackward(args, tid, nth); break;
    case Kernel.AvgPoolBackward: avgPool2dBackward(args, tid, nth); break;
    case Kernel.SoftmaxBackward: softmaxBackward(args, tid, nth); break;
    case Kernel.LogSoftmax: logSoftmax(args, tid, nth); break;
    case Kernel.LogSoftmaxBackward: logSoftmaxBackward(args, tid, nth); break;
    case Kernel.RSoftmaxBackward: rSoftmaxBackward(args, tid, nth); break;
    case Kernel.SumRows: sumRows(args, tid, nth); break;
    case Kernel.StridedCopy: stridedCopy(args, tid, nth); break;
    default: unreachable();
  }
}

/** First byte the JS allocator may use (after this module's static data). */
export function heapBase(): usize {
  return (__heap_base + 63) & ~63;
}

export function convScratchBytes(): i32 {
  return max(max(max(max(max(DIRECT_SCRATCH, WINOGRAD_SCRATCH), WINOGRAD4_SCRATCH), WINOGRAD_GRAD_SCRATCH), BACKWARD_SCRATCH), CHANNEL_SCRATCH);
}

export function relaxed(): bool {
  return ASC_FEATURE_RELAXED_SIMD;
}

/**
 * The machine's SIMD multiply-add peak, measured with the GEMM's own instruction (fma: one
 * fused relaxed_madd in the relaxed builds, a multiply and an add in the others), so that no
 * kernel can beat it: per round PEAK_MADDS_PER_ROUND (12) independent chains, enough to keep
 * two FMA pipes busy through their latency. Writes a checksum to out[tid] so the work cannot
 * be optimised away.
 */
function peak(args: usize, tid: i32): void {
  const iters = arg(args, PeakArg.Iterations), out = <usize>arg(args, PeakArg.Out);
  const m = f32x4.splat(0.999999), d = f32x4.splat(1e-7);
  let c0 = f32x4.splat(1), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  let c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (let i = 0; i < iters; i++) {
    c0 = fma(c0, m, d); c1 = fma(c1, m, d); c2 = fma(c2, m, d); c3 = fma(c3, m, d);
    c4 = fma(c4, m, d); c5 = fma(c5, m, d); c6 = fma(c6, m, d); c7 = fma(c7, m, d);
    c8 = fma(c8, m, d); c9 = fma(c9, m, d); c10 = fma(c10, m, d); c11 = fma(c11, m, d);
  }
  const a = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)));
  const b = f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11));
  store<f32>(out + <usize>tid * 4, f32x4.extract_lane(f32x4.add(a, b), 0));
}
