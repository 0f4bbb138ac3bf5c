// The wasm backend's own guarantees: the same results on 1 and N threads, memory that stays
// flat across inferences (blocks are recycled), and a measured SIMD peak.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import type { WasmBackend } from '../src/backend/wasm/index.js';
import { Arena, blockSize } from '../src/backend/wasm/arena.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import { relErr } from './helpers/fixtures.js';
import * as F from '../src/ops/index.js';
import { createWasmBackend } from '../src/backend/wasm/index.js';
import { createJsBackend } from '../src/backend/js/index.js';
import type { Activation, Backend, Conv2dGeometry, Pool2dGeometry } from '../src/backend/backend.js';
import { uniform } from '../src/util/random.js';

const wasm = (await initBackend('wasm')) as WasmBackend;

test('1, 2 and 3 threads agree to 1e-5 (work splits over output tiles and channels)', async () => {
  const model = new ResNet([1, 1, 1, 1], { radix: 2, groups: 2, bottleneckWidth: 16, deepStem: true, stemWidth: 16, avgDown: true, avd: true, numClasses: 10 }, wasm);
  model.resetParameters(7).fuse();
  // Batch 1 at 40×36: deep layers have 2×2 pixels, so channels must be split to use the threads.
  const x = tensor(new Float32Array(2 * 3 * 40 * 36).map((_, i) => Math.sin(i * 0.37)), [2, 3, 40, 36], { backend: wasm });
  const outs: Float32Array[] = [];
  for (const threads of [1, 2, 3]) {
    await initBackend('wasm', { threads });
    assert.is(wasm.threads, threads);
    outs.push((await tidy(() => model.call(x)).data()) as Float32Array);
  }
  assert.ok(relErr(outs[1]!, outs[0]!) <= 1e-5, `2 threads: ${relErr(outs[1]!, outs[0]!)}`);
  assert.ok(relErr(outs[2]!, outs[0]!) <= 1e-5, `3 threads: ${relErr(outs[2]!, outs[0]!)}`);
  assert.ok(outs[0]!.some((v) => v !== 0));
  await initBackend('wasm', { threads: 2 });
  model.dispose();
});

test('SIMD exp: softmax, r-softmax, sigmoid and exp match float64 math on every lane path, extremes included', async () => {
  const vals = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => 12 * Math.sin(i * 1.7 + seed));
  const softmax64 = (x: Float32Array, outer: number, dim: number, inner: number) => {
    const y = new Float64Array(x.length);
    for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) {
      const at = (d: number) => (o * dim + d) * inner + i;
      let m = -Infinity, s = 0;
      for (let d = 0; d < dim; d++) m = Math.max(m, x[at(d)]!);
      // x − m rounded to float32 as every float32 softmax does (PyTorch too); the rest in f64.
      for (let d = 0; d < dim; d++) s += Math.exp(Math.fround(x[at(d)]! - m));
      for (let d = 0; d < dim; d++) y[at(d)] = Math.exp(Math.fround(x[at(d)]! - m)) / s;
    }
    return y;
  };
  // inner = 1 with dim below, at and past a multiple of 4; inner with 4-lane groups and a 1..3-lane tail.
  for (const [outer, dim, inner] of [[3, 1000, 1], [2, 7, 1], [1, 3, 1], [2, 5, 6], [3, 4, 3], [1, 2, 9]] as const) {
    const x = vals(outer * dim * inner, dim + inner);
    const got = await F.softmax(tensor(x, [outer, dim, inner], { backend: wasm }), 1).data();
    const want = softmax64(x, outer, dim, inner);
    // Element by element, relative to each probability: small ones must be right too.
    const err = Math.max(...Array.from(got, (g, i) => Math.abs(g - want[i]!) / want[i]!));
    assert.ok(err < 1e-6, `softmax [${outer},${dim},${inner}]: ${err}`);
  }
  const big = Float32Array.from([-100, -88, -20, -1e-3, 0, 1e-3, 5, 20, 87, 88, 100, -3]);
  const sig = await F.sigmoid(tensor(big, [12], { backend: wasm })).data();
  big.forEach((v, i) => assert.ok(Math.abs(sig[i]! - 1 / (1 + Math.exp(-v))) <= 2e-7 * Math.max(1e-30, 1 / (1 + Math.exp(-v))) + 1e-38, `sigmoid(${v}) = ${sig[i]}`));
  const ex = await F.exp(tensor(Float32Array.from([-80, -10, -1, 0, 0.5, 1, 10, 80, 88]), [9], { backend: wasm })).data();
  [-80, -10, -1, 0, 0.5, 1, 10, 80, 88].forEach((v, i) => assert.ok(Math.abs(ex[i]! / Math.exp(v) - 1) < 3e-7, `exp(${v}) = ${ex[i]}`));
  const x = vals(2 * 4 * 3 * 7, 1); // batch 2, cardinality 3, radix 4, 7 channels each: 4-wide steps and a 3-wide tail
  const rs = await F.rSoftmax(tensor(x, [2, 84, 1, 1], { backend: wasm }), 4, 3).data();
  const want = softmax64(x, 2 * 3, 4, 7); // [b, card, radix, rest] softmax over radix, then radix before card
  const perm = new Float64Array(want.length);
  for (let b = 0; b < 2; b++) for (let k = 0; k < 3; k++) for (let r = 0; r < 4; r++) for (let i = 0; i < 7; i++)
    perm[((b * 4 + r) * 3 + k) * 7 + i] = want[((b * 3 + k) * 4 + r) * 7 + i]!;
  assert.ok(relErr(rs, perm) < 1e-6, `rSoftmax: ${relErr(rs, perm)}`);
});

