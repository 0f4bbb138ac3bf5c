// The webgpu backend: tensors live in pooled GPU buffers for the whole forward pass, every
// op is a WGSL kernel encoded into one command encoder, and only read() waits for the GPU.
// Float tensors are stored as f32, or as f16 with `f16: true` (program.ts generates the
// declarations; kernels compute in f32 either way); int32 tensors are always 32-bit.

import type {
  Activation, Backend, BackendOptions, BinaryOp, Conv2dGeometry, DType, HostArray, Pool2dGeometry, Ref, StridedRef, UnaryOp,
} from '../backend.js';
import { BackendError } from '../../errors.js';
import type { GpuBuf, PoolStats } from './buffer-pool.js';
import { acquireDevice, type DeviceOptions } from './device.js';
import { Runtime, type Binding, type RuntimeOptions } from './runtime.js';
import { coalesce, inChunks, span, stridedPieces } from './split.js';
import { binaryProgram, convertProgram, copyProgram, fillProgram, unaryProgram, type MoveType } from './kernels/elementwise.js';
import { convProgram, TM, TN } from './kernels/conv.js';
import { convDirectProgram, DIRECT_RM, DIRECT_RN, im2colProgram } from './kernels/conv-direct.js';
import { avgPoolProgram, maxPoolProgram } from './kernels/pool.js';
import { batchNormProgram, linearProgram, rowMeanDirectProgram, rowMeanProgram, softmaxProgram } from './kernels/norm.js';
import { radixAttendProgram, rSoftmaxProgram } from './kernels/splat.js';
import { interpolateProgram, resizeValues } from './kernels/interpolate.js';
import { halfBits } from './half.js';
import type { FloatStorage } from './program.js';

export type { GpuBuf } from './buffer-pool.js';

export interface WebGpuOptions extends BackendOptions, DeviceOptions, RuntimeOptions {}

export interface WebGpuBackend extends Backend<GpuBuf> {
  /** Vendor, architecture and description of the adapter in use. */
  readonly adapterName: string;
  /** How float tensors are stored: 'f16' when created with `f16: true`. */
  readonly storage: FloatStorage;
  readonly runtime: Runtime;
  /** Buffer pool and command counters. */
  stats(): PoolStats & Runtime['counters'];
  /** Resolves when every kernel encoded so far has run (benchmarks). */
  sync(): Promise<void>;
}

type R = Ref<GpuBuf>;
const ROW_WG = 64;
// Small workgroups spread a CPU adapter's threads best (measured on SwiftShader: 64 beats 256).
const DIRECT_WG = 64;

/** A fill value's bits as the buffer stores them. */
function fillBits(value: number, dtype: DType, storage: FloatStorage): number {
  if (dtype === 'int32') return (value | 0) >>> 0;
  if (storage === 'f16') return halfBits(value);
  return new Uint32Array(new Float32Array([value]).buffer)[0]!;
}

const moveType = (dtype: DType): MoveType => (dtype === 'int32' ? 'u32' : 'bits');

