// Whole networks in train mode against PyTorch on the seed's code (fixtures from
// scripts/make_grad_fixtures.py): on a fixed batch with label smoothing, the loss, every
// parameter's gradient (large tensors at 256 stored positions, scaled by the full tensor's
// max |grad|; the reference is PyTorch in float64), the running statistics after the forward, and the parameters after one
// Nesterov SGD step with the recipe's no-bias-decay groups (scaled by how far they moved).
// Two configurations train with DropBlock in layers 3–4, its noise given by the fixture. On
// every backend that trains, webgpu included (read back asynchronously).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as F from '../src/ops/index.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { BatchNorm2d } from '../src/nn/layers.js';
import { DropBlock2D } from '../src/nn/dropblock.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { toFloat32 } from '../src/io/raw.js';
import { SGD } from '../src/train/optim.js';
import { paramGroups } from '../src/train/param-groups.js';
import { FIXTURES, relErr, resnetOptions } from './helpers/fixtures.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';
import { testBackends } from './helpers/backends.js';

interface NetFixture {
  name: string;
  layers: number[];
  kwargs: Record<string, number | boolean>;
  num_classes: number;
  input: number[];
  seed: number;
  label_smoothing: number;
  lr: number;
  momentum: number;
  weight_decay: number;
  nesterov: boolean;
  no_bias_decay: boolean;
  param_keys: string[];
  zero_grad_params: string[];
  torch_f32_vs_f64_grad: number;
  /** DropBlock2D modules whose uniform noise the fixture gives (noise.<path>). */
  dropblock_noise: string[];
}

const dir = join(FIXTURES, 'grad');
const nets = (JSON.parse(readFileSync(join(dir, 'networks.json'), 'utf8')) as { networks: NetFixture[] }).networks;

function fixture(name: string) {
  const file = join(dir, `${name}.safetensors`);
  const raw = loadSafetensors(new Uint8Array(readFileSync(file)), file);
  return {
    has: (k: string) => raw.has(k),
    get: (k: string) => {
      const t = raw.get(k);
      if (!t) throw new Error(`${name}: no ${k}`);
      return toFloat32(t, k);
    },
  };
}

/** The stored positions of a tensor: all of it, or the sampled flat indices. */
function pick(values: Float32Array, idx: Float32Array | null): Float32Array {
  return idx ? Float32Array.from(idx, (i) => values[i]!) : values;
}

const fmtErr = (x: number) => x.toExponential(2);
/** A tensor's values on any backend (webgpu reads back asynchronously). */
const read = async (t: Tensor) => (await t.data()) as Float32Array;

for (const { name: bk, backend } of await testBackends()) {
  if (!backend.training) continue;
  for (const fx of nets) {
    test(`${bk}: train step ${fx.name} matches PyTorch (loss, gradients, running stats, one SGD step)`, async () => {
      const ref = fixture(fx.name);
      const model = new ResNet(fx.layers, resnetOptions(fx.kwargs, fx.num_classes), backend);
      model.loadStateDict(syntheticStateDict(model, fx.seed));
      model.train();
      for (const path of fx.dropblock_noise) (model.getSubmodule(path) as DropBlock2D).noise = ref.get(`noise.${path}`);
      assert.equal([...model.namedParameters()].map(([k]) => k), fx.param_keys, 'named_parameters order');
      const x = tensor(syntheticInput(fx.input, fx.seed), fx.input, { backend });
      const labels = Array.from(ref.get('labels'));
      const loss = (await read(tidy(() => {
        const l = F.crossEntropy(model.call(x), labels, { labelSmoothing: fx.label_smoothing });
        l.backward();
        return l.detach();
      })))[0]!;
      const want = ref.get('loss')[0]!;
      assert.ok(Math.abs(loss - want) / Math.abs(want) < 1e-5, `loss ${loss} vs ${want}`);

      // The reference is float64. 1e-4 of max |grad| is float32's noise floor on these nets:
      // PyTorch's own float32 gradients land 3e-6–1.3e-4 from it (torch_f32_vs_f64_grad), so
      // the bound is 1.5e-4, or twice PyTorch's own distance where that is larger.
      const gradBound = Math.max(1.5e-4, 2 * fx.torch_f32_vs_f64_grad);
      let worstGrad = 0;
      const before = new Map<string, Float32Array>();
      for (const [key, p] of model.namedParameters()) {
        const idx = ref.has(`idx.${key}`) ? ref.get(`idx.${key}`) : null;
        before.set(key, pick(await read(p), idx));
        assert.ok(p.grad, `${key}: no gradient`);
        const ours = pick(await read(p.grad!), idx);
        const theirs = ref.get(`grad.${key}`);
        if (fx.zero_grad_params.includes(key)) {
          // Zero up to rounding (a bias feeding a training-mode BatchNorm): absolute check.
          assert.ok(ours.every((v) => Math.abs(v) < 1e-5), `${key}: should be ~0`);
          continue;
        }
        const scale = ref.has(`gradmax.${key}`) ? ref.get(`gradmax.${key}`)[0]! : Math.max(...theirs.map(Math.abs));
        let diff = 0;
        for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
        const err = diff / scale;
        worstGrad = Math.max(worstGrad, err);
        assert.ok(err <= gradBound, `${key}: gradient error ${fmtErr(err)} of max |grad| (bound ${fmtErr(gradBound)})`);
      }

      let worstStats = 0;
      for (const [path, m] of model.namedModules()) {
        if (!(m instanceof BatchNorm2d)) continue;
        for (const [k, t] of [['running_mean', m.runningMean], ['running_var', m.runningVar]] as const) {
          const idx = ref.has(`idx.${path}.${k}`) ? ref.get(`idx.${path}.${k}`) : null;
          const err = relErr(pick(await read(t), idx), ref.get(`${path}.${k}`));
          worstStats = Math.max(worstStats, err);
          assert.ok(err < 1e-5, `${path}.${k}: ${fmtErr(err)}`);
        }
        assert.is(m.numBatchesTracked, ref.get(`${path}.num_batches_tracked`)[0]);
      }

      const opt = new SGD(paramGroups(model, fx.weight_decay, fx.no_bias_decay), { lr: fx.lr, momentum: fx.momentum, nesterov: fx.nesterov });
      opt.step();
      let worstStep = 0;
      for (const [key, p] of model.namedParameters()) {
        const idx = ref.has(`idx.${key}`) ? ref.get(`idx.${key}`) : null;
        const ours = pick(await read(p), idx);
        const theirs = ref.get(`param.${key}`);
        const moved = ref.get(`delta_max.${key}`)[0]!;
        if (moved === 0) continue;
        let diff = 0;
        for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
        // Measured against how far the step moved the tensor (PyTorch's own f32 vs f64: ~6e-5).
        const err = diff / moved;
        if (!fx.zero_grad_params.includes(key)) worstStep = Math.max(worstStep, err);
        assert.ok(fx.zero_grad_params.includes(key) || err <= 1e-3, `${key}: step error ${fmtErr(err)} of the step`);
      }
      console.log(`  ${bk.padEnd(5)} ${fx.name.padEnd(24)} loss ${fmtErr(Math.abs(loss - want) / want)}  grad ${fmtErr(worstGrad)} (torch f32 vs f64 ${fmtErr(fx.torch_f32_vs_f64_grad)})  stats ${fmtErr(worstStats)}  step ${fmtErr(worstStep)}`);
      opt.zeroGrad();
      model.dispose();
      x.dispose();
    });
  }
}

test.run();
