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

export interface Conv2dGeometry {
  n: number; c: number; h: number; w: number;
  o: number; kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  dilH: number; dilW: number;
  groups: number;
  oh: number; ow: number;
}

export interface Pool2dGeometry {
  /** n·c planes, each h×w in and oh×ow out. */
  planes: number; h: number; w: number;
  kh: number; kw: number;
  strideH: number; strideW: number;
  padH: number; padW: number;
  oh: number; ow: number;
  /** avg only: count padded cells in the divisor (PyTorch's count_include_pad). */
  countIncludePad: boolean;
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
  /** out = act(conv(x, w) + bias + residual); bias and residual optional. */
  conv2d(g: Conv2dGeometry, x: Ref<B>, w: Ref<B>, bias: Ref<B> | null, residual: Ref<B> | null, act: Activation, out: Ref<B>): void;
  /** Inference batch norm over [n, c, hw], then act. */
  batchNorm(x: Ref<B>, weight: Ref<B>, bias: Ref<B>, mean: Ref<B>, variance: Ref<B>, eps: number,
    n: number, c: number, hw: number, act: Activation, out: Ref<B>): void;
  maxPool2d(g: Pool2dGeometry, x: Ref<B>, out: Ref<B>): void;
  avgPool2d(g: Pool2dGeometry, x: Ref<B>, out: Ref<B>): void;
  /** out[r] = mean(x[r, :hw]) for `rows` rows. */
  meanRows(x: Ref<B>, out: Ref<B>, rows: number, hw: number): void;
  /** Softmax over the middle axis of [outer, dim, inner]. */
  softmax(x: Ref<B>, out: Ref<B>, outer: number, dim: number, inner: number): void;
  /** out[m, n] = x[m, :] · w[n, :] + bias[n]  (PyTorch's Linear layout). */
  linear(x: Ref<B>, w: Ref<B>, bias: Ref<B> | null, out: Ref<B>, m: number, k: number, n: number): void;

  // Split attention (SplAtConv2d). x is [batch, radix·c, hw] radix-major.
  /** gap[b, j] = mean over hw of Σ_r x[b, r·c + j]. */
  radixGap(x: Ref<B>, out: Ref<B>, batch: number, radix: number, c: number, hw: number): void;
  /** r-softmax: [batch, card, radix, rest] → softmax over radix, written as [batch, radix, card, rest]. */
  rSoftmax(x: Ref<B>, out: Ref<B>, batch: number, cardinality: number, radix: number, rest: number): void;
  /** out[b, j, p] = Σ_r atten[b, r·c + j] · x[b, r·c + j, p]. */
  radixAttend(x: Ref<B>, atten: Ref<B>, out: Ref<B>, batch: number, radix: number, c: number, hw: number): void;

  /** Applies new options to a live backend (initBackend with options). */
  configure?(opts: BackendOptions): void | Promise<void>;
  /** Releases everything the backend holds (workers, device). */
  dispose?(): void;
}
