// Segmentation as a user trains and measures it: a folder of images and greyscale masks in
// ADE20K's layout, `resnest train --arch fcn_resnest14d` (a head on a zoo backbone, the user's
// classes), `resnest eval` reporting the toolkit's pixel accuracy and mIoU (checked here against
// a direct count over the same predictions), the toolkit's metric and training transform on
// hand-made cases, and one-line errors for bad masks and misplaced options.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGreyPng, encodePng } from '../src/viz/png.js';
import { decodeLabelPng } from '../src/io/image/png.js';
import { loadTorch } from '../src/io/torch.js';
import { SegmentationFolder } from '../src/data/seg-folder.js';
import { resizeNearest, syncTransform } from '../src/data/seg-augment.js';
import { SegmentationMetric } from '../src/train/seg-evaluate.js';
import { argmaxClasses, segmentScores } from '../src/models/segmentation/multi-eval.js';
import { writeNormalized, imagenetTables, IMAGENET_BLACK } from '../src/io/image/preprocess.js';
import { loadSegmentationModel } from '../src/node.js';
import { initBackend } from '../src/backend/registry.js';
import { Rng } from '../src/util/random.js';
import { runCli } from './helpers/cli.js';
import { testBackends } from './helpers/backends.js';

const root = mkdtempSync(join(tmpdir(), 'resnest-segcli-'));
const W = 40, H = 36;

/** A scene: a bright left part (class 0 = mask 1), a dark right part (class 2 = mask 3), class 1 in a square, an unlabelled border. */
function scene(k: number): { rgb: Uint8Array; mask: Uint8Array } {
  const rgb = new Uint8Array(3 * W * H), mask = new Uint8Array(W * H);
  const split = 14 + 3 * k;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const inSquare = x >= 4 + k && x < 12 + k && y >= 10 && y < 20;
      const cls = inSquare ? 1 : x < split ? 0 : 2;
      mask[i] = y === 0 || x === 0 ? 0 : cls + 1;
      const base = cls === 0 ? [220, 200, 60] : cls === 1 ? [40, 160, 220] : [30, 30, 40];
      for (let c = 0; c < 3; c++) rgb[3 * i + c] = Math.max(0, Math.min(255, base[c]! + ((x * 7 + y * 13 + c * 5 + k) % 23) - 11));
    }
  }
  return { rgb, mask };
}

function writeSet(dir: string, counts: Record<string, number>): void {
  for (const [split, n] of Object.entries(counts)) {
    mkdirSync(join(dir, 'images', split), { recursive: true });
    mkdirSync(join(dir, 'annotations', split), { recursive: true });
    for (let k = 0; k < n; k++) {
      const { rgb, mask } = scene(k + (split === 'validation' ? 5 : 0));
      writeFileSync(join(dir, 'images', split, `s${k}.png`), encodePng(W, H, rgb));
      writeFileSync(join(dir, 'annotations', split, `s${k}.png`), encodeGreyPng(W, H, mask));
    }
  }
}

const data = join(root, 'scenes');
writeSet(data, { training: 4, validation: 2 });

test('the toolkit\'s metric: pixel accuracy over labelled pixels, IoU per class over the set, mIoU over every class', () => {
  const m = new SegmentationMetric(4);
  // labels: 0 0 1 1 -1 2; predicted: 0 1 1 1 3 0
  m.update([0, 1, 1, 1, 3, 0], [0, 0, 1, 1, -1, 2]);
  const r = m.get();
  assert.is(r.labelled, 5);
  assert.is(r.correct, 3);
  assert.ok(Math.abs(r.pixAcc - 3 / 5) < 1e-12);
  // class 0: inter 1, pred 2 (pixels 0 and 5), label 2 → 1/3; class 1: inter 2, pred 3, label 2 → 2/3; class 2: 0/1; class 3: never (0)
  assert.ok(Math.abs(r.iou[0]! - 1 / 3) < 1e-12 && Math.abs(r.iou[1]! - 2 / 3) < 1e-12 && r.iou[2] === 0 && r.iou[3] === 0);
  assert.ok(Math.abs(r.mIoU - 1 / 4) < 1e-12);
  assert.ok(Math.abs(r.mIoUPresent - 1 / 3) < 1e-12);
});

