// Training on webgpu as users meet it (on CI's software adapter): 200 steps of a small
// split-attention network keep GPU memory flat with one read-back a step, and the loss falls;
// `resnest train --backend webgpu` on a data set — checkpoints, a run stopped and resumed ends
// with exactly the uninterrupted run's bits, fine-tuning a new head with a frozen backbone;
// `resnest bench --train --backend webgpu`.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/index.js';
import type { WebGpuBackend } from '../src/backend/webgpu/index.js';
import { Bottleneck } from '../src/models/resnest/resnet.js';
import { BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, ReLU, Sequential } from '../src/nn/layers.js';
import { loadTorch } from '../src/io/torch.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { SGD } from '../src/train/optim.js';
import { paramGroups } from '../src/train/param-groups.js';
import { arraySource, trainLoop } from '../src/train/trainer.js';
import { barImages, writeIdxDir } from './helpers/idx.js';
import { syntheticStateDict } from './helpers/synthetic.js';
import { runCli } from './helpers/cli.js';
import { testBackends } from './helpers/backends.js';

const gpu = (await testBackends()).find((b) => b.name === 'webgpu');
if (!gpu) console.log('  (no webgpu adapter: the webgpu training tests do not run)');
const backend = gpu?.backend as WebGpuBackend | undefined;

const dir = mkdtempSync(join(tmpdir(), 'resnest-gputrain-'));

