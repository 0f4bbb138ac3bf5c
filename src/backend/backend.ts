// The one interface every backend implements. Ops (src/ops) own shapes, checks and
// semantics; a backend only owns memory and supplies kernels over flat buffers. Kernels
// take contiguous row-major operands addressed as (buffer, element offset) unless a
// parameter says "strides". Nothing here knows about modules or models.

export type DType = 'float32' | 'int32';
export type TypedArrayFor<D extends DType> = D extends 'int32' ? Int32Array : Float32Array;
export type HostArray = Float32Array | Int32Array;

export interface Ref<B> {
  readonly buf: B;
  readonly offset: number;
}

export interface StridedRef<B> extends Ref<B> {
  readonly strides: readonly number[];
}

export type UnaryOp = 'relu' | 'sigmoid' | 'exp' | 'neg' | 'sqrt' | 'rsqrt' | 'addScalar' | 'mulScalar';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';
/** Activation applied in a kernel's epilogue (after bias and residual). */
export type Activation = 'none' | 'relu' | 'sigmoid';
export type PoolKind = 'max' | 'avg';

export interface Conv2dGeometry {
  n: number; c: number; h: number; w: number;
  o: number; kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  dilH: number; dilW: number;
  groups: number;
  oh: number; ow: number;
}

/**
 * The conv whose output is the input gradient of a stride-1 conv g: dY convolved with g's
 * flipped, transposed weights, padding d·(k − 1) − p (a backend may compute dX with it; the
 * kernels bench asks which algorithm that conv takes).
 */
export function inputGradientConv(g: Conv2dGeometry): Conv2dGeometry {
  return {
    n: g.n, c: g.o, h: g.oh, w: g.ow, o: g.c, kh: g.kh, kw: g.kw, strideH: 1, strideW: 1,
    padH: g.dilH * (g.kh - 1) - g.padH, padW: g.dilW * (g.kw - 1) - g.padW, dilH: g.dilH, dilW: g.dilW,
    groups: g.groups, oh: g.h, ow: g.w,
  };
}

export interface Pool2dGeometry {
  /** n·c planes of n images, each h×w in and oh×ow out. */
  planes: number; images: number; h: number; w: number;
  kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  oh: number; ow: number;
  /** avg only: count padded cells in the divisor (PyTorch's count_include_pad). */
  countIncludePad: boolean;
}

/**
 * Resizing n·c planes from ih×iw to oh×ow (F.interpolate). Source coordinates follow
 * PyTorch's float32 rules: bilinear src = scale·dst (alignCorners) or
 * max(scale·(dst + 0.5) − 0.5, 0), its two taps floor(src) and the next (clamped), weighted
 * by the fraction; nearest src = min(floor(scale·dst), in − 1), or dst / 2 when the size doubles
 * exactly. scaleH and scaleW are float32 values (the op computes them as PyTorch does).
 */
export interface ResizeGeometry {
  planes: number;
  ih: number; iw: number;
  oh: number; ow: number;
  mode: 'nearest' | 'bilinear';
  alignCorners: boolean;
  scaleH: number; scaleW: number;
}

/** Creation options; each backend reads the ones it knows. */
export interface BackendOptions {
  /** CPU threads for kernels (wasm); default: all cores where threads are allowed. */
  threads?: number;
  [option: string]: unknown;
}

export interface Backend<B = unknown> {
  readonly name: string;
  /** True when reads must be awaited (GPU); CPU backends also answer readSync. */
  readonly asyncRead: boolean;

  alloc(numel: number, dtype: DType): B;
  free(buf: B): void;
  write(dst: Ref<B>, data: HostArray): void;
  read(src: Ref<B>, numel: number, dtype: DType): Promise<HostArray>;
  readSync(src: Ref<B>, numel: number, dtype: DType): HostArray;