test('memory stays flat over repeated inferences; disposing returns every block', () => {
  const model = new ResNet([1, 1, 1, 1], { radix: 2, bottleneckWidth: 8, numClasses: 10 }, wasm);
  model.resetParameters(1).fuse();
  const x = tensor(new Float32Array(3 * 32 * 32).fill(0.25), [1, 3, 32, 32], { backend: wasm });
  for (let i = 0; i < 3; i++) tidy(() => model.call(x)).dispose();
  const warm = wasm.memoryStats();
  for (let i = 0; i < 50; i++) tidy(() => model.call(x)).dispose();
  const after = wasm.memoryStats();
  assert.is(after.memoryBytes, warm.memoryBytes, 'linear memory did not grow');
  assert.is(after.reservedBytes, warm.reservedBytes, 'no new blocks were carved');
  assert.is(after.liveBytes, warm.liveBytes, 'every intermediate was freed');
  model.dispose();
  x.dispose();
  assert.ok(wasm.memoryStats().liveBytes < warm.liveBytes);
});

test('arena: best fit, splitting and coalescing; freed memory of any size is reused', () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024 });
  const a = new Arena(memory, 1024, 1024 * 65536);
  assert.is(blockSize(1), 128);
  const p1 = a.alloc(100_000), p2 = a.alloc(50_000), p3 = a.alloc(10);
  const high = a.stats().reservedBytes;
  a.release(p1);
  a.release(p2); // coalesces with p1's block
  assert.is(a.stats().freeBlocks, 1);
  const big = a.alloc(140_000); // fits the merged hole: no growth
  assert.is(big, p1);
  assert.is(a.stats().reservedBytes, high);
  a.release(big);
  a.release(p3); // the top block: everything returns to the bump pointer
  assert.is(a.stats().freeBlocks, 0);
  assert.is(a.stats().liveBytes, 0);
  assert.is(a.alloc(64), p1, 'allocation restarts at the bottom');
  assert.throws(() => a.release(12345), /double free/);
});

test('the kernels build in use, and a measured SIMD peak', () => {
  assert.match(wasm.variant, /^(simd|relaxed)(-mt)?$/);
  const gflops = wasm.measurePeak(1, 200_000);
  assert.ok(gflops > 0.1 && gflops < 1000, `peak ${gflops}`);
});

