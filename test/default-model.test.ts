// The embedded default model as a user meets it: the file and its card (size, architecture
// with split attention, preprocessing, labels, accuracy, command), `resnest classify` of the
// example images without model arguments (what `npm start` runs), the same probabilities
// through the library, and `resnest eval` on the Fashion-MNIST test split where the
// data set is installed.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import '../src/index.js';
import { defaultModelPaths, loadDefaultModel, ready } from '../src/node.js';
import { parseModelCard } from '../src/io/model-card.js';
import { decodeImage } from '../src/io/image/decode.js';
import { preprocess } from '../src/io/image/preprocess.js';
import { loadTorch } from '../src/io/torch.js';
import { softmax } from '../src/ops/index.js';
import { tidy } from '../src/tensor/scope.js';
import { tensor } from '../src/tensor/tensor.js';
import { runCli } from './helpers/cli.js';

const { weights, card: cardFile } = defaultModelPaths();
const card = parseModelCard(readFileSync(cardFile, 'utf8'), cardFile);
const examples = readdirSync('examples').filter((f) => f.endsWith('.png')).sort().map((f) => join('examples', f));
// examples/<class>.png, named by scripts/make-examples.mjs after the label.
const truth = (file: string) => card.labels.findIndex((l) => l.toLowerCase().replace(/[^a-z]+/g, '-').startsWith(file.replace(/^examples\/|\.png$/g, '')));

test('the shipped file: ≤ 8 MB, float16 storage, the seed\'s keys; the card describes it', () => {
  assert.ok(statSync(weights).size <= 8 * 1024 * 1024, `${statSync(weights).size} bytes`);
  const sd = loadTorch(new Uint8Array(readFileSync(weights)), weights);
  assert.is(sd.get('layer1.0.conv2.conv.weight')!.dtype, 'float16');
  assert.ok(sd.has('layer4.0.conv2.fc2.bias') && sd.has('fc.weight'));
  assert.ok((card.resnet.radix as number) >= 2, 'split attention');
  assert.is(card.resnet.num_classes, 10);
  assert.is(card.labels.length, 10);
  assert.ok(card.accuracy! >= 0.925, `accuracy ${card.accuracy}`);
  assert.ok(card.command.startsWith('resnest train ') && card.command.includes('--data'), card.command);
  assert.equal(card.preprocess.size, 28);
});

test('classify without a model: the default classifies every example image as its class', async () => {
  assert.ok(examples.length >= 5);
  const r = await runCli(['classify', ...examples, '--top', '3', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { file: string; top: { index: number; label: string; probability: number }[] }[];
  for (const o of out) {
    const want = truth(o.file);
    assert.ok(want >= 0, `no label for ${o.file}`);
    assert.is(o.top.length, 3);
    assert.ok(o.top[0]!.probability >= o.top[1]!.probability && o.top[1]!.probability >= o.top[2]!.probability);
    assert.is(o.top[0]!.index, want, `${o.file}: top-1 ${o.top[0]!.label}`);
    assert.is(o.top[0]!.label, card.labels[want]);
  }
  // The plain form (what npm start prints): file, then ranked lines with percentages.
  const plain = await runCli(['classify', examples[0]!, '--top', '3']);
  assert.match(plain.stdout, new RegExp(`^${examples[0]}\\n {2} 1\\. +\\d+\\.\\d\\d%  ${card.labels[truth(examples[0]!)]!.replace(/[/]/g, '\\/')}`));

  // The library gives the same probabilities from the card's preprocessing.
  await ready();
  const { model, card: c } = await loadDefaultModel();
  const x = new Float32Array(examples.length * 3 * 28 * 28);
  examples.forEach((f, i) => x.set(preprocess(decodeImage(new Uint8Array(readFileSync(f)), f), { crop: c.preprocess.size, resize: c.preprocess.resize, mean: c.preprocess.mean, std: c.preprocess.std }).data, i * 3 * 784));
  const probs = tidy(() => softmax(model.call(tensor(x, [examples.length, 3, 28, 28], { backend: model.backend })), 1).dataSync() as Float32Array);
  out.forEach((o, i) => o.top.forEach((t) => assert.ok(Math.abs(probs[i * 10 + t.index]! - t.probability) < 1e-6)));
  model.dispose();
});

const FMNIST = '/usr/share/datasets/fashion-mnist';
test('eval without a model: the card\'s accuracy on the Fashion-MNIST test split', async () => {
  if (!existsSync(join(FMNIST, 't10k-images-idx3-ubyte.gz'))) {
    console.log(`  (skipped: ${FMNIST} is not installed; apt-get install dataset-fashion-mnist)`);
    return;
  }
  const r = await runCli(['eval', '--data', FMNIST, '--json']);
  assert.is(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').pop()!) as { accuracy: number; n: number };
  assert.is(last.n, 10000);
  assert.is(last.accuracy, card.accuracy);
});

test.run();
