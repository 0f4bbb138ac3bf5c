// Rectified convolution (RFConv2d) beyond the PyTorch fixtures (parity, grad/ops, grad/networks):
// the factor map from its definition, one map per geometry, BatchNorm folding around it, and
// an architecture file with "rectified_conv" through every command (train, infer, classify,
// export with onnxruntime-web, bench).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { ShapeError } from '../src/errors.js';
import { BatchNorm2d, Conv2d, RFConv2d, Sequential } from '../src/nn/layers.js';
import * as F from '../src/ops/index.js';
import { rectifyFactor, rectifyFactorTensor } from '../src/ops/rectify.js';
import { conv2dGeometry } from '../src/ops/conv.js';
import { tidy } from '../src/tensor/scope.js';
import { tensor } from '../src/tensor/tensor.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { uniform } from '../src/util/random.js';
import { relErr, TOLERANCE } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const js = await initBackend('js');
const wasm = await initBackend('wasm', { threads: 1 });

test('the factor counts the taps inside the input: 3×3, padding 1 on 4×5 (normal and average), stride 2, dilation 2', () => {
  const g = conv2dGeometry([1, 1, 4, 5], [1, 1, 3, 3], { padding: 1 });
  // Corners see 2×2 taps, edges 2×3 or 3×2, the inside all 9.
  const taps = [4, 6, 6, 6, 4, 6, 9, 9, 9, 6, 6, 9, 9, 9, 6, 4, 6, 6, 6, 4];
  assert.equal(Array.from(rectifyFactor(g, 'normal')), taps.map((t) => Math.fround(9 / t)));
  assert.equal(Array.from(rectifyFactor(g, 'average')), taps.map((t) => Math.fround(1 / t)));
  // Stride 2 on 5×5 with padding 1: outputs at input rows −1..1, 1..3, 3..5 → 2, 3, 2 valid rows.
  const s = conv2dGeometry([1, 1, 5, 5], [1, 1, 3, 3], { padding: 1, stride: 2 });
  assert.equal(Array.from(rectifyFactor(s, 'normal')), [4, 6, 4, 6, 9, 6, 4, 6, 4].map((t) => Math.fround(9 / t)));
  // Dilation 2, padding 2 on 3×3: each output's taps sit at −2, 0, 2 (+ its position): 2 of 3 rows inside at the borders.
  const d = conv2dGeometry([1, 1, 3, 3], [1, 1, 3, 3], { padding: 2, dilation: 2 });
  assert.equal(Array.from(rectifyFactor(d, 'average')), [4, 2, 4, 2, 1, 2, 4, 2, 4].map((t) => Math.fround(1 / t)));
  // Padding wider than the kernel's reach leaves pixels without taps: an error, not an infinity.
  const none = conv2dGeometry([1, 1, 2, 2], [1, 1, 1, 1], { padding: 1 });
  assert.throws(() => rectifyFactor(none, 'normal'), (e: unknown) => e instanceof ShapeError && /no kernel tap inside the 2×2 input/.test(String(e)));
});

test('one factor map per backend and geometry; repeated rectified convs keep wasm memory flat', () => {
  const g = conv2dGeometry([2, 4, 9, 7], [6, 4, 3, 3], { padding: 1 });
  assert.is(rectifyFactorTensor(wasm, g, 'normal'), rectifyFactorTensor(wasm, g, 'normal'));
  assert.is.not(rectifyFactorTensor(wasm, g, 'normal'), rectifyFactorTensor(wasm, g, 'average'));
  const x = tensor(uniform(2 * 4 * 9 * 7, 1, -1, 1), [2, 4, 9, 7], { backend: wasm });
  const w = tensor(uniform(6 * 4 * 9, 2, -1, 1), [6, 4, 3, 3], { backend: wasm });
  const step = () => tidy(() => F.conv2d(x, w, null, { padding: 1, rectify: 'normal' }).dataSync());
  step();
  const before = (wasm as unknown as { memoryStats(): { liveBytes: number } }).memoryStats().liveBytes;
  for (let i = 0; i < 5; i++) step();
  assert.is((wasm as unknown as { memoryStats(): { liveBytes: number } }).memoryStats().liveBytes, before);
  // Unpadded and not average: no factor (RFConv2d's rule), so the plain conv's values.
  const plain = tidy(() => F.conv2d(x, w).dataSync());
  assert.equal(tidy(() => F.conv2d(x, w, null, { rectify: 'normal' }).dataSync()), plain);
  x.dispose();
  w.dispose();
});

