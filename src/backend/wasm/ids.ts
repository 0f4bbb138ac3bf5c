// The numbers the JS side (src/backend/wasm/index.ts) and the AssemblyScript kernels
// (assembly/, which imports this file by its relative path) must agree on, defined once.
// Written in the subset both compilers accept: enums (numbered from 0 unless given) and
// integer constants, no imports, no types beyond those.

/** Kernel ids: the first argument of the module's `dispatch` export. */
export enum Kernel {
  Conv2d = 0,
  MaxPool = 1,
  AvgPool = 2,
  MeanRows = 3,
  RadixGap = 4,
  RadixAttend = 5,
  RSoftmax = 6,
  Softmax = 7,
  BatchNorm = 8,
  Linear = 9,
  Unary = 10,
  Binary = 11,
  Peak = 12,
  WinogradWeights = 13,
  // Training: convolution gradients (assembly/backward.ts).
  TransposeGroups = 14,
  Conv2dBackwardWeight = 15,
  Conv2dBackwardInput = 16,
  // Training: the rest (assembly/train.ts, pool backward in assembly/pool.ts).
  ChannelSum = 17,
  ChannelMoments = 18,
  BatchNormBackward = 19,
  ActivationBackward = 20,
  RadixAttendBackward = 21,
  SgdStep = 22,
  AdamwStep = 23,
  MaxPoolBackward = 24,
  AvgPoolBackward = 25,
  SoftmaxBackward = 26,
  LogSoftmax = 27,
  LogSoftmaxBackward = 28,
  RSoftmaxBackward = 29,
  SumRows = 30,
  FlipTransposeGroups = 31,
  // A strided copy into a dense tensor (assembly/attention.ts).
  StridedCopy = 32,
  // Resizing and its gradient (assembly/interpolate.ts).
  Interpolate = 33,
  InterpolateBackward = 34,
  // Training: the weight gradient of a Winograd convolution (assembly/winograd-grad.ts).
  WinogradWeightGrad = 35,
}

// Each kernel's argument slots: the JS side writes slot `Layout.Name` of the args block
// (src/backend/wasm/index.ts `slots`, which needs a value for every name, so a slot it
// forgets does not compile) and the kernel reads the same `Layout.Name` (assembly/args.ts).
// Float slots are noted; the rest are i32 (addresses, sizes, codes, flags).

/** Kernel.Conv2d (GEMM, GEMV and Winograd paths). */
export enum Conv2dArg {
  X, W, Bias, Residual, Out,
  N, C, H, Wd, O, Kh, Kw, StrideH, StrideW, PadH, PadW, DilH, DilW, Groups, Oh, Ow,
  Act, Scratch, ScratchStride,
  /** Winograd's transformed weights made per call, or 0. */
  WinogradWeights,
  /** The rectify factor ([oh·ow]), or 0. */
  Factor,
  /** 0: GEMM (or Winograd with WinogradWeights); 1: Winograd transforming weights in each task; 2: the same, weights flipped. */
  WinogradInTask,
  /** Winograd's tiles: 0 for F(2×2, 3×3), 1 for F(4×4, 3×3). */
  WinogradF4,
}

/** Kernel.Conv2dBackwardWeight (A = x, B = dy, Out = dw) and Conv2dBackwardInput (A = dy, B = transposed weights, Out = dx). */
export enum ConvBackwardArg {
  A, B, Out,
  N, C, H, Wd, O, Kh, Kw, StrideH, StrideW, PadH, PadW, DilH, DilW, Groups, Oh, Ow,
  Scratch, ScratchStride,
}

/**
 * Kernel.WinogradWeightGrad. Phase 0 sums ∂L/∂U over tile blocks — with Segments > 1, each
 * segment of the blocks into its own part of Partials ([segment][group][ξ][og][cg]); phase 1
 * adds the segments in order and writes Dw (the JS side runs it after phase 0).
 */
export enum WinogradGradArg { X, Dy, Dw, N, C, H, Wd, O, PadH, PadW, Groups, Oh, Ow, Scratch, ScratchStride, Partials, Segments, Phase, F4 }

/** Kernel.TransposeGroups: each group's [og × k] weight block transposed to [k × og]. */
export enum TransposeGroupsArg { W, Wt, O, Groups, K }
/** Kernel.FlipTransposeGroups: the weights of a stride-1 conv's input gradient. */
export enum FlipTransposeGroupsArg { W, Wt, O, Groups, Cg, Taps }
/** Kernel.WinogradWeights: U = G g Gᵀ for every output channel. */
export enum WinogradWeightsArg { W, U, O, Cg, Groups, Flip, F4 }

/** Kernel.MaxPool, AvgPool (X = x, Out = out) and AvgPoolBackward (X = dy, Out = dx). */
export enum PoolArg { X, Out, Planes, H, W, Kh, Kw, StrideH, StrideW, PadH, PadW, Oh, Ow, CountIncludePad, Images }
/** Kernel.MaxPoolBackward. */
export enum MaxPoolBackwardArg { X, Dy, Dx, Planes, H, W, Kh, Kw, StrideH, StrideW, PadH, PadW, Oh, Ow }

