// Single ops against torch.nn.functional fixtures, the split-attention kernels against their
// definitions in primitive ops, and tensor views / scopes with values worked out by hand —
// on every backend.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as F from '../src/ops/index.js';
import { tensor as makeTensor, Tensor } from '../src/tensor/tensor.js';
import { tidy, keep } from '../src/tensor/scope.js';
import { ShapeError, BackendError } from '../src/errors.js';
import { expected, manifest, relErr } from './helpers/fixtures.js';
import { testBackends } from './helpers/backends.js';
import { initBackend } from '../src/backend/registry.js';
import { uniform } from '../src/util/random.js';

interface OpCase { name: string; inputs: Record<string, number[]>; params: Record<string, number | boolean> }
const cases = (manifest() as unknown as { ops: OpCase[] }).ops;
const ref = expected('ops');
const num = (c: OpCase, key: string, dflt: number) => (c.params[key] as number | undefined) ?? dflt;
const read = async (t: Tensor) => Array.from(await t.data());

for (const { name: bk, backend, tolerance } of await testBackends()) {
  // CPU backends accumulate like PyTorch in float32; GPUs get their own parity budget.
  const tol = bk === 'webgpu' ? tolerance : 1e-5;
  const tensor = (data: ArrayLike<number>, shape?: number[]) => makeTensor(data, shape, { backend });
  const input = (c: OpCase, name: string) => tensor(ref.get(`${c.name}.${name}`)!, c.inputs[name]!);
  const rand = (shape: number[], seed: number) => tensor(uniform(shape.reduce((a, b) => a * b, 1), seed, -2, 2), shape);

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
    test(`${bk}: op ${c.name} matches torch`, async () => {
      const kind = Object.keys(run).find((k) => c.name.startsWith(k))!;
      const out = run[kind]!(c);
      const want = ref.get(`${c.name}.out`)!;
      assert.is(out.size, want.length, `${c.name}: output size`);
      const err = relErr(await out.data(), want);
      assert.ok(err < tol, `${c.name}: ${err}`);
    });
  }

  test(`${bk}: radixGap = adaptive_avg_pool2d(sum(split(x, C, 1)), 1)`, async () => {
    for (const radix of [1, 2, 4]) {
      const x = rand([2, radix * 6, 5, 3], radix);
      const want = await read(F.adaptiveAvgPool2d(F.sum(x.split(6, 1)), 1));
      const got = F.radixGap(x, radix);
      assert.equal([...got.shape], [2, 6, 1, 1]);
      assert.ok(relErr(await got.data(), want) < tol);
    }
  });

  test(`${bk}: rSoftmax = softmax(x.view(b, card, radix, -1).transpose(1, 2), 1).reshape(b, -1); sigmoid for radix 1`, async () => {
    const x = rand([3, 2 * 4 * 5, 1, 1], 9);
    const want = await read(F.softmax(x.reshape(3, 2, 4, -1).transpose(1, 2), 1).reshape(3, -1));
    const got = F.rSoftmax(x, 4, 2);
    assert.equal([...got.shape], [3, 40]);
    assert.ok(relErr(await got.data(), want) < tol);
    const g = F.rSoftmax(x, 1, 2);
    assert.equal([...g.shape], [3, 40, 1, 1]);
    const x0 = (await read(x))[0]!;
    assert.ok(Math.abs((await read(g))[0]! - 1 / (1 + Math.exp(-x0))) < Math.max(1e-7, tol * 1e-2));
  });

  test(`${bk}: radixAttend = sum(att_r * split_r)`, async () => {
    for (const radix of [1, 2, 4]) {
      const x = rand([2, radix * 3, 4, 5], 20 + radix);
      const att = rand([2, radix * 3], 40 + radix);
      const parts = x.split(3, 1), atts = att.reshape(2, -1, 1, 1).split(3, 1);
      const want = await read(F.sum(parts.map((p, r) => F.mul(atts[r]!, p))));
      const got = F.radixAttend(x, att, radix);
      assert.equal([...got.shape], [2, 3, 4, 5]);
      assert.ok(relErr(await got.data(), want) < tol);
    }
  });

  test(`${bk}: conv2d epilogue: + bias + residual then relu, in one op`, async () => {
    const x = rand([1, 4, 6, 6], 1), w = rand([4, 2, 3, 3], 2), b = rand([4], 3), res = rand([1, 4, 6, 6], 4);
    const fused = await read(F.conv2d(x, w, b, { padding: 1, groups: 2, residual: res, act: 'relu' }));
    const plain = await read(F.relu(F.add(F.conv2d(x, w, b, { padding: 1, groups: 2 }), res)));
    assert.ok(relErr(fused, plain) < tol);
    assert.ok(fused.some((v) => v === 0) && fused.some((v) => v > 0));
  });

  test(`${bk}: views: transpose, narrow and split share storage; cat and contiguous copy`, async () => {
    const x = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
    const tr = x.transpose(0, 1);
    assert.equal([...tr.shape], [3, 2]);
    assert.not.ok(tr.isContiguous());
    assert.equal(await read(tr), [0, 3, 1, 4, 2, 5]);
    assert.is(tr.storage, x.storage);
    const [a, b] = x.split([1, 2], 1);
    assert.equal(await read(b!), [1, 2, 4, 5]);
    assert.equal(await read(a!), [0, 3]);
    assert.is(b!.storage, x.storage);
    assert.equal(await read(F.cat([b!, a!], 1)), [1, 2, 0, 4, 5, 3]);
    assert.equal(await read(tr.contiguous().reshape(6)), [0, 3, 1, 4, 2, 5]);
    assert.equal([...x.reshape(-1, 2).shape], [3, 2]);
    assert.equal(await read(x.permute(1, 0)), [0, 3, 1, 4, 2, 5]);
  });

  test(`${bk}: broadcasting add/mul follow PyTorch`, async () => {
    const a = tensor([1, 2, 3], [3, 1]), b = tensor([10, 20], [2]);
    assert.equal(await read(F.add(a, b)), [11, 21, 12, 22, 13, 23]);
    assert.equal(await read(F.mul(b, a)), [10, 20, 20, 40, 30, 60]);
    const w = tensor([1, 2, 3, 4, 5, 6], [2, 3, 1, 1]), s = tensor([2, 3], [2, 1, 1, 1]);
    assert.equal(await read(F.mul(w, s)), [2, 4, 6, 12, 15, 18]);
    assert.equal(await read(F.sub(w, w)), [0, 0, 0, 0, 0, 0]);
    assert.throws(() => F.add(tensor([1, 2, 3]), tensor([1, 2])), (e: unknown) => e instanceof ShapeError && /\[3\] and \[2\]/.test((e as Error).message));
  });

  test(`${bk}: relu keeps NaN, as PyTorch does; max_pool2d propagates NaN`, async () => {
    assert.equal((await read(F.relu(tensor([-1, 0, 2, NaN, -3, 4, NaN, 1])))).map(String), ['0', '0', '2', 'NaN', '0', '4', 'NaN', '1']);
    const x = tensor([1, NaN, 3, 4], [1, 1, 2, 2]);
    assert.ok(Number.isNaN((await read(F.maxPool2d(x, 2)))[0]!));
    const wide = tensor(Array.from({ length: 40 }, (_, i) => (i === 13 ? NaN : i)), [1, 1, 2, 20]);
    const pooled = await read(F.maxPool2d(wide, [1, 3], { stride: 1, padding: [0, 1] }));
    assert.equal(pooled.map((v, i) => (Number.isNaN(v) ? i : -1)).filter((i) => i >= 0), [12, 13, 14]);
  });
}