test('BatchNorm folding: a bias-free RFConv2d folds (the shift after the factor); one with its own bias stays unfolded and right', () => {
  for (const bias of [false, true]) {
    for (const backend of [js, wasm]) {
      const conv = new RFConv2d(3, 6, 3, { padding: 1, bias, averageMode: bias }, backend);
      const bn = new BatchNorm2d(6, 1e-5, backend);
      const net = new Sequential([conv, bn], backend).resetParameters(7);
      bn.runningMean.backend.write(bn.runningMean.ref, uniform(6, 8, -0.5, 0.5));
      bn.runningVar.backend.write(bn.runningVar.ref, uniform(6, 9, 0.5, 2));
      bn.weight.backend.write(bn.weight.ref, uniform(6, 10, 0.5, 1.5));
      net.eval();
      const x = tensor(uniform(2 * 3 * 7 * 8, 11, -1, 1), [2, 3, 7, 8], { backend });
      const unfused = tidy(() => net.call(x).dataSync());
      net.fuse();
      assert.is(bn.foldedInto, bias ? null : conv, `bias ${bias}: folded`);
      const fused = tidy(() => net.call(x).dataSync());
      assert.ok(relErr(fused, unfused) < 1e-6, `bias ${bias} ${backend.name}: ${relErr(fused, unfused)}`);
      // And the factor is there: the same conv without it differs at the borders.
      const plain = new Conv2d(3, 6, 3, { padding: 1, bias }, backend);
      plain.loadStateDict(new Map([...conv.stateDict()].map(([k, t]) => [k, { dtype: 'float32' as const, shape: [...t.shape], data: t.dataSync() as Float32Array }])));
      const rect = tidy(() => conv.call(x).dataSync()), flat = tidy(() => plain.call(x).dataSync());
      assert.ok(relErr(flat, rect) > 0.05, `bias ${bias}: the factor changes the output`);
      net.dispose();
      plain.dispose();
      x.dispose();
    }
  }
});

test('an architecture file with rectified_conv and rectify_avg: train, infer, classify, export (onnxruntime-web) and bench', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnest-rfconv-'));
  try {
    const cfg = join(dir, 'rf.json');
    writeFileSync(cfg, JSON.stringify({
      layers: [1, 1, 1, 1], radix: 2, bottleneck_width: 8, deep_stem: true, stem_width: 8, avg_down: true, avd: true,
      rectified_conv: true, rectify_avg: true, num_classes: 4,
    }));
    // The weights named like the architecture file: rf.json is not taken for rf.pth's model card.
    const inputs = join(dir, 'x.npy'), labels = join(dir, 'y.npy'), weights = join(dir, 'rf.pth');
    const x = uniform(8 * 3 * 24 * 24, 3, -1, 1);
    writeFileSync(inputs, writeNpy({ dtype: 'float32', shape: [8, 3, 24, 24], data: x }));
    writeFileSync(labels, writeNpy({ dtype: 'int64', shape: [8], data: BigInt64Array.from([0n, 1n, 2n, 3n, 0n, 1n, 2n, 3n]) }));
    let r = await runCli(['train', '--arch', cfg, '--inputs', inputs, '--labels', labels, '--epochs', '2', '--batch-size', '4',
      '--lr', '0.05', '--no-augment', '--backend', 'wasm', '--save', weights]);
    assert.is(r.code, 0, r.stderr);
    const losses = [...r.stderr.matchAll(/step \d+\/\d+  loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
    assert.is(losses.length, 4, r.stderr);
    assert.ok(losses.every(Number.isFinite));

    const out = join(dir, 'logits.npy');
    r = await runCli(['infer', '--arch', cfg, '--weights', weights, '--input', inputs, '--output', out, '--backend', 'js']);
    assert.is(r.code, 0, r.stderr);
    const logits = readNpy(new Uint8Array(readFileSync(out)), out);
    assert.equal(logits.shape, [8, 4]);

    const onnx = join(dir, 'rf.onnx');
    r = await runCli(['export', '--onnx', onnx, '--arch', cfg, '--weights', weights, '--size', '24', '--batch', 'dynamic']);
    assert.is(r.code, 0, r.stderr);
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(onnx)), { executionProviders: ['wasm'] });
    const res = await session.run({ input: new ort.Tensor('float32', x, [8, 3, 24, 24]) });
    const err = relErr(res.logits!.data as Float32Array, logits.data as Float32Array);
    assert.ok(err <= TOLERANCE, `ORT vs resnest infer: ${err.toExponential(2)}`);

    r = await runCli(['classify', join('examples', 'bag.png'), '--arch', cfg, '--weights', weights, '--top', '2', '--json']);
    assert.is(r.code, 0, r.stderr);
    const top = (JSON.parse(r.stdout) as { top: { probability: number }[] }[])[0]!.top;
    assert.is(top.length, 2);
    assert.ok(top[0]!.probability >= top[1]!.probability && top[0]!.probability <= 1 && top[1]!.probability > 0);

    r = await runCli(['bench', '--arch', cfg, '--size', '32', '--runs', '1', '--warmup', '0', '--backend', 'js', '--json']);
    assert.is(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { median_ms: number }).median_ms > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