// Convolutions fold the batch into the GEMM's columns (and Winograd's tiles): panels and
// tiles straddle images whenever a map's pixel count is not a multiple of 8.
function geom(n: number, c: number, h: number, w: number, o: number, k: number, s: number, p: number, groups: number): Conv2dGeometry {
  const oh = Math.floor((h + 2 * p - k) / s) + 1, ow = Math.floor((w + 2 * p - k) / s) + 1;
  return { n, c, h, w, o, kh: k, kw: k, strideH: s, strideW: s, padH: p, padW: p, dilH: 1, dilW: 1, groups, oh, ow };
}
const FOLDED: [string, Conv2dGeometry, Activation, boolean][] = [
  ['3×3 g2 on 4×4 maps, batch 16 (Winograd tiles of 16 images)', geom(16, 64, 4, 4, 128, 3, 1, 1, 2), 'relu', true],
  ['1×1 on 2×2 maps, batch 5, K = 800 (three K blocks through straddling tiles)', geom(5, 800, 2, 2, 36, 1, 1, 0, 1), 'relu', true],
  ['3×3 on 3×3 maps, batch 7 (P = 9)', geom(7, 24, 3, 3, 20, 3, 1, 1, 1), 'sigmoid', false],
  ['3×3 on 1×1 maps, batch 9 (P = 1)', geom(9, 8, 1, 1, 12, 3, 1, 1, 1), 'none', true],
  ['1×1 s2 on 7×7 maps, batch 3', geom(3, 16, 7, 7, 24, 1, 2, 0, 1), 'none', true],
  ['3×3 g2 on 7×7 maps, batch 6 (Winograd, odd tiles)', geom(6, 32, 7, 7, 64, 3, 1, 1, 2), 'relu', true],
  // Winograd patches that stick out by two columns on the left, and by one to three on the right.
  ['3×3 pad 2 on 6×5 maps, batch 6 (Winograd, patches past both edges)', geom(6, 16, 6, 5, 32, 3, 1, 2, 1), 'none', true],
  // Split attention's fc1 / fc2 at small batches: matrix–vector products (gemv), K past the 8-float steps.
  ['1×1 on 1×1 maps, batch 1, 1024 → 256 (gemv)', geom(1, 1024, 1, 1, 256, 1, 1, 0, 1), 'relu', false],
  ['1×1 g4 on 1×1 maps, batch 3, 4·27 → 4·37 (gemv, K tails)', geom(3, 108, 1, 1, 148, 1, 1, 0, 4), 'sigmoid', true],
  ['1×1 on 1×1 maps, batch 7, 36 → 20 (gemv)', geom(7, 36, 1, 1, 20, 1, 1, 0, 1), 'none', true],
];
test('conv2d over batches of small maps (columns across images) matches js: rectify factor, bias, residual, activation, 1 and 2 threads, weights trained and fixed', async () => {
  const jsb = createJsBackend() as Backend<Float32Array>;
  for (const threads of [1, 2]) {
    const wb = await createWasmBackend({ threads });
    for (const [label, g, act, withRes] of FOLDED) {
      // A fixed weight takes Winograd F(4×4, 3×3) where its tiles fill the map, a trained one F(2×2, 3×3).
      for (const [winograd, withFactor, fixed] of [[true, false, false], [false, false, false], [true, true, false], [false, true, false], [true, false, true], [true, true, true]]) {
        await wb.configure!({ winograd });
        const cg = g.c / g.groups, nOut = g.n * g.o * g.oh * g.ow;
        const x = uniform(g.n * g.c * g.h * g.w, 1, -1, 1), w = uniform(g.o * cg * g.kh * g.kw, 2, -0.3, 0.3);
        const bias = uniform(g.o, 3, -1, 1), res = withRes ? uniform(nOut, 4, -1, 1) : null;
        // A per-pixel factor as a rectified conv has (any values: the kernels only multiply by it).
        const factor = withFactor ? uniform(g.oh * g.ow, 6, 0.5, 3) : null;
        const want = new Float32Array(nOut);
        jsb.conv2d(g, { buf: x, offset: 0 }, { buf: w, offset: 0 }, factor && { buf: factor, offset: 0 }, { buf: bias, offset: 0 },
          res ? { buf: res, offset: 0 } : null, act, { buf: want, offset: 0 });
        const put = (a: Float32Array) => {
          const r = { buf: wb.alloc(a.length + 1, 'float32'), offset: 1 };
          wb.write(r, a);
          return r;
        };
        const out = { buf: wb.alloc(nOut + 1, 'float32'), offset: 1 };
        wb.write(out, uniform(nOut, 5, -50, 50));
        wb.conv2d(g, put(x), put(w), factor && put(factor), put(bias), res ? put(res) : null, act, out, fixed);
        const got = wb.readSync(out, nOut, 'float32') as Float32Array;
        const err = relErr(got, want);
        assert.ok(err <= 1e-5, `${threads}t winograd ${winograd} factor ${withFactor} fixed ${fixed} ${label}: ${err}`);
      }
    }
    wb.dispose!();
  }
});

