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

test.run();
