// The wasm backend's training kernels against the js reference kernels (src/backend/js/
// training.ts), on random inputs larger than the autograd fixtures and on one and two
// threads: float32 parity max |wasm − js| ≤ 1e-5 · max |js| for every kernel; the
// optimizers repeat the reference's float32 operation order, so they must give the same
// bits. Every operand lives at an odd element offset (unaligned vector loads), and outputs
// start as garbage (kernels overwrite).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWasmBackend, type WasmBackend } from '../src/backend/wasm/index.js';
import { createJsBackend } from '../src/backend/js/index.js';
import { trainingKernels as jsKernels } from '../src/backend/js/training.js';
import { TRAINING_KERNELS, type Backend, type Conv2dGeometry, type Pool2dGeometry, type Ref, type TrainingKernels } from '../src/backend/backend.js';
import { uniform } from '../src/util/random.js';
import { pool2dGeometry } from '../src/ops/pool.js';

// The training kernels, and the forward ones that training leans on (log-softmax, row sums).
type Name = keyof TrainingKernels | 'softmax' | 'reduceRows' | 'conv2d' | 'batchNorm' | 'pool2d';
const jsForward = createJsBackend();
const kernelOf = (training: object, backend: object, name: Name): unknown =>
  (name in training ? (training as Record<string, unknown>)[name] : (backend as Record<string, unknown>)[name]);

/** An array operand; `out` ones are compared after the call (in-place operands are both). */
interface Operand { data: Float32Array; out?: boolean }
const inp = (data: Float32Array): Operand => ({ data });
const out = (n: number, seed = 99): Operand => ({ data: uniform(n, seed, -50, 50), out: true });
const inout = (data: Float32Array): Operand => ({ data, out: true });
const isOperand = (a: unknown): a is Operand => a !== null && typeof a === 'object' && (a as Operand).data instanceof Float32Array;

const backends: { name: string; threads: number; b: WasmBackend }[] = [];
for (const threads of [1, 2]) {
  const b = await createWasmBackend({ threads });
  backends.push({ name: `wasm ${b.variant} ${threads}t`, threads, b });
}

/** Runs kernel `name` on js (Float32Arrays) and on wasm backend b; returns both sets of outputs. */
function both(b: WasmBackend, name: Name, args: unknown[]): { js: Float32Array[]; wasm: Float32Array[] } {
  const jsArgs = args.map((a) => (isOperand(a) ? { buf: a.data.slice(), offset: 0 } : a));
  (kernelOf(jsKernels, jsForward, name) as (...a: unknown[]) => void)(...jsArgs);
  const OFF = 1;
  const bufs: number[] = [];
  const wArgs = args.map((a) => {
    if (!isOperand(a)) return a;
    const buf = b.alloc(a.data.length + OFF + 4, 'float32');
    bufs.push(buf);
    const ref: Ref<number> = { buf, offset: OFF };
    b.write(ref, a.data);
    return ref;
  });
  (kernelOf(b.training!, b, name) as (...a: unknown[]) => void)(...wArgs);
  const js: Float32Array[] = [], wasm: Float32Array[] = [];
  args.forEach((a, i) => {
    if (!isOperand(a) || !a.out) return;
    js.push((jsArgs[i] as Ref<Float32Array>).buf);
    wasm.push(b.readSync(wArgs[i] as Ref<number>, a.data.length, 'float32') as Float32Array);
  });
  for (const buf of bufs) b.free(buf);
  return { js, wasm };
}

const maxAbs = (v: Float32Array) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

function parity(label: string, name: Name, args: unknown[], tol = 1e-5): void {
  for (const { name: bk, b } of backends) {
    const { js, wasm } = both(b, name, args);
    js.forEach((want, k) => {
      const got = wasm[k]!;
      let err = 0;
      for (let i = 0; i < want.length; i++) {
        const d = Math.abs(got[i]! - want[i]!);
        if (!(d <= err)) err = d; // NaN counts as an error
      }
      const scale = maxAbs(want);
      assert.ok(scale > 0 || label.includes('zero'), `${bk} ${label}: output ${k} is all zeros`);
      assert.ok(err <= tol * scale, `${bk} ${label}: output ${k}: max |wasm − js| = ${err} > ${tol} · ${scale}`);
    });
  }
}

