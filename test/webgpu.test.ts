// The webgpu backend's own behaviour (parity.test.ts runs every network fixture on it):
// single ops against the js reference, buffer pooling, dispatches past the per-dimension
// workgroup cap, binding-size splits, views at unaligned offsets, int32, readSync, and the
// CLI with --backend webgpu. Skipped with the reason printed when no adapter can be had,
// unless RESNEST_REQUIRE_BACKENDS names webgpu.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import type { Backend } from '../src/backend/backend.js';
import { createWebGpuBackend, type GpuBuf, type WebGpuBackend } from '../src/backend/webgpu/index.js';
import { BackendError } from '../src/errors.js';
import { full, tensor, type Tensor } from '../src/tensor/tensor.js';
import * as F from '../src/ops/index.js';
import { createModel } from '../src/models/resnest/zoo.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { expected, FIXTURES, manifest, relErr } from './helpers/fixtures.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';
import { runCli } from './helpers/cli.js';
import { runNetworkFixture } from './helpers/run-fixture.js';
import { assertInt32Storage, opCases } from './helpers/op-cases.js';

let gpu: WebGpuBackend | null = null;
try {
  gpu = (await initBackend('webgpu')) as WebGpuBackend;
} catch (e) {
  if (process.env.RESNEST_REQUIRE_BACKENDS?.split(',').includes('webgpu')) throw e;
  console.log(`  (skipping webgpu tests: ${(e as Error).message})`);
}
const js = await initBackend('js');
const it = gpu ? test : test.skip;

const values = (n: number, seed = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin((i + seed) * 12.9898) * 0.5);
const on = (b: Backend, shape: number[], seed = 1) => tensor(values(shape.reduce((a, c) => a * c, 1), seed), shape, { backend: b });

/** Runs `f` on the webgpu backend under test and on js; the results must agree. */
async function agree(name: string, b: Backend, f: (b: Backend) => Tensor, tol = 1e-5): Promise<void> {
  const ours = await f(b).data(), ref = await f(js).data();
  const err = relErr(ours, ref);
  assert.ok(err <= tol, `${name}: relative error ${err.toExponential(2)}`);
}

const OPS = opCases(on);

it('every kernel matches the js reference', async () => {
  for (const [name, f] of OPS) await agree(name, gpu!, f);
});

it('the tiled GPU kernels (workgroup memory) match js and PyTorch too', async () => {
  // On a CPU adapter the backend picks the barrier-free kernels; GPUs get these.
  const tiled = await createWebGpuBackend({ kernels: 'tiled' });
  try {
    for (const [name, f] of OPS) await agree(`tiled ${name}`, tiled, f);
    const m = manifest();
    for (const name of ['tiny_odd', 'fast_r4c2w40']) {
      const fx = m.networks.find((n) => n.name === name)!;
      const errs = await runNetworkFixture(fx, tiled, expected(name));
      const worst = Math.max(...Object.values(errs));
      assert.ok(worst <= 1e-3, `${name} on tiled kernels: relative error ${worst.toExponential(2)}`);
    }
  } finally {
    tiled.dispose!();
  }
});

it('freed buffers are reused from the pool, not created again', async () => {
  const a = full([1000], 1, { backend: gpu! });
  const buffer = (a.storage.buf as GpuBuf).buffer;
  const before = gpu!.stats();
  a.dispose();
  assert.is(gpu!.stats().liveBytes, before.liveBytes - 4096);
  const b = full([1000], 2, { backend: gpu! });
  const after = gpu!.stats();
  assert.is((b.storage.buf as GpuBuf).buffer, buffer);
  assert.is(after.created, before.created);
  assert.is(after.reused, before.reused + 1);
  assert.ok((await b.data()).every((v) => v === 2));
  b.dispose();
  assert.throws(() => b.ref, (e: Error) => e instanceof BackendError && /after dispose/.test(e.message));
});

it('a tensor past one dispatch dimension (65535 workgroups) is covered completely', async () => {
  const n = 65535 * 256 + 1000;
  const x = tensor(Float32Array.from({ length: n }, (_, i) => i % 1024), [n], { backend: gpu! });
  const y = await F.addScalar(x, 1).data();
  for (const i of [0, 1, 65535 * 256 - 1, 65535 * 256, n - 1]) assert.is(y[i], (i % 1024) + 1, `element ${i}`);
  let bad = 0;
  for (let i = 0; i < n; i++) if (y[i] !== (i % 1024) + 1) bad++;
  assert.is(bad, 0);
  x.dispose();
});

