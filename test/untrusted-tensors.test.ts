// Tensors at the API: wrong rank, channels or dtype give a ShapeError naming the shape, at
// model level as at op level; shapes whose size overflows give a ShapeError with the shape
// before anything is allocated; NaN and Inf inputs propagate (as in PyTorch) without a crash.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../src/backend/js/index.js';
import { ShapeError } from '../src/errors.js';
import { initBackend } from '../src/backend/registry.js';
import { metaBackend } from '../src/backend/meta.js';
import type { Backend } from '../src/backend/backend.js';
import { ResNet, Bottleneck } from '../src/models/resnest/resnet.js';
import { SplAtConv2d } from '../src/models/resnest/splat.js';
import { Tensor, tensor, zeros, full } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import * as F from '../src/ops/index.js';

let js: Backend;
let model: ResNet;
const input = (shape: number[], fill = 0.25) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill), shape, { backend: js });

test.before(async () => {
  js = await initBackend('js');
  model = new ResNet([1, 1, 1, 1], { radix: 2, bottleneckWidth: 8, numClasses: 10 }, js);
  model.resetParameters(3);
  model.eval();
});

function shapeError(fn: () => unknown, ...needles: (string | RegExp)[]): ShapeError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ShapeError, `got ${(e as Error)?.stack}`);
    const m = (e as Error).message;
    for (const n of needles) assert.ok(typeof n === 'string' ? m.includes(n) : n.test(m), `'${m}' should contain ${n}`);
    assert.not.ok(m.includes('\n'), 'one line');
    return e as ShapeError;
  }
  assert.unreachable('expected a ShapeError');
  throw new Error('unreachable');
}

test('model.call and model.features: wrong rank, channels or dtype name the shape', () => {
  for (const call of [(x: Tensor) => model.call(x), (x: Tensor) => model.features(x)]) {
    shapeError(() => tidy(() => call(input([3, 32, 32]))), 'ResNet', '4-D', '[3, 32, 32]');
    shapeError(() => tidy(() => call(input([1, 1, 3, 32, 32]))), '[1, 1, 3, 32, 32]');
    shapeError(() => tidy(() => call(input([96]))), '[96]');
    shapeError(() => tidy(() => call(input([1, 4, 32, 32]))), '3 channels', '[1, 4, 32, 32]');
    shapeError(() => tidy(() => call(input([1, 1, 32, 32]))), '3 channels', '[1, 1, 32, 32]');
    shapeError(() => tidy(() => call(input([2, 32, 32, 3]))), '3 channels', '[2, 32, 32, 3]'); // NHWC by mistake
    const ints = tensor(new Int32Array(3 * 32 * 32), [1, 3, 32, 32], { backend: js });
    shapeError(() => tidy(() => call(ints)), 'float32', 'int32', '[1, 3, 32, 32]');
    shapeError(() => tidy(() => call(input([1, 3, 0, 32]))), 'conv2d', '[1, 3, 0, 32]');
  }
  // Submodules check their inputs the same way.
  const splat = new SplAtConv2d(16, 16, 3, { padding: 1, radix: 2 }, js);
  shapeError(() => tidy(() => splat.call(input([1, 8, 5, 5]))), '[1, 8, 5, 5]');
  const block = new Bottleneck(64, 16, { radix: 2 }, js);
  shapeError(() => tidy(() => block.call(input([1, 32, 5, 5]))), '[1, 32, 5, 5]');
  // The model still works afterwards (nothing left half-done).
  assert.equal(tidy(() => model.call(input([1, 3, 32, 32]))).shape, [1, 10]);
});

test('F ops: wrong rank, channels and dtype', () => {
  const x = input([2, 3, 8, 8]);
  shapeError(() => F.conv2d(x, input([4, 2, 3, 3])), '[2, 3, 8, 8]', '[4, 2, 3, 3]');
  shapeError(() => F.conv2d(input([3, 8, 8]), input([4, 3, 3, 3])), '4-D', '[3, 8, 8]');
  shapeError(() => F.linear(input([2, 5]), input([3, 4])), '[2, 5]');
  shapeError(() => F.batchNorm(x, input([4]), input([4]), input([4]), input([4]), 1e-5), '[2, 3, 8, 8]');
  shapeError(() => F.maxPool2d(input([8, 8]), 2), '[8, 8]');
  shapeError(() => F.softmax(x, 4), '4');
  shapeError(() => F.add(x, input([2, 4, 8, 8])), '[2, 3, 8, 8]', '[2, 4, 8, 8]');
  shapeError(() => F.cat([x, input([2, 3, 8, 7])], 1), '[2, 3, 8, 7]');
  shapeError(() => F.relu(tensor(new Int32Array(4), [4], { backend: js })), 'int32');
});