  /** dst[i] = src[i] over `shape`, both strided (contiguous(), concat, transposes). */
  copy(shape: readonly number[], src: StridedRef<B>, dst: StridedRef<B>, dtype: DType): void;
  fill(dst: Ref<B>, numel: number, value: number, dtype: DType): void;
  unary(op: UnaryOp, x: Ref<B>, out: Ref<B>, numel: number, alpha: number): void;
  /** out = a ∘ b over `shape`; a and b carry broadcast strides (0 on broadcast dims). */
  binary(op: BinaryOp, shape: readonly number[], a: StridedRef<B>, b: StridedRef<B>, out: Ref<B>): void;
  /**
   * out = act(conv(x, w) · factor + bias + residual); factor (one value per output pixel,
   * [oh·ow], the same for every image and channel: rectified convs), bias and residual optional.
   * `fixedWeight`: w is not being trained (inference), so a backend may pick a faster, less
   * exact algorithm where a training step would not gain from it.
   */
  conv2d(g: Conv2dGeometry, x: Ref<B>, w: Ref<B>, factor: Ref<B> | null, bias: Ref<B> | null, residual: Ref<B> | null,
    act: Activation, out: Ref<B>, fixedWeight?: boolean): void;
  /** Inference batch norm over [n, c, hw], then act. */
  batchNorm(x: Ref<B>, weight: Ref<B>, bias: Ref<B>, mean: Ref<B>, variance: Ref<B>, eps: number,
    n: number, c: number, hw: number, act: Activation, out: Ref<B>): void;
  /** Max or average pooling (PyTorch's padding, ceil mode and count_include_pad rules). */
  pool2d(kind: PoolKind, g: Pool2dGeometry, x: Ref<B>, out: Ref<B>): void;
  /** out[r] = Σ x[r, :cols], or that / cols ('mean'), for `rows` rows. */
  reduceRows(kind: 'sum' | 'mean', x: Ref<B>, out: Ref<B>, rows: number, cols: number): void;
  /** Softmax, or log-softmax (`log`), over the middle axis of [outer, dim, inner]. */
  softmax(x: Ref<B>, out: Ref<B>, outer: number, dim: number, inner: number, log?: boolean): void;
  /** out [planes, oh, ow] resized from x [planes, ih, iw] (ResizeGeometry). */
  interpolate(g: ResizeGeometry, x: Ref<B>, out: Ref<B>): void;
  /** out[m, n] = x[m, :] · w[n, :] + bias[n]  (PyTorch's Linear layout). */
  linear(x: Ref<B>, w: Ref<B>, bias: Ref<B> | null, out: Ref<B>, m: number, k: number, n: number): void;

  // Split attention (SplAtConv2d). x is [batch, radix·c, hw] radix-major.
  /** gap[b, j] = mean over hw of Σ_r x[b, r·c + j]. */
  radixGap(x: Ref<B>, out: Ref<B>, batch: number, radix: number, c: number, hw: number): void;
  /** r-softmax: [batch, card, radix, rest] → softmax over radix, written as [batch, radix, card, rest]. */
  rSoftmax(x: Ref<B>, out: Ref<B>, batch: number, cardinality: number, radix: number, rest: number): void;
  /** out[b, j, p] = Σ_r atten[b, r·c + j] · x[b, r·c + j, p]. */
  radixAttend(x: Ref<B>, atten: Ref<B>, out: Ref<B>, batch: number, radix: number, c: number, hw: number): void;

  /** The kernels of the backward pass and the optimizers; absent where training is not supported. */
  readonly training?: TrainingKernels<B>;

  /**
   * Records the kernels fn launches instead of running them, and gives the memory fn allocates
   * to the recording, so that replay() runs them again on the same buffers without the ops
   * around them (an inference graph, as CUDA graphs; src/nn/graph.ts). fn must not read
   * tensor data. Absent where a backend cannot record.
   */
  capture?(fn: () => void): KernelGraph;

  /** How conv2d computes a geometry, where a backend has more than one way (profiles report it). */
  convAlgorithm?(g: Conv2dGeometry, fixedWeight?: boolean): 'gemm' | 'winograd';

  /** Applies new options to a live backend (initBackend with options). */
  configure?(opts: BackendOptions): void | Promise<void>;
  /** Releases everything the backend holds (workers, device). */
  dispose?(): void;
}

/** What Backend.capture recorded. */
export interface KernelGraph {
  /** Runs the recorded kernels, in order, on the buffers they were recorded with. */
  replay(): void;
  /** The kernel launches recorded. */
  readonly steps: number;
  /** Bytes of the recording's own memory (the buffers allocated while recording). */
  readonly bytes: number;
  /** False once the backend changed under it (threads reconfigured): record again. */
  readonly valid: boolean;
  /** Gives the recording's memory back once the tensors in it are freed too. */
  dispose(): void;
}

/**
 * Kernels that only training needs: the gradients of the forward kernels above that are
 * not themselves compositions of ops, batch statistics, and the optimizers' updates. All
 * operands are contiguous; outputs are overwritten (never accumulated into).
 */