/** Within `ulps` units in the last place, element by element (0: the same bits). */
function ulpParity(label: string, name: Name, args: unknown[], ulps = 0): void {
  const bits = (v: Float32Array) => new Int32Array(v.buffer, v.byteOffset, v.length);
  for (const { name: bk, b } of backends) {
    const { js, wasm } = both(b, name, args);
    js.forEach((want, k) => {
      const wb = bits(want), gb = bits(wasm[k]!);
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        // Same-sign floats: the bit patterns' difference counts ulps.
        const d = Math.sign(want[i]!) === Math.sign(wasm[k]![i]!) ? Math.abs(wb[i]! - gb[i]!) : (want[i] === wasm[k]![i] ? 0 : Infinity);
        worst = Math.max(worst, d);
      }
      assert.ok(worst <= ulps, `${bk} ${label}: output ${k} differs by ${worst} ulp`);
    });
  }
}

// ---------------------------------------------------------------------------------------------

function geometry(n: number, c: number, h: number, w: number, o: number, kh: number, kw: number,
  s: [number, number], p: [number, number], d: [number, number], groups: number): Conv2dGeometry {
  const oh = Math.floor((h + 2 * p[0] - d[0] * (kh - 1) - 1) / s[0]) + 1;
  const ow = Math.floor((w + 2 * p[1] - d[1] * (kw - 1) - 1) / s[1]) + 1;
  return { n, c, h, w, o, kh, kw, strideH: s[0], strideW: s[1], padH: p[0], padW: p[1], dilH: d[0], dilW: d[1], groups, oh, ow };
}