test('shapes whose size overflows: ShapeError with the shape, before allocating', () => {
  const ab0 = process.memoryUsage().arrayBuffers;
  shapeError(() => tensor(new Float32Array(4), [1 << 20, 1 << 20], { backend: js }), '[1048576, 1048576]', 'more than');
  shapeError(() => zeros([65536, 65536], { backend: js }), '[65536, 65536]');
  shapeError(() => full([3, 2 ** 30], 1, { backend: js }), '[3, 1073741824]');
  shapeError(() => Tensor.empty([2 ** 53, 2], 'float32', js), '9007199254740992');
  shapeError(() => zeros([4, -1], { backend: js }), 'invalid dimension -1');
  shapeError(() => zeros([2.5], { backend: js }), 'invalid dimension 2.5');
  shapeError(() => zeros([NaN], { backend: js }), 'NaN');
  // Ops whose outputs would overflow, from inputs that are small (js) or hold no data (meta).
  shapeError(() => F.add(input([65536, 1]), input([1, 65536])), '[65536, 65536]');
  shapeError(() => F.mul(input([40000, 1, 1]), input([1, 40000, 1])), '[40000, 40000, 1]');
  const mx = Tensor.empty([1, 3, 8192, 8192], 'float32', metaBackend);
  shapeError(() => F.conv2d(mx, Tensor.empty([1024, 3, 1, 1], 'float32', metaBackend)), '[1, 1024, 8192, 8192]');
  shapeError(() => F.linear(Tensor.empty([65536, 8], 'float32', metaBackend), Tensor.empty([65536, 8], 'float32', metaBackend)), '[65536, 65536]');
  // A whole model on the meta backend: the first feature map that would overflow is named.
  const meta = new ResNet([1, 1, 1, 1], { radix: 2, bottleneckWidth: 8, numClasses: 10 }, metaBackend);
  shapeError(() => tidy(() => meta.call(Tensor.empty([8, 3, 4096, 4096], 'float32', metaBackend))), '[8, 64, 2048, 2048]');
  assert.ok(process.memoryUsage().arrayBuffers - ab0 < 64 << 20, 'nothing big was allocated');
});

test('NaN and Inf inputs propagate to the logits, as in PyTorch: no crash, other samples unaffected', () => {
  const n = 3 * 32 * 32;
  const data = new Float32Array(2 * n).fill(0.25);
  for (let i = 0; i < n; i++) data[n + i] = Math.sin(i);
  const clean = tidy(() => model.call(tensor(data.subarray(n), [1, 3, 32, 32], { backend: js }))).dataSync();
  for (const bad of [NaN, Infinity, -Infinity]) {
    const x = data.slice();
    x[100] = bad; // one value in sample 0
    const y = tidy(() => model.call(tensor(x, [2, 3, 32, 32], { backend: js }))).dataSync();
    const row0 = Array.from(y.subarray(0, 10)), row1 = y.subarray(10, 20);
    assert.ok(row0.every((v) => Number.isNaN(v)), `${bad} in → NaN logits, got ${row0}`);
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(row1[i]! - clean[i]!) <= 1e-5 * (1 + Math.abs(clean[i]!)), `sample 1 logit ${i}`);
    const p = tidy(() => F.softmax(tensor(y, [2, 10], { backend: js }), 1)).dataSync();
    assert.ok(Number.isNaN(p[0]!) && Number.isFinite(p[10]!));
  }
  // Features too: NaN reaches every stage; the op-level rules match torch (relu keeps NaN).
  const x = data.slice(0, n);
  x[0] = NaN;
  const f = tidy(() => model.features(tensor(x, [1, 3, 32, 32], { backend: js })));
  assert.ok(f.layer4.dataSync().some((v) => Number.isNaN(v)));
  assert.ok(Number.isNaN(F.relu(tensor([NaN], [1], { backend: js })).dataSync()[0]!));
});

test.run();