export interface TrainingKernels<B = unknown> {
  /** dx [n, c, h, w] of conv2d from dy [n, o, oh, ow] and the weight: a transposed convolution. */
  conv2dBackwardInput(g: Conv2dGeometry, dy: Ref<B>, w: Ref<B>, dx: Ref<B>): void;
  /** dw [o, c/groups, kh, kw] = Σ over images of dy ⋆ x. */
  conv2dBackwardWeight(g: Conv2dGeometry, x: Ref<B>, dy: Ref<B>, dw: Ref<B>): void;
  /** out[j] = Σ_{b, p} x[b, j, p] over [n, c, hw] (bias gradients). */
  channelSum(x: Ref<B>, out: Ref<B>, n: number, c: number, hw: number): void;
  /** Per-channel mean and biased variance over [n, ·, hw] (training batch norm). */
  channelMoments(x: Ref<B>, mean: Ref<B>, variance: Ref<B>, n: number, c: number, hw: number): void;
  /** Training batch norm's gradients given the batch mean and biased variance it used. */
  batchNormBackward(x: Ref<B>, dy: Ref<B>, mean: Ref<B>, variance: Ref<B>, weight: Ref<B>, eps: number,
    n: number, c: number, hw: number, dx: Ref<B>, dweight: Ref<B>, dbias: Ref<B>): void;
  /** dx = dy · act'(·), from the activation's output y (relu: y > 0; sigmoid: y(1 − y)). */
  activationBackward(act: Exclude<Activation, 'none'>, y: Ref<B>, dy: Ref<B>, dx: Ref<B>, numel: number): void;
  /**
   * From the output y over the middle axis: softmax's dx = y · (dy − Σ dy·y), or
   * log-softmax's (`log`) dx = dy − exp(y) · Σ dy.
   */
  softmaxBackward(log: boolean, y: Ref<B>, dy: Ref<B>, dx: Ref<B>, outer: number, dim: number, inner: number): void;
  /** r-softmax's gradient: y and dy radix-major [batch, radix, card, rest], dx [batch, card, radix, rest]. */
  rSoftmaxBackward(y: Ref<B>, dy: Ref<B>, dx: Ref<B>, batch: number, cardinality: number, radix: number, rest: number): void;
  /**
   * pool2d's gradient: max sends each dy to the first maximum of its window in x (row-major,
   * as PyTorch's CPU kernel), average spreads it over the window (x unused); overlaps add.
   */
  pool2dBackward(kind: PoolKind, g: Pool2dGeometry, x: Ref<B>, dy: Ref<B>, dx: Ref<B>): void;
  /** interpolate's gradient: each dy to the input taps it was made from, with their weights; overlaps add. */
  interpolateBackward(g: ResizeGeometry, dy: Ref<B>, dx: Ref<B>): void;
  /** radixAttend's gradients: dx [batch, radix·c, hw] and datten [batch, radix·c]. */
  radixAttendBackward(x: Ref<B>, atten: Ref<B>, dy: Ref<B>, dx: Ref<B>, datten: Ref<B>,
    batch: number, radix: number, c: number, hw: number): void;
  /**
   * torch.optim.SGD's update of one parameter (dampening 0), in place: d = g + wd·p;
   * buf = d on the first step, else momentum·buf + d; p −= lr·(nesterov ? d + momentum·buf : buf).
   */
  sgdStep(p: Ref<B>, grad: Ref<B>, buf: Ref<B> | null, numel: number, lr: number, momentum: number,
    weightDecay: number, nesterov: boolean, first: boolean): void;
  /** torch.optim.AdamW's update, in place (step counts from 1; no amsgrad). */
  adamwStep(p: Ref<B>, grad: Ref<B>, expAvg: Ref<B>, expAvgSq: Ref<B>, numel: number, lr: number,
    beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;
}

/** Every training kernel by name: the test that each CPU backend implements them all reads this. */
export const TRAINING_KERNELS = [
  'conv2dBackwardInput', 'conv2dBackwardWeight', 'channelSum', 'channelMoments', 'batchNormBackward',
  'activationBackward', 'softmaxBackward', 'rSoftmaxBackward', 'pool2dBackward', 'interpolateBackward',
  'radixAttendBackward', 'sgdStep', 'adamwStep',
] as const satisfies readonly (keyof TrainingKernels)[];

// A kernel added to TrainingKernels but not to the list above fails to compile here.
type Missing = Exclude<keyof TrainingKernels, (typeof TRAINING_KERNELS)[number]>;
export const trainingKernelsListed: Missing extends never ? true : Missing = true;
