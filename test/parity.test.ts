// Every parity fixture: the network built from the same configuration, with the same
// synthetic weights, must reproduce PyTorch's logits, stage features and one SplAtConv2d's
// intermediates to max|ours − torch| ≤ 1e-4 · max|torch|, both unfused and BN-folded.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ResNet, FEATURE_NAMES } from '../src/models/resnest/resnet.js';
import { createModel } from '../src/models/resnest/zoo.js';
import { tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { Backend } from '../src/backend/backend.js';
import { expected, manifest, relErr, resnetOptions, type NetworkFixture } from './helpers/fixtures.js';
import { testBackends } from './helpers/backends.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';

const m = manifest();
const report: string[] = [];

async function check(fx: NetworkFixture, tol: number, what: string, ours: Tensor, ref: Float32Array | undefined, shape: number[]): Promise<number> {
  assert.ok(ref, `${fx.name}: fixture lacks ${what}`);
  assert.equal([...ours.shape], shape, `${fx.name} ${what} shape`);
  const err = relErr(await ours.data(), ref!);
  assert.ok(err <= tol, `${fx.name} ${what}: relative error ${err.toExponential(2)} > ${tol}`);
  return err;
}

async function runFixture(fx: NetworkFixture, model: ResNet, backend: Backend, tol: number, inPlace = false): Promise<void> {
  model.loadStateDict(syntheticStateDict(model, fx.seed));
  const ref = expected(fx.name);
  const x = tensor(syntheticInput(fx.input, fx.seed), fx.input, { backend });
  const errs: Record<string, number> = {};

  // Unfused, with hooks on one SplAtConv2d's parts.
  const captured = new Map<string, Tensor>();
  const removers: (() => void)[] = [];
  if (fx.splat_at) {
    const splat = model.getSubmodule(fx.splat_at);
    for (const [name, sub] of [...splat.namedChildren(), ['out', splat] as const]) {
      removers.push(sub.registerForwardHook((_m, _i, out) => captured.set(`splat.${name}`, out.retain())));
    }
  }
  const logits = tidy(() => model.call(x));
  removers.forEach((r) => r());
  errs.logits = await check(fx, tol, 'logits', logits, ref.get('logits'), fx.outputs.logits!);
  for (const [key, t] of captured) {
    errs[key] = await check(fx, tol, key, t, ref.get(key), fx.outputs[key]!);
    t.dispose();
  }
  if (fx.outputs['features.layer4']) {
    const feats = model.features(x);
    for (const name of FEATURE_NAMES) {
      errs[`features.${name}`] = await check(fx, tol, `features.${name}`, feats[name], ref.get(`features.${name}`), fx.outputs[`features.${name}`]!);
    }
  }

  // BatchNorm folded into the convs, conv + bias + residual + ReLU fused (in place: BNs dropped).
  model.fuse({ inPlace });
  if (inPlace) assert.not.ok([...model.stateDict().keys()].some((k) => k.endsWith('running_var')), 'in-place fuse drops BatchNorms');
  errs.fused = await check(fx, tol, 'fused logits', tidy(() => model.call(x)), ref.get('logits'), fx.outputs.logits!);
  model.dispose();
  const worst = Math.max(...Object.values(errs));
  report.push(`${backend.name.padEnd(7)} ${fx.name.padEnd(28)} logits ${errs.logits!.toExponential(2)}  fused ${errs.fused!.toExponential(2)}  worst of ${Object.keys(errs).length} ${worst.toExponential(2)}`);
}

const backends = await testBackends();
for (const { name, backend, tolerance } of backends) {
  for (const fx of m.networks) {
    test(`parity ${name} ${fx.name}`, () => runFixture(fx, new ResNet(fx.layers, resnetOptions(fx.kwargs, fx.num_classes), backend), backend, tolerance));
  }
  for (const fx of m.zoo) {
    test(`parity ${name} zoo ${fx.arch}`, () => runFixture(fx, createModel(fx.arch!, { init: false, backend }), backend, tolerance, true));
  }
}

test('parity report', () => {
  console.log(`\n${report.join('\n')}`);
  assert.is(report.length, backends.length * (m.networks.length + m.zoo.length));
});

test.run();
