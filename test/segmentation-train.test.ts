// One training step of a segmentation network against PyTorch's float64 step
// (scripts/make_seg_fixtures.py, "train"): FCN and DeepLabV3 on a small dilated ResNeSt, the
// toolkit's loss (pixel cross-entropy, ignore index -1, auxiliary head at 0.2) and optimizer
// (SGD, heads at 10× the rate). The update is compared as one vector, |Δours − Δ64| / |Δ64|,
// estimated from the stored elements (each tensor's squared sums scaled by numel / stored).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../src/tensor/tensor.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { toFloat32 } from '../src/io/raw.js';
import { SegNet } from '../src/models/segmentation/segnet.js';
import { passCount, segmentScores } from '../src/models/segmentation/multi-eval.js';
import { Dropout2d } from '../src/models/segmentation/heads.js';
import { Dropout } from '../src/nn/layers.js';
import { SGD } from '../src/train/optim.js';
import { segBackwardLoss, segParamGroups } from '../src/train/segmentation.js';
import { polyLr } from '../src/train/schedule.js';
import { FIXTURES, resnetOptions } from './helpers/fixtures.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';
import { testBackends } from './helpers/backends.js';

interface TrainCase {
  case: string; head: 'fcn' | 'deeplab'; classes: number; input: number[]; seed: number; lr: number; momentum: number;
  weight_decay: number; head_lr_scale: number; aux_weight: number; ignore_index: number;
  backbone: Record<string, unknown> & { layers: number[] }; loss: number; params: number; param_keys: string[]; torch_f32_vs_f64_step: number;
}

const dir = join(FIXTURES, 'seg');
interface MultiCase { head: 'fcn' | 'deeplab'; classes: number; seed: number; input: number[]; base: number; crop: number; scales: number[]; flip: boolean; pad_value: number[]; backbone: TrainCase['backbone']; output: number[] }
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { train: TrainCase[]; multi_eval: MultiCase };
const cases = manifest.train;

function fixture(name: string) {
  const file = join(dir, `train_${name}.safetensors`);
  const sd = loadSafetensors(new Uint8Array(readFileSync(file)), file);
  return { has: (k: string) => sd.has(k), get: (k: string) => toFloat32(sd.get(k)!) };
}

test('polyLr is the toolkit\'s lr·(1 − t/T)^0.9', () => {
  assert.is(polyLr(0, 100, 0.01), 0.01);
  assert.ok(Math.abs(polyLr(50, 100, 0.01) - 0.01 * Math.pow(0.5, 0.9)) < 1e-15);
  assert.is(polyLr(100, 100, 0.01), 0);
});

const backends = await testBackends();
// The evaluation's logic runs on the CPU around forward passes whose parity every backend
// already shows (segmentation.test.ts): once, on wasm.
for (const { name: bk, backend } of backends.filter((b) => b.name === 'wasm')) {
  test(`${bk}: the toolkit's multi-scale evaluation (scales, sliding crops with padding, flips) matches MultiEvalModule`, async () => {
    const m = manifest.multi_eval;
    const file = join(dir, 'multi_eval.safetensors');
    const ref = loadSafetensors(new Uint8Array(readFileSync(file)), file);
    const { layers, ...kwargs } = m.backbone as { layers: number[] } & Record<string, number | boolean>;
    const model = new SegNet(m.head, { backbone: { layers, options: resnetOptions(kwargs, 0) }, numClasses: m.classes }, backend);
    model.loadStateDict(syntheticStateDict(model, m.seed));
    model.eval();
    const [, , h, w] = m.input as [number, number, number, number];
    const progress: number[] = [];
    const o = { scales: m.scales, flip: m.flip, base: m.base, crop: m.crop, padValue: m.pad_value, onProgress: (d: number) => progress.push(d) };
    const scores = await segmentScores(model, syntheticInput(m.input, m.seed), h, w, o);
    assert.is(scores.length, m.output.reduce((a, b) => a * b, 1));
    // long sides 32 (one padded crop), 64×46 (1×2 crops), 80×58 (2×2), 112×81 (3×3); each twice (flip)
    assert.is(passCount(h, w, o), 2 * (1 + 2 + 4 + 9));
    assert.equal(progress, Array.from({ length: passCount(h, w, o) / 2 }, (_, i) => 2 * (i + 1)));
    const idx = toFloat32(ref.get('idx')!), want = toFloat32(ref.get('values')!), maxabs = toFloat32(ref.get('maxabs')!)[0]!;
    let worst = 0;
    idx.forEach((i, j) => { worst = Math.max(worst, Math.abs(scores[i]! - want[j]!)); });
    console.log(`  ${bk.padEnd(6)} multi-scale scores max|ours − torch| / max|torch| ${(worst / maxabs).toExponential(2)}`);
    assert.ok(worst <= 1e-4 * maxabs, `${worst / maxabs}`);
    model.dispose();
  });
}

