// Training checkpoints across the PyTorch boundary: a checkpoint torch.save wrote in our layout
// (scripts/make_checkpoint_fixture.py) is read field by field and its SGD state loads into our
// SGD; ours, written by saveTorchObject, reads back with the same values (dicts, lists, ints,
// floats, None, booleans, tensors); bad checkpoints are one-line errors.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { SGD } from '../src/train/optim.js';
import { loadTorchObject } from '../src/io/torch.js';
import { PyFloat, PyTupleValue, saveTorchObject } from '../src/io/torch-save.js';
import { toFloat32 } from '../src/io/raw.js';
import { tensor } from '../src/tensor/tensor.js';
import { FIXTURES } from './helpers/fixtures.js';

const file = join(FIXTURES, 'grad', 'torch_checkpoint.pth');
const bytes = new Uint8Array(readFileSync(file));

test("torch's checkpoint: model, SGD state in recipe.param_groups order, epoch, step, args", async () => {
  const ck = readCheckpoint(bytes, file);
  assert.equal([...ck.model.keys()], ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'fc.weight', 'fc.bias']);
  assert.is(Number((ck.model.get('bn1.num_batches_tracked')!.data as BigInt64Array)[0]), 2);
  assert.is(ck.epoch, 1);
  assert.is(ck.step, 7);
  assert.equal(ck.args.mean, [0.5, 0.5, 0.5]);
  assert.is(ck.args.nesterov, true);
  const groups = ck.optimizer.param_groups;
  assert.equal(groups.map((g) => g.params), [[0, 1], [2, 3, 4]]);
  assert.equal(groups.map((g) => g.weight_decay), [1e-4, 0]);
  // Decayed first (conv1.weight, fc.weight), then the no-decay ones (bn1.weight, bn1.bias, fc.bias).
  const order = ['conv1.weight', 'fc.weight', 'bn1.weight', 'bn1.bias', 'fc.bias'];
  order.forEach((k, i) => assert.equal(ck.optimizer.state.get(i)!.momentum_buffer!.shape, ck.model.get(k)!.shape, k));

  // Our SGD over the same groups takes the state and gives it back unchanged.
  const backend = await initBackend('js');
  const params = order.map((k) => tensor(toFloat32(ck.model.get(k)!), ck.model.get(k)!.shape, { backend }));
  const sgd = new SGD([{ params: params.slice(0, 2), weightDecay: 1e-4 }, { params: params.slice(2), weightDecay: 0 }], { lr: 0.1, momentum: 0.9, nesterov: true });
  sgd.loadStateDict(ck.optimizer);
  const back = sgd.stateDict();
  order.forEach((k, i) => assert.equal(Array.from(back.state.get(i)!.momentum_buffer!.data as Float32Array), Array.from(toFloat32(ck.optimizer.state.get(i)!.momentum_buffer!)), k));
  assert.equal(back.param_groups.map((g) => g.lr), [0.1, 0.1]);
});

test('saveTorchObject → loadTorchObject: every value type round-trips', () => {
  const t = { dtype: 'float32' as const, shape: [2, 2], data: Float32Array.of(1, -2, 3.5, 0) };
  const obj = {
    a: 1, big: 2 ** 40, neg: -7, f: 0.25, whole: new PyFloat(2), s: 'héllo', none: null, yes: true, no: false,
    list: [1, 'x', [t]], tuple: new PyTupleValue([1, 2]), nested: new Map<number, never>([[3, { w: t } as never]]),
  };
  const v = loadTorchObject(saveTorchObject(obj), 'x.pth') as Map<string, unknown>;
  assert.equal([v.get('a'), v.get('big'), v.get('neg'), v.get('f'), v.get('whole'), v.get('s'), v.get('none'), v.get('yes'), v.get('no')],
    [1, 2 ** 40, -7, 0.25, 2, 'héllo', null, true, false]);
  const list = v.get('list') as unknown[];
  assert.equal(list.slice(0, 2), [1, 'x']);
  assert.equal(Array.from(((list[2] as unknown[])[0] as { data: Float32Array }).data), [1, -2, 3.5, 0]);
  assert.equal(v.get('tuple'), [1, 2]);
  const inner = (v.get('nested') as Map<number, Map<string, { shape: number[] }>>).get(3)!.get('w')!;
  assert.equal(inner.shape, [2, 2]);
});

test('bad checkpoints: one-line errors naming the file and the entry', () => {
  assert.throws(() => readCheckpoint(new Uint8Array([1, 2, 3]), 'junk.pth'), /junk\.pth: not a torch\.save zip archive/);
  const noOpt = saveTorchObject({ model: new Map([['w', { dtype: 'float32', shape: [1], data: Float32Array.of(1) }]]), epoch: 0, step: 0 });
  assert.throws(() => readCheckpoint(noOpt, 'a.pth'), /a\.pth: training checkpoint: no 'optimizer' entry/);
  const badEpoch = saveTorchObject({ model: new Map(), optimizer: { state: {}, param_groups: [] }, epoch: -1, step: 0 });
  assert.throws(() => readCheckpoint(badEpoch, 'b.pth'), /b\.pth: training checkpoint: 'epoch' must be a non-negative integer, got -1/);
});

test.run();