export async function createWebGpuBackend(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
  const acquired = await acquireDevice(opts);
  const storage: FloatStorage = acquired.f16 ? 'f16' : 'f32';
  const rt = new Runtime(acquired.device, opts, storage);
  const wg = rt.wg;
  /** Bytes per element of a float tensor; int32 tensors take 4. */
  const fb = rt.floatBytes;
  const elemOf = (dtype: DType) => (dtype === 'int32' ? 4 : fb);
  if (wg < 64) throw new BackendError(`webgpu: the adapter allows only ${wg} invocations per workgroup; at least 64 are needed`);
  const slack = acquired.device.limits.minStorageBufferOffsetAlignment;
  const bind = (r: R, offset: number, extent: number): Binding => ({ buf: r.buf, offset: r.offset + offset, extent });
  const chunks = (what: string, units: number, perUnit: number[], fixed: number[], run: (first: number, count: number) => void, elem = fb) =>
    inChunks(what, rt.maxBind, slack, units, perUnit, fixed, run, elem);
  const groupsFor = (threads: number) => Math.ceil(threads / wg);
  const direct = opts.kernels === 'direct' || (opts.kernels !== 'tiled' && acquired.isCpu);
  /** Row reductions: a workgroup per row on GPUs, a thread per row on CPU adapters. */
  function rowMean(x: Binding, out: Binding, rows: number, hw: number, c: number, radix: number, div = hw): void {
    const values = { rows, hw, c, radix, div };
    if (direct) rt.dispatch(rowMeanDirectProgram(wg), [x, out], values, groupsFor(rows));
    else rt.dispatch(rowMeanProgram(ROW_WG), [x, out], values, rows);
  }

  function strided(kind: 'copy' | BinaryOp, shape: readonly number[], srcs: StridedRef<GpuBuf>[], dst: StridedRef<GpuBuf>, dtype: DType = 'float32'): void {
    const total = shape.reduce((a, b) => a * b, 1);
    if (total === 0) return;
    const all = [...srcs, dst];
    const c = coalesce(shape, all.map((r) => r.strides));
    const spec = kind === 'copy' ? copyProgram(c.shape.length, wg, moveType(dtype)) : binaryProgram(kind, c.shape.length, wg);
    const names = kind === 'copy' ? ['x', 'y'] : ['a', 'b', 'y'];
    stridedPieces(c.shape, all.map((r, i) => ({ offset: r.offset, strides: c.strides[i]! })), rt.maxBind, slack, (piece, offsets) => {
      const n = piece.reduce((a, b) => a * b, 1);
      const values: Record<string, number | number[]> = { shape: piece, n };
      all.forEach((_r, i) => { if (names[i] !== 'y' || kind === 'copy') values[`s_${names[i]}`] = c.strides[i]!; });
      const buffers = all.map((r, i): Binding => ({ buf: r.buf, offset: offsets[i]!, extent: span(piece, c.strides[i]!) }));
      rt.dispatch(spec, buffers, values, groupsFor(n));
    }, elemOf(dtype));
  }

  /** Float data between f32 and f16 storage, through an f32 buffer: `f32 ⇄ buf[offset…]`. */
  function convert(direction: 'store' | 'load', f32: GpuBuf, buf: GpuBuf, offset: number, numel: number): void {
    const spec = convertProgram(direction, wg);
    // Chunk sizes are in f32 elements, the larger of the two operands.
    chunks('convert', numel, [1], [], (first, n) => {
      const wide = { buf: f32, offset: first, extent: n }, narrow = { buf, offset: offset + first, extent: n };
      rt.dispatch(spec, direction === 'store' ? [wide, narrow] : [narrow, wide], { n }, groupsFor(n));
    }, 4);
  }

  // The training kernels, in a chunk of their own: inference never runs their WGSL.
  const { gradientKernels } = await import('./gradients.js');
  // (The forward conv is the backend's own, defined below: called only once the backend exists.)
  const training = gradientKernels({ rt, wg, fb, chunks, bind, groupsFor, conv2d: (...a) => backend.conv2d(...a), copy: (...a) => backend.copy(...a) });

  const backend: WebGpuBackend = {
    name: 'webgpu',
    training,
    asyncRead: true,
    adapterName: acquired.adapterName,
    storage,
    runtime: rt,

    alloc: (numel, dtype) => rt.alloc(numel * elemOf(dtype)),
    free: (buf) => rt.free(buf),
    write(dst, data) {
      if (data instanceof Int32Array || storage === 'f32') {
        rt.write(dst.buf, dst.offset, data);
        return;
      }
      // Uploads stay f32 (4-byte aligned for writeBuffer); a kernel rounds them to f16.
      const wide = rt.alloc(data.length * 4);
      rt.write(wide, 0, data);
      convert('store', wide, dst.buf, dst.offset, data.length);
      rt.free(wide); // later users of the buffer are encoded after the conversion
    },
    async read(src, numel, dtype): Promise<HostArray> {
      if (dtype === 'int32' || storage === 'f32') {
        const bytes = await rt.read(src.buf, src.offset, numel);
        return dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
      }
      const wide = rt.alloc(numel * 4);
      try {
        convert('load', wide, src.buf, src.offset, numel);
        return new Float32Array(await rt.read(wide, 0, numel));
      } finally {
        rt.free(wide);
      }
    },
    readSync(): never {
      throw new BackendError('the webgpu backend reads asynchronously: use await tensor.data() instead of dataSync()');
    },

    copy(shape, src, dst, dtype) {
      strided('copy', shape, [src], dst, dtype);
    },
    fill(dst, numel, value, dtype) {
      const spec = fillProgram(wg, moveType(dtype)), bits = fillBits(value, dtype, storage);
      chunks('fill', numel, [1], [], (first, n) => rt.dispatch(spec, [bind(dst, first, n)], { n, bits }, groupsFor(n)), elemOf(dtype));
    },
    unary(op: UnaryOp, x, out, numel, alpha) {
      const spec = unaryProgram(op, wg);
      chunks(op, numel, [1, 1], [], (first, n) =>
        rt.dispatch(spec, [bind(x, first, n), bind(out, first, n)], { n, alpha }, groupsFor(n)));
    },
    binary(op, shape, a, b, out) {
      let s = 1;
      const strides = shape.map(() => 0);
      for (let d = shape.length - 1; d >= 0; d--) {
        strides[d] = s;
        s *= shape[d]!;
      }
      strided(op, shape, [a, b], { ...out, strides });
    },

    conv2d(g: Conv2dGeometry, x, w, factor, bias, residual, act: Activation, out) {
      const cg = g.c / g.groups, og = g.o / g.groups, plane = g.oh * g.ow, k = cg * g.kh * g.kw;
      const pointwise = g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
      const variant = { pointwise, factor: !!factor, bias: !!bias, residual: !!residual, act, wg: wg >= 256 ? 256 : wg >= 128 ? 128 : 64 };
      // CPU adapters: a 3×3 conv writes its im2col matrix (one group at a time) and runs the
      // plain GEMM on it, unless one image's matrix would not fit a binding.
      const matrix = direct && !pointwise && k * plane * fb + slack <= rt.maxBind;
      const inPer = g.c * g.h * g.w, outPer = g.o * plane;
      chunks('conv2d', g.n, [inPer, outPer, matrix ? k * plane : 0], [g.o * k, g.o], (first, n) => {
        const cols = n * plane;
        const values = {
          c: g.c, h: g.h, w: g.w, o: g.o, kw: g.kw, khw: g.kh * g.kw, sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW,
          dh: g.dilH, dw: g.dilW, ow: g.ow, plane, hwin: g.h * g.w, cg, og, k, cols, groups: g.groups, g0: 0,
        };
        const operands = (input: Binding) => {
          const buffers = [input, bind(w, 0, g.o * k)];
          if (factor) buffers.push(bind(factor, 0, plane));
          if (bias) buffers.push(bind(bias, 0, g.o));
          if (residual) buffers.push(bind(residual, first * outPer, n * outPer));
          buffers.push(bind(out, first * outPer, n * outPer));
          return buffers;
        };
        const input = bind(x, first * inPer, n * inPer);
        if (!direct) {
          const tilesN = Math.ceil(cols / TN), tilesM = Math.ceil(og / TM);
          rt.dispatch(convProgram(variant), operands(input), { ...values, tiles_n: tilesN, tiles_m: tilesM }, tilesN * tilesM * g.groups);
          return;
        }
        const tilesN = Math.ceil(cols / DIRECT_RN), tilesM = Math.ceil(og / DIRECT_RM);
        const blocks = { tiles_n: tilesN, tiles_m: tilesM };
        if (!matrix) {
          rt.dispatch(convDirectProgram({ ...variant, wg: DIRECT_WG }, pointwise ? 'pointwise' : 'kxk'), operands(input), { ...values, ...blocks },
            Math.ceil((tilesN * tilesM * g.groups) / DIRECT_WG));
          return;
        }
        const col = rt.alloc(k * cols * fb);
        const colRef = { buf: col, offset: 0, extent: k * cols };
        for (let g0 = 0; g0 < g.groups; g0++) {
          rt.dispatch(im2colProgram(wg), [input, colRef], { ...values, ...blocks, g0, n: k * cols }, groupsFor(k * cols));
          rt.dispatch(convDirectProgram({ ...variant, wg: DIRECT_WG }, 'matrix'), operands(colRef), { ...values, ...blocks, g0, groups: 1 },
            Math.ceil((tilesN * tilesM) / DIRECT_WG));
        }
        rt.free(col); // later users of the buffer are encoded after these kernels
      });
    },

    batchNorm(x, weight, bias, mean, variance, eps, n, c, hw, act, out) {
      const spec = batchNormProgram(act, wg);
      chunks('batch_norm', n * c, [hw, hw], [c], (first, planes) => {
        const count = planes * hw;
        rt.dispatch(spec, [bind(x, first * hw, count), bind(weight, 0, c), bind(bias, 0, c), bind(mean, 0, c), bind(variance, 0, c),
          bind(out, first * hw, count)], { n: count, hw, c, plane0: first, eps }, groupsFor(count));
      });
    },

    pool2d: (kind, g, x, out) => pool(kind, g, x, out),

    reduceRows(kind, x, out, rows, cols) {
      chunks(kind, rows, [cols, 1], [], (first, count) =>
        rowMean(bind(x, first * cols, count * cols), bind(out, first, count), count, cols, 1, 1, kind === 'mean' ? cols : 1));
    },

    softmax(x, out, outer, dim, inner, log = false) {
      const spec = softmaxProgram(wg, log), per = dim * inner;
      chunks('softmax', outer, [per, per], [], (first, count) =>
        rt.dispatch(spec, [bind(x, first * per, count * per), bind(out, first * per, count * per)],
          { n: count * inner, dim, inner }, groupsFor(count * inner)));
    },

    interpolate(g, x, out) {
      const spec = interpolateProgram(wg), inPer = g.ih * g.iw, outPer = g.oh * g.ow;
      chunks('interpolate', g.planes, [inPer, outPer], [], (first, count) =>
        rt.dispatch(spec, [bind(x, first * inPer, count * inPer), bind(out, first * outPer, count * outPer)], resizeValues(g, count * outPer),
          groupsFor(count * outPer)));
    },

    linear(x, w, bias, out, m, k, n) {
      const spec = linearProgram(!!bias, wg);
      chunks('linear', m, [k, n], [n * k, n], (first, rows) => {
        const buffers = [bind(x, first * k, rows * k), bind(w, 0, n * k)];
        if (bias) buffers.push(bind(bias, 0, n));
        buffers.push(bind(out, first * n, rows * n));
        rt.dispatch(spec, buffers, { n: rows * n, cols: n, k }, groupsFor(rows * n));
      });
    },

    radixGap(x, out, batch, radix, c, hw) {
      const per = radix * c * hw;
      chunks('radix_gap', batch, [per, c], [], (first, count) =>
        rowMean(bind(x, first * per, count * per), bind(out, first * c, count * c), count * c, hw, c, radix));
    },

    rSoftmax(x, out, batch, cardinality, radix, rest) {
      const spec = rSoftmaxProgram(wg), per = cardinality * radix * rest;
      chunks('rsoftmax', batch, [per, per], [], (first, count) => {
        const threads = count * cardinality * rest;
        rt.dispatch(spec, [bind(x, first * per, count * per), bind(out, first * per, count * per)],
          { n: threads, card: cardinality, radix, rest }, groupsFor(threads));
      });
    },

    radixAttend(x, atten, out, batch, radix, c, hw) {
      const spec = radixAttendProgram(wg), xPer = radix * c * hw, aPer = radix * c, oPer = c * hw;
      chunks('radix_attend', batch, [xPer, aPer, oPer], [], (first, count) =>
        rt.dispatch(spec, [bind(x, first * xPer, count * xPer), bind(atten, first * aPer, count * aPer), bind(out, first * oPer, count * oPer)],
          { n: count * oPer, radix, c, hw }, groupsFor(count * oPer)));
    },

    configure(o: BackendOptions) {
      const next = o as WebGpuOptions;
      if (next.f16 !== undefined && next.f16 !== (storage === 'f16')) {
        throw new BackendError(`webgpu: f16 storage is chosen when the backend is created (the first initBackend('webgpu', { f16 })); this one stores ${storage}`);
      }
      if (next.flushEvery !== undefined) rt.flushEvery = next.flushEvery;
      if (next.maxBindingBytes !== undefined) rt.maxBind = Math.min(acquired.device.limits.maxStorageBufferBindingSize, next.maxBindingBytes);
      if (next.poolBytes !== undefined) rt.pool.maxFreeBytes = next.poolBytes;
    },
    dispose() {
      rt.destroy();
    },
    stats: () => ({ ...rt.pool.stats, ...rt.counters }),
    sync: () => rt.idle(),
  };

  function pool(kind: 'max' | 'avg', g: Pool2dGeometry, x: R, out: R): void {
    const spec = kind === 'max' ? maxPoolProgram(wg) : avgPoolProgram(wg);
    const inPer = g.h * g.w, outPer = g.oh * g.ow;
    chunks(`${kind}_pool2d`, g.planes, [inPer, outPer], [], (first, planes) => {
      const n = planes * outPer;
      rt.dispatch(spec, [bind(x, first * inPer, planes * inPer), bind(out, first * outPer, n)], {
        n, h: g.h, w: g.w, oh: g.oh, ow: g.ow, kh: g.kh, kw: g.kw, sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW,
        include_pad: g.countIncludePad ? 1 : 0,
      }, groupsFor(n));
    });
  }

  return backend;
}