test('masks: greyscale values as classes v − 1 with 0 and 255 unlabelled; the training transform moves image and mask together', async () => {
  const set = (await SegmentationFolder.open(data, 'train', 3))!;
  assert.is(set.length, 4);
  const s = await set.sample(1);
  const { mask } = scene(1);
  assert.equal([...s.labels.subarray(0, 3)], [-1, -1, -1]);
  assert.is(s.labels[W + 1], mask[W + 1]! - 1);
  // Every pixel of a transformed sample keeps the class of the colour it shows (nearest vs bilinear aside at edges).
  for (const seed of [1, 2, 3]) {
    const t = syncTransform(s, { base: 40, crop: 32, augment: true }, new Rng(seed));
    assert.is(t.image.width, 32);
    assert.is(t.labels.length, 32 * 32);
    let agree = 0, labelled = 0;
    for (let i = 0; i < 32 * 32; i++) {
      const c = t.labels[i]!;
      if (c < 0) continue;
      labelled++;
      const [r, , b] = [t.image.data[3 * i]!, t.image.data[3 * i + 1]!, t.image.data[3 * i + 2]!];
      const seen = r > 150 ? 0 : b > 150 ? 1 : 2;
      if (seen === c) agree++;
    }
    assert.ok(labelled > 200 && agree / labelled > 0.9, `seed ${seed}: ${agree}/${labelled}`);
    assert.equal(syncTransform(s, { base: 40, crop: 32, augment: true }, new Rng(seed)).labels, t.labels, 'seeded');
  }
  assert.equal([...resizeNearest(Int16Array.from([1, 2, 3, 4]), 2, 2, 4, 2)], [1, 1, 2, 2, 3, 3, 4, 4]);
  assert.is(decodeLabelPng(encodeGreyPng(2, 1, Uint8Array.from([7, 255])), 'm.png').data[1], 255);
});

test('resnest train --backend webgpu --arch fcn_resnest14d: the same run on the GPU; eval on webgpu counts what eval on wasm counts', async () => {
  if (!(await testBackends()).some((b) => b.name === 'webgpu')) return void console.log('  (no webgpu adapter)');
  const save = join(root, 'seg-gpu.pth');
  const r = await runCli(['train', '--arch', 'fcn_resnest14d', '--data', data, '--num-classes', '3', '--epochs', '1', '--batch-size', '2',
    '--base-size', '40', '--crop-size', '32', '--lr', '0.01', '--seed', '3', '--backend', 'webgpu', '--save', save, '--quiet']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /after 1 epoch of 2 steps on webgpu, mean loss of the last epoch \d+\.\d{4}, validation pixAcc/);
  const evalOn = async (backend: string) => {
    const ev = await runCli(['eval', '--arch', 'fcn_resnest14d', '--weights', save, '--data', data, '--base-size', '40', '--backend', backend, '--json']);
    assert.is(ev.code, 0, ev.stderr);
    return JSON.parse(ev.stdout) as { labelled: number; correct: number; mIoU: number };
  };
  const gpu = await evalOn('webgpu'), cpu = await evalOn('wasm');
  assert.is(gpu.labelled, cpu.labelled);
  // The same weights: the class maps may differ only where two scores tie to float32 rounding.
  assert.ok(Math.abs(gpu.correct - cpu.correct) <= 0.002 * cpu.labelled, `correct pixels: webgpu ${gpu.correct}, wasm ${cpu.correct} of ${cpu.labelled}`);
});

