// One parity fixture run the way test/parity.test.ts runs it (logits with one SplAtConv2d's
// intermediates, stage features, then BN-folded logits), with no Node imports, so that
// Deno (test/deno/parity.ts) and a browser page (test/browser/) can run it too. Returns
// max |ours − torch| / max |torch| per compared output.

import { ResNet, FEATURE_NAMES, type ResNetOptions } from '../../src/models/resnest/resnet.js';
import { createModel } from '../../src/models/resnest/zoo.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { tidy } from '../../src/tensor/scope.js';
import type { Backend } from '../../src/backend/backend.js';
import { syntheticInput, syntheticStateDict } from '../helpers/synthetic.js';
import type { NetworkFixture } from '../helpers/fixtures.js';

function relErr(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) return Infinity;
  let diff = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    diff = d > diff || d !== d ? d : diff;
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

function options(fx: NetworkFixture): ResNetOptions {
  const opts: Record<string, number | boolean> = { numClasses: fx.num_classes };
  for (const [k, v] of Object.entries(fx.kwargs)) opts[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return opts as ResNetOptions;
}

export async function runNetworkFixture(fx: NetworkFixture, backend: Backend, ref: Map<string, Float32Array>): Promise<Record<string, number>> {
  const model = fx.arch ? createModel(fx.arch, { init: false, backend }) : new ResNet(fx.layers, options(fx), backend);
  model.loadStateDict(syntheticStateDict(model, fx.seed));
  const x = tensor(syntheticInput(fx.input, fx.seed), fx.input, { backend });
  const errs: Record<string, number> = {};
  const compare = async (key: string, t: Tensor, refKey = key) => {
    const want = ref.get(refKey);
    const shapeOk = want && JSON.stringify([...t.shape]) === JSON.stringify(fx.outputs[refKey]);
    errs[key] = shapeOk ? relErr(await t.data(), want) : Infinity;
  };

  const captured = new Map<string, Tensor>();
  const removers: (() => void)[] = [];
  if (fx.splat_at) {
    const splat = model.getSubmodule(fx.splat_at);
    for (const [name, sub] of [...splat.namedChildren(), ['out', splat] as const]) {
      removers.push(sub.registerForwardHook((_m, _i, out) => captured.set(`splat.${name}`, out.retain())));
    }
  }
  await compare('logits', tidy(() => model.call(x)));
  removers.forEach((r) => r());
  for (const [key, t] of captured) {
    await compare(key, t);
    t.dispose();
  }
  if (fx.outputs['features.layer4']) {
    const feats = model.features(x);
    for (const name of FEATURE_NAMES) await compare(`features.${name}`, feats[name]);
  }
  model.fuse();
  await compare('fused', tidy(() => model.call(x)), 'logits');
  model.dispose();
  x.dispose();
  return errs;
}
