// The wasm backend: tensors live in the kernels' linear memory (allocated by an arena), so a
// forward pass copies nothing between JS and wasm; hot kernels are AssemblyScript SIMD
// (assembly/), run by a thread pool when threads are allowed. Rare layouts (copies into a
// strided destination or over more than four dimensions that cannot be merged, general
// broadcasts) reuse the js reference kernels on views of the same memory.

import type { Activation, Backend, BackendOptions, BinaryOp, Conv2dGeometry, DType, HostArray, KernelGraph, Pool2dGeometry, PoolKind, Ref, ResizeGeometry, StridedRef, UnaryOp } from '../backend.js';
import { inputGradientConv } from '../backend.js';
import { BackendError, ArgumentError } from '../../errors.js';
import { registerBackend } from '../registry.js';
import * as js from '../js/elementwise.js';
import type { TrainingKernels } from '../backend.js';
import { Arena } from './arena.js';
import { compileKernels, hardwareThreads, threadsAllowed, type Variant } from './loader.js';
import { CONTROL_BYTES, ThreadPool } from './threads.js';
import {
  Act, ActivationBackwardArg, AdamwStepArg, ARG_SLOTS, BatchNormArg, BatchNormBackwardArg, BinaryArg, BinaryCode, ChannelMomentsArg, ChannelSumArg, CLAIM_SLOT,
  Conv2dArg, ConvBackwardArg, FlipTransposeGroupsArg, InterpolateArg, Kernel, LinearArg, MaxPoolBackwardArg, PEAK_MADDS_PER_ROUND, PeakArg, PoolArg, RadixAttendArg,
  RadixAttendBackwardArg, RadixGapArg, RowsArg, RSoftmaxArg, RSoftmaxBackwardArg, SgdStepArg, SoftmaxArg, SoftmaxFamilyArg, StridedCopyArg, TransposeGroupsArg,
  UnaryArg, UnaryCode, WinogradGradArg, WinogradWeightsArg, WINOGRAD_MAX_CG, WINOGRAD_PLANE_PAD, WINOGRAD_TILE_BLOCK, WINOGRAD4_TILE_BLOCK,
} from './ids.js';

const ACT: Record<Activation, Act> = { none: Act.None, relu: Act.Relu, sigmoid: Act.Sigmoid };
const UNARY: Record<UnaryOp, UnaryCode> = {
  relu: UnaryCode.Relu, sigmoid: UnaryCode.Sigmoid, exp: UnaryCode.Exp, neg: UnaryCode.Neg, sqrt: UnaryCode.Sqrt,
  rsqrt: UnaryCode.Rsqrt, addScalar: UnaryCode.AddScalar, mulScalar: UnaryCode.MulScalar,
};
const BINARY: Record<BinaryOp, BinaryCode> = { add: BinaryCode.Add, sub: BinaryCode.Sub, mul: BinaryCode.Mul, div: BinaryCode.Div };
/** Below this many output elements a kernel runs on the calling thread only. */
const PARALLEL_MIN = 8192;
const MAX_MEMORY = 4 * 1024 ** 3 - 65536;
/**
 * Fewest 2×2 tiles (all images) for Winograd on a fixed weight. Against the GEMM at batch 1
 * (512→1024, groups 2): 4 tiles (a 4×4 map) 1.37× slower, 9 (6×6) 0.95×, 16 (7×7) 0.79×.
 * A weight in training keeps the GEMM below 64 tiles: a training step gains nothing measurable
 * there (resnest14d at 64 px, batch 16: 480 vs 479 ms), and Winograd's larger rounding (≈ 2e-6
 * of max |y| against 2e-7) flips ReLU kinks on such tiny maps, so gradients drift from PyTorch's
 * (2e-2 on a DropBlock net of the fixtures).
 */
const WINOGRAD_MIN_TILES_FIXED = 16;
const WINOGRAD_MIN_TILES_TRAINING = 64;
/**
 * Fewest 4×4 tiles (all images) for F(4×4, 3×3). Its weight transform is 36 planes where
 * F(2×2)'s is 16, over a quarter of the tiles: on fewer tiles it outweighs the products saved
 * (512 → 1024 g2 on 7×7 at batch 1, 4 tiles: 1.35× F(2×2)'s time; 512 → 512 on 8×8: 1.44×;
 * 8 tiles: 0.87–1.08×; 16 tiles, 7×7 at batch 4: 0.75×).
 */
const WINOGRAD4_MIN_TILES = 16;
/** Tiles from which Winograd's weight gradient sums two segments of them apart. */
const WINOGRAD_GRAD_SEGMENT_TILES = 1024;
/** Most floats of Winograd weight-gradient partial sums a launch may add (16 or 36 · o · cg), per segment. */
const WINOGRAD_GRAD_PARTIALS = 1 << 21;

interface Exports {
  dispatch(kernel: number, args: number, tid: number, nth: number): void;
  heapBase(): number;
  convScratchBytes(): number;
}

export interface WasmBackend extends Backend<number> {
  readonly variant: Variant;
  readonly threads: number;
  /** Whether stride-1 3×3 convolutions use Winograd (option `winograd`, default true). */
  readonly winograd: boolean;
  /**
   * Whether Winograd takes F(4×4, 3×3) on maps its 4×4 tiles fill (option `winogradF4`,
   * default true): for gradients and fixed weights' forwards; F(2×2, 3×3) otherwise.
   */
  readonly winogradF4: boolean;
  /** Bytes of linear memory: live tensors, high-water mark, and the memory's size. */
  memoryStats(): { liveBytes: number; reservedBytes: number; memoryBytes: number };
  /** Measured SIMD multiply-add peak in GFLOP/s over `threads` threads. */
  measurePeak(threads?: number, iterations?: number): number;
}