if (backend) {
  test('webgpu: 200 SGD steps of a split-attention network — GPU memory flat, one read-back a step, the loss falls', async () => {
    // A stem, one radix-2 Bottleneck (split attention, r-softmax, residual) and a classifier.
    const net = new Sequential([
      new Conv2d(3, 16, 3, { padding: 1, bias: false }, backend), new BatchNorm2d(16, 1e-5, backend), new ReLU(backend),
      new Bottleneck(16, 4, { radix: 2 }, backend), new GlobalAvgPool2d(backend), new Linear(16, 4, true, backend),
    ], backend);
    net.loadStateDict(syntheticStateDict(net, 7));
    net.train();
    const { pixels, labels } = barImages(32, 8, 5);
    const images = Float32Array.from({ length: 32 * 3 * 64 }, (_, i) => pixels[Math.floor(i / 192) * 64 + (i % 64)]! / 255 - 0.5);
    const opt = new SGD(paramGroups(net, 1e-4, true), { lr: 0.05, momentum: 0.9, nesterov: true });
    const stats: ReturnType<WebGpuBackend['stats']>[] = [];
    const r = await trainLoop(net, opt, arraySource(images, [32, 3, 8, 8], labels, { seed: 1 }), {
      epochs: 25, batchSize: 4, lr: 0.05, seed: 1, onStep: () => stats.push(backend.stats()),
    });
    assert.is(r.losses.length, 200);
    const at = (k: number) => stats[k - 1]!;
    // After the first step (momentum buffers, the pool's first buffers) nothing grows.
    assert.is(at(200).liveBytes, at(2).liveBytes, `live bytes ${at(2).liveBytes} → ${at(200).liveBytes}`);
    assert.is(at(200).created, at(3).created, `buffers created ${at(3).created} → ${at(200).created}`);
    assert.ok(at(200).freeBytes <= at(3).freeBytes, `pooled bytes ${at(3).freeBytes} → ${at(200).freeBytes}`);
    for (let k = 2; k <= 200; k++) {
      assert.is(at(k).reads - at(k - 1).reads, 1, `step ${k}: one read-back (the loss)`);
      assert.is(at(k).dispatches - at(k - 1).dispatches, at(2).dispatches - at(1).dispatches, `step ${k}: the same kernels`);
    }
    const perStep = { kernels: at(200).dispatches - at(199).dispatches, submits: at(200).submits - at(199).submits, uploads: at(200).writes - at(199).writes };
    console.log(`  webgpu: a step launches ${perStep.kernels} kernels in ${perStep.submits} submits, ${perStep.uploads} uploads, 1 read; `
      + `${(at(200).liveBytes / 1024).toFixed(0)} KiB live after 200 steps (step 2: ${(at(2).liveBytes / 1024).toFixed(0)} KiB)`);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    assert.ok(r.epochLosses[24]! < 0.5 * r.epochLosses[0]!, `epoch losses ${r.epochLosses[0]} → ${r.epochLosses[24]}`);
    assert.ok(mean(r.losses.slice(-8)) < mean(r.losses.slice(0, 8)));
    opt.zeroGrad();
    net.dispose();
  });

  const data = join(dir, 'bars'), arch = join(dir, 'tiny.json');
  writeIdxDir(data, 32, 16, 16);
  writeFileSync(arch, JSON.stringify({ layers: [1, 1, 1, 1], radix: 2, bottleneck_width: 4, deep_stem: true, stem_width: 8, avg_down: true, avd: true }));
  const recipe = (save: string, extra: string[] = []) => [
    'train', '--arch', arch, '--data', data, '--epochs', '2', '--batch-size', '8', '--base-lr', '0.1', '--momentum', '0.9', '--nesterov',
    '--weight-decay', '1e-4', '--no-bias-decay', '--label-smoothing', '0.1', '--lr-schedule', 'cosine', '--crop-scale', '0.7', '--seed', '3',
    '--backend', 'webgpu', '--save', save, ...extra,
  ];
  const bits = (file: string) => loadTorch(new Uint8Array(readFileSync(file)), file);
  const full = join(dir, 'full.pth');

  test('resnest train --backend webgpu: a checkpoint per epoch; stopped at epoch 1 and resumed, the same bits as the uninterrupted run', async () => {
    const r = await runCli(recipe(full, ['--checkpoint-dir', join(dir, 'ck-full')]));
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /after 2 epochs of 4 steps on webgpu/);
    const losses = [...r.stderr.matchAll(/epoch (\d)\/2: mean loss (\d+\.\d+), test accuracy (\d+\.\d+) %/g)].map((m) => Number(m[2]));
    assert.is(losses.length, 2, r.stderr);
    const ck = readCheckpoint(new Uint8Array(readFileSync(join(dir, 'ck-full', 'last.pth'))), 'last.pth');
    assert.is(ck.step, 8);
    assert.ok(ck.optimizer.state.get(0)!.momentum_buffer!.data.some((v) => v !== 0), 'momentum read back from the device');

    const cut = join(dir, 'ck-cut');
    const first = await runCli(recipe(join(dir, 'cut.pth'), ['--checkpoint-dir', cut, '--until-epoch', '1']));
    assert.is(first.code, 0, first.stderr);
    const resumed = join(dir, 'resumed.pth');
    const second = await runCli(recipe(resumed, ['--checkpoint-dir', cut, '--resume', join(cut, 'last.pth')]));
    assert.is(second.code, 0, second.stderr);
    const a = bits(full), b = bits(resumed);
    assert.equal([...b.keys()], [...a.keys()]);
    for (const [k, t] of a) {
      const u = b.get(k)!;
      assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)), `${k} differs`);
    }
  });

  test('resnest train --backend webgpu: fine-tuning a new head (--weights, --num-classes, --freeze backbone) leaves the backbone bit-for-bit', async () => {
    const tuned = join(dir, 'tuned.pth');
    const r = await runCli([...recipe(tuned), '--weights', full, '--num-classes', '5', '--freeze', 'backbone', '--epochs', '1']);
    assert.is(r.code, 0, r.stderr);
    const before = bits(full), after = bits(tuned);
    assert.equal(after.get('fc.weight')!.shape, [5, 2048]);
    let moved = 0;
    for (const [k, t] of before) {
      const u = after.get(k)!;
      if (k.startsWith('fc.')) continue;
      assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)), `${k} changed under --freeze backbone`);
    }
    const w = after.get('fc.weight')!.data as Float32Array;
    for (const v of w) moved += Math.abs(v);
    assert.ok(moved > 0 && Number.isFinite(moved), 'the new head trained');
  });
}

test.run();