// Where all tiles make one block, each task transforms its own output channels' weights; above
// that one transform is made for the call. Both must match js, and neither may leave memory
// behind. Below 64 tiles only a fixed weight (inference) takes Winograd.
const WINOGRAD_MAPS: [string, Conv2dGeometry, 'gemm' | 'winograd', 'gemm' | 'winograd'][] = [
  ['4×4 (4 tiles)', geom(1, 64, 4, 4, 128, 3, 1, 1, 2), 'gemm', 'gemm'],
  ['7×7 (16 tiles, in each task)', geom(1, 64, 7, 7, 128, 3, 1, 1, 2), 'winograd', 'gemm'],
  ['14×14, 516 channels (49 tiles, in each task; cg past the 4-channel steps)', geom(1, 516, 14, 14, 64, 3, 1, 1, 2), 'winograd', 'gemm'],
  ['4×4, batch 16 (64 tiles of 16 images: one block, in each task)', geom(16, 64, 4, 4, 128, 3, 1, 1, 2), 'winograd', 'winograd'],
  ['18×18 (81 tiles: one transform for the call)', geom(1, 64, 18, 18, 128, 3, 1, 1, 2), 'winograd', 'winograd'],
  // F(4×4) over several tile blocks, with odd channel counts and tiles clipped at the map's edges.
  ['8×8, batch 16, 36 → 20 (F(4×4): 64 tiles in two blocks; cg past the 4-channel steps)', geom(16, 36, 8, 8, 20, 3, 1, 1, 1), 'winograd', 'winograd'],
  ['13×11, batch 8 (F(4×4): 96 tiles in three blocks, clipped tiles)', geom(8, 24, 13, 11, 40, 3, 1, 1, 2), 'winograd', 'winograd'],
];
test('Winograd F(2×2) and F(4×4) transform weights in each task on maps of one tile block, once per call above: match js, 1 and 2 threads, nothing kept', async () => {
  const jsb = createJsBackend() as Backend<Float32Array>;
  for (const threads of [1, 2]) {
    const wb = await createWasmBackend({ threads });
    for (const [label, g, fixed, training] of WINOGRAD_MAPS) for (const winogradF4 of [true, false]) {
      await wb.configure!({ winogradF4 });
      assert.is(wb.convAlgorithm!(g, true), fixed, `${label}, fixed weight`);
      assert.is(wb.convAlgorithm!(g, false), training, `${label}, weight in training`);
      const cg = g.c / g.groups, nOut = g.n * g.o * g.oh * g.ow;
      const xs = uniform(g.n * g.c * g.h * g.w, 11, -1, 1), ws = uniform(g.o * cg * 9, 12, -0.3, 0.3), bs = uniform(g.o, 13, -1, 1);
      const want = new Float32Array(nOut);
      jsb.conv2d(g, { buf: xs, offset: 0 }, { buf: ws, offset: 0 }, null, { buf: bs, offset: 0 }, null, 'relu', { buf: want, offset: 0 });
      const put = (a: Float32Array) => {
        const r = { buf: wb.alloc(a.length, 'float32'), offset: 0 };
        wb.write(r, a);
        return r;
      };
      const x = put(xs), w = put(ws), bias = put(bs);
      const live = wb.memoryStats().liveBytes;
      const out = { buf: wb.alloc(nOut, 'float32'), offset: 0 };
      for (const call of ['first', 'second']) {
        wb.conv2d(g, x, w, null, bias, null, 'relu', out, true);
        const err = relErr(wb.readSync(out, nOut, 'float32') as Float32Array, want);
        // F(4×4)'s rounding grows with the channels a group sums: 1.4e-5 at 258 (F(2×2): 2e-6).
        const bound = winogradF4 && g.c / g.groups > 256 ? 3e-5 : 1e-5;
        assert.ok(err <= bound, `${threads}t F4 ${winogradF4} ${label}, ${call} call: ${err}`);
      }
      wb.free(out.buf);
      assert.is(wb.memoryStats().liveBytes, live, `${label}: nothing kept after the calls`);
      for (const r of [x, w, bias]) wb.free(r.buf);
    }
    wb.dispose!();
  }
});