it('ops split their bindings under a small maxStorageBufferBindingSize', async () => {
  const small = await createWebGpuBackend({ maxBindingBytes: 16 * 1024 });
  try {
    await agree('conv by image', small, (b) => F.conv2d(on(b, [6, 4, 16, 16]), on(b, [8, 4, 3, 3], 2), on(b, [8], 3), { padding: 1, act: 'relu' }));
    await agree('unary in ranges', small, (b) => F.sigmoid(on(b, [20000])));
    await agree('transpose in pieces', small, (b) => on(b, [64, 96]).transpose(0, 1).contiguous());
    await agree('broadcast in pieces', small, (b) => F.mul(on(b, [40, 1, 150]), on(b, [30, 1], 2)));
    await agree('batch norm by plane', small, (b) => F.batchNorm(on(b, [3, 8, 30, 30]), on(b, [8], 2), F.addScalar(F.relu(on(b, [8], 3)), 1), on(b, [8], 4), on(b, [8], 5)));
    await agree('pool by plane', small, (b) => F.maxPool2d(on(b, [2, 8, 40, 40]), 3, { stride: 2, padding: 1 }));
    await agree('mean by row', small, (b) => F.adaptiveAvgPool2d(on(b, [2, 16, 30, 30])));
    await agree('softmax by row', small, (b) => F.softmax(on(b, [50, 100]), 1));
    await agree('radix ops by image', small, (b) => F.radixAttend(on(b, [4, 8, 20, 20]), F.rSoftmax(on(b, [4, 8], 2), 2, 1), 2));
    await agree('radix gap by image', small, (b) => F.radixGap(on(b, [4, 8, 20, 20]), 2));
    const err = (() => { try { F.conv2d(on(small, [1, 8, 40, 40]), on(small, [4, 8, 1, 1]), null); return null; } catch (e) { return e; } })();
    assert.instance(err, BackendError);
    assert.match((err as Error).message, /maxStorageBufferBindingSize/);
  } finally {
    small.dispose!();
  }
});

it('views at unaligned offsets read and compute correctly', async () => {
  const x = tensor(Float32Array.from({ length: 100 }, (_, i) => i), [100], { backend: gpu! });
  assert.equal(Array.from(await x.narrow(0, 13, 20).data()), Array.from({ length: 20 }, (_, i) => i + 13));
  const m = x.reshape(10, 10);
  assert.equal(Array.from(await m.transpose(0, 1).narrow(0, 3, 1).data()), Array.from({ length: 10 }, (_, i) => i * 10 + 3));
  // A batch slice starts 4·c·h·w bytes in: not a multiple of the 256-byte binding alignment.
  await agree('conv on a batch slice', gpu!, (b) => F.conv2d(on(b, [3, 3, 5, 7]).narrow(0, 1, 2), on(b, [4, 3, 3, 3], 2), null, { padding: 1 }));
  await agree('relu on a slice', gpu!, (b) => F.relu(on(b, [77]).narrow(0, 5, 61)));
});

it('int32 tensors: write, read, fill and copy', async () => {
  await assertInt32Storage(gpu!);
});

it('readSync and dataSync fail with a pointer to await data()', () => {
  const x = full([4], 1, { backend: gpu! });
  assert.throws(() => gpu!.readSync(x.ref as never, 4, 'float32'), (e: Error) => e instanceof BackendError && /await tensor\.data\(\)/.test(e.message));
  assert.throws(() => x.dataSync(), (e: Error) => e instanceof BackendError && /await tensor\.data\(\)/.test(e.message));
});

it('resnest infer, classify and bench with --backend webgpu: PyTorch logits, the js top-3, one JSON line', async () => {
  const fx = manifest().zoo.find((z) => z.arch === 'resnest14d')!;
  const dir = mkdtempSync(join(tmpdir(), 'resnest-webgpu-'));
  try {
    const model = createModel('resnest14d', { init: false, backend: js });
    const weights = join(dir, 'w.safetensors'), input = join(dir, 'x.npy'), out = join(dir, 'y.npy');
    writeFileSync(weights, saveSafetensors(syntheticStateDict(model, fx.seed)));
    model.dispose();
    writeFileSync(input, writeNpy({ dtype: 'float32', shape: fx.input, data: syntheticInput(fx.input, fx.seed) }));
    const r = await runCli(['infer', '--arch', 'resnest14d', '--weights', weights, '--input', input, '--output', out, '--backend', 'webgpu']);
    assert.is(r.code, 0, r.stderr);
    const y = readNpy(new Uint8Array(readFileSync(out)), out);
    assert.equal(y.shape, [1, 1000]);
    const err = relErr(y.data as Float32Array, expected(fx.name).get('logits')!);
    assert.ok(err <= 1e-3, `relative error ${err}`);

    // classify: the same top-3 classes and probabilities as on the js reference.
    const images = join(FIXTURES, 'images');
    const img = join(images, readdirSync(images).find((f) => f.endsWith('.png'))!);
    const top = async (backend: string) => {
      const c = await runCli(['classify', img, '--arch', 'resnest14d', '--weights', weights, '--top', '3', '--json', '--backend', backend]);
      assert.is(c.code, 0, c.stderr);
      return (JSON.parse(c.stdout) as { top: { index: number; probability: number }[] }[])[0]!.top;
    };
    const [onGpu, onJs] = [await top('webgpu'), await top('js')];
    assert.equal(onGpu.map((t) => t.index), onJs.map((t) => t.index));
    onGpu.forEach((t, i) => assert.ok(Math.abs(t.probability - onJs[i]!.probability) <= 1e-3 * onJs[0]!.probability, `p${i}`));

    // bench: one JSON line naming the backend.
    const b = await runCli(['bench', '--arch', 'resnest14d', '--size', '32', '--runs', '2', '--warmup', '0', '--backend', 'webgpu', '--json']);
    assert.is(b.code, 0, b.stderr);
    const m = JSON.parse(b.stdout.trim().split('\n').pop()!) as { median_ms: number; p90_ms: number; peak_rss_mb: number; backend: string };
    assert.is(m.backend, 'webgpu');
    assert.ok(m.median_ms > 0 && m.p90_ms >= m.median_ms && m.peak_rss_mb > 0, JSON.stringify(m));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