const CONVS: [string, Conv2dGeometry][] = [
  ['3×3 s2 p1 d2 g1', geometry(2, 32, 17, 15, 32, 3, 3, [2, 2], [1, 1], [2, 2], 1)],
  ['3×3 s2 p1 d2 g2', geometry(2, 32, 17, 15, 64, 3, 3, [2, 2], [1, 1], [2, 2], 2)],
  ['3×3 s2 p1 d2 g32 (depthwise)', geometry(2, 32, 17, 15, 32, 3, 3, [2, 2], [1, 1], [2, 2], 32)],
  ['3×3 s1 p1 g1', geometry(2, 32, 17, 15, 48, 3, 3, [1, 1], [1, 1], [1, 1], 1)],
  ['3×3 s1 p1 g2, 64 channels (K = 288), 30×30 (P = 900)', geometry(2, 64, 30, 30, 32, 3, 3, [1, 1], [1, 1], [1, 1], 2)],
  ['3×3 s1 p1 64→40 (K = 576: three column blocks of dW)', geometry(1, 64, 20, 19, 40, 3, 3, [1, 1], [1, 1], [1, 1], 1)],
  ['1×1 g1', geometry(2, 32, 17, 15, 64, 1, 1, [1, 1], [0, 0], [1, 1], 1)],
  ['1×1 g2', geometry(2, 32, 17, 15, 16, 1, 1, [1, 1], [0, 0], [1, 1], 2)],
  ['1×1 s2', geometry(2, 32, 17, 15, 24, 1, 1, [2, 2], [0, 0], [1, 1], 1)],
  ['5×3 s(1,2) p(2,1) d(1,2) g4, odd sizes', geometry(3, 12, 11, 13, 20, 5, 3, [1, 2], [2, 1], [1, 2], 4)],
  ['7×7 s2 p3 3→16 (a stem)', geometry(2, 3, 23, 21, 16, 7, 7, [2, 2], [3, 3], [1, 1], 1)],
  ['3×3 s1 p1 8→400 (output channels past one reduction block)', geometry(1, 8, 6, 7, 400, 3, 3, [1, 1], [1, 1], [1, 1], 1)],
  ['2×2 s1 p0 on 1×1 outputs', geometry(3, 4, 2, 2, 5, 2, 2, [1, 1], [0, 0], [1, 1], 1)],
  // Stride 1 runs dX as a convolution with padding d·(k − 1) − p: here negative.
  ['1×1 s1 p1 (padding past the kernel)', geometry(2, 6, 5, 7, 8, 1, 1, [1, 1], [1, 1], [1, 1], 1)],
  ['3×3 s1 p3 (padding past the kernel)', geometry(2, 16, 9, 8, 16, 3, 3, [1, 1], [3, 3], [1, 1], 1)],
  // Strided: dX by col2im, over several column blocks, row chunks and reduction blocks.
  ['3×3 s2 p1 8→16 on 40×40 (P = 400)', geometry(2, 8, 40, 40, 16, 3, 3, [2, 2], [1, 1], [1, 1], 1)],
  ['3×3 s2 p1 64→40 (K = 576 > one row chunk)', geometry(1, 64, 20, 19, 40, 3, 3, [2, 2], [1, 1], [1, 1], 1)],
  ['3×3 s2 p1 8→400 (output channels past one reduction block)', geometry(1, 8, 9, 9, 400, 3, 3, [2, 2], [1, 1], [1, 1], 1)],
  // Small maps of a batch: dW's reduction blocks hold whole images (dY rows gathered), the
  // flipped conv of dX packs columns and Winograd tiles across images.
  ['3×3 s1 p1 g2 on 4×4 maps, batch 16 (one block of 16 images; Winograd dX)', geometry(16, 32, 4, 4, 64, 3, 3, [1, 1], [1, 1], [1, 1], 2)],
  ['1×1 on 2×2 maps, batch 5, 300→24 (K over several dW column blocks)', geometry(5, 300, 2, 2, 24, 1, 1, [1, 1], [0, 0], [1, 1], 1)],
  ['3×3 s1 p1 on 7×7 maps, batch 20 (blocks of 7, 7 and 6 images)', geometry(20, 8, 7, 7, 12, 3, 3, [1, 1], [1, 1], [1, 1], 1)],
  ['1×1 on 3×3 maps, batch 50 (two blocks of 25 images)', geometry(50, 16, 3, 3, 20, 1, 1, [1, 1], [0, 0], [1, 1], 1)],
  // Winograd's weight gradient: odd channel counts a group (a scalar tail in each transform),
  // odd map sizes (tiles past the edge), two chunks of output channels and two tile blocks.
  ['3×3 s1 p1 g2 on 11×9 maps, batch 4, 26→300 (Winograd dW, odd sizes)', geometry(4, 26, 11, 9, 300, 3, 3, [1, 1], [1, 1], [1, 1], 2)],
  // Large maps: the tile blocks summed in two segments, added in a second launch.
  ['3×3 s1 p1 on 45×47 maps, batch 3, 12→20 (Winograd dW in two segments)', geometry(3, 12, 45, 47, 20, 3, 3, [1, 1], [1, 1], [1, 1], 1)],
  // Maps under a panel's 8 pixels: the batch's images side by side, one [c, n·P] map.
  ['1×1 on 1×1 maps, batch 37, 40→36 (images side by side)', geometry(37, 40, 1, 1, 36, 1, 1, [1, 1], [0, 0], [1, 1], 1)],
  ['1×1 on 1×2 maps, batch 3, 9→70 (images side by side, odd sizes)', geometry(3, 9, 1, 2, 70, 1, 1, [1, 1], [0, 0], [1, 1], 1)],
];

for (const [label, g] of CONVS) {
  test(`conv2dBackwardWeight and conv2dBackwardInput: ${label}`, async () => {
    const cg = g.c / g.groups, k = cg * g.kh * g.kw;
    const x = uniform(g.n * g.c * g.h * g.w, 1, -1, 1);
    const dy = uniform(g.n * g.o * g.oh * g.ow, 2, -1, 1);
    const w = uniform(g.o * k, 3, -0.5, 0.5);
    // Winograd's gradients take F(4×4, 3×3) where its tiles fill the map, else F(2×2): both.
    const winograd = backends[0]!.b.convAlgorithm!(g) === 'winograd';
    for (const winogradF4 of winograd ? [true, false] : [true]) {
      for (const { b } of backends) await b.configure!({ winogradF4 });
      const tag = winograd ? (winogradF4 ? ' (F(4×4) where it fits)' : ' (F(2×2))') : '';
      parity(`${label} dW${tag}`, 'conv2dBackwardWeight', [g, inp(x), inp(dy), out(g.o * k)]);
      parity(`${label} dX${tag}`, 'conv2dBackwardInput', [g, inp(dy), inp(w), out(g.n * g.c * g.h * g.w)]);
    }
    if (g.kh === 1 && g.padH === 0) {
      const bias = uniform(g.o, 4, -1, 1);
      parity(`${label} forward, bias and ReLU`, 'conv2d', [g, inp(x), inp(w), null, inp(bias), null, 'relu', out(g.n * g.o * g.oh * g.ow)]);
    }
  });
}