test('linear (dot products below 4 rows, the blocked GEMM from 4) and strided copies (transposes, broadcasts, int32) match js, 1 and 2 threads', async () => {
  const jsb = createJsBackend() as Backend<Float32Array>;
  for (const threads of [1, 2]) {
    const wb = await createWasmBackend({ threads });
    const put = (a: Float32Array | Int32Array) => {
      const r = { buf: wb.alloc(a.length + 1, 'float32'), offset: 1 };
      wb.write(r, a);
      return r;
    };
    for (const [m, k, n, withBias] of [[1, 2048, 1000, true], [3, 37, 21, true], [4, 9, 5, false], [16, 2048, 1000, true], [16, 1000, 2048, false], [1000, 16, 2048, false], [13, 400, 300, true]] as const) {
      const x = uniform(m * k, 1, -1, 1), w = uniform(n * k, 2, -1, 1), bias = uniform(n, 3, -1, 1);
      const want = new Float32Array(m * n);
      jsb.linear({ buf: x, offset: 0 }, { buf: w, offset: 0 }, withBias ? { buf: bias, offset: 0 } : null, { buf: want, offset: 0 }, m, k, n);
      const out = put(uniform(m * n, 4, -50, 50));
      wb.linear(put(x), put(w), withBias ? put(bias) : null, out, m, k, n);
      const err = relErr(wb.readSync(out, m * n, 'float32') as Float32Array, want);
      assert.ok(err <= 1e-5, `${threads}t linear ${m}×${k}×${n}: ${err}`);
    }
    const copies: [number[], number[]][] = [
      [[2048, 1000], [1, 2048]], // a transpose, 4×4 blocks
      [[7, 5, 6], [1, 7, 35]], // transposes with tails
      [[3, 5, 7, 2], [70, 1, 10, 5]],
      [[16, 2048, 2, 2], [2048, 1, 0, 0]], // broadcasts
      [[16, 2, 64, 16], [64, 0, 1, 0]],
      [[4, 3, 2, 3, 2], [1, 4, 12, 24, 72]], // five dimensions that do not merge: js
      [[6, 1, 9], [9, 100, 1]], // contiguous once the size-1 dimension is dropped
    ];
    for (const [shape, strides] of copies) {
      const size = shape.reduce((a, b) => a * b, 1);
      const span = shape.reduce((a, d, i) => a + (d - 1) * strides[i]!, 1);
      const dense = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
      for (const dtype of ['float32', 'int32'] as const) {
        const srcData = dtype === 'int32' ? Int32Array.from({ length: span }, (_, i) => i * 7 - 3) : uniform(span, 5, -1, 1);
        const want = dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
        jsb.copy(shape, { buf: srcData as Float32Array, offset: 0, strides }, { buf: want as Float32Array, offset: 0, strides: dense }, dtype);
        const dst = put(new Float32Array(size).fill(-7));
        wb.copy(shape, { ...put(srcData), strides }, { ...dst, strides: dense }, dtype);
        const got = wb.readSync(dst, size, dtype);
        assert.equal(Array.from(got), Array.from(want), `${threads}t copy ${JSON.stringify(shape)} ${JSON.stringify(strides)} ${dtype}`);
      }
    }
    wb.dispose!();
  }
});

