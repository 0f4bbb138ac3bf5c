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
import { AdamW, SGD, type OptimizerState, type ParamGroup } from '../src/train/optim.js';
import { initBackend } from '../src/backend/registry.js';
import { ArgumentError, FormatError, ShapeError } from '../src/errors.js';
import type { RawTensor } from '../src/io/raw.js';
import { throwsKind } from './helpers/io.js';
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
  if (backend.asyncRead && backend.training) {
    // A GPU backend with the optimizer kernels (webgpu): the steps on the device, read back asynchronously.
    for (const c of cases) {
      test(`${bk}: ${c.optimizer} ${c.name} follows torch.optim over ${c.steps} steps, on the device`, async () => {
        const params = shapes.map((s, i) => makeTensor(get(`${c.name}.p${i}`), s, { backend }).requiresGrad_());
        const opt = build(c, params);
        for (let step = 0; step < c.steps; step++) {
          params.forEach((p, i) => {
            p.zeroGrad();
            p.grad = makeTensor(get(`${c.name}.step${step}.grad${i}`), shapes[i]!, { backend });
          });
          opt.step();
          for (const [i, p] of params.entries()) {
            const err = maxRel((await p.data()) as Float32Array, get(`${c.name}.step${step}.p${i}`));
            assert.ok(err < 1e-6, `step ${step} param ${i}: ${err}`);
          }
        }
        params.forEach((p) => { p.zeroGrad(); p.dispose(); });
      });
    }
    continue;
  }
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

  test(`${bk}: AdamW.loadStateDict continues with the saved moments and step`, () => {
    const c = cases.find((x) => x.optimizer === 'AdamW')!;
    const run = (resumeAfter: number | null) => {
      let params = shapes.map((s, i) => tensor(get(`${c.name}.p${i}`), s).requiresGrad_());
      let opt = build(c, params) as AdamW;
      for (let step = 0; step < c.steps; step++) {
        if (step === resumeAfter) {
          const saved = opt.stateDict();
          params = params.map((p, i) => tensor(p.dataSync(), shapes[i]!).requiresGrad_());
          opt = build(c, params) as AdamW;
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

// Hand-made state dicts as a checkpoint could hold them: every field is checked before anything changes.
const js = await initBackend('js');
const f32 = (shape: number[], v = 0.5): RawTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v) });
const twoGroups = () => [{ params: [makeTensor(new Float32Array(15), [5, 3], { backend: js })] }, { params: [makeTensor(new Float32Array(4), [4], { backend: js })] }];
type LooseState = { state: Map<number, Record<string, unknown>>; param_groups: Record<string, unknown>[] };
const sgdState = (alter: (sd: LooseState) => void = () => {}): OptimizerState => {
  const sd: LooseState = {
    state: new Map<number, Record<string, unknown>>([[0, { momentum_buffer: f32([5, 3]) }], [1, { momentum_buffer: f32([4]) }]]),
    param_groups: [0, 1].map((i) => ({ lr: 0.5, momentum: 0.8, dampening: 0, weight_decay: 0, nesterov: true, maximize: false, foreach: null, params: [i] }) as Record<string, unknown>),
  };
  alter(sd);
  return sd as unknown as OptimizerState;
};

test('SGD.loadStateDict: wrong types and values are ArgumentErrors naming the field (FormatErrors naming the file with {file})', () => {
  const cases: [string, (sd: LooseState) => void, string][] = [
    ['momentum list', (sd) => { sd.param_groups[0]!.momentum = [1, 2]; }, 'param_groups[0].momentum must be a finite number ≥ 0, got a list of 2'],
    ['negative lr', (sd) => { sd.param_groups[1]!.lr = -1; }, 'param_groups[1].lr must be a finite number ≥ 0, got -1'],
    ['Inf weight decay', (sd) => { sd.param_groups[0]!.weight_decay = Infinity; }, 'param_groups[0].weight_decay'],
    ['string nesterov', (sd) => { sd.param_groups[0]!.nesterov = 'yes'; }, "param_groups[0].nesterov must be True or False, got 'yes'"],
    ['nesterov without momentum', (sd) => { sd.param_groups[0]!.momentum = 0; }, 'param_groups[0]: nesterov needs a momentum > 0, got 0'],
    ['dampening', (sd) => { sd.param_groups[0]!.dampening = 0.1; }, 'param_groups[0].dampening is 0.1'],
    ['maximize', (sd) => { sd.param_groups[1]!.maximize = true; }, 'param_groups[1].maximize is true'],
    ['params not a list', (sd) => { sd.param_groups[0]!.params = 0; }, 'param_groups[0].params must be a list of parameter ids, got 0'],
    ['fractional id', (sd) => { sd.param_groups[0]!.params = [0.5]; }, 'param_groups[0].params[0] must be a parameter id'],
    ['id twice', (sd) => { sd.param_groups[1]!.params = [0]; }, 'param_groups[1].params[0]: parameter id 0 is listed twice'],
    ['state for no id', (sd) => { sd.state.set(9, { momentum_buffer: f32([4]) }); }, 'state.9: no param_groups entry lists parameter id 9'],
    ['int64 buffer', (sd) => { sd.state.get(1)!.momentum_buffer = { dtype: 'int64', shape: [4], data: new BigInt64Array(4) }; }, 'state.1.momentum_buffer is int64'],
    ['list buffer', (sd) => { sd.state.get(1)!.momentum_buffer = [1, 2, 3, 4]; }, 'state.1.momentum_buffer must be a tensor, got a list of 4'],
  ];
  for (const [what, alter, needle] of cases) {
    const params = twoGroups();
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
    throwsKind(() => opt.loadStateDict(sgdState(alter)), ArgumentError, `SGD.loadStateDict: ${needle}`);
    throwsKind(() => opt.loadStateDict(sgdState(alter), { file: 'ck.pth' }), FormatError, `ck.pth: optimizer.${needle}`);
    // Nothing was applied: the groups keep their settings and no buffer exists.
    assert.equal(opt.groups.map((g) => [g.lr, g.momentum, g.nesterov]), [[0.1, 0.9, false], [0.1, 0.9, false]], what);
    assert.is(opt.stateDict().state.size, 0, what);
  }
  const opt = new SGD(twoGroups(), { lr: 0.1, momentum: 0.9 });
  throwsKind(() => opt.loadStateDict(sgdState((sd) => { sd.state.get(0)!.momentum_buffer = f32([3, 5]); })), ShapeError, 'state.0.momentum_buffer is [3, 5], its parameter is [5, 3]');
});

test('SGD.loadStateDict: float64 and float16 buffers become float32; saved ids map to parameters by group order, as in torch', () => {
  const opt = new SGD(twoGroups(), { lr: 0.1, momentum: 0.9 });
  opt.loadStateDict(sgdState((sd) => {
    // Ids as an old torch wrote them (any integers), listed per group; state keyed by them.
    sd.param_groups[0]!.params = [7];
    sd.param_groups[1]!.params = [2];
    sd.state = new Map([
      [2, { momentum_buffer: { dtype: 'float16', shape: [4], data: new Uint16Array(4).fill(0x3c00) } }], // 1.0
      [7, { momentum_buffer: { dtype: 'float64', shape: [5, 3], data: new Float64Array(15).fill(0.25) } }],
    ]);
  }));
  const back = opt.stateDict();
  assert.equal(Array.from(back.state.get(0)!.momentum_buffer!.data as Float32Array), new Array(15).fill(0.25));
  assert.equal(Array.from(back.state.get(1)!.momentum_buffer!.data as Float32Array), [1, 1, 1, 1]);
  assert.equal(opt.groups.map((g) => [g.lr, g.momentum, g.nesterov]), [[0.5, 0.8, true], [0.5, 0.8, true]]);
});

test('AdamW.loadStateDict: step, moments and betas are checked', () => {
  const state = (alter: (g: Record<string, unknown>, s: Record<string, unknown>) => void = () => {}): OptimizerState => {
    const g: Record<string, unknown> = { lr: 0.01, betas: [0.8, 0.99], eps: 1e-6, weight_decay: 0.1, amsgrad: false, maximize: false, params: [0] };
    const s: Record<string, unknown> = { step: { dtype: 'float32', shape: [], data: Float32Array.of(3) }, exp_avg: f32([4], -1), exp_avg_sq: f32([4], 2) };
    alter(g, s);
    return { state: new Map([[0, s]]), param_groups: [g] } as unknown as OptimizerState;
  };
  const fresh = () => new AdamW([makeTensor(new Float32Array(4), [4], { backend: js })], { lr: 1e-3 });
  const cases: [(g: Record<string, unknown>, s: Record<string, unknown>) => void, string][] = [
    [(g) => { g.betas = [0.9]; }, 'param_groups[0].betas must be a pair of numbers, got a list of 1'],
    [(g) => { g.betas = [0.9, 1]; }, 'param_groups[0].betas[1] must be a finite number ≥ 0 and < 1, got 1'],
    [(g) => { g.eps = 'small'; }, "param_groups[0].eps must be a finite number ≥ 0, got 'small'"],
    [(g) => { g.amsgrad = true; }, 'param_groups[0].amsgrad is true: amsgrad is not supported'],
    [(_, s) => { s.step = -1; }, 'state.0.step must be a finite number ≥ 0, got -1'],
    [(_, s) => { s.step = { dtype: 'float32', shape: [], data: Float32Array.of(NaN) }; }, 'state.0.step must be a finite number ≥ 0, got a float32 tensor []'],
    [(_, s) => { delete s.exp_avg; }, 'state.0.exp_avg is missing'],
    [(_, s) => { s.exp_avg_sq = f32([4], -0.5); }, 'state.0.exp_avg_sq holds -0.5'],
    [(_, s) => { s.exp_avg = { dtype: 'int32', shape: [4], data: new Int32Array(4) }; }, 'state.0.exp_avg is int32'],
  ];
  for (const [alter, needle] of cases) {
    const opt = fresh();
    throwsKind(() => opt.loadStateDict(state(alter), { file: 'a.pth' }), FormatError, `a.pth: optimizer.${needle}`);
    assert.is(opt.stateDict().state.size, 0);
    assert.is(opt.groups[0]!.lr, 1e-3);
  }
  const opt = fresh();
  opt.loadStateDict(state((_, s) => { s.step = 5; }));
  const back = opt.stateDict();
  assert.equal([back.state.get(0)!.step!.data[0], back.state.get(0)!.exp_avg!.data[0], back.state.get(0)!.exp_avg_sq!.data[0]], [5, -1, 2]);
  assert.equal(back.param_groups[0]!.betas, [0.8, 0.99]);
  assert.equal([back.param_groups[0]!.lr, back.param_groups[0]!.eps, back.param_groups[0]!.weight_decay], [0.01, 1e-6, 0.1]);
});

test.run();