// ---------------------------------------------------------------------------------------------

test('channelSum, channelMoments and batchNormBackward on [4, 64, 9, 9] and odd sizes', () => {
  // 1×1 maps take four channels a step (here with two left over, and past one block of 256
  // channels); small maps, blocks of channels (eight of them where c allows: [16, 256, 7²],
  // and [3, 2100, 1], blocks of 264 channels).
  for (const [n, c, hw] of [[4, 64, 81], [3, 5, 7], [6, 3, 1], [1, 17, 130], [40, 10, 1], [5, 300, 1], [20, 70, 4], [16, 256, 49], [3, 2100, 1]] as const) {
    const x = uniform(n * c * hw, 11, -2, 3), dy = uniform(n * c * hw, 12, -1, 1);
    const label = `[${n}, ${c}, ${hw}]`;
    parity(`channelSum ${label}`, 'channelSum', [inp(x), out(c), n, c, hw]);
    parity(`channelMoments ${label}`, 'channelMoments', [inp(x), out(c), out(c, 5), n, c, hw]);
    const mean = { buf: new Float32Array(c), offset: 0 }, variance = { buf: new Float32Array(c), offset: 0 };
    jsKernels.channelMoments({ buf: x, offset: 0 }, mean, variance, n, c, hw);
    const weight = uniform(c, 13, 0.5, 1.5);
    parity(`batchNormBackward ${label}`, 'batchNormBackward',
      [inp(x), inp(dy), inp(mean.buf), inp(variance.buf), inp(weight), 1e-5, n, c, hw, out(n * c * hw), out(c, 6), out(c, 7)]);
    const bias = uniform(c, 14, -1, 1);
    parity(`batchNorm ${label}`, 'batchNorm', [inp(x), inp(weight), inp(bias), inp(mean.buf), inp(variance.buf), 1e-5, n, c, hw, 'relu', out(n * c * hw)]);
    if (hw === 1) parity(`batchNorm ${label}, sigmoid`, 'batchNorm', [inp(x), inp(weight), inp(bias), inp(mean.buf), inp(variance.buf), 1e-5, n, c, hw, 'sigmoid', out(n * c * hw)]);
  }
});

test('activationBackward (relu, sigmoid) with a tail past the vector width', () => {
  for (const numel of [4 * 64 * 81 + 3, 5, 1]) {
    const relu = uniform(numel, 21, -1, 1).map((v) => Math.max(v, 0));
    const sig = uniform(numel, 22, -6, 6).map((v) => 1 / (1 + Math.exp(-v)));
    const dy = uniform(numel, 23, -1, 1);
    parity(`relu ${numel}${numel < 8 ? ' (may be all zero)' : ''}`, 'activationBackward', ['relu', inp(relu), inp(dy), out(numel), numel]);
    parity(`sigmoid ${numel}`, 'activationBackward', ['sigmoid', inp(sig), inp(dy), out(numel), numel]);
  }
});

test('radixAttendBackward', () => {
  for (const [batch, radix, c, hw] of [[2, 2, 64, 81], [3, 4, 7, 9], [1, 1, 3, 1]] as const) {
    const x = uniform(batch * radix * c * hw, 31, -1, 1), att = uniform(batch * radix * c, 32, 0, 1);
    const dy = uniform(batch * c * hw, 33, -1, 1);
    parity(`[${batch}, ${radix}, ${c}, ${hw}]`, 'radixAttendBackward',
      [inp(x), inp(att), inp(dy), out(batch * radix * c * hw), out(batch * radix * c, 8), batch, radix, c, hw]);
  }
});

