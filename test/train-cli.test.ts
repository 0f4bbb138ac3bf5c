// `resnest train` as a user runs it: an architecture file, synthetic weights saved as a .pth,
// arrays in, a .pth out that matches PyTorch's two steps of the same recipe on the seed's code
// (scripts/make_grad_fixtures.py: train_cli.*), and one-line errors for bad input.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { saveTorch, saveTorchObject, type PyValue } from '../src/io/torch-save.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { loadTorch } from '../src/io/torch.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { toFloat32 } from '../src/io/raw.js';
import { writeNpy } from '../src/io/npy.js';
import { FIXTURES, resnetOptions } from './helpers/fixtures.js';
import { syntheticStateDict } from './helpers/synthetic.js';
import { runCli } from './helpers/cli.js';
import { testBackends } from './helpers/backends.js';

interface CliFixture {
  layers: number[];
  kwargs: Record<string, number | boolean>;
  num_classes: number;
  weights_seed: number;
  epochs: number;
  batch_size: number;
  lr: number;
  losses: number[];
  torch_f32_vs_f64_params: number;
}

const grad = join(FIXTURES, 'grad');
const fx = JSON.parse(readFileSync(join(grad, 'train_cli.json'), 'utf8')) as CliFixture;
const file = join(grad, 'train_cli.safetensors');
const ref = loadSafetensors(new Uint8Array(readFileSync(file)), file);
const get = (k: string) => toFloat32(ref.get(k)!, k);

const dir = mkdtempSync(join(tmpdir(), 'resnest-train-'));
const cfg = join(dir, 'tiny.json');
writeFileSync(cfg, JSON.stringify({ layers: fx.layers, ...fx.kwargs, num_classes: fx.num_classes }));
const js = await initBackend('js');
const init = new ResNet(fx.layers, resnetOptions(fx.kwargs, fx.num_classes), js);
const weights = join(dir, 'init.pth');
writeFileSync(weights, saveTorch(syntheticStateDict(init, fx.weights_seed)));
init.dispose();

const recipe = (out: string, backend: string) => [
  'train', '--arch', cfg, '--weights', weights, '--inputs', join(grad, 'inputs.npy'), '--labels', join(grad, 'labels.npy'),
  '--epochs', String(fx.epochs), '--batch-size', String(fx.batch_size), '--lr', String(fx.lr), '--momentum', '0.9', '--nesterov',
  '--weight-decay', '1e-4', '--no-bias-decay', '--label-smoothing', '0.1', '--no-augment', '--no-shuffle',
  '--lr-schedule', 'constant', '--backend', backend, '--save', out,
];

