// DropBlock's mask by hand (the reference's dropblock.py semantics), identity outside
// training, the all-dropped case, and where the seed's ResNet places it. Whole networks
// training with it against PyTorch are in autograd-networks.test.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { DropBlock2D, dropBlockMask } from '../src/nn/dropblock.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { tensor } from '../src/tensor/tensor.js';

const js = await initBackend('js');

test('mask: one seed at (0, 0) of a 4×4 plane drops the 2×2 its 3×3 block covers; the rest is scaled by 16/12', () => {
  // k = 3, p = 0.1: γ = 0.1·16/9/4 = 0.0444…; only noise[0] = 0 is below it.
  const noise = new Float32Array(16).fill(0.5);
  noise[0] = 0;
  const keep = dropBlockMask(noise, 1, 4, 4, 0.1, 3);
  const s = Math.fround(16 / 12);
  assert.equal(Array.from(keep), [0, 0, s, s, 0, 0, s, s, s, s, s, s, s, s, s, s]);
});

test('mask: even blocks (k = min(3, 2, 2) = 2) extend up and left; everything dropped gives zeros', () => {
  const noise = new Float32Array(4).fill(0.9);
  noise[3] = 0; // γ = 0.2·4/4/1 = 0.2
  assert.equal(Array.from(dropBlockMask(noise, 1, 2, 2, 0.2, 3)), [4 / 3, 4 / 3, 4 / 3, 0].map(Math.fround));
  assert.equal(Array.from(dropBlockMask(new Float32Array(4), 1, 2, 2, 0.5, 3)), [0, 0, 0, 0]);
});

test('DropBlock2D: identity in eval mode and at p = 0; one mask shared by the batch in training', () => {
  const x = tensor(Float32Array.from({ length: 2 * 3 * 5 * 5 }, (_, i) => 1 + i), [2, 3, 5, 5], { backend: js });
  const db = new DropBlock2D(0.2, 3, js);
  assert.is(db.call(x), x);
  db.train();
  const y = db.call(x).dataSync();
  const xs = x.dataSync();
  const per = 3 * 25;
  for (let i = 0; i < per; i++) assert.is(y[i] === 0, y[per + i] === 0, `position ${i}: both images keep or drop it`);
  const ratio = y.find((v, i) => v !== 0 && i < per)! / xs[y.findIndex((v) => v !== 0)]!;
  assert.ok(ratio >= 1, `kept values are scaled up (${ratio})`);
  assert.is(new DropBlock2D(0, 3, js).train().call(x), x);
});

test('ResNet places DropBlock as the seed does: layers 3–4, after bn1 / bn0 (or bn2) / bn3; no state-dict keys', () => {
  const m = new ResNet([1, 1, 1, 1], { radix: 2, bottleneckWidth: 8, dropblockProb: 0.1, numClasses: 3 }, js);
  const paths = [...m.namedModules()].filter(([, mod]) => mod instanceof DropBlock2D).map(([p]) => p);
  assert.equal(paths, ['layer3.0.conv2.dropblock', 'layer3.0.dropblock1', 'layer3.0.dropblock3', 'layer4.0.conv2.dropblock', 'layer4.0.dropblock1', 'layer4.0.dropblock3']);
  const plain = new ResNet([1, 1, 1, 1], { radix: 0, bottleneckWidth: 8, dropblockProb: 0.1, numClasses: 3 }, js);
  assert.ok([...plain.namedModules()].some(([p]) => p === 'layer4.0.dropblock2'));
  assert.not.ok([...m.stateDict().keys()].some((k) => k.includes('dropblock')));
  m.dispose();
  plain.dispose();
});

test.run();
