// Module trees mirror the seed's (key for key, shape for shape), and load_state_dict follows
// PyTorch's rules with messages that name every offending key, changing nothing on failure.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import '../src/index.js';
import { createModel, parameterCount } from '../src/models/resnest/zoo.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { SplAtConv2d } from '../src/models/resnest/splat.js';
import { metaBackend } from '../src/backend/meta.js';
import { initBackend } from '../src/backend/registry.js';
import { BackendError, StateDictError, ArgumentError } from '../src/errors.js';
import type { RawTensor } from '../src/io/raw.js';
import { tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import { FIXTURES } from './helpers/fixtures.js';
import { syntheticStateDict } from './helpers/synthetic.js';

const js = await initBackend('js');
const seedKeys = JSON.parse(readFileSync(join(FIXTURES, 'parity', 'state_dict_keys.json'), 'utf8')) as Record<string, [string, number[]][]>;

for (const [arch, keys] of Object.entries(seedKeys)) {
  test(`${arch}: state-dict keys and shapes equal the seed's`, () => {
    const model = createModel(arch, { backend: metaBackend, init: false });
    const ours = [...model.stateDict()].map(([k, t]) => [k, [...t.shape]] as [string, number[]]);
    const theirs = keys.filter(([k]) => !k.endsWith('num_batches_tracked'));
    assert.equal(ours.map(([k]) => k).sort(), theirs.map(([k]) => k).sort());
    const shape = new Map(theirs);
    for (const [k, s] of ours) assert.equal(s, shape.get(k), k);
  });
}

test('zoo parameter counts (ResNeSt paper / torchvision)', () => {
  assert.is(parameterCount('resnest50'), 27483240);
  assert.is(parameterCount('resnest101'), 48275016);
  assert.is(parameterCount('resnest200'), 70201544);
  assert.is(parameterCount('resnest269'), 110929480);
  assert.is(parameterCount('resnet50'), 25557032);
  assert.is(parameterCount('resnest50', 10), 27483240 - 2048 * 990 - 990);
});

const small = () => Object.assign(createModel('resnest14d', { init: false, numClasses: 10, backend: js }), {
  conv3Of(this: ResNet) { return this.stateDict().get('layer1.0.conv3.weight')!; },
});
const fill = (m: ResNet) => syntheticStateDict(m, 3);

test('load_state_dict: accepts num_batches_tracked and half/double precision', () => {
  const m = small();
  const sd = fill(m);
  sd.set('bn1.num_batches_tracked', { dtype: 'int64', shape: [], data: new BigInt64Array([5n]) });
  const w = sd.get('fc.weight')!;
  const half = new Uint16Array(w.data.length).fill(0x3c00); // 1.0 in float16
  sd.set('fc.weight', { dtype: 'float16', shape: w.shape, data: half });
  sd.set('fc.bias', { dtype: 'float64', shape: [10], data: new Float64Array(10).fill(0.25) });
  assert.equal(m.loadStateDict(sd), { missing: [], unexpected: [] });
  assert.ok(m.fc!.weight.dataSync().every((v) => v === 1));
  assert.ok(m.fc!.bias!.dataSync().every((v) => v === 0.25));
});

test('load_state_dict: strict errors list missing, unexpected and mismatched keys; nothing is written', () => {
  const m = small();
  m.loadStateDict(fill(m));
  const before = m.conv1.stateDict().get('0.weight')!.dataSync().slice();
  const sd: Map<string, RawTensor> = syntheticStateDict(m, 99);
  sd.delete('layer2.0.conv2.fc1.bias');
  sd.set('layer9.0.conv1.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
  sd.set('fc.weight', { dtype: 'float32', shape: [1000, 2048], data: new Float32Array(2048000) });
  try {
    m.loadStateDict(sd);
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, StateDictError);
    const err = e as StateDictError;
    assert.equal(err.missing, ['layer2.0.conv2.fc1.bias']);
    assert.equal(err.unexpected, ['layer9.0.conv1.weight']);
    assert.equal(err.mismatched, ['fc.weight: checkpoint [1000, 2048] vs model [10, 2048]']);
    assert.match(err.message, /missing keys: layer2\.0\.conv2\.fc1\.bias; unexpected keys: layer9\.0\.conv1\.weight; size mismatch: fc\.weight/);
    assert.not.match(err.message, /\n/);
  }
  assert.equal(Array.from(m.conv1.stateDict().get('0.weight')!.dataSync()), Array.from(before));
});

test('load_state_dict: non-strict loads what matches and reports the rest; size mismatch still throws', () => {
  const m = small();
  const sd = fill(m);
  sd.delete('fc.bias');
  sd.set('extra.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
  const r = m.loadStateDict(sd, { strict: false });
  assert.equal(r, { missing: ['fc.bias'], unexpected: ['extra.weight'] });
  sd.set('fc.weight', { dtype: 'float32', shape: [3], data: new Float32Array(3) });
  assert.throws(() => m.loadStateDict(sd, { strict: false }), (e: unknown) => e instanceof StateDictError && e.mismatched.length === 1);
});

test('long key lists are abbreviated in the one-line message', () => {
  const m = small();
  const e = (() => { try { m.loadStateDict(new Map()); } catch (err) { return err as StateDictError; } })()!;
  assert.ok(e.missing.length > 100);
  assert.match(e.message, new RegExp(`… \\(${e.missing.length} in all\\)`));
});

test('options the seed cannot run here fail clearly', () => {
  assert.throws(() => new ResNet([1, 1, 1, 1], { dropblockProb: 1.5 }, metaBackend), (e: unknown) => e instanceof ArgumentError && /drop_prob must be in \[0, 1\)/.test(String(e)));
  assert.throws(() => new ResNet([1, 1, 1, 1], { dilation: 3 }, metaBackend), (e: unknown) => e instanceof ArgumentError && /dilation size 3/.test(String(e)));
  assert.throws(() => createModel('resnest50x'), (e: unknown) => e instanceof ArgumentError && /closest: resnest50/.test(String(e)));
  const meta = createModel('resnest50', { backend: metaBackend, init: false });
  assert.throws(() => meta.call(tensor([0, 0, 0], [1, 3, 1, 1], { backend: metaBackend })), (e: unknown) => e instanceof BackendError && /meta tensors hold no data/.test(String(e)));
});

test('SplAtConv2d: inter_channels = max(in·radix/4, 32), fc1/fc2 grouped by cardinality', () => {
  const s = new SplAtConv2d(64, 64, 3, { radix: 2, groups: 2, padding: 1 }, metaBackend);
  const keys = new Map([...s.stateDict()].map(([k, t]) => [k, [...t.shape]]));
  assert.equal(keys.get('conv.weight'), [128, 16, 3, 3]);
  assert.equal(keys.get('fc1.weight'), [32, 32, 1, 1]);
  assert.equal(keys.get('fc2.weight'), [128, 16, 1, 1]);
  const wide = new SplAtConv2d(256, 256, 3, { radix: 4, groups: 1, padding: 1 }, metaBackend);
  assert.equal([...wide.fc1.weight.shape], [256, 256, 1, 1]);
});

test('forward hooks see each part of split attention; the seed init matches its formula', () => {
  const m = createModel('resnest14d', { numClasses: 10, seed: 1, backend: js });
  const w = m.layer1.stateDict().get('0.conv1.weight')!.dataSync();
  const std = Math.sqrt(Array.from(w).reduce((a, v) => a + v * v, 0) / w.length);
  assert.ok(Math.abs(std - Math.sqrt(2 / 64)) / Math.sqrt(2 / 64) < 0.05, `conv init std ${std}`); // 1×1 conv, 64 out
  assert.ok(m.bn1.weight.dataSync().every((v) => v === 1));
  const splat = m.getSubmodule('layer2.0.conv2');
  assert.instance(splat, SplAtConv2d);
  assert.throws(() => m.getSubmodule('layer2.9.conv2'), (e: unknown) => e instanceof ArgumentError && /'9' not found/.test(String(e)));
  const seen: string[] = [];
  for (const [name, sub] of splat.namedChildren()) sub.registerForwardHook((_m, _i, out) => seen.push(`${name}:${out.shape.join('x')}`));
  tidy(() => m.call(tensor(new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32], { backend: js })));
  assert.equal(seen, ['conv:1x256x8x8', 'bn0:1x256x8x8', 'fc1:1x64x1x1', 'bn1:1x64x1x1', 'fc2:1x256x1x1', 'rsoftmax:1x256']);
});

test('fuse() is reversible; fuse({ inPlace }) folds into the weights and drops the BatchNorms', () => {
  const m = small();
  m.loadStateDict(fill(m));
  const x = tensor(new Float32Array(2 * 3 * 24 * 20).map((_, i) => Math.sin(i)), [2, 3, 24, 20], { backend: js });
  const plain = tidy(() => m.call(x)).dataSync();
  const w0 = m.conv3Of().dataSync().slice();
  m.fuse();
  assert.equal(Array.from(m.conv3Of().dataSync()), Array.from(w0), 'reversible fuse keeps the original weights');
  m.unfuse();
  assert.equal(tidy(() => m.call(x)).dataSync().join(), plain.join());
  const keys = m.stateDict().size;
  m.fuse({ inPlace: true });
  const sd = m.stateDict();
  assert.ok(sd.size < keys && ![...sd.keys()].some((k) => /bn\d?\.|downsample\.2\./.test(k)), 'BatchNorm tensors are gone');
  assert.ok(sd.has('layer1.0.conv3.bias'), 'convs carry the folded bias');
  const fused = tidy(() => m.call(x)).dataSync();
  let err = 0, scale = 0;
  for (let i = 0; i < plain.length; i++) { err = Math.max(err, Math.abs(fused[i]! - plain[i]!)); scale = Math.max(scale, Math.abs(plain[i]!)); }
  assert.ok(err / scale < 1e-5, `in-place fused output differs by ${err / scale}`);
  m.unfuse(); // no way back, and no harm
  assert.equal(tidy(() => m.call(x)).dataSync().join(), fused.join());
});

test.run();