// Every backend that trains here: js, wasm, and webgpu where an adapter is (CI's software one).
const trainBackends = (await testBackends()).filter((b) => b.backend.training).map((b) => b.name);
for (const backend of trainBackends) {
  test(`train (${backend}): two steps of the recipe give PyTorch's losses and weights; the .pth has torch's keys`, async () => {
    const out = join(dir, `out-${backend}.pth`);
    const r = await runCli(recipe(out, backend));
    assert.is(r.code, 0, r.stderr);
    const losses = [...r.stderr.matchAll(/step \d+\/\d+  loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
    assert.equal(losses.length, fx.losses.length, r.stderr);
    losses.forEach((l, i) => assert.ok(Math.abs(l - fx.losses[i]!) < 2e-4 * Math.abs(fx.losses[i]!), `loss ${i}: ${l} vs ${fx.losses[i]}`));
    const sd = loadTorch(new Uint8Array(readFileSync(out)), out);
    let worst = 0;
    for (const [key, t] of sd) {
      if (key.endsWith('num_batches_tracked')) {
        assert.is(Number((t.data as BigInt64Array)[0]), get(key)[0], key);
        continue;
      }
      const ours = toFloat32(t, key);
      const idx = ref.has(`idx.${key}`) ? get(`idx.${key}`) : null;
      const theirs = ref.has(`param.${key}`) ? get(`param.${key}`) : get(key);
      const picked = idx ? Float32Array.from(idx, (i) => ours[i]!) : ours;
      let diff = 0;
      for (let i = 0; i < theirs.length; i++) diff = Math.max(diff, Math.abs(picked[i]! - theirs[i]!));
      // Parameters against how far the two steps moved them; running stats against their size.
      // (A bias feeding a training-mode BatchNorm has a zero gradient and does not move: there
      // the check is on the values alone.)
      const size = Math.max(...Array.from(theirs, Math.abs));
      const moved = ref.has(`moved.${key}`) ? get(`moved.${key}`)[0]! : size;
      if (moved < 1e-5 * size) assert.ok(diff <= 1e-5 * size, `${key}: ${diff} should not move`);
      else worst = Math.max(worst, diff / moved);
    }
    console.log(`  ${backend}: two-step parameter error ${worst.toExponential(2)} of the movement (PyTorch float32: ${fx.torch_f32_vs_f64_params})`);
    // Two steps in float32 against the float64 run (PyTorch's own float32: torch_f32_vs_f64_params).
    assert.ok(worst < Math.max(1e-3, 4 * fx.torch_f32_vs_f64_params), `worst error ${worst.toExponential(2)} of the movement`);
    assert.ok(sd.has('bn1.num_batches_tracked') && sd.has('layer1.0.conv2.fc1.bias'));
  });
}

test('train: bad labels, a bad architecture file and a missing flag are one-line errors; nothing is written', async () => {
  const out = join(dir, 'never.pth');
  const labels = join(dir, 'bad-labels.npy');
  writeFileSync(labels, writeNpy({ dtype: 'int64', shape: [8], data: BigInt64Array.from([0n, 1n, 2n, 9n, 0n, 1n, 2n, 3n]) }));
  const base = recipe(out, 'js');
  const bad = [...base];
  bad[bad.indexOf('--labels') + 1] = labels;
  let r = await runCli(bad);
  assert.is(r.code, 1);
  assert.match(r.stderr, /label 9 at index 3 is outside \[0, 7\)/);
  assert.is(r.stderr.trim().split('\n').length, 1);

  const cfgBad = join(dir, 'bad.json');
  writeFileSync(cfgBad, JSON.stringify({ layers: [1, 1, 1, 1], radix: 2, bottleneck_widht: 8 }));
  const withBad = [...base];
  withBad[withBad.indexOf('--arch') + 1] = cfgBad;
  r = await runCli(withBad);
  assert.is(r.code, 2);
  assert.match(r.stderr, /unknown ResNet argument 'bottleneck_widht'/);

  r = await runCli(base.filter((a, i) => a !== '--epochs' && base[i - 1] !== '--epochs'));
  assert.is(r.code, 2);
  assert.match(r.stderr, /--epochs is required/);
  assert.not.ok(existsSync(out));
});

test('train --resume: a checkpoint with a bad optimizer field or state tensor is a one-line error naming the file and key', async () => {
  const ck = join(dir, 'ck');
  const r = await runCli([...recipe(join(dir, 'ck-run.pth'), 'js'), '--checkpoint-dir', ck]);
  assert.is(r.code, 0, r.stderr);
  const good = readCheckpoint(new Uint8Array(readFileSync(join(ck, 'last.pth'))), 'last.pth');
  // The trainer's checkpoint, moved back to step 1 of epoch 1 so that it can be resumed, then altered.
  const write = (name: string, alter: (groups: Record<string, unknown>[], state: Map<number, Record<string, unknown>>) => void) => {
    const groups = good.optimizer.param_groups.map((g) => ({ ...g }) as Record<string, unknown>);
    const state = new Map([...good.optimizer.state].map(([i, s]) => [i, { ...s } as Record<string, unknown>]));
    alter(groups, state);
    const path = join(dir, name);
    writeFileSync(path, saveTorchObject({ model: good.model, optimizer: new Map<string, PyValue>([['state', state as never], ['param_groups', groups as never]]), epoch: 0, step: 1, args: good.args }));
    return path;
  };
  const noWeights = recipe(join(dir, 'resumed.pth'), 'js').filter((a, i, all) => a !== '--weights' && all[i - 1] !== '--weights');
  const resume = (path: string) => runCli([...noWeights, '--resume', path]);

  // float64 buffers are converted, as torch's load_state_dict casts state to the parameters' dtype.
  const f64 = write('f64.pth', (_, state) => {
    for (const s of state.values()) {
      const b = s.momentum_buffer as { shape: number[]; data: Float32Array };
      s.momentum_buffer = { dtype: 'float64', shape: b.shape, data: Float64Array.from(b.data) };
    }
  });
  const ok = await resume(f64);
  assert.is(ok.code, 0, ok.stderr);

  const bad: [string, (g: Record<string, unknown>[], s: Map<number, Record<string, unknown>>) => void, RegExp][] = [
    ['list-momentum.pth', (g) => { g[0]!.momentum = [1, 2]; }, /list-momentum\.pth: optimizer\.param_groups\[0\]\.momentum must be a finite number ≥ 0, got a list of 2/],
    ['int-buffer.pth', (_, s) => {
      const b = s.get(3)!.momentum_buffer as { shape: number[]; data: Float32Array };
      s.get(3)!.momentum_buffer = { dtype: 'int64', shape: b.shape, data: new BigInt64Array(b.data.length) };
    }, /int-buffer\.pth: optimizer\.state\.3\.momentum_buffer is int64/],
    ['nan-lr.pth', (g) => { g[1]!.lr = NaN; }, /nan-lr\.pth: optimizer\.param_groups\[1\]\.lr must be a finite number ≥ 0, got NaN/],
    ['bool-params.pth', (g) => { g[1]!.params = [true]; }, /bool-params\.pth: optimizer\.param_groups\[1\] has 1 parameters/],
    ['shape.pth', (_, s) => { s.get(0)!.momentum_buffer = { dtype: 'float32', shape: [2], data: new Float32Array(2) }; }, /shape\.pth: optimizer\.state\.0\.momentum_buffer is \[2\], its parameter is \[/],
  ];
  for (const [name, alter, message] of bad) {
    const e = await resume(write(name, alter));
    assert.is(e.code, 1, `${name}: ${e.stderr}`);
    assert.match(e.stderr, message);
    assert.is(e.stderr.trim().split('\n').length, 1, e.stderr);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