test('sgdStep: every momentum / weight decay / nesterov / first-step combination, bit for bit', () => {
  const numel = 40003; // past the threshold where work is split over threads
  const p = uniform(numel, 41, -1, 1), g = uniform(numel, 42, -0.1, 0.1), buf = uniform(numel, 43, -0.05, 0.05);
  for (const momentum of [0, 0.9]) {
    for (const wd of [0, 1e-4]) {
      for (const nesterov of [false, true]) {
        for (const first of [false, true]) {
          if (nesterov && !momentum) continue;
          const label = `momentum ${momentum} wd ${wd} nesterov ${nesterov} first ${first}`;
          ulpParity(label, 'sgdStep', [inout(p), inp(g), inout(buf), numel, 0.1, momentum, wd, nesterov, first]);
        }
      }
    }
  }
  ulpParity('no buffer', 'sgdStep', [inout(p), inp(g), null, numel, 0.05, 0, 1e-2, false, true]);
});

test('adamwStep bit for bit, at step 1 and step 10', () => {
  const numel = 40003; // past the threshold where work is split over threads
  const p = uniform(numel, 51, -1, 1), g = uniform(numel, 52, -0.1, 0.1);
  const m = uniform(numel, 53, -0.01, 0.01), v = uniform(numel, 54, 0, 1e-4);
  for (const step of [1, 10]) {
    for (const wd of [0, 1e-2]) {
      ulpParity(`step ${step} wd ${wd}`, 'adamwStep', [inout(p), inp(g), inout(m), inout(v), numel, 1e-3, 0.9, 0.999, 1e-8, wd, step]);
    }
  }
  ulpParity('zero moments', 'adamwStep', [inout(p), inp(g), inout(new Float32Array(numel)), inout(new Float32Array(numel)), numel, 1e-2, 0.8, 0.99, 1e-6, 0.1, 1]);
});

// ---------------------------------------------------------------------------------------------

function pool(planes: number, h: number, w: number, k: number, s: number, pad: number, ceil = false, countIncludePad = true): Pool2dGeometry {
  return pool2dGeometry([1, planes, h, w], k, { stride: s, padding: pad, ceilMode: ceil, countIncludePad });
}

const POOLS: [string, Pool2dGeometry][] = [
  ['3×3 s2 p1', pool(16, 17, 15, 3, 2, 1)],
  ['3×3 s1 p1 (overlapping)', pool(6, 12, 13, 3, 1, 1)],
  ['2×2 s2 ceil', pool(5, 9, 11, 2, 2, 0, true)],
  ['3×3 s2 p1 ceil, pad not counted', pool(4, 10, 8, 3, 2, 1, true, false)],
  ['2×2 s1', pool(3, 7, 9, 2, 1, 0)],
  ['2×2 s3 p1 ceil (rows and columns no window covers)', pool(3, 11, 11, 2, 3, 1, true)],
  ['2×2 s2 ceil on 21×20 (four windows a step, a one-row last window)', pool(4, 21, 20, 2, 2, 0, true)],
  ['5×5 s2 p2 ceil (the last windows add to rows they share)', pool(3, 9, 10, 5, 2, 2, true)],
  ['3×3 s1 p1 on 37-wide rows', pool(2, 6, 37, 3, 1, 1)],
  // Small maps: tasks are runs of planes.
  ['2×2 s2 on 2×2 maps, 3000 planes', pool(3000, 2, 2, 2, 2, 0)],
  ['2×2 s2 ceil on 7×7 maps, 700 planes', pool(700, 7, 7, 2, 2, 0, true)],
];

test('maxPool2dBackward: the first maximum of each window (ties, overlaps, a NaN)', () => {
  for (const [label, g] of POOLS) {
    const n = g.planes * g.h * g.w;
    // Values on a coarse grid so that windows hold ties.
    const x = uniform(n, 61, 0, 4).map(Math.floor);
    x[7] = NaN;
    const dy = uniform(g.planes * g.oh * g.ow, 62, -1, 1);
    parity(label, 'pool2dBackward', ['max', g, inp(x), inp(dy), out(n)]);
  }
});

test('avgPool2dBackward', () => {
  for (const [label, g] of POOLS) {
    const dy = uniform(g.planes * g.oh * g.ow, 63, -1, 1);
    parity(label, 'pool2dBackward', ['avg', g, inp(dy), inp(dy), out(g.planes * g.h * g.w)]);
    const x = uniform(g.planes * g.h * g.w, 64, -1, 1);
    parity(`${label} forward`, 'pool2d', ['avg', g, inp(x), out(g.planes * g.oh * g.ow)]);
    parity(`${label} forward, max`, 'pool2d', ['max', g, inp(x), out(g.planes * g.oh * g.ow)]);
    parity(`${label}, pad not counted`, 'pool2dBackward', ['avg', { ...g, countIncludePad: false }, inp(dy), inp(dy), out(g.planes * g.h * g.w)]);
  }
});