// Around the convs, large maps are split across threads by pixels (rows of pools, pixel ranges
// of split attention), small ones by planes or channels, and column / tile blocks come in even
// sizes (assembly/tasks.ts): every path, on 1, 2 and 3 threads, against js.
const POOLS: [string, 'max' | 'avg', Pool2dGeometry][] = [
  ['max 3×3 s2 on 40×36 (rows split)', 'max', F.pool2dGeometry([1, 5, 40, 36], 3, { stride: 2, padding: 1 })],
  ['avg 3×3 s2, no padded cells, on 23×17 of 3 images (rows split per image)', 'avg',
    F.pool2dGeometry([3, 4, 23, 17], 3, { stride: 2, padding: 1, countIncludePad: false })],
  ['max 3×3 s1 on 16×16 (256 pixels: rows split, one output row a task)', 'max', F.pool2dGeometry([1, 3, 16, 16], 3, { stride: 1, padding: 1 })],
  ['avg 2×2 s2 ceil on 15×15 of 2 images (planes split)', 'avg',
    F.pool2dGeometry([2, 6, 15, 15], 2, { stride: 2, ceilMode: true, countIncludePad: false })],
];
const ATTENTION: [string, number, number, number, number][] = [
  ['batch 1, radix 2, 20×20 (pixel ranges)', 1, 2, 8, 400],
  ['batch 3, radix 4, 17×17 (pixel ranges, 3 images)', 3, 4, 5, 289],
  ['batch 2, radix 2, 10×10 (channels)', 2, 2, 6, 100],
];
const UNEVEN: [string, Conv2dGeometry][] = [
  ['1×1 on 28×28 (784 columns in blocks of 128 and 136)', geom(1, 16, 28, 28, 24, 1, 1, 0, 1)],
  ['3×3 g2 on 29×27, Winograd (210 tiles in blocks of whole panels)', geom(1, 32, 29, 27, 32, 3, 1, 1, 2)],
  ['3×3 s2 on 45×45 of 2 images (GEMM, 1058 columns across images)', geom(2, 8, 45, 45, 16, 3, 2, 1, 1)],
];
test('pools, split attention and uneven conv blocks: pixel and channel splits match js, 1, 2 and 3 threads', async () => {
  const jsb = createJsBackend() as Backend<Float32Array>;
  for (const threads of [1, 2, 3]) {
    const wb = await createWasmBackend({ threads });
    const put = (a: Float32Array) => {
      const r = { buf: wb.alloc(a.length + 1, 'float32'), offset: 1 };
      wb.write(r, a);
      return r;
    };
    const js = (a: Float32Array) => ({ buf: a, offset: 0 });
    for (const [label, kind, g] of POOLS) {
      const x = uniform(g.planes * g.h * g.w, 1, -1, 1), nOut = g.planes * g.oh * g.ow;
      const want = new Float32Array(nOut), out = put(uniform(nOut, 2, -50, 50));
      jsb.pool2d(kind, g, js(x), js(want));
      wb.pool2d(kind, g, put(x), out);
      const err = relErr(wb.readSync(out, nOut, 'float32') as Float32Array, want);
      assert.ok(err <= 1e-6, `${threads}t pool ${label}: ${err}`);
    }
    for (const [label, batch, radix, c, hw] of ATTENTION) {
      const x = uniform(batch * radix * c * hw, 3, -1, 1), att = uniform(batch * radix * c, 4, 0, 1);
      const gap = new Float32Array(batch * c), attended = new Float32Array(batch * c * hw);
      jsb.radixGap(js(x), js(gap), batch, radix, c, hw);
      jsb.radixAttend(js(x), js(att), js(attended), batch, radix, c, hw);
      const wx = put(x), wgap = put(uniform(batch * c, 5, -50, 50)), wout = put(uniform(batch * c * hw, 6, -50, 50));
      wb.radixGap(wx, wgap, batch, radix, c, hw);
      wb.radixAttend(wx, put(att), wout, batch, radix, c, hw);
      const gapErr = relErr(wb.readSync(wgap, batch * c, 'float32') as Float32Array, gap);
      const attErr = relErr(wb.readSync(wout, batch * c * hw, 'float32') as Float32Array, attended);
      assert.ok(gapErr <= 1e-6 && attErr <= 1e-6, `${threads}t split attention ${label}: gap ${gapErr}, attend ${attErr}`);
    }
    for (const [label, g] of UNEVEN) {
      const cg = g.c / g.groups, nOut = g.n * g.o * g.oh * g.ow;
      const x = uniform(g.n * g.c * g.h * g.w, 7, -1, 1), w = uniform(g.o * cg * g.kh * g.kw, 8, -0.3, 0.3), bias = uniform(g.o, 9, -1, 1);
      const want = new Float32Array(nOut), out = put(uniform(nOut, 10, -50, 50));
      jsb.conv2d(g, js(x), js(w), null, js(bias), null, 'relu', js(want));
      wb.conv2d(g, put(x), put(w), null, put(bias), null, 'relu', out, true);
      const err = relErr(wb.readSync(out, nOut, 'float32') as Float32Array, want);
      assert.ok(err <= 1e-5, `${threads}t conv ${label} (${wb.convAlgorithm!(g, true)}): ${err}`);
    }
    wb.dispose!();
  }
});

test.run();
