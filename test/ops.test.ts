// Single ops against torch.nn.functional fixtures, the split-attention kernels against their
// definitions in primitive ops, and tensor views / scopes with values worked out by hand.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../src/backend/js/index.js';
import * as F from '../src/ops/index.js';
import { tensor, Tensor } from '../src/tensor/tensor.js';
import { tidy, keep } from '../src/tensor/scope.js';
import { ShapeError, BackendError } from '../src/errors.js';
import { expected, manifest, relErr } from './helpers/fixtures.js';
import { uniform } from '../src/util/random.js';

interface OpCase { name: string; inputs: Record<string, number[]>; params: Record<string, number | boolean> }
const cases = (manifest() as unknown as { ops: OpCase[] }).ops;
const ref = expected('ops');
const input = (c: OpCase, name: string) => tensor(ref.get(`${c.name}.${name}`)!, c.inputs[name]!);
const num = (c: OpCase, key: string, dflt: number) => (c.params[key] as number | undefined) ?? dflt;

const run: Record<string, (c: OpCase) => Tensor> = {
  conv: (c) => F.conv2d(input(c, 'x'), input(c, 'w'), c.inputs.b ? input(c, 'b') : null, {
    stride: num(c, 'stride', 1), padding: num(c, 'padding', 0), dilation: num(c, 'dilation', 1), groups: num(c, 'groups', 1),
  }),
  avg: (c) => F.avgPool2d(input(c, 'x'), num(c, 'kernel_size', 1), {
    stride: num(c, 'stride', 1), padding: num(c, 'padding', 0), ceilMode: !!c.params.ceil_mode,
    countIncludePad: c.params.count_include_pad === undefined ? true : !!c.params.count_include_pad,
  }),
  max: (c) => F.maxPool2d(input(c, 'x'), num(c, 'kernel_size', 1), {
    stride: num(c, 'stride', 1), padding: num(c, 'padding', 0), ceilMode: !!c.params.ceil_mode,
  }),
  softmax: (c) => F.softmax(input(c, 'x'), num(c, 'dim', -1)),
  linear: (c) => F.linear(input(c, 'x'), input(c, 'w'), input(c, 'b')),
  adaptive: (c) => F.adaptiveAvgPool2d(input(c, 'x'), 1),
};

for (const c of cases) {
  test(`op ${c.name} matches torch`, () => {
    const kind = Object.keys(run).find((k) => c.name.startsWith(k))!;
    const out = run[kind]!(c);
    const want = ref.get(`${c.name}.out`)!;
    assert.is(out.size, want.length, `${c.name}: output size`);
    const err = relErr(out.dataSync(), want);
    assert.ok(err < 1e-6, `${c.name}: ${err}`);
  });
}

const rand = (shape: number[], seed: number) => tensor(uniform(shape.reduce((a, b) => a * b, 1), seed, -2, 2), shape);

test('radixGap = adaptive_avg_pool2d(sum(split(x, C, 1)), 1)', () => {
  for (const radix of [1, 2, 4]) {
    const x = rand([2, radix * 6, 5, 3], radix);
    const want = F.adaptiveAvgPool2d(F.sum(x.split(6, 1)), 1).dataSync();
    const got = F.radixGap(x, radix);
    assert.equal([...got.shape], [2, 6, 1, 1]);
    assert.ok(relErr(got.dataSync(), want) < 1e-6);
  }
});

test('rSoftmax = softmax(x.view(b, card, radix, -1).transpose(1, 2), 1).reshape(b, -1); sigmoid for radix 1', () => {
  const x = rand([3, 2 * 4 * 5, 1, 1], 9);
  const want = F.softmax(x.reshape(3, 2, 4, -1).transpose(1, 2), 1).reshape(3, -1).dataSync();
  const got = F.rSoftmax(x, 4, 2);
  assert.equal([...got.shape], [3, 40]);
  assert.ok(relErr(got.dataSync(), want) < 1e-6);
  const g = F.rSoftmax(x, 1, 2);
  assert.equal([...g.shape], [3, 40, 1, 1]);
  assert.ok(Math.abs(g.dataSync()[0]! - 1 / (1 + Math.exp(-x.dataSync()[0]!))) < 1e-7);
});

test('radixAttend = sum(att_r * split_r)', () => {
  for (const radix of [1, 2, 4]) {
    const x = rand([2, radix * 3, 4, 5], 20 + radix);
    const att = rand([2, radix * 3], 40 + radix);
    const parts = x.split(3, 1), atts = att.reshape(2, -1, 1, 1).split(3, 1);
    const want = F.sum(parts.map((p, r) => F.mul(atts[r]!, p))).dataSync();
    const got = F.radixAttend(x, att, radix);
    assert.equal([...got.shape], [2, 3, 4, 5]);
    assert.ok(relErr(got.dataSync(), want) < 1e-6);
  }
});