function softmaxOf(x: Float32Array, outer: number, dim: number, inner: number, log: boolean): Float32Array {
  const y = new Float32Array(x.length);
  for (let a = 0; a < outer; a++) for (let i = 0; i < inner; i++) {
    const at = (d: number) => (a * dim + d) * inner + i;
    let m = -Infinity, s = 0;
    for (let d = 0; d < dim; d++) m = Math.max(m, x[at(d)]!);
    for (let d = 0; d < dim; d++) s += Math.exp(x[at(d)]! - m);
    for (let d = 0; d < dim; d++) y[at(d)] = log ? x[at(d)]! - m - Math.log(s) : Math.exp(x[at(d)]! - m) / s;
  }
  return y;
}

test('logSoftmax, softmaxBackward, logSoftmaxBackward over inner = 1 and inner > 1', () => {
  for (const [outer, dim, inner] of [[3, 1000, 1], [4, 7, 9], [2, 5, 3], [8, 10, 1], [1, 3, 130]] as const) {
    const n = outer * dim * inner;
    const x = uniform(n, 71, -8, 8), dy = uniform(n, 72, -1, 1);
    const label = `[${outer}, ${dim}, ${inner}]`;
    parity(`logSoftmax ${label}`, 'softmax', [inp(x), out(n), outer, dim, inner, true]);
    parity(`softmaxBackward ${label}`, 'softmaxBackward', [false, inp(softmaxOf(x, outer, dim, inner, false)), inp(dy), out(n), outer, dim, inner]);
    parity(`logSoftmaxBackward ${label}`, 'softmaxBackward', [true, inp(softmaxOf(x, outer, dim, inner, true)), inp(dy), out(n), outer, dim, inner]);
  }
});

test('rSoftmaxBackward', () => {
  for (const [batch, card, radix, rest] of [[2, 3, 4, 7], [4, 1, 2, 64], [2, 2, 2, 1], [1, 1, 1, 5]] as const) {
    const n = batch * card * radix * rest;
    // y: a softmax over radix, radix-major [batch, radix, card, rest].
    const y = new Float32Array(n);
    const x = uniform(n, 81, -3, 3);
    for (let b = 0; b < batch; b++) for (let k = 0; k < card; k++) for (let t = 0; t < rest; t++) {
      const at = (r: number) => ((b * radix + r) * card + k) * rest + t;
      let s = 0;
      for (let r = 0; r < radix; r++) s += Math.exp(x[at(r)]!);
      for (let r = 0; r < radix; r++) y[at(r)] = Math.exp(x[at(r)]!) / s;
    }
    const dy = uniform(n, 82, -1, 1);
    parity(`[${batch}, ${card}, ${radix}, ${rest}]${radix === 1 ? ' (radix 1: zero gradient)' : ''}`, 'rSoftmaxBackward', [inp(y), inp(dy), out(n), batch, card, radix, rest]);
  }
});

test('sumRows', () => {
  for (const [rows, cols] of [[37, 203], [5, 3], [1, 4096], [300, 1]] as const) {
    parity(`[${rows}, ${cols}]`, 'reduceRows', ['sum', inp(uniform(rows * cols, 91, -1, 2)), out(rows), rows, cols]);
  }
});

test('every CPU backend implements every training kernel', () => {
  for (const { name, threads, b } of backends) assert.is(b.threads, threads, `${name} runs on its threads`);
  const cpu: Backend[] = [createJsBackend(), ...backends.map((b) => b.b)];
  for (const b of cpu) {
    assert.ok(b.training, `${b.name} has training kernels`);
    for (const name of TRAINING_KERNELS) assert.type((b.training as unknown as Record<string, unknown>)[name], 'function', `${b.name}: ${name}`);
  }
});

test('done: the test backends are disposed', () => {
  for (const { b } of backends) b.dispose?.();
});

test.run();
