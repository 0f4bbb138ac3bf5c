// The numbers the JS side (src/backend/wasm/index.ts) and the AssemblyScript kernels
// (assembly/, which imports this file by its relative path) must agree on, defined once.
// Written in the subset both compilers accept: enums of integer literals and integer
// constants, no imports, no types beyond those.

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
}

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
/**
 * Floats added after each of Winograd's 16 ξ planes (weights, inputs, products): planes a
 * multiple of 4 KB apart fall into the same L1 sets, and the transforms touch all 16 at once
 * (7×7 maps: 6.0 → 4.5 ms a conv).
 */
export const WINOGRAD_PLANE_PAD = 16;
/** Independent multiply-add chains per round of the peak loop (assembly/index.ts: peak): enough to cover FMA latency on two pipes. */
export const PEAK_MADDS_PER_ROUND = 12;