test('conv2d epilogue: + bias + residual then relu, in one op', () => {
  const x = rand([1, 4, 6, 6], 1), w = rand([4, 2, 3, 3], 2), b = rand([4], 3), res = rand([1, 4, 6, 6], 4);
  const fused = F.conv2d(x, w, b, { padding: 1, groups: 2, residual: res, act: 'relu' }).dataSync();
  const plain = F.relu(F.add(F.conv2d(x, w, b, { padding: 1, groups: 2 }), res)).dataSync();
  assert.equal(Array.from(fused), Array.from(plain));
  assert.ok(fused.some((v) => v === 0) && fused.some((v) => v > 0));
});

test('views: transpose, narrow and split share storage; contiguous copies', () => {
  const x = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
  const tr = x.transpose(0, 1);
  assert.equal([...tr.shape], [3, 2]);
  assert.not.ok(tr.isContiguous());
  assert.equal(Array.from(tr.dataSync()), [0, 3, 1, 4, 2, 5]);
  assert.is(tr.storage, x.storage);
  const [a, b] = x.split([1, 2], 1);
  assert.equal(Array.from(b!.dataSync()), [1, 2, 4, 5]);
  assert.equal(Array.from(a!.dataSync()), [0, 3]);
  assert.is(b!.storage, x.storage);
  assert.equal(Array.from(F.cat([b!, a!], 1).dataSync()), [1, 2, 0, 4, 5, 3]);
  assert.equal(Array.from(tr.contiguous().reshape(6).dataSync()), [0, 3, 1, 4, 2, 5]);
  assert.equal([...x.reshape(-1, 2).shape], [3, 2]);
  assert.equal(Array.from(x.permute(1, 0).dataSync()), [0, 3, 1, 4, 2, 5]);
});

test('broadcasting add/mul follow PyTorch', () => {
  const a = tensor([1, 2, 3], [3, 1]), b = tensor([10, 20], [2]);
  assert.equal(Array.from(F.add(a, b).dataSync()), [11, 21, 12, 22, 13, 23]);
  assert.equal(Array.from(F.mul(b, a).dataSync()), [10, 20, 20, 40, 30, 60]);
  assert.throws(() => F.add(tensor([1, 2, 3]), tensor([1, 2])), (e: unknown) => e instanceof ShapeError && /\[3\] and \[2\]/.test((e as Error).message));
});

test('relu keeps NaN, as PyTorch does; max_pool2d propagates NaN', () => {
  assert.equal(Array.from(F.relu(tensor([-1, 0, 2, NaN])).dataSync()).map(String), ['0', '0', '2', 'NaN']);
  const x = tensor([1, NaN, 3, 4], [1, 1, 2, 2]);
  assert.ok(Number.isNaN(F.maxPool2d(x, 2).dataSync()[0]!));
});

test('shape errors name the op and the shapes', () => {
  const x = tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const cases: [() => unknown, RegExp][] = [
    [() => F.conv2d(x, tensor(new Float32Array(8 * 4 * 9), [8, 4, 3, 3])), /conv2d: input \[2, 3, 4, 4\] and weight \[8, 4, 3, 3\] do not match/],
    [() => F.conv2d(tensor(new Float32Array(3 * 4 * 4), [3, 4, 4]), tensor(new Float32Array(8 * 3 * 9), [8, 3, 3, 3])), /conv2d: input must be 4-D/],
    [() => F.conv2d(x, tensor(new Float32Array(8 * 3 * 49), [8, 3, 7, 7])), /too small for kernel 7×7/],
    [() => F.avgPool2d(x, 2, { padding: 2 }), /at most half the kernel/],
    [() => F.radixGap(x, 2), /3 channels of \[2, 3, 4, 4\] do not split into radix=2/],
    [() => x.reshape(5, -1), /cannot reshape \[2, 3, 4, 4\]/],
    [() => x.narrow(1, 2, 2), /outside dim 1 of size 3/],
    [() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/],
    [() => Tensor.empty([1 << 20, 1 << 20]), /more than the .* a float32 tensor may hold/],
  ];
  for (const [fn, pattern] of cases) {
    assert.throws(fn, (e: unknown) => e instanceof ShapeError && pattern.test((e as Error).message), String(pattern));
  }
});

test('tidy frees intermediates and keeps its result; use after dispose is an error', () => {
  let inner: Tensor | undefined;
  const out = tidy(() => {
    inner = F.relu(tensor([1, -1]));
    return F.mulScalar(inner, 2);
  });
  assert.ok(inner!.isDisposed);
  assert.not.ok(out.isDisposed);
  assert.equal(Array.from(out.dataSync()), [2, 0]);
  assert.throws(() => inner!.dataSync(), (e: unknown) => e instanceof BackendError && /used after dispose/.test((e as Error).message));
  let kept: Tensor | undefined, dropped: Tensor | undefined;
  tidy(() => {
    kept = keep(tensor([5]));
    dropped = tensor([6]);
    return null;
  });
  assert.not.ok(kept!.isDisposed);
  assert.ok(dropped!.isDisposed);
  // A view keeps its storage alive after the original is disposed.
  const base = tensor([1, 2, 3, 4]);
  const view = base.narrow(0, 2, 2);
  base.dispose();
  assert.equal(Array.from(view.dataSync()), [3, 4]);
});

test.run();