const js = await initBackend('js');
const jt = (data: ArrayLike<number>, shape?: number[]) => makeTensor(data, shape, { backend: js });

test('shape errors name the op and the shapes', () => {
  const x = jt(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
  const cases: [() => unknown, RegExp][] = [
    [() => F.conv2d(x, jt(new Float32Array(8 * 4 * 9), [8, 4, 3, 3])), /conv2d: input \[2, 3, 4, 4\] and weight \[8, 4, 3, 3\] do not match/],
    [() => F.conv2d(jt(new Float32Array(3 * 4 * 4), [3, 4, 4]), jt(new Float32Array(8 * 3 * 9), [8, 3, 3, 3])), /conv2d: input must be 4-D/],
    [() => F.conv2d(x, jt(new Float32Array(8 * 3 * 49), [8, 3, 7, 7])), /too small for kernel 7×7/],
    [() => F.avgPool2d(x, 2, { padding: 2 }), /at most half the kernel/],
    [() => F.radixGap(x, 2), /3 channels of \[2, 3, 4, 4\] do not split into radix=2/],
    [() => x.reshape(5, -1), /cannot reshape \[2, 3, 4, 4\]/],
    [() => x.narrow(1, 2, 2), /outside dim 1 of size 3/],
    [() => jt([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/],
    [() => Tensor.empty([1 << 20, 1 << 20], 'float32', js), /more than the .* a float32 tensor may hold/],
  ];
  for (const [fn, pattern] of cases) {
    assert.throws(fn, (e: unknown) => e instanceof ShapeError && pattern.test((e as Error).message), String(pattern));
  }
});

test('tidy frees intermediates and keeps its result; use after dispose is an error', () => {
  let inner: Tensor | undefined;
  const out = tidy(() => {
    inner = F.relu(jt([1, -1]));
    return F.mulScalar(inner, 2);
  });
  assert.ok(inner!.isDisposed);
  assert.not.ok(out.isDisposed);
  assert.equal(Array.from(out.dataSync()), [2, 0]);
  assert.throws(() => inner!.dataSync(), (e: unknown) => e instanceof BackendError && /used after dispose/.test((e as Error).message));
  let kept: Tensor | undefined, dropped: Tensor | undefined;
  tidy(() => {
    kept = keep(jt([5]));
    dropped = jt([6]);
    return null;
  });
  assert.not.ok(kept!.isDisposed);
  assert.ok(dropped!.isDisposed);
  // A view keeps its storage alive after the original is disposed.
  const base = jt([1, 2, 3, 4]);
  const view = base.narrow(0, 2, 2);
  base.dispose();
  assert.equal(Array.from(view.dataSync()), [3, 4]);
});

test.run();