test('resnest train --arch fcn_resnest14d on images and masks, then resnest eval: the toolkit\'s keys, pixAcc and mIoU as counted directly', async () => {
  const save = join(root, 'seg.pth'), log = join(root, 'seg.jsonl');
  const r = await runCli(['train', '--arch', 'fcn_resnest14d', '--data', data, '--num-classes', '3', '--epochs', '1', '--batch-size', '2',
    '--base-size', '40', '--crop-size', '32', '--lr', '0.01', '--seed', '3', '--log', log, '--save', save, '--quiet']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*seg\.pth: fcn_resnest14d \(3 classes\) after 1 epoch of 2 steps on wasm, mean loss of the last epoch \d+\.\d{4}, validation pixAcc \d+\.\d\d %, mIoU \d+\.\d\d %/);
  const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.is(lines.filter((l) => 'loss' in l).length, 2);
  assert.ok(lines.every((l) => !('loss' in l) || (Number.isFinite(l.loss) && l.loss > 0)));
  assert.ok(lines[0]!.lr === 0.01 && lines[1]!.lr! < 0.01, 'poly schedule');
  const sd = loadTorch(new Uint8Array(readFileSync(save)), save);
  assert.ok(sd.has('pretrained.layer4.0.conv2.conv.weight') && sd.has('head.conv5.4.weight') && sd.has('auxlayer.conv5.4.weight') && !sd.has('pretrained.fc.weight'));
  assert.equal(sd.get('head.conv5.4.weight')!.shape, [3, 512, 1, 1]);

  const ev = await runCli(['eval', '--arch', 'fcn_resnest14d', '--weights', save, '--data', data, '--base-size', '40', '--json']);
  assert.is(ev.code, 0, ev.stderr);
  const got = JSON.parse(ev.stdout) as { pixAcc: number; mIoU: number; images: number; labelled: number; correct: number };
  assert.is(got.images, 2);
  // The same predictions counted here: argmax of one pass at long side 40, against the masks.
  const model = await loadSegmentationModel('fcn_resnest14d', { weights: save, backend: await initBackend('wasm') });
  const tables = imagenetTables();
  const inter = [0, 0, 0], union = [0, 0, 0];
  let correct = 0, labelled = 0;
  for (const k of [5, 6]) {
    const { rgb, mask } = scene(k);
    const x = new Float32Array(3 * W * H);
    writeNormalized({ width: W, height: H, channels: 3, data: rgb }, x, 0, tables);
    const pred = argmaxClasses(await segmentScores(model, x, H, W, { base: 40, padValue: IMAGENET_BLACK }), 3);
    for (let i = 0; i < W * H; i++) {
      if (mask[i] === 0) continue;
      const t = mask[i]! - 1, p = pred[i]!;
      labelled++;
      if (p === t) { correct++; inter[t]!++; union[t]!++; } else { union[t]!++; union[p]!++; }
    }
  }
  model.dispose();
  assert.is(got.labelled, labelled);
  assert.is(got.correct, correct);
  assert.ok(Math.abs(got.pixAcc - correct / labelled) < 1e-9);
  const mIoU = inter.reduce((a, v, c) => a + v / (2.220446049250313e-16 + union[c]!), 0) / 3;
  assert.ok(Math.abs(got.mIoU - mIoU) < 1e-9, `${got.mIoU} vs ${mIoU}`);
  console.log(`  after 2 steps: pixAcc ${(100 * got.pixAcc).toFixed(2)} %, mIoU ${(100 * got.mIoU).toFixed(2)} % (${correct}/${labelled} pixels)`);
});

test('segmentation data and options: one-line errors naming the file or the option', async () => {
  const bad = join(root, 'bad');
  writeSet(bad, { training: 1 });
  writeFileSync(join(bad, 'annotations', 'training', 's0.png'), encodeGreyPng(W, H - 1, new Uint8Array(W * (H - 1))));
  const args = ['train', '--arch', 'fcn_resnest14d', '--data', bad, '--num-classes', '3', '--epochs', '1', '--batch-size', '1', '--crop-size', '32', '--save', join(root, 'x.pth'), '--quiet'];
  let r = await runCli(args);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /s0\.png.*the mask is 40×35, its image .*s0\.png 40×36/);
  writeFileSync(join(bad, 'annotations', 'training', 's0.png'), encodeGreyPng(W, H, new Uint8Array(W * H).fill(9)));
  r = await runCli(args);
  assert.match(r.stderr, /mask value 9 at pixel 0 is class 8, past the model's 3 classes/);
  writeFileSync(join(bad, 'annotations', 'training', 's0.png'), encodePng(W, H, new Uint8Array(3 * W * H)));
  r = await runCli(args);
  assert.match(r.stderr, /a mask must be a greyscale or palette PNG/);
  r = await runCli([...args, '--mixup', '0.2']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--mixup is for classification/);
  r = await runCli(['train', '--arch', 'resnest14d', '--data', bad, '--epochs', '1', '--batch-size', '1', '--lr', '0.1', '--crop-size', '32', '--save', join(root, 'x.pth')]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--crop-size is for segmentation networks/);
  r = await runCli(['train', '--arch', 'fcn_resnest14d', '--data', bad, '--epochs', '1', '--batch-size', '1', '--save', join(root, 'x.pth')]);
  assert.match(r.stderr, /give --num-classes/);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