export async function createWasmBackend(opts: BackendOptions = {}): Promise<WasmBackend> {
  if (typeof WebAssembly === 'undefined') throw new BackendError('wasm backend: WebAssembly is not available here');
  const cores = await hardwareThreads();
  const wanted = opts.threads ?? cores;
  if (!Number.isInteger(wanted) || wanted < 1) throw new ArgumentError(`wasm backend: threads must be a positive integer, got ${wanted}`);
  const shared = threadsAllowed();
  if (!shared && wanted > 1) {
    console.warn('resnest-ts: wasm threads need SharedArrayBuffer, which browsers give only to cross-origin-isolated pages (COOP: same-origin, COEP: require-corp); running on one thread');
  }
  const { module, variant } = await compileKernels(shared);
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, ...(shared ? { shared: true } : {}) } as WebAssembly.MemoryDescriptor);
  const instance = await WebAssembly.instantiate(module, { env: { memory, abort: () => { throw new BackendError('wasm kernel aborted'); } } });
  const ex = instance.exports as unknown as Exports;
  const arena = new Arena(memory, ex.heapBase(), MAX_MEMORY);

  // Each pool gets a fresh control block: workers of a stopped pool may still be winding down.
  let control = arena.alloc(CONTROL_BYTES);
  const args = arena.alloc(ARG_SLOTS * 4);
  let threads = shared ? wanted : 1;
  let winograd = opts.winograd !== false;
  let winogradF4 = opts.winogradF4 !== false;
  const scratchStride = ex.convScratchBytes();
  let scratch = arena.alloc(scratchStride * threads);
  let pool: ThreadPool | null = threads > 1 ? await ThreadPool.start(module, memory, control, threads, ex.dispatch) : null;

  // Views over the memory; rebuilt whenever it grows (a grown memory has a new buffer).
  let f32 = new Float32Array(memory.buffer), i32 = new Int32Array(memory.buffer);
  const views = () => {
    if (f32.buffer !== memory.buffer || f32.length * 4 !== memory.buffer.byteLength) {
      f32 = new Float32Array(memory.buffer);
      i32 = new Int32Array(memory.buffer);
    }
  };
  const addr = (r: Ref<number>) => r.buf + r.offset * 4;
  const launch = (kernel: number, work: number) => {
    if (pool && work >= PARALLEL_MIN) pool.dispatch(kernel, args, threads);
    else ex.dispatch(kernel, args, 0, 1);
  };
  /** Writes a kernel's arguments, every slot of its layout by name (ids.ts), and launches it (or records the launch). */
  const run = <L extends Layout>(kernel: Kernel, layout: L, values: SlotValues<L>, work = Infinity) => {
    views();
    const base = args >> 2;
    for (const [name, i] of slotsOf(layout)) {
      const v = values[name as keyof L];
      if (v instanceof Float) f32[base + i] = v.value;
      else i32[base + i] = v;
    }
    i32.fill(0, base + CLAIM_SLOT, base + ARG_SLOTS);
    if (recording) recording.push({ kernel, block: i32.slice(base, base + ARG_SLOTS), work });
    else launch(kernel, work);
  };

  // Recording (capture): each launch is kept with its whole argument block, host-side writes
  // as closures; what is allocated meanwhile comes from the recording's own arena, started at
  // the heap top and adopted by the main arena as one block when recording ends, so nothing
  // else is ever placed in the buffers a replay writes.
  type Step = { kernel: number; block: Int32Array; work: number } | (() => void);
  interface Region { start: number; end: number; sub: Arena; disposed: boolean }
  let recording: Step[] | null = null;
  let recordArena: Arena | null = null;
  let recordStart = 0;
  /** Bumped when threads or options change: recorded scratch addresses and choices go stale. */
  let generation = 0;
  const regions: Region[] = [];
  const alloc = (bytes: number) => (recordArena ?? arena).alloc(bytes);
  const dropRegion = (r: Region) => {
    if (!r.disposed || r.sub.liveBytes > 0) return;
    regions.splice(regions.indexOf(r), 1);
    arena.release(r.start);
  };
  const release = (ptr: number) => {
    if (recordArena && ptr >= recordStart) return recordArena.release(ptr);
    for (const r of regions) {
      if (ptr >= r.start && ptr < r.end) {
        r.sub.release(ptr);
        return dropRegion(r);
      }
    }
    arena.release(ptr);
  };
  /** Host-side work on wasm memory: now, or as a step of the recording. */
  const host = (fn: () => void) => {
    if (recording) recording.push(fn);
    else fn();
  };
  const notRecording = (what: string) => {
    if (recording) throw new BackendError(`wasm backend: ${what} while recording a kernel graph (a captured forward must not read tensor data)`);
  };
  const capture = (fn: () => void): KernelGraph => {
    if (recording) throw new BackendError('wasm backend: capture() inside a capture');
    const steps: Step[] = [];
    const sub = new Arena(memory, arena.end, MAX_MEMORY);
    recordStart = arena.end;
    recording = steps;
    recordArena = sub;
    const region: Region = { start: recordStart, end: recordStart, sub, disposed: false };
    try {
      fn();
    } catch (e) {
      region.disposed = true;
      throw e;
    } finally {
      recording = null;
      recordArena = null;
      region.end = sub.highWaterMark;
      if (region.end > region.start) {
        arena.adopt(region.start, region.end);
        regions.push(region);
        dropRegion(region);
      }
    }
    const recorded = generation;
    const graph: KernelGraph = {
      steps: steps.filter((st) => typeof st !== 'function').length,
      bytes: region.end - region.start,
      get valid() { return recorded === generation && !region.disposed; },
      replay() {
        notRecording('replay()');
        if (!graph.valid) throw new BackendError(region.disposed ? 'wasm backend: replay() of a disposed kernel graph' : 'wasm backend: the kernel graph was recorded before the backend was reconfigured: capture it again');
        const base = args >> 2;
        for (const st of steps) {
          if (typeof st === 'function') st();
          else {
            views();
            i32.set(st.block, base);
            launch(st.kernel, st.work);
          }
        }
      },
      dispose() {
        if (region.disposed) return;
        region.disposed = true;
        if (regions.includes(region)) dropRegion(region);
      },
    };
    return graph;
  };
  /** A js reference kernel's view of a wasm tensor (element offsets into the whole memory). */
  const fview = (r: Ref<number>): Ref<Float32Array> => (views(), { buf: f32, offset: (r.buf >> 2) + r.offset });
  const sview = (r: StridedRef<number>, dtype: DType): StridedRef<Float32Array | Int32Array> => {
    views();
    return { buf: dtype === 'int32' ? i32 : f32, offset: (r.buf >> 2) + r.offset, strides: r.strides };
  };
  const isContiguous = (shape: readonly number[], strides: readonly number[]) => {
    let s = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      if (shape[i] !== 1 && strides[i] !== s) return false;
      s *= shape[i]!;
    }
    return true;
  };

  /** The training kernels (assembly/backward.ts, train.ts, pool.ts); typed whole, so a kernel added to the interface must be added here. */
  const training: TrainingKernels<number> = {
    conv2dBackwardWeight(g, x, dy, dw) {
      const k = (g.c / g.groups) * g.kh * g.kw;
      if (g.n * g.oh * g.ow === 0) {
        backend.fill(dw, g.o * k, 0, 'float32');
        return;
      }
      if (sideBySide(g)) {
        const P = g.oh * g.ow, xs = alloc(g.n * g.c * P * 4), dys = alloc(g.n * g.o * P * 4);
        try {
          swapLeading(addr(x), xs, g.n, g.c, P);
          swapLeading(addr(dy), dys, g.n, g.o, P);
          run(Kernel.Conv2dBackwardWeight, ConvBackwardArg, { A: xs, B: dys, Out: addr(dw), ...geometrySlots(asOneImage(g)), Scratch: scratch, ScratchStride: scratchStride },
            g.n * g.o * P * k);
        } finally {
          release(xs);
          release(dys);
        }
        return;
      }
      if (useWinograd(g)) return winogradWeightGrad(g, x, dy, dw);
      run(Kernel.Conv2dBackwardWeight, ConvBackwardArg, { A: addr(x), B: addr(dy), Out: addr(dw), ...geometrySlots(g), Scratch: scratch, ScratchStride: scratchStride },
        g.n * g.o * g.oh * g.ow * k);
    },
    conv2dBackwardInput(g, dy, w, dx) {
      const cg = g.c / g.groups, taps = g.kh * g.kw, k = cg * taps;
      let wt = 0;
      try {
        if (g.strideH === 1 && g.strideW === 1) {
          // dX = dY convolved with the flipped, transposed weights: the forward conv kernel,
          // Winograd where it applies, no col2im.
          const t = inputGradientConv(g);
          // Winograd builds its transformed weights from w directly (flipped as it reads).
          if (useWinograd(t)) convolve(t, dy, w, true, null, null, null, 'none', dx);
          else {
            wt = alloc(g.o * k * 4);
            run(Kernel.FlipTransposeGroups, FlipTransposeGroupsArg, { W: addr(w), Wt: wt, O: g.o, Groups: g.groups, Cg: cg, Taps: taps }, g.o * k * 8);
            convolve(t, dy, wt, false, null, null, null, 'none', dx);
          }
        } else {
          // wt[g][k][m]: the A rows of Wᵀ·dY; col2im per thread.
          wt = alloc(g.o * k * 4);
          run(Kernel.TransposeGroups, TransposeGroupsArg, { W: addr(w), Wt: wt, O: g.o, Groups: g.groups, K: k }, g.o * k * 8);
          run(Kernel.Conv2dBackwardInput, ConvBackwardArg, { A: addr(dy), B: wt, Out: addr(dx), ...geometrySlots(g), Scratch: scratch, ScratchStride: scratchStride },
            g.n * g.o * g.oh * g.ow * k);
        }
      } finally {
        if (wt) release(wt);
      }
    },
    channelSum(x, out, n, c, hw) {
      run(Kernel.ChannelSum, ChannelSumArg, { X: addr(x), Out: addr(out), N: n, C: c, Hw: hw, Scratch: scratch, ScratchStride: scratchStride }, n * c * hw);
    },
    channelMoments(x, mean, variance, n, c, hw) {
      run(Kernel.ChannelMoments, ChannelMomentsArg, { X: addr(x), Mean: addr(mean), Variance: addr(variance), N: n, C: c, Hw: hw, Scratch: scratch, ScratchStride: scratchStride }, 2 * n * c * hw);
    },
    batchNormBackward(x, dy, mean, variance, weight, eps, n, c, hw, dx, dweight, dbias) {
      run(Kernel.BatchNormBackward, BatchNormBackwardArg, {
        X: addr(x), Dy: addr(dy), Mean: addr(mean), Variance: addr(variance), Weight: addr(weight), Dx: addr(dx), DWeight: addr(dweight), DBias: addr(dbias),
        N: n, C: c, Hw: hw, Eps: new Float(eps), Scratch: scratch, ScratchStride: scratchStride,
      }, 3 * n * c * hw);
    },
    activationBackward(act, y, dy, dx, numel) {
      run(Kernel.ActivationBackward, ActivationBackwardArg, { Act: ACT[act], Y: addr(y), Dy: addr(dy), Dx: addr(dx), N: numel }, numel);
    },
    radixAttendBackward(x, atten, dy, dx, datten, batch, radix, c, hw) {
      run(Kernel.RadixAttendBackward, RadixAttendBackwardArg, {
        X: addr(x), Atten: addr(atten), Dy: addr(dy), Dx: addr(dx), DAtten: addr(datten), Batch: batch, Radix: radix, C: c, Hw: hw,
      }, 2 * batch * radix * c * hw);
    },
    sgdStep(p, grad, buf, numel, lr, momentum, weightDecay, nesterov, first) {
      // The reference's float32 constants: fround(lr), fround(momentum), fround(weightDecay).
      run(Kernel.SgdStep, SgdStepArg, {
        P: addr(p), Grad: addr(grad), Buf: buf ? addr(buf) : 0, N: numel, UseBuf: buf && momentum ? 1 : 0, Nesterov: nesterov ? 1 : 0, First: first ? 1 : 0,
        Lr: new Float(lr), Momentum: new Float(momentum), WeightDecay: new Float(weightDecay),
      }, numel);
    },
    adamwStep(p, grad, expAvg, expAvgSq, numel, lr, beta1, beta2, eps, weightDecay, step) {
      // Float32 slots round each constant as the reference's Math.fround does.
      const bc1 = 1 - beta1 ** step, bc2Sqrt = Math.sqrt(1 - beta2 ** step);
      run(Kernel.AdamwStep, AdamwStepArg, {
        P: addr(p), Grad: addr(grad), ExpAvg: addr(expAvg), ExpAvgSq: addr(expAvgSq), N: numel,
        Decay: new Float(1 - lr * weightDecay), Beta1: new Float(beta1), OneMinusBeta1: new Float(1 - beta1), Beta2: new Float(beta2),
        OneMinusBeta2: new Float(1 - beta2), Bc2Sqrt: new Float(bc2Sqrt), Eps: new Float(eps), StepSize: new Float(lr / bc1),
      }, 4 * numel);
    },
    pool2dBackward(kind, g, x, dy, dx) {
      if (kind === 'avg') return run(Kernel.AvgPoolBackward, PoolArg, poolSlots(g, addr(dy), addr(dx)), g.planes * g.oh * g.ow * g.kh * g.kw);
      const { X: _x, Out: _out, CountIncludePad: _c, Images: _i, ...geometry } = poolSlots(g, 0, 0);
      run(Kernel.MaxPoolBackward, MaxPoolBackwardArg, { X: addr(x), Dy: addr(dy), Dx: addr(dx), ...geometry }, g.planes * g.oh * g.ow * g.kh * g.kw);
    },
    softmaxBackward(log, y, dy, dx, outer, dim, inner) {
      run(log ? Kernel.LogSoftmaxBackward : Kernel.SoftmaxBackward, SoftmaxFamilyArg,
        { A: addr(y), B: addr(dy), Out: addr(dx), Outer: outer, Dim: dim, Inner: inner }, (log ? 8 : 2) * outer * dim * inner);
    },
    rSoftmaxBackward(y, dy, dx, batch, card, radix, rest) {
      run(Kernel.RSoftmaxBackward, RSoftmaxBackwardArg, { Y: addr(y), Dy: addr(dy), Dx: addr(dx), Batch: batch, Card: card, Radix: radix, Rest: rest },
        2 * batch * card * radix * rest);
    },
    interpolateBackward(g, dy, dx) {
      run(Kernel.InterpolateBackward, InterpolateArg, resizeSlots(g, addr(dy), addr(dx)), g.planes * g.oh * g.ow * 8);
    },
  };

  // Winograd pays when enough 2×2 tiles (all images) share each transformed weight. From 8
  // output channels a group: below 16 the direct kernel packs each im2col block for only two
  // or three weight panels (split attention's 16 → 32 g2 input gradient on 7×7 maps took 3.6×
  // Winograd's time; 64 → 8 on 28², forward, 4.2×).
  const useWinograd = (g: Conv2dGeometry, fixedWeight = false) => {
    const cg = g.c / g.groups, og = g.o / g.groups;
    return winograd && g.kh === 3 && g.kw === 3 && g.strideH === 1 && g.strideW === 1 && g.dilH === 1 && g.dilW === 1 &&
      og >= 8 && cg >= 8 && cg <= WINOGRAD_MAX_CG &&
      winogradTiles(g) >= (fixedWeight ? WINOGRAD_MIN_TILES_FIXED : WINOGRAD_MIN_TILES_TRAINING);
  };
  const winogradTiles = (g: Conv2dGeometry) => g.n * ((g.oh + 1) >> 1) * ((g.ow + 1) >> 1);
  const winograd4Tiles = (g: Conv2dGeometry) => g.n * ((g.oh + 3) >> 2) * ((g.ow + 3) >> 2);
  // F(4×4, 3×3) spends 36 multiply-adds a 4×4 tile where F(2×2, 3×3) spends 16 a 2×2 one:
  // 0.56× the products on maps of a multiple of 4, 0.73× on 14², 1.3× on 3², 2.25× on 2².
  // Its input and output transforms cost about what F(2×2)'s do per output, so it takes the
  // maps where it saves a quarter or more, from WINOGRAD4_MIN_TILES tiles.
  const useWinograd4 = (g: Conv2dGeometry) => winogradF4 && winograd4Tiles(g) >= WINOGRAD4_MIN_TILES &&
    4 * 36 * winograd4Tiles(g) <= 3 * 16 * winogradTiles(g);

  /**
   * The forward conv kernel with weights w (a tensor, or an address of scratch weights);
   * `flipped`: w holds the weights of the conv whose input gradient this is (Winograd
   * transforms them flipped; see winogradWeights); `fixedWeight`: w is not being trained.
   * Winograd's weight transform U = G g Gᵀ: where all tiles make one block, each task
   * transforms its own output channels' weights while it needs them (nothing is kept between
   * calls, and no chunk is transformed twice); larger maps share one transform made per call.
   */
  const convolve = (g: Conv2dGeometry, x: Ref<number>, w: Ref<number> | number, flipped: boolean, factor: Ref<number> | null,
    bias: Ref<number> | null, residual: Ref<number> | null, act: Activation, out: Ref<number>, fixedWeight = false) => {
    if (sideBySide(g) && !factor && !residual) {
      onSideBySide(x, g.n, g.c, g.oh * g.ow, g.o, out, (xs, ys) => convolve(asOneImage(g), xs, w, flipped, null, bias, null, act, ys, fixedWeight));
      return;
    }
    const wino = useWinograd(g, fixedWeight);
    // F(4×4)'s rounding is 5–8× F(2×2)'s (≈ 5e-6 of max |y|). A trained weight's forward keeps
    // F(2×2): there rounding decides which side of a ReLU's kink a value falls, and flipped
    // kinks move a small net's gradients 2e-3 from float64 PyTorch's (r0c1_dropblock of the
    // fixtures, against 1.5e-4 allowed). The input gradient decides nothing, and inference
    // stays within 1e-4 of PyTorch.
    const f4 = wino && (fixedWeight || flipped) && useWinograd4(g);
    const inTask = wino && (f4 ? winograd4Tiles(g) <= WINOGRAD4_TILE_BLOCK : winogradTiles(g) <= WINOGRAD_TILE_BLOCK);
    const perCall = wino && !inTask;
    const wAddr = typeof w === 'number' ? w : addr(w);
    const u = perCall ? transformWeights(wAddr, g.o, g.c / g.groups, g.groups, flipped, f4) : 0;
    try {
      // Work for the thread threshold grows with K: a conv with few outputs and a long K (split
      // attention's fc1/fc2 on 1×1 maps) is still worth splitting.
      run(Kernel.Conv2d, Conv2dArg, {
        X: addr(x), W: wAddr, Bias: bias ? addr(bias) : 0, Residual: residual ? addr(residual) : 0, Out: addr(out), ...geometrySlots(g),
        Act: ACT[act], Scratch: scratch, ScratchStride: scratchStride, WinogradWeights: u, Factor: factor ? addr(factor) : 0,
        WinogradInTask: inTask ? (flipped ? 2 : 1) : 0, WinogradF4: f4 ? 1 : 0,
      }, g.n * g.o * g.oh * g.ow * Math.max(8, ((g.c / g.groups) * g.kh * g.kw) >> 3));
    } finally {
      if (perCall) release(u);
    }
  };
  // A 1×1, stride-1, unpadded, ungrouped conv is a GEMM per image, [o × c] · [c × P]. On maps of
  // fewer pixels than a packed panel's eight columns (deep layers at training batch sizes: 1×1,
  // 2×2 maps), a panel spans several images, so the kernels gather its columns and scatter
  // its results one image at a time. Set side by side, [n, c, P] → [c, n·P], the batch's
  // images make one map of n·P pixels and the conv one long GEMM with contiguous rows; the
  // two moves cost c + o floats a column against 2·c·o flops.
  const sideBySide = (g: Conv2dGeometry) => g.n > 1 && g.oh * g.ow < 8 && g.groups === 1 && g.kh === 1 && g.kw === 1 &&
    g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
  const asOneImage = (g: Conv2dGeometry): Conv2dGeometry => ({ ...g, n: 1, h: 1, w: g.n * g.h * g.w, oh: 1, ow: g.n * g.oh * g.ow });
  /** dst [b, a, p] = src [a, b, p] (floats, at addresses): the 4×4-block transpose when p = 1. */
  const swapLeading = (src: number, dst: number, a: number, b: number, p: number) => {
    const slots = p === 1 ? { D0: 1, D1: 1, D2: b, D3: a, S0: 0, S1: 0, S2: 1, S3: b } : { D0: 1, D1: b, D2: a, D3: p, S0: 0, S1: p, S2: b * p, S3: 1 };
    run(Kernel.StridedCopy, StridedCopyArg, { Src: src, Dst: dst, ...slots }, a * b * p);
  };
  /** Runs `body` on x [n, c, P] set side by side, then moves its [o, n·P] result into `out` [n, o, P]. */
  const onSideBySide = (x: Ref<number>, n: number, c: number, P: number, o: number, out: Ref<number>, body: (xs: Ref<number>, ys: Ref<number>) => void) => {
    const xs = alloc(n * c * P * 4);
    let ys = 0;
    try {
      swapLeading(addr(x), xs, n, c, P);
      ys = alloc(n * o * P * 4);
      body({ buf: xs, offset: 0 }, { buf: ys, offset: 0 });
      swapLeading(ys, addr(out), o, n, P);
    } finally {
      release(xs);
      if (ys) release(ys);
    }
  };
  /**
   * Where the forward conv takes Winograd, so does its weight gradient: 16 multiply-adds per
   * tile where the direct one takes 36 (assembly/winograd-grad.ts). Large maps (1024 tiles
   * and more) sum two halves of the batch's tiles apart, so that two threads share a group with
   * few output channels (the stem's convs); the halves are added in a second launch. The split
   * depends on the geometry only, so results are the same on any number of threads.
   */
  const winogradWeightGrad = (g: Conv2dGeometry, x: Ref<number>, dy: Ref<number>, dw: Ref<number>) => {
    const cg = g.c / g.groups;
    // F(4×4)'s tiles where they fill the map, as the input gradient: a gradient's rounding decides no kink.
    const f4 = useWinograd4(g), planes = f4 ? 36 : 16;
    const segments = winogradTiles(g) >= WINOGRAD_GRAD_SEGMENT_TILES && planes * g.o * cg <= WINOGRAD_GRAD_PARTIALS ? 2 : 1;
    const partials = segments > 1 ? alloc(segments * planes * g.o * cg * 4) : 0;
    try {
      const slots = {
        X: addr(x), Dy: addr(dy), Dw: addr(dw), N: g.n, C: g.c, H: g.h, Wd: g.w, O: g.o, PadH: g.padH, PadW: g.padW, Groups: g.groups,
        Oh: g.oh, Ow: g.ow, Scratch: scratch, ScratchStride: scratchStride, Partials: partials, Segments: segments, F4: f4 ? 1 : 0,
      };
      run(Kernel.WinogradWeightGrad, WinogradGradArg, { ...slots, Phase: 0 }, g.n * g.o * g.oh * g.ow * cg * 4);
      if (segments > 1) run(Kernel.WinogradWeightGrad, WinogradGradArg, { ...slots, Phase: 1 }, segments * planes * g.o * cg);
    } finally {
      if (partials) release(partials);
    }
  };
  const transformWeights = (w: number, o: number, cg: number, groups: number, flipped: boolean, f4: boolean) => {
    const planes = f4 ? 36 : 16;
    const u = alloc(planes * (o * cg + groups * WINOGRAD_PLANE_PAD) * 4);
    run(Kernel.WinogradWeights, WinogradWeightsArg, { W: w, U: u, O: o, Cg: cg, Groups: groups, Flip: flipped ? 1 : 0, F4: f4 ? 1 : 0 }, o * cg * planes);
    return u;
  };

  const backend: WasmBackend = {
    name: 'wasm',
    training,
    asyncRead: false,
    variant,
    get threads() { return threads; },
    get winograd() { return winograd; },
    get winogradF4() { return winogradF4; },

    alloc: (n: number) => alloc(n * 4),
    free: (buf: number) => release(buf),
    write(dst: Ref<number>, data: HostArray) {
      // A recording keeps its own copy: the caller may reuse the array.
      const d = recording ? data.slice() : data;
      host(() => {
        views();
        (d instanceof Int32Array ? i32 : f32).set(d, (dst.buf >> 2) + dst.offset);
      });
    },
    readSync(src: Ref<number>, n: number, dtype: DType) {
      notRecording('reading a tensor');
      views();
      const start = (src.buf >> 2) + src.offset;
      return (dtype === 'int32' ? i32 : f32).slice(start, start + n);
    },
    async read(src: Ref<number>, n: number, dtype: DType) {
      return backend.readSync(src, n, dtype);
    },
    fill(dst: Ref<number>, n: number, value: number, dtype: DType) {
      host(() => {
        views();
        const start = (dst.buf >> 2) + dst.offset;
        (dtype === 'int32' ? i32 : f32).fill(value, start, start + n);
      });
    },
    copy(shape: readonly number[], src: StridedRef<number>, dst: StridedRef<number>, dtype: DType) {
      if (isContiguous(shape, src.strides) && isContiguous(shape, dst.strides)) {
        const n = shape.reduce((a, b) => a * b, 1);
        const s = (src.buf >> 2) + src.offset, d = (dst.buf >> 2) + dst.offset;
        host(() => {
          views();
          f32.copyWithin(d, s, s + n); // a byte copy: right for int32 too
        });
        return;
      }
      const dims = denseCopyDims(shape, src.strides, dst.strides);
      if (dims) {
        const [d, st] = dims;
        run(Kernel.StridedCopy, StridedCopyArg, {
          Src: addr(src), Dst: addr(dst), D0: d[0]!, D1: d[1]!, D2: d[2]!, D3: d[3]!, S0: st[0]!, S1: st[1]!, S2: st[2]!, S3: st[3]!,
        }, d.reduce((a, b) => a * b, 1));
        return;
      }
      host(() => js.copy(shape, sview(src, dtype), sview(dst, dtype)));
    },
    unary(op: UnaryOp, x: Ref<number>, out: Ref<number>, n: number, alpha: number) {
      run(Kernel.Unary, UnaryArg, { X: addr(x), Out: addr(out), N: n, Op: UNARY[op], Alpha: new Float(alpha) }, n);
    },
    binary(op: BinaryOp, shape: readonly number[], a: StridedRef<number>, b: StridedRef<number>, out: Ref<number>) {
      const n = shape.reduce((p, q) => p * q, 1);
      if (isContiguous(shape, a.strides)) {
        if (isContiguous(shape, b.strides) && !b.strides.some((s, i) => s === 0 && shape[i] !== 1)) {
          run(Kernel.Binary, BinaryArg, { A: addr(a), B: addr(b), Out: addr(out), Rows: 1, Len: n, Op: BINARY[op], BPerRow: 0 }, n);
          return;
        }
        // b constant over the trailing dims and contiguous over the leading ones: per-row scalars.
        let split = shape.length;
        while (split > 0 && (b.strides[split - 1] === 0 || shape[split - 1] === 1)) split--;
        const rows = shape.slice(0, split).reduce((p, q) => p * q, 1);
        if (split < shape.length && isContiguous(shape.slice(0, split), b.strides.slice(0, split))) {
          run(Kernel.Binary, BinaryArg, { A: addr(a), B: addr(b), Out: addr(out), Rows: rows, Len: n / rows, Op: BINARY[op], BPerRow: 1 }, n);
          return;
        }
      }
      host(() => js.binary(op, shape, sview(a, 'float32') as StridedRef<Float32Array>, sview(b, 'float32') as StridedRef<Float32Array>, fview(out)));
    },
    conv2d(g: Conv2dGeometry, x: Ref<number>, w: Ref<number>, factor: Ref<number> | null, bias: Ref<number> | null,
      residual: Ref<number> | null, act: Activation, out: Ref<number>, fixedWeight = false) {
      convolve(g, x, w, false, factor, bias, residual, act, out, fixedWeight);
    },
    batchNorm(x, weight, bias, mean, variance, eps, n, c, hw, act, out) {
      run(Kernel.BatchNorm, BatchNormArg, {
        X: addr(x), Weight: addr(weight), Bias: addr(bias), Mean: addr(mean), Variance: addr(variance), Out: addr(out), N: n, C: c, Hw: hw, Act: ACT[act],
        Eps: new Float(eps), Scratch: scratch, ScratchStride: scratchStride,
      }, n * c * hw);
    },
    pool2d(kind: PoolKind, g: Pool2dGeometry, x: Ref<number>, out: Ref<number>) {
      run(kind === 'max' ? Kernel.MaxPool : Kernel.AvgPool, PoolArg, poolSlots(g, addr(x), addr(out)), g.planes * g.oh * g.ow * g.kh * g.kw);
    },
    reduceRows(kind, x, out, rows, cols) {
      run(kind === 'mean' ? Kernel.MeanRows : Kernel.SumRows, RowsArg, { X: addr(x), Out: addr(out), Rows: rows, Cols: cols }, rows * cols);
    },
    softmax(x, out, outer, dim, inner, log = false) {
      if (log) return run(Kernel.LogSoftmax, SoftmaxFamilyArg, { A: addr(x), B: 0, Out: addr(out), Outer: outer, Dim: dim, Inner: inner }, 8 * outer * dim * inner);
      run(Kernel.Softmax, SoftmaxArg, { X: addr(x), Out: addr(out), Outer: outer, Dim: dim, Inner: inner }, outer * dim * inner * 8);
    },
    interpolate(g, x, out) {
      run(Kernel.Interpolate, InterpolateArg, resizeSlots(g, addr(x), addr(out)), g.planes * g.oh * g.ow * 8);
    },
    linear(x, w, bias, out, m, k, n) {
      run(Kernel.Linear, LinearArg, {
        X: addr(x), W: addr(w), Bias: bias ? addr(bias) : 0, Out: addr(out), M: m, K: k, N: n, Scratch: scratch, ScratchStride: scratchStride,
      }, m * k * n);
    },
    radixGap(x, out, batch, radix, c, hw) {
      run(Kernel.RadixGap, RadixGapArg, { X: addr(x), Out: addr(out), Batch: batch, Radix: radix, C: c, Hw: hw }, batch * radix * c * hw);
    },
    rSoftmax(x, out, batch, card, radix, rest) {
      run(Kernel.RSoftmax, RSoftmaxArg, { X: addr(x), Out: addr(out), Batch: batch, Card: card, Radix: radix, Rest: rest }, batch * card * radix * rest * 8);
    },
    radixAttend(x, atten, out, batch, radix, c, hw) {
      run(Kernel.RadixAttend, RadixAttendArg, { X: addr(x), Atten: addr(atten), Out: addr(out), Batch: batch, Radix: radix, C: c, Hw: hw }, batch * radix * c * hw);
    },

    convAlgorithm: (g: Conv2dGeometry, fixedWeight = false) => (useWinograd(g, fixedWeight) ? 'winograd' : 'gemm'),
    memoryStats: () => arena.stats(),
    capture,
    measurePeak(nth = threads, iterations = 2_000_000) {
      notRecording('measurePeak()');
      const out = arena.alloc(64 * 4);
      const t0 = performance.now();
      views();
      i32[(args >> 2) + PeakArg.Iterations] = iterations;
      i32[(args >> 2) + PeakArg.Out] = out;
      if (pool && nth > 1) pool.dispatch(Kernel.Peak, args, Math.min(nth, threads));
      else ex.dispatch(Kernel.Peak, args, 0, 1);
      const seconds = (performance.now() - t0) / 1000;
      arena.release(out);
      // PEAK_MADDS_PER_ROUND multiply-adds × 4 lanes × 2 flops per round per thread.
      return (iterations * PEAK_MADDS_PER_ROUND * 4 * 2 * (pool && nth > 1 ? Math.min(nth, threads) : 1)) / seconds / 1e9;
    },
    async configure(o: BackendOptions) {
      notRecording('configure()');
      if (o.winograd !== undefined && winograd !== (o.winograd !== false)) {
        winograd = o.winograd !== false;
        generation++;
      }
      if (o.winogradF4 !== undefined && winogradF4 !== (o.winogradF4 !== false)) {
        winogradF4 = o.winogradF4 !== false;
        generation++;
      }
      if (o.threads === undefined || !shared || o.threads === threads) return;
      if (!Number.isInteger(o.threads) || o.threads < 1) throw new ArgumentError(`wasm backend: threads must be a positive integer, got ${o.threads}`);
      await pool?.stop();
      pool = null;
      threads = o.threads;
      generation++;
      arena.release(scratch);
      scratch = arena.alloc(scratchStride * threads);
      arena.release(control);
      control = arena.alloc(CONTROL_BYTES);
      views();
      i32.fill(0, control >> 2, (control + CONTROL_BYTES) >> 2);
      pool = threads > 1 ? await ThreadPool.start(module, memory, control, threads, ex.dispatch) : null;
    },
    dispose() {
      void pool?.stop();
      pool = null;
    },
  };
  return backend;
}

