// One parity fixture run on a backend: logits with one SplAtConv2d's intermediates, stage
// features, then BN-folded logits (reversibly or in place). No Node imports, so the uvu
// parity test, Deno (test/deno/) and a browser page (test/browser/) all run exactly this.
// Returns max |ours − torch| / max |torch| per compared output (Infinity on a shape mismatch).

import { ResNet, FEATURE_NAMES } from '../../src/models/resnest/resnet.js';
import { createModel } from '../../src/models/resnest/zoo.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { tidy } from '../../src/tensor/scope.js';
import type { Backend } from '../../src/backend/backend.js';
import { syntheticInput, syntheticStateDict } from './synthetic.js';
import { relErr, resnetOptions, type NetworkFixture } from './compare.js';

export async function runNetworkFixture(fx: NetworkFixture, backend: Backend, ref: Map<string, Float32Array>,
  opts: { inPlace?: boolean } = {}): Promise<Record<string, number>> {
  const model = fx.arch ? createModel(fx.arch, { init: false, backend }) : new ResNet(fx.layers, resnetOptions(fx.kwargs, fx.num_classes), backend);
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
  // BatchNorm folded into the convs, conv + bias + residual + ReLU fused (in place: BNs dropped).
  model.fuse({ inPlace: opts.inPlace });
  if (opts.inPlace && [...model.stateDict().keys()].some((k) => k.endsWith('running_var'))) errs.fused = Infinity;
  else await compare('fused', tidy(() => model.call(x)), 'logits');
  model.dispose();
  x.dispose();
  return errs;
}

/** A line for the parity report. */
export function reportLine(label: string, fx: NetworkFixture, errs: Record<string, number>): string {
  const worst = Math.max(...Object.values(errs));
  return `${label.padEnd(7)} ${fx.name.padEnd(28)} logits ${errs.logits!.toExponential(2)}  fused ${errs.fused!.toExponential(2)}  worst of ${Object.keys(errs).length} ${worst.toExponential(2)}`;
}

/** Every network and zoo fixture on one backend, printing a line each; the failures count. */
export async function runAllFixtures(fixtures: NetworkFixture[], backend: Backend, expected: (name: string) => Map<string, Float32Array>,
  tolerance: number, log: (line: string) => void): Promise<number> {
  let failed = 0;
  for (const fx of fixtures) {
    try {
      const errs = await runNetworkFixture(fx, backend, expected(fx.name), { inPlace: !!fx.arch });
      const ok = Math.max(...Object.values(errs)) <= tolerance;
      if (!ok) failed++;
      log(`${ok ? 'ok  ' : 'FAIL'} ${reportLine(backend.name, fx, errs)}`);
    } catch (e) {
      failed++;
      log(`FAIL ${fx.name.padEnd(28)} ${(e as Error).message}`);
    }
  }
  return failed;
}