for (const { name: bk, backend } of backends) {
  if (!backend.training) continue;
  // The js reference backend (no SIMD, one thread) takes the FCN; wasm and webgpu both.
  for (const fx of cases.filter((c) => bk !== 'js' || c.head === 'fcn')) {
    test(`${bk}: segmentation train step ${fx.case} matches PyTorch's float64 step as one vector`, async () => {
      const ref = fixture(fx.case);
      const { layers, ...kwargs } = fx.backbone as { layers: number[] } & Record<string, number | boolean>;
      const model = new SegNet(fx.head, { backbone: { layers, options: resnetOptions(kwargs, 0) }, numClasses: fx.classes }, backend);
      model.loadStateDict(syntheticStateDict(model, fx.seed));
      model.train();
      for (const [, m] of model.namedModules()) if (m instanceof Dropout || m instanceof Dropout2d) m.training = false;
      assert.equal([...model.namedParameters()].map(([k]) => k), fx.param_keys, 'named_parameters order (the toolkit\'s keys)');
      const read = async (t: Tensor) => (await t.data()) as Float32Array;
      const before = new Map<string, Float32Array>();
      for (const [k, p] of model.namedParameters()) before.set(k, Float32Array.from(await read(p)));
      const opt = new SGD(segParamGroups(model, fx.weight_decay), { lr: fx.lr, momentum: fx.momentum });
      assert.equal(opt.groups.map((g) => g.lr), [fx.lr, fx.lr * fx.head_lr_scale, fx.lr * fx.head_lr_scale]);
      const labels = Array.from(ref.get('labels'));
      assert.ok(labels.includes(fx.ignore_index), 'some pixels are ignored');
      const l = segBackwardLoss(model, syntheticInput(fx.input, fx.seed), fx.input, labels, { auxWeight: fx.aux_weight, ignoreIndex: fx.ignore_index });
      const loss = (await read(l))[0]!;
      l.dispose();
      assert.ok(Math.abs(loss - fx.loss) / fx.loss < 1e-5, `loss ${loss} vs ${fx.loss}`);
      opt.step();
      let diff2 = 0, norm2 = 0, stored = 0;
      for (const [key, p] of model.namedParameters()) {
        const now = await read(p), was = before.get(key)!;
        const idx = ref.has(`idx.${key}`) ? ref.get(`idx.${key}`) : null;
        const want = ref.get(`delta.${key}`);
        const weight = p.size / want.length;
        for (let j = 0; j < want.length; j++) {
          const i = idx ? idx[j]! : j;
          const d = now[i]! - was[i]!;
          diff2 += weight * (d - want[j]!) ** 2;
          norm2 += weight * want[j]! ** 2;
        }
        stored += want.length;
      }
      const err = Math.sqrt(diff2 / norm2);
      // PyTorch's own float32 step lands torch_f32_vs_f64_step from this one (9e-6 and 1.4e-4 here).
      const bound = Math.max(1e-3, 3 * fx.torch_f32_vs_f64_step);
      console.log(`  ${bk.padEnd(5)} ${fx.case.padEnd(14)} ${fx.params} params (${stored} stored)  loss ${(Math.abs(loss - fx.loss) / fx.loss).toExponential(2)}  step |Δ−Δ64|/|Δ64| ${err.toExponential(2)} (torch f32 ${fx.torch_f32_vs_f64_step.toExponential(2)})`);
      assert.ok(err <= bound, `step error ${err.toExponential(2)} (bound ${bound.toExponential(2)})`);
      assert.ok(norm2 > 0);
      opt.zeroGrad();
      model.dispose();
    });
  }
}

test.run();
