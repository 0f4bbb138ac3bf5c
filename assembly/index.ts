// Kernel entry point. Every kernel takes its arguments from a block of i32/f32 slots in
// linear memory and the (thread id, thread count) pair that says which share of the output
// it computes, so the JS main thread and the pool's workers call the same export.

import { conv2d, DIRECT_SCRATCH } from './conv';
import { winogradWeights, WINOGRAD_SCRATCH } from './winograd';
import { maxPool2d, avgPool2d, meanRows, maxPool2dBackward, avgPool2dBackward } from './pool';
import { radixGap, radixAttend, rSoftmax, softmax, batchNorm, linear, unary, binary, stridedCopy } from './attention';
import { transposeGroups, flipTransposeGroups, conv2dBackwardWeight, conv2dBackwardInput, BACKWARD_SCRATCH } from './backward';
import { channelSum, channelMoments, batchNormBackward, activationBackward, radixAttendBackward, sgdStep, adamwStep } from './train';
import { sumRows, logSoftmax, softmaxBackward, logSoftmaxBackward, rSoftmaxBackward } from './train';
import { Kernel } from '../src/backend/wasm/ids';

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
    case Kernel.BatchNorm: batchNorm(args, tid, nth); break;
    case Kernel.Linear: linear(args, tid, nth); break;
    case Kernel.Unary: unary(args, tid, nth); break;
    case Kernel.Binary: binary(args, tid, nth); break;
    case Kernel.Peak: peak(args, tid); break;
    case Kernel.WinogradWeights: winogradWeights(args, tid, nth); break;
    case Kernel.TransposeGroups: transposeGroups(args, tid, nth); break;
    case Kernel.FlipTransposeGroups: flipTransposeGroups(args, tid, nth); break;
    case Kernel.Conv2dBackwardWeight: conv2dBackwardWeight(args, tid, nth); break;
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
  return max(max(DIRECT_SCRATCH, WINOGRAD_SCRATCH), BACKWARD_SCRATCH);
}

export function relaxed(): bool {
  return ASC_FEATURE_RELAXED_SIMD;
}

/**
 * The machine's SIMD multiply-add peak, measured: per round, 6 independent f32x4 multiply
 * chains and 6 independent add chains (enough to cover latency on both pipes: the GEMM's
 * instruction mix, a multiply and an add per multiply-add), counted as 6 multiply-adds.
 * Writes a checksum to out[tid] so the work cannot be optimised away.
 */
function peak(args: usize, tid: i32): void {
  const iters = load<i32>(args), out = <usize>load<i32>(args, 4);
  const m = f32x4.splat(0.999999), d = f32x4.splat(1e-7);
  let p0 = f32x4.splat(1), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0;
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0;
  for (let i = 0; i < iters; i++) {
    p0 = f32x4.mul(p0, m); s0 = f32x4.add(s0, d); p1 = f32x4.mul(p1, m); s1 = f32x4.add(s1, d);
    p2 = f32x4.mul(p2, m); s2 = f32x4.add(s2, d); p3 = f32x4.mul(p3, m); s3 = f32x4.add(s3, d);
    p4 = f32x4.mul(p4, m); s4 = f32x4.add(s4, d); p5 = f32x4.mul(p5, m); s5 = f32x4.add(s5, d);
  }
  const p = f32x4.add(f32x4.add(f32x4.add(p0, p1), f32x4.add(p2, p3)), f32x4.add(p4, p5));
  const s = f32x4.add(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)), f32x4.add(s4, s5));
  store<f32>(out + <usize>tid * 4, f32x4.extract_lane(f32x4.add(p, s), 0));
}
