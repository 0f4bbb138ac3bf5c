// `resnest train --data` and `resnest eval` as a user runs them, on a small synthetic IDX
// directory: the loss falls and the test accuracy rises; the .pth and its card; a checkpoint
// after each epoch in torch's layout; Ctrl-C writes one and exits 130; --resume from it ends
// with exactly the weights of the uninterrupted run; bad data sets are one-line errors.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import '../src/index.js';
import { loadTorch } from '../src/io/torch.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { parseModelCard } from '../src/io/model-card.js';
import { CLI, runCli } from './helpers/cli.js';
import { idxBytes, writeIdxDir } from './helpers/idx.js';

const dir = mkdtempSync(join(tmpdir(), 'resnest-data-'));
const data = join(dir, 'bars');
writeIdxDir(data, 384, 64, 16);
const arch = join(dir, 'tiny.json');
writeFileSync(arch, JSON.stringify({ layers: [1, 1, 1, 1], radix: 2, bottleneck_width: 4, deep_stem: true, stem_width: 8, avg_down: true, avd: true }));

const recipe = (save: string, extra: string[] = []) => [
  'train', '--arch', arch, '--data', data, '--epochs', '3', '--batch-size', '16', '--base-lr', '0.1', '--momentum', '0.9', '--nesterov',
  '--weight-decay', '1e-4', '--no-bias-decay', '--label-smoothing', '0.1', '--lr-schedule', 'cosine', '--warmup-epochs', '1',
  '--crop-scale', '0.7', '--seed', '3', '--threads', '1', '--save', save, ...extra,
];

const tensorsEqual = (a: string, b: string) => {
  const x = loadTorch(new Uint8Array(readFileSync(a)), a), y = loadTorch(new Uint8Array(readFileSync(b)), b);
  assert.equal([...x.keys()], [...y.keys()]);
  for (const [k, t] of x) assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(y.get(k)!.data.buffer, y.get(k)!.data.byteOffset, y.get(k)!.data.byteLength)), `${k} differs`);
};

const full = join(dir, 'full.pth'), ckFull = join(dir, 'ck-full');

test('train --data: the loss falls, the test accuracy rises, the card describes the model, a checkpoint per epoch', async () => {
  const log = join(dir, 'log.jsonl');
  const r = await runCli(recipe(full, ['--checkpoint-dir', ckFull, '--log', log]));
  assert.is(r.code, 0, r.stderr);
  const epochs = [...r.stderr.matchAll(/epoch (\d)\/3: mean loss (\d+\.\d+), test accuracy (\d+\.\d+) %/g)].map((m) => ({ loss: Number(m[2]), acc: Number(m[3]) }));
  assert.is(epochs.length, 3, r.stderr);
  assert.ok(epochs[2]!.loss < epochs[0]!.loss, `loss ${epochs.map((e) => e.loss)}`);
  assert.ok(epochs[2]!.acc >= 90, `accuracy ${epochs.map((e) => e.acc)} (chance: 25 %)`);
  const card = parseModelCard(readFileSync(join(dir, 'full.json'), 'utf8'), 'full.json');
  assert.equal(card.resnet.layers, [1, 1, 1, 1]);
  assert.is(card.resnet.num_classes, 4);
  assert.is(card.resnet.radix, 2);
  assert.equal(card.preprocess.size, 16);
  assert.is(card.labels.length, 4);
  assert.ok(card.command.startsWith('resnest train --arch ') && card.command.includes('--crop-scale 0.7'), card.command);
  assert.ok(card.accuracy! >= 0.9);
  const written = readFileSync(full);
  assert.equal(card.weights, { size: written.length, sha256: createHash('sha256').update(written).digest('hex') }, 'the card names the .pth it describes');
  // The checkpoint: model, optimizer in torch's layout (two groups: decayed, then no-decay), epoch/step.
  const ck = readCheckpoint(new Uint8Array(readFileSync(join(ckFull, 'last.pth'))), 'last.pth');
  assert.is(ck.epoch, 3);
  assert.is(ck.step, 72);
  assert.is(ck.optimizer.param_groups.length, 2);
  assert.is(ck.optimizer.param_groups[1]!.weight_decay, 0);
  assert.ok(ck.model.has('layer1.0.conv2.fc1.weight') && ck.model.has('bn1.num_batches_tracked'));
  assert.ok(ck.optimizer.state.get(0)!.momentum_buffer!.shape.length === 4);
  assert.is(ck.args.seed, 3);
  assert.equal(readdirSync(ckFull).sort(), ['curves.svg', 'last.pth'], 'no temporary files left');
  // The JSON-lines log: every step and every epoch; the curves as SVG.
  const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss: number; accuracy?: number });
  assert.is(lines.filter((l) => l.type === 'step').length, 72);
  const ends = lines.filter((l) => l.type === 'epoch');
  assert.equal(ends.map((l) => l.loss.toFixed(4)), epochs.map((e) => e.loss.toFixed(4)));
  assert.equal(ends.map((l) => (100 * l.accuracy!).toFixed(2)), epochs.map((e) => e.acc.toFixed(2)));
  const svg = readFileSync(join(ckFull, 'curves.svg'), 'utf8');
  assert.ok(svg.startsWith('<svg') && svg.trim().endsWith('</svg>') && (svg.match(/<path /g) ?? []).length === 4, 'loss (raw and smoothed), lr, accuracy');
  assert.match(svg, new RegExp(`test accuracy ${epochs[2]!.acc.toFixed(2)} %`));

  // eval of the written file (its card gives architecture and preprocessing) agrees with the card.
  const e = await runCli(['eval', '--data', data, '--weights', full, '--threads', '1', '--json']);
  assert.is(e.code, 0, e.stderr);
  const last = JSON.parse(e.stdout.trim().split('\n').pop()!) as { accuracy: number; n: number };
  assert.is(last.n, 64);
  assert.is(last.accuracy, card.accuracy);
});

