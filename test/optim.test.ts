// SGD and AdamW against torch.optim over three steps with given gradients and two parameter
// groups (fixtures: scripts/make_grad_fixtures.py, optim.*), on every CPU backend; the
// state_dict() layout is PyTorch's; loadStateDict continues with the same momentum.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tensor as makeTensor, type Tensor } from '../src/tensor/tensor.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { toFloat32 } from '../src/io/raw.js';
import { AdamW, SGD, type ParamGroup } from '../src/train/optim.js';
import { FIXTURES } from './helpers/fixtures.js';
import { testBackends } from './helpers/backends.js';

interface OptimCase {
  name: string;
  optimizer: 'SGD' | 'AdamW';
  kwargs: { lr: number; momentum?: number; nesterov?: boolean; weight_decay?: number; betas?: [number, number]; eps?: number };
  steps: number;
  param_groups: Record<string, unknown>[];
  state_keys: Record<string, string[]>;
}

const dir = join(FIXTURES, 'grad');
const cases = (JSON.parse(readFileSync(join(dir, 'optim.json'), 'utf8')) as { cases: OptimCase[] }).cases;
const file = join(dir, 'optim.safetensors');
const raw = loadSafetensors(new Uint8Array(readFileSync(file)), file);
const get = (k: string) => toFloat32(raw.get(k)!, k);
const shapes = [[5, 3], [4]];

function build(c: OptimCase, params: Tensor[]): SGD | AdamW {
  const groups: ParamGroup[] = [{ params: [params[0]!] }, { params: [params[1]!], weightDecay: 0 }];
  const k = c.kwargs;
  return c.optimizer === 'SGD'
    ? new SGD(groups, { lr: k.lr, momentum: k.momentum ?? 0, nesterov: !!k.nesterov, weightDecay: k.weight_decay ?? 0 })
    : new AdamW(groups, { lr: k.lr, ...(k.betas ? { betas: k.betas } : {}), ...(k.eps ? { eps: k.eps } : {}), ...(k.weight_decay !== undefined ? { weightDecay: k.weight_decay } : {}) });
}

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0, s = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return d / s;
};

for (const { name: bk, backend } of await testBackends()) {
  if (!backend.training) continue;
  const tensor = (d: ArrayLike<number>, s: number[]) => makeTensor(d, s, { backend });
  for (const c of cases) {
    test(`${bk}: ${c.optimizer} ${c.name} follows torch.optim over ${c.steps} steps`, () => {
      const params = shapes.map((s, i) => tensor(get(`${c.name}.p${i}`), s).requiresGrad_());
      const opt = build(c, params);
      for (let step = 0; step < c.steps; step++) {
        params.forEach((p, i) => {
          p.zeroGrad();
          p.grad = tensor(get(`${c.name}.step${step}.grad${i}`), shapes[i]!);
        });
        opt.step();
        params.forEach((p, i) => {
          const err = maxRel(p.dataSync(), get(`${c.name}.step${step}.p${i}`));
          assert.ok(err < 1e-6, `step ${step} param ${i}: ${err}`);
        });
      }
      const sd = opt.stateDict();
      assert.equal(sd.param_groups.map((g) => Object.keys(g).sort()), c.param_groups.map((g) => Object.keys(g).sort()), 'param_groups keys');
      sd.param_groups.forEach((g, i) => {
        for (const [k, v] of Object.entries(c.param_groups[i]!)) assert.equal(g[k], v, `param_groups[${i}].${k}`);
      });
      for (const [idx, keys] of Object.entries(c.state_keys)) {
        const st = sd.state.get(Number(idx)) ?? {}; // torch keeps {momentum_buffer: None} where we keep nothing
        assert.equal(Object.keys(st).sort(), keys);
        for (const k of keys) assert.ok(maxRel(st[k]!.data as Float32Array, get(`${c.name}.state.${idx}.${k}`)) < 1e-6, `state ${idx}.${k}`);
      }
      params.forEach((p) => { p.zeroGrad(); p.dispose(); });
    });
  }

  test(`${bk}: SGD.loadStateDict continues with the saved momentum`, () => {
    const c = cases.find((x) => x.name === 'sgd_nesterov')!;
    const run = (resumeAfter: number | null) => {
      let params = shapes.map((s, i) => tensor(get(`${c.name}.p${i}`), s).requiresGrad_());
      let opt = build(c, params) as SGD;
      for (let step = 0; step < c.steps; step++) {
        if (step === resumeAfter) {
          const saved = opt.stateDict();
          params = params.map((p, i) => tensor(p.dataSync(), shapes[i]!).requiresGrad_());
          opt = build(c, params) as SGD;
          opt.loadStateDict(saved);
        }
        params.forEach((p, i) => { p.zeroGrad(); p.grad = tensor(get(`${c.name}.step${step}.grad${i}`), shapes[i]!); });
        opt.step();
      }
      return params.map((p) => Array.from(p.dataSync()));
    };
    assert.equal(run(2), run(null));
  });
}

test.run();
