// The recipe's pieces against recipe.py (fixtures: scripts/make_grad_fixtures.py, recipe.*):
// mixup with a given λ, label smoothing's targets, the warm-up + cosine schedule; Beta(α, α)
// draws with the right moments; gradient accumulation equal to the large batch.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { toFloat32 } from '../src/io/raw.js';
import { mixup, smoothedTargets } from '../src/train/mixup.js';
import { lrAt, scaledLr } from '../src/train/schedule.js';
import { backwardLoss, trainArrays, lossAndBackward } from '../src/train/trainer.js';
import { Conv2d, GlobalAvgPool2d, Linear, ReLU, Sequential } from '../src/nn/layers.js';
import { Rng, uniform } from '../src/util/random.js';
import * as F from '../src/ops/index.js';
import { tensor } from '../src/tensor/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { FIXTURES, relErr } from './helpers/fixtures.js';
import { testBackends } from './helpers/backends.js';

const dir = join(FIXTURES, 'grad');
const meta = JSON.parse(readFileSync(join(dir, 'recipe.json'), 'utf8')) as {
  lams: number[]; num_classes: number; eps: number; lr_at: { total: number; warmup: number; base: number; values: number[] };
};
const file = join(dir, 'recipe.safetensors');
const raw = loadSafetensors(new Uint8Array(readFileSync(file)), file);
const get = (k: string) => toFloat32(raw.get(k)!, k);

test('mixup with a given λ and smoothed targets match recipe.mixup / smooth_targets', () => {
  const x = get('mixup.x'), labels = Array.from(get('mixup.labels'));
  for (const lam of meta.lams) {
    const m = mixup(x, labels.length, labels, meta.num_classes, lam, meta.eps);
    assert.ok(relErr(m.images, get(`mixup.${lam}.x`)) < 1e-6, `images λ=${lam}`);
    assert.ok(relErr(m.targets, get(`mixup.${lam}.targets`)) < 1e-6, `targets λ=${lam}`);
  }
  assert.ok(relErr(smoothedTargets(labels, meta.num_classes, meta.eps), get('smooth.targets')) < 1e-6);
  assert.throws(() => smoothedTargets([0, 9], 7, 0.1), /label 9 at index 1 is outside \[0, 7\)/);
});

test('lr: linear warm-up then cosine decay per iteration (recipe.lr_at); linear scaling with the batch', () => {
  const { total, warmup, base, values } = meta.lr_at;
  values.forEach((v, s) => assert.ok(Math.abs(lrAt(s, total, warmup, base) - v) < 1e-12, `step ${s}`));
  assert.is(scaledLr(0.1, 512), 0.2);
});

test('Beta(α, α) draws: seeded, with the mean and variance of the distribution', () => {
  const draw = (seed: number) => { const r = new Rng(seed); return Array.from({ length: 4000 }, () => r.beta(0.2, 0.2)); };
  const xs = draw(7);
  assert.equal(xs.slice(0, 5), draw(7).slice(0, 5));
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(variance - 0.04 / (0.16 * 1.4)) < 0.02, `variance ${variance}`);
  assert.ok(xs.every((v) => v >= 0 && v <= 1));
});

// Every backend that trains (webgpu where an adapter is), read back asynchronously.
for (const { name, backend } of (await testBackends()).filter((b) => b.backend.training)) {
  test(`${name}: two accumulated micro-batches of 2 give the step of one batch of 4 (no BatchNorm)`, async () => {
    const make = () => new Sequential([new Conv2d(3, 6, 3, { padding: 1 }, backend), new ReLU(backend), new GlobalAvgPool2d(backend), new Linear(6, 4, true, backend)], backend).resetParameters(9);
    const x = uniform(4 * 3 * 5 * 5, 3, -1, 1), y = [0, 1, 2, 3];
    const opts = { epochs: 1, lr: 0.5, momentum: 0.9, nesterov: true, labelSmoothing: 0.1, shuffle: false, augment: false };
    const a = make(), b = make();
    const ra = await trainArrays(a, x, [4, 3, 5, 5], y, { ...opts, batchSize: 4 });
    const rb = await trainArrays(b, x, [4, 3, 5, 5], y, { ...opts, batchSize: 2, accumulate: 2 });
    assert.ok(Math.abs(ra.losses[0]! - rb.losses[0]!) < 1e-6, `loss ${ra.losses[0]} vs ${rb.losses[0]}`);
    const pb = new Map(b.namedParameters());
    for (const [k, p] of a.namedParameters()) assert.ok(relErr((await p.data()) as Float32Array, (await pb.get(k)!.data()) as Float32Array) < 2e-6, k);
    a.dispose();
    b.dispose();
  });
}

test('mixup in the loss: λ = 1 is the label-smoothed cross-entropy; λ = 0.3 mixes the batch with itself reversed', async () => {
  const backend = await initBackend('js');
  const m = new Sequential([new GlobalAvgPool2d(backend), new Linear(3, 5, true, backend)], backend).resetParameters(4).train();
  const x = uniform(4 * 3 * 2 * 2, 8, -1, 1), y = [4, 0, 2, 1];
  const plain = lossAndBackward(m, x, [4, 3, 2, 2], y, { labelSmoothing: 0.1 });
  m.zeroGrad();
  assert.ok(Math.abs(lossAndBackward(m, x, [4, 3, 2, 2], y, { labelSmoothing: 0.1, lam: 1 }) - plain) < 1e-6);
  m.zeroGrad();
  const mixed = lossAndBackward(m, x, [4, 3, 2, 2], y, { labelSmoothing: 0.1, lam: 0.3 });
  // The same as mixing by hand: images and targets λ·v + (1 − λ)·flip(v), soft cross-entropy.
  const hand = mixup(x, 4, y, 5, 0.3, 0.1);
  const expected = noGrad(() => F.softCrossEntropy(m.call(tensor(hand.images, [4, 3, 2, 2], { backend })), tensor(hand.targets, [4, 5], { backend })).dataSync()[0]!);
  assert.ok(Math.abs(mixed - expected) < 1e-6, `${mixed} vs ${expected}`);
  assert.ok(Math.abs(mixed - plain) > 1e-3);
  m.dispose();
});

for (const { name, backend } of (await testBackends()).filter((b) => b.backend.training && b.name !== 'js')) {
  test(`${name}: the mixup loss and its gradients equal js's`, async () => {
    const js = await initBackend('js');
    const run = async (b: typeof js) => {
      const m = new Sequential([new Conv2d(3, 6, 3, { padding: 1 }, b), new ReLU(b), new GlobalAvgPool2d(b), new Linear(6, 5, true, b)], b).resetParameters(4).train();
      const l = backwardLoss(m, uniform(4 * 3 * 6 * 6, 8, -1, 1), [4, 3, 6, 6], [4, 0, 2, 1], { labelSmoothing: 0.1, lam: 0.3 });
      const loss = (await l.data())[0]!;
      const grads = await Promise.all([...m.namedParameters()].map(async ([, p]) => (await p.grad!.data()) as Float32Array));
      l.dispose();
      m.dispose();
      return { loss, grads };
    };
    const want = await run(js), got = await run(backend);
    assert.ok(Math.abs(got.loss - want.loss) < 1e-6 * want.loss, `loss ${got.loss} vs ${want.loss}`);
    got.grads.forEach((g, i) => assert.ok(relErr(g, want.grads[i]!) < 1e-5, `gradient ${i}: ${relErr(g, want.grads[i]!)}`));
  });
}

test.run();