/**
 * A copy into a dense dst as the StridedCopy kernel takes it: at most four dimensions after
 * dropping size-1 ones and merging neighbours that src reads contiguously, padded in front
 * with 1s; null when dst is not dense or more dimensions remain (the js loop runs those).
 */
function denseCopyDims(shape: readonly number[], src: readonly number[], dst: readonly number[]): [number[], number[]] | null {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && dst[i] !== expect) return null;
    expect *= shape[i]!;
  }
  const d: number[] = [], st: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = d.length - 1;
    if (last >= 0 && st[last] === src[i]! * shape[i]!) {
      d[last] = d[last]! * shape[i]!;
      st[last] = src[i]!;
    } else {
      d.push(shape[i]!);
      st.push(src[i]!);
    }
  }
  if (d.length > 4) return null;
  while (d.length < 4) {
    d.unshift(1);
    st.unshift(0);
  }
  return [d, st];
}

/** A float argument (written as f32); every other slot is an i32. */
class Float {
  constructor(readonly value: number) {}
}

type Layout = Record<string, string | number>;
/** A value for every slot name of a layout enum (ids.ts). */
type SlotValues<L extends Layout> = { readonly [K in keyof L]: number | Float };

const layouts = new Map<Layout, [string, number][]>();
/** A layout enum's (name, slot) pairs (a numeric enum also maps numbers back to names), checked against the claim words once. */
function slotsOf(layout: Layout): [string, number][] {
  let pairs = layouts.get(layout);
  if (!pairs) {
    pairs = Object.entries(layout).filter((e): e is [string, number] => typeof e[1] === 'number');
    const last = Math.max(...pairs.map(([, i]) => i));
    if (last >= CLAIM_SLOT) throw new BackendError(`wasm backend: argument slot ${last} overlaps the claim words at ${CLAIM_SLOT}`);
    layouts.set(layout, pairs);
  }
  return pairs;
}