test('Ctrl-C writes a checkpoint and exits 130; --resume continues to the uninterrupted weights exactly', async () => {
  const ck = join(dir, 'ck-cut'), cut = join(dir, 'cut.pth');
  const child = spawn(process.execPath, [CLI, ...recipe(cut, ['--checkpoint-dir', ck])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '', sent = false;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d;
    // Mid-epoch 2 (steps are printed every 10 and at each epoch's end; epoch 2's first line is its step 1).
    if (!sent && /epoch 2\/3 step 1\//.test(stderr)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((res) => child.on('close', res));
  assert.ok(sent, stderr);
  assert.is(code, 130, stderr);
  assert.match(stderr, /interrupted: finishing this step and writing a checkpoint/);
  assert.not.ok(existsSync(cut), 'no model is written for a stopped run');
  const saved = readCheckpoint(new Uint8Array(readFileSync(join(ck, 'last.pth'))), 'last.pth');
  assert.ok(saved.step > 24 && saved.step < 48, `stopped at step ${saved.step}`);
  assert.is(saved.epoch, 1);

  const resumed = join(dir, 'resumed.pth');
  const r = await runCli([...recipe(resumed, ['--checkpoint-dir', ck]), '--resume', join(ck, 'last.pth')]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming .*last\.pth: epoch 2, step \d+ of 24/);
  tensorsEqual(resumed, full);

  // A resume with settings that change the schedule is refused, naming the setting.
  const bad = await runCli([...recipe(join(dir, 'x.pth')).map((a) => (a === '16' ? '32' : a)), '--resume', join(ck, 'last.pth')]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /was made with steps_per_epoch 24, this run has 12/);
});

test('fine-tuning: --weights with --num-classes gives a new head; --freeze backbone trains only it', async () => {
  const tuned = join(dir, 'tuned.pth');
  const r = await runCli([...recipe(tuned), '--weights', full, '--num-classes', '5', '--freeze', 'backbone']);
  assert.is(r.code, 0, r.stderr);
  const before = loadTorch(new Uint8Array(readFileSync(full)), full), after = loadTorch(new Uint8Array(readFileSync(tuned)), tuned);
  assert.equal(after.get('fc.weight')!.shape, [5, 2048]);
  for (const [k, t] of before) {
    if (k.startsWith('fc.')) continue;
    const u = after.get(k)!;
    assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)), `${k} changed under --freeze backbone`);
  }
  const acc = Number(/test accuracy (\d+\.\d+) %/.exec(r.stdout)![1]);
  assert.ok(acc >= 90, `the frozen features separate the classes: ${acc} %`);
  const bad = await runCli([...recipe(join(dir, 'z.pth')), '--weights', full, '--freeze', 'everything']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--freeze takes 'backbone'/);
});

