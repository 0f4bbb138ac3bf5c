// docs/library.md's example, as a user writes it against the public entry points
// (resnest-ts and resnest-ts/node), on the default backend.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ready, createModel, tensor, tidy, loadCheckpoint, saveSafetensors, F, getBackend, SplAtConv2d, type Tensor } from '../src/index.js';
import { loadModel } from '../src/node.js';
import { expected, manifest, relErr } from './helpers/fixtures.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';

const fx = manifest().zoo.find((z) => z.arch === 'resnest14d')!;
const dir = mkdtempSync(join(tmpdir(), 'resnest-api-'));

test('ready() → createModel → loadStateDict(loadCheckpoint) → fuse → softmax, on the default backend', async () => {
  const backend = await ready();
  assert.is(backend.name, 'wasm');
  assert.is(getBackend(), backend);
  const model = createModel('resnest14d', { init: false });
  const bytes = saveSafetensors(syntheticStateDict(model, fx.seed));
  model.loadStateDict(loadCheckpoint(bytes, 'resnest14d.safetensors'));
  model.eval().fuse({ inPlace: true });
  const x = tensor(syntheticInput(fx.input, fx.seed), fx.input);
  const logits = tidy(() => model.call(x));
  assert.ok(relErr(await logits.data(), expected(fx.name).get('logits')!) < 1e-4);
  const probs = tidy(() => F.softmax(logits, 1));
  const p = (await probs.data()) as Float32Array;
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-4);
  const feats = model.features(x);
  assert.equal([...feats.layer4.shape], [1, 2048, 2, 2]);

  // Watching split attention: hooks on a SplAtConv2d's parts, kept with retain().
  const splat = model.getSubmodule('layer2.0.conv2');
  assert.instance(splat, SplAtConv2d);
  const seen = new Map<string, Tensor>();
  for (const [name, part] of splat.namedChildren()) part.registerForwardHook((_m, _i, out) => seen.set(name, out.retain()));
  tidy(() => model.call(x));
  assert.equal([...seen.keys()], ['conv', 'fc1', 'fc2', 'rsoftmax']); // bn0/bn1 are folded into conv/fc1
  const att = (await seen.get('rsoftmax')!.data()) as Float32Array;
  // r-softmax over radix 2: the two splits' weights for a channel sum to 1.
  const c = att.length / 2;
  for (let j = 0; j < c; j += 37) assert.ok(Math.abs(att[j]! + att[c + j]! - 1) < 1e-5);
});

test('resnest-ts/node: loadModel from a file gives the same logits', async () => {
  const ref = createModel('resnest14d', { init: false });
  const file = join(dir, 'w.safetensors');
  writeFileSync(file, saveSafetensors(syntheticStateDict(ref, fx.seed)));
  const model = await loadModel('resnest14d', { weights: file });
  const x = tensor(syntheticInput(fx.input, fx.seed), fx.input, { backend: model.backend });
  assert.ok(relErr(await tidy(() => model.call(x)).data(), expected(fx.name).get('logits')!) < 1e-4);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