function resizeSlots(g: ResizeGeometry, x: number, out: number): SlotValues<typeof InterpolateArg> {
  return {
    X: x, Out: out, Planes: g.planes, Ih: g.ih, Iw: g.iw, Oh: g.oh, Ow: g.ow, Bilinear: g.mode === 'bilinear' ? 1 : 0,
    AlignCorners: g.alignCorners ? 1 : 0, ScaleH: new Float(g.scaleH), ScaleW: new Float(g.scaleW),
  };
}

/** A conv's geometry slots, named as Conv2dArg and ConvBackwardArg name them. */
function geometrySlots(g: Conv2dGeometry) {
  return {
    N: g.n, C: g.c, H: g.h, Wd: g.w, O: g.o, Kh: g.kh, Kw: g.kw, StrideH: g.strideH, StrideW: g.strideW,
    PadH: g.padH, PadW: g.padW, DilH: g.dilH, DilW: g.dilW, Groups: g.groups, Oh: g.oh, Ow: g.ow,
  };
}

function poolSlots(g: Pool2dGeometry, x: number, out: number): SlotValues<typeof PoolArg> {
  return {
    X: x, Out: out, Planes: g.planes, H: g.h, W: g.w, Kh: g.kh, Kw: g.kw, StrideH: g.strideH, StrideW: g.strideW,
    PadH: g.padH, PadW: g.padW, Oh: g.oh, Ow: g.ow, CountIncludePad: g.countIncludePad ? 1 : 0, Images: g.images,
  };
}

registerBackend('wasm', createWasmBackend, { makeDefault: true });