/** Kernel.MeanRows and SumRows: one value per row of [rows, cols]. */
export enum RowsArg { X, Out, Rows, Cols }
/** Kernel.Softmax: over the middle axis of [outer, dim, inner]. */
export enum SoftmaxArg { X, Out, Outer, Dim, Inner }
/** Kernel.LogSoftmax (A = x, B unused), SoftmaxBackward and LogSoftmaxBackward (A = y, B = dy). */
export enum SoftmaxFamilyArg { A, B, Out, Outer, Dim, Inner }
/** Kernel.BatchNorm (inference); Eps is a float. */
export enum BatchNormArg { X, Weight, Bias, Mean, Variance, Out, N, C, Hw, Act, Eps, Scratch, ScratchStride }
/** Kernel.Linear. */
export enum LinearArg { X, W, Bias, Out, M, K, N, Scratch, ScratchStride }
/** Kernel.Unary; Alpha is a float. */
export enum UnaryArg { X, Out, N, Op, Alpha }
/** Kernel.Binary: b is either the same shape as a, or one value per row (BPerRow). */
export enum BinaryArg { A, B, Out, Rows, Len, Op, BPerRow }
/** Kernel.StridedCopy of up to four dims into a dense tensor. */
export enum StridedCopyArg { Src, Dst, D0, D1, D2, D3, S0, S1, S2, S3 }

/** Kernel.Interpolate (X = x, Out = out) and InterpolateBackward (X = dy, Out = dx); ScaleH and ScaleW are floats. */
export enum InterpolateArg { X, Out, Planes, Ih, Iw, Oh, Ow, Bilinear, AlignCorners, ScaleH, ScaleW }

/** Kernel.RadixGap. */
export enum RadixGapArg { X, Out, Batch, Radix, C, Hw }
/** Kernel.RadixAttend. */
export enum RadixAttendArg { X, Atten, Out, Batch, Radix, C, Hw }
/** Kernel.RSoftmax. */
export enum RSoftmaxArg { X, Out, Batch, Card, Radix, Rest }
/** Kernel.RSoftmaxBackward. */
export enum RSoftmaxBackwardArg { Y, Dy, Dx, Batch, Card, Radix, Rest }

/** Kernel.ChannelSum. */
export enum ChannelSumArg { X, Out, N, C, Hw, Scratch, ScratchStride }
/** Kernel.ChannelMoments. */
export enum ChannelMomentsArg { X, Mean, Variance, N, C, Hw, Scratch, ScratchStride }
/** Kernel.BatchNormBackward; Eps is a float. */
export enum BatchNormBackwardArg { X, Dy, Mean, Variance, Weight, Dx, DWeight, DBias, N, C, Hw, Eps, Scratch, ScratchStride }
/** Kernel.ActivationBackward. */
export enum ActivationBackwardArg { Act, Y, Dy, Dx, N }
/** Kernel.RadixAttendBackward. */
export enum RadixAttendBackwardArg { X, Atten, Dy, Dx, DAtten, Batch, Radix, C, Hw }
/** Kernel.SgdStep; Lr, Momentum and WeightDecay are floats. */
export enum SgdStepArg { P, Grad, Buf, N, UseBuf, Nesterov, First, Lr, Momentum, WeightDecay }
/** Kernel.AdamwStep; everything after N is a float (the step's constants, computed once on the JS side). */
export enum AdamwStepArg { P, Grad, ExpAvg, ExpAvgSq, N, Decay, Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, Bc2Sqrt, Eps, StepSize }
/** Kernel.Peak. */
export enum PeakArg { Iterations, Out }

/** Activation codes of fused epilogues and activationBackward. */
export enum Act {
  None = 0,
  Relu = 1,
  Sigmoid = 2,
}

/** Element-wise unary op codes (the `unary` kernel). */
export enum UnaryCode {
  Relu = 0,
  Sigmoid = 1,
  Exp = 2,
  Neg = 3,
  Sqrt = 4,
  Rsqrt = 5,
  AddScalar = 6,
  MulScalar = 7,
}

/** Element-wise binary op codes (the `binary` kernel). */
export enum BinaryCode {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
}

/** The argument block's size in 4-byte slots. */
export const ARG_SLOTS = 64;
/**
 * First slot of the claim words that threads take tasks from (assembly/tasks.ts): one 8-byte
 * word (two slots) per segment, CLAIM_SEGMENTS of them up to the block's end; the JS side
 * zeroes them before each dispatch, and arguments stay below.
 */
export const CLAIM_SLOT = 48;
/** Most segments a dispatch's tasks are cut into (more threads than this share them). */
export const CLAIM_SEGMENTS = (ARG_SLOTS - CLAIM_SLOT) / 2;
/** Largest group input-channel count the Winograd scratch holds transformed (ResNeSt: 512). */
export const WINOGRAD_MAX_CG = 512;
/** Winograd's tiles per block (a multiple of 8, the micro-kernel's width); a map of at most one block transforms weights in each task. */
export const WINOGRAD_TILE_BLOCK = 64;
/** The same for F(4×4, 3×3)'s tiles (each has four times the outputs). */
export const WINOGRAD4_TILE_BLOCK = 32;
/**
 * Floats added after each of Winograd's 16 (36) ξ planes (weights, inputs, products): planes a
 * multiple of 4 KB apart fall into the same L1 sets, and the transforms touch all 16 at once
 * (7×7 maps: 6.0 → 4.5 ms a conv).
 */
export const WINOGRAD_PLANE_PAD = 16;
/** Independent multiply-add chains per round of the peak loop (assembly/index.ts: peak): enough to cover FMA latency on two pipes. */
export const PEAK_MADDS_PER_ROUND = 12;