test('AutoAugment and colour jitter: the worker makes exactly the batches the main thread makes', async () => {
  const a = join(dir, 'aa-worker.pth'), b = join(dir, 'aa-main.pth');
  const base = recipe(a, ['--auto-augment', '--color-jitter', '0.4']).map((x) => (x === '3' ? '1' : x));
  const r1 = await runCli(base);
  assert.is(r1.code, 0, r1.stderr);
  const r2 = await runCli([...base.map((x) => (x === a ? b : x)), '--workers', '0']);
  assert.is(r2.code, 0, r2.stderr);
  tensorsEqual(a, b);
  // The flags change the batches (else this would compare two identical runs trivially).
  const c = join(dir, 'plain.pth');
  assert.is((await runCli(recipe(c).map((x) => (x === '3' ? '1' : x)))).code, 0);
  const w = (f: string) => loadTorch(new Uint8Array(readFileSync(f)), f).get('conv1.0.weight')!.data as Float32Array;
  assert.ok(w(a).some((v, i) => v !== w(c)[i]), 'AutoAugment changes the run');
});

test('bad data sets are one-line errors naming the file', async () => {
  const broken = join(dir, 'broken');
  writeIdxDir(broken, 8, 8, 8);
  writeFileSync(join(broken, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes(0x08, [7], new Uint8Array(7))));
  let r = await runCli(recipe(join(dir, 'y.pth')).map((a) => (a === data ? broken : a)));
  assert.is(r.code, 1);
  assert.match(r.stderr, /train-labels-idx1-ubyte\.gz: 7 labels for 8 images/);
  assert.is(r.stderr.trim().split('\n').length, 1);

  const folder = join(dir, 'folder');
  mkdirSync(join(folder, 'cats'), { recursive: true });
  mkdirSync(join(folder, 'dogs'), { recursive: true });
  writeFileSync(join(folder, 'cats', 'a.png'), new Uint8Array([1, 2, 3]));
  r = await runCli(['eval', '--data', folder, '--weights', full]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /dogs: class 'dogs' has no \.png or \.jpg images/);
  writeFileSync(join(folder, 'dogs', 'b.png'), new Uint8Array([1, 2, 3]));
  r = await runCli(['eval', '--data', folder, '--weights', full]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /a\.png: /);
  assert.is(r.stderr.trim().split('\n').length, 1);
});

test('eval reads only the test split; empty sets and empty held-out shares are errors, not "0.00 % (0/0)"', async () => {
  const testOnly = join(dir, 'test-only');
  mkdirSync(testOnly);
  for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) writeFileSync(join(testOnly, f), readFileSync(join(data, f)));
  let r = await runCli(['eval', '--data', testOnly, '--weights', full, '--threads', '1', '--json']);
  assert.is(r.code, 0, r.stderr);
  const whole = await runCli(['eval', '--data', data, '--weights', full, '--threads', '1', '--json']);
  assert.equal(JSON.parse(r.stdout).correct, JSON.parse(whole.stdout).correct, 'the same 64 test images either way');
  assert.is(JSON.parse(r.stdout).n, 64);

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  writeFileSync(join(empty, 't10k-images-idx3-ubyte.gz'), gzipSync(idxBytes(0x08, [0, 16, 16], new Uint8Array(0))));
  writeFileSync(join(empty, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxBytes(0x08, [0], new Uint8Array(0))));
  r = await runCli(['eval', '--data', empty, '--weights', full]);
  assert.is(r.code, 1, r.stdout);
  assert.match(r.stderr, /^resnest: .*t10k-images-idx3-ubyte\.gz: holds no images to evaluate\n$/);
  for (const f of ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']) writeFileSync(join(empty, f), readFileSync(join(empty, f.replace('train', 't10k'))));
  r = await runCli(recipe(join(dir, 'z.pth')).map((a) => (a === data ? empty : a)));
  assert.is(r.code, 1, r.stdout);
  assert.match(r.stderr, /^resnest: .*train-images-idx3-ubyte\.gz: holds no images to train on\n$/);

  const small = join(dir, 'small');
  for (const c of ['a', 'b']) {
    mkdirSync(join(small, c), { recursive: true });
    writeFileSync(join(small, c, '1.png'), readFileSync(join(process.cwd(), 'examples', 'bag.png')));
  }
  r = await runCli(['eval', '--data', small, '--weights', full, '--val-split', '0.1']);
  assert.is(r.code, 2, r.stdout);
  assert.match(r.stderr, /^resnest: --val-split 0\.1 holds out no image of .*small \(2 images in 2 classes/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
