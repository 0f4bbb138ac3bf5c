// The tape as a user drives it: requiresGrad and .grad, accumulation until zeroed, noGrad,
// explicit output gradients, freed graphs, train()/eval() and fused models, tidy() with async
// functions, seeded dropout, finite differences on js, and flat memory over 200 wasm steps.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../src/index.js';
import * as F from '../src/ops/index.js';
import { initBackend } from '../src/backend/registry.js';
import type { WasmBackend } from '../src/backend/wasm/index.js';
import { tensor as makeTensor, type Tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import { noGrad } from '../src/autograd/tape.js';
import { ArgumentError, ShapeError, BackendError } from '../src/errors.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { BatchNorm2d, Conv2d, Linear, ReLU, Sequential, GlobalAvgPool2d } from '../src/nn/layers.js';
import { SplAtConv2d } from '../src/models/resnest/splat.js';
import { SGD } from '../src/train/optim.js';
import { trainStep } from '../src/train/trainer.js';
import { uniform } from '../src/util/random.js';

const js = await initBackend('js');
const t = (d: ArrayLike<number>, s: number[]) => makeTensor(d, s, { backend: js });
const rand = (s: number[], seed: number, lo = -1, hi = 1) => t(uniform(s.reduce((a, b) => a * b, 1), seed, lo, hi), s);

test('grad of a composite: d/dx sum(x² · w + x) = 2xw + 1, d/dw = x²; accumulates until zeroed', () => {
  const x = t([1, -2, 3], [3]).requiresGrad_();
  const w = t([0.5, 2, -1], [3]).requiresGrad_();
  const y = () => F.sum(F.add(F.mul(F.mul(x, x), w), x));
  y().backward();
  assert.equal(Array.from(x.grad!.dataSync()), [2, -7, -5]);
  assert.equal(Array.from(w.grad!.dataSync()), [1, 4, 9]);
  y().backward();
  assert.equal(Array.from(x.grad!.dataSync()), [4, -14, -10]);
  x.zeroGrad();
  assert.is(x.grad, null);
  y().backward();
  assert.equal(Array.from(x.grad!.dataSync()), [2, -7, -5]);
});

test('backward with a given output gradient; implied only for scalars; a freed graph says so', () => {
  const x = t([1, 2, 3, 4], [2, 2]).requiresGrad_();
  const y = F.mulScalar(x, 3);
  assert.throws(() => y.backward(), (e: unknown) => e instanceof ShapeError && /scalar outputs/.test((e as Error).message));
  y.backward(t([1, 0, -1, 2], [2, 2]));
  assert.equal(Array.from(x.grad!.dataSync()), [3, 0, -3, 6]);
  assert.throws(() => y.backward(t([1, 1, 1, 1], [2, 2])), (e: unknown) => e instanceof BackendError && /second time/.test((e as Error).message));
  assert.throws(() => t([1], [1]).backward(), /does not require grad/);
});

test('noGrad records nothing; a broadcast gradient is summed back to the operand shape', () => {
  const a = t([1, 2, 3, 4, 5, 6], [2, 3]).requiresGrad_();
  const b = t([10, 20, 30], [3]).requiresGrad_();
  const inside = noGrad(() => F.mul(a, b));
  assert.is(inside.gradFn, null);
  assert.not.ok(inside.requiresGrad);
  F.sum(F.mul(a, b)).backward();
  assert.equal(Array.from(b.grad!.dataSync()), [5, 7, 9]);
  assert.equal(Array.from(a.grad!.dataSync()), [10, 20, 30, 10, 20, 30]);
});

test('views are differentiable: narrow, transpose, reshape, cat route gradients to their sources', () => {
  const x = t([0, 1, 2, 3, 4, 5], [2, 3]).requiresGrad_();
  const y = F.cat([x.narrow(1, 1, 2).transpose(0, 1).reshape(4), x.narrow(1, 0, 1).reshape(2)], 0);
  y.backward(t([1, 2, 3, 4, 5, 6], [6]));
  // y = [x01, x11, x02, x12, x00, x10]
  assert.equal(Array.from(x.grad!.dataSync()), [5, 1, 3, 6, 2, 4]);
});

test('tidy(): an async function is refused before it runs; a training step keeps only the graph it returns', async () => {
  let ran = false;
  assert.throws(() => tidy((async () => { ran = true; }) as unknown as () => void), /must be synchronous/);
  assert.not.ok(ran);
  const x = t([1, 2], [2]).requiresGrad_();
  const loss = tidy(() => F.sum(F.mul(F.exp(x), x)));
  loss.backward(); // the graph survived the scope with its result
  const e = Math.E;
  const g = x.grad!.dataSync();
  assert.ok(Math.abs(g[0]! - 2 * e) < 1e-5 && Math.abs(g[1]! - 3 * e * e) < 1e-4);
});

test('train()/eval(): parameters require grad only in training; a model fused in place refuses to train', () => {
  const m = new ResNet([1, 1, 1, 1], { radix: 2, bottleneckWidth: 8, deepStem: true, stemWidth: 8, avgDown: true, avd: true, numClasses: 3 }, js);
  m.resetParameters(1);
  assert.not.ok([...m.namedParameters()].some(([, p]) => p.requiresGrad));
  const x = rand([2, 3, 16, 16], 4);
  const inference = m.call(x);
  assert.is(inference.gradFn, null); // eval: no tape
  m.train();
  assert.ok([...m.namedParameters()].every(([, p]) => p.requiresGrad));
  const bn = m.getSubmodule('bn1') as BatchNorm2d;
  const before = Array.from(bn.runningMean.dataSync());
  const out = m.call(x);
  assert.ok(out.gradFn, 'train mode records');
  assert.not.equal(Array.from(bn.runningMean.dataSync()), before, 'running stats move in training');
  assert.is(bn.numBatchesTracked, 1);
  m.eval();
  assert.not.ok([...m.namedParameters()].some(([, p]) => p.requiresGrad));
  m.fuse({ inPlace: true });
  assert.throws(() => m.train(), (e: unknown) => e instanceof ArgumentError && /fuse\(\{ inPlace: true \}\)/.test((e as Error).message));
  m.dispose();
});

test('dropout: a seeded mask repeats, drops about p, scales by 1/(1−p), and is its own gradient', () => {
  const x = t(new Float32Array(4000).fill(1), [4000]).requiresGrad_();
  const a = F.dropout(x, 0.3, true, 7), b = F.dropout(x, 0.3, true, 7);
  const av = a.dataSync();
  assert.equal(Array.from(av), Array.from(b.dataSync()));
  const kept = av.filter((v) => v !== 0);
  assert.ok(Math.abs(1 - kept.length / 4000 - 0.3) < 0.03, `dropped ${1 - kept.length / 4000}`);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.7) < 1e-6));
  a.backward(t(new Float32Array(4000).fill(1), [4000]));
  assert.equal(Array.from(x.grad!.dataSync()), Array.from(av));
  assert.is(F.dropout(x, 0.3, false), x);
});

/** Central differences of f (a scalar) at x, in float64 on the host, against backward(). */
function finiteDifference(name: string, f: (x: Tensor) => Tensor, x0: Tensor, opts: { eps?: number; tol?: number; probes?: number } = {}) {
  test(`finite differences: ${name}`, () => {
    const eps = opts.eps ?? 1e-2, tol = opts.tol ?? 2e-2;
    const x = x0.detach().requiresGrad_();
    const loss = f(x);
    loss.backward();
    const g = x.grad!.dataSync();
    const base = x0.dataSync() as Float32Array;
    const n = Math.min(opts.probes ?? 24, base.length);
    let worst = 0, scale = 0;
    for (let k = 0; k < n; k++) {
      const i = Math.floor((k * base.length) / n);
      const at = (d: number) => {
        const v = Float32Array.from(base);
        v[i] = v[i]! + d;
        return noGrad(() => f(t(v, [...x0.shape])).dataSync()[0]!);
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      worst = Math.max(worst, Math.abs(fd - g[i]!));
      scale = Math.max(scale, Math.abs(g[i]!));
    }
    assert.ok(worst <= tol * scale, `${name}: |fd − grad| ${worst} vs max |grad| ${scale}`);
  });
}

const weighted = (y: Tensor, seed: number) => F.sum(F.mul(y, rand([...y.shape], seed)));
finiteDifference('conv2d (groups 2, stride 2, dilation 2, bias) input', (x) =>
  weighted(F.conv2d(x, rand([4, 2, 3, 3], 11), rand([4], 12), { stride: 2, padding: 2, dilation: 2, groups: 2 }), 13), rand([2, 4, 7, 6], 10));
finiteDifference('conv2d weight', (w) => weighted(F.conv2d(rand([2, 3, 5, 5], 20), w, null, { padding: 1 }), 21), rand([2, 3, 3, 3], 22));
finiteDifference('batch norm (training) input', (x) =>
  weighted(F.batchNorm(x, t([0, 0, 0], [3]), t([1, 1, 1], [3]), rand([3], 31, 0.5, 1.5), rand([3], 32), { training: true }), 33), rand([4, 3, 3, 2], 30));
finiteDifference('batch norm (training) with its sigmoid in the same pass, input', (x) =>
  weighted(F.batchNorm(x, t([0, 0, 0], [3]), t([1, 1, 1], [3]), rand([3], 31, 0.5, 1.5), rand([3], 32), { training: true, act: 'sigmoid' }), 33),
  rand([4, 3, 3, 2], 30));
finiteDifference('r-softmax (radix 4, cardinality 2)', (x) => weighted(F.rSoftmax(x, 4, 2), 41), rand([2, 16, 1, 1], 40, -2, 2), { eps: 1e-2 });
finiteDifference('split attention (radixGap → rSoftmax → radixAttend)', (x) => {
  const gap = F.radixGap(x, 2).reshape(2, 3);
  return weighted(F.radixAttend(x, F.rSoftmax(F.cat([gap, F.mulScalar(gap, -2)], 1), 2, 1), 2), 51);
}, rand([2, 6, 4, 4], 50));
finiteDifference('avg_pool2d (ceil_mode, no pad count)', (x) => weighted(F.avgPool2d(x, 2, { stride: 2, ceilMode: true, countIncludePad: false }), 61), rand([1, 2, 5, 5], 60));
// Distinct values 0.05 apart, so that no probe moves a window's maximum.
const spaced = t(Array.from({ length: 72 }, (_, i) => ((i * 37) % 72) * 0.05 - 1.8), [1, 2, 6, 6]);
finiteDifference('max_pool2d', (x) => weighted(F.maxPool2d(x, 3, { stride: 2, padding: 1 }), 71), spaced, { eps: 1e-2 });
finiteDifference('cross-entropy with label smoothing', (x) => F.crossEntropy(x, [2, 0, 4], { labelSmoothing: 0.1 }), rand([3, 5], 80, -3, 3));
finiteDifference('log-softmax over dim 1 of 4-D', (x) => weighted(F.logSoftmax(x, 1), 91), rand([2, 4, 2, 3], 90, -2, 2));

test('the op entry point frees the contiguous copies it makes (a transposed weight, a strided bias), scope or not', async () => {
  const wasm = (await initBackend('wasm')) as WasmBackend;
  const w = makeTensor(uniform(4 * 3, 1, -1, 1), [3, 4], { backend: wasm }).transpose(0, 1); // [4, 3], not contiguous
  const b = makeTensor(uniform(8, 2, -1, 1), [8], { backend: wasm }).narrow(0, 0, 4);
  const x = makeTensor(uniform(2 * 3, 3, -1, 1), [2, 3], { backend: wasm });
  const before = wasm.memoryStats().liveBytes;
  for (let i = 0; i < 5; i++) F.linear(x, w, b).dispose();
  assert.is(wasm.memoryStats().liveBytes, before);
  const bn = [4, 4, 4, 4].map((_, i) => makeTensor(uniform(8, 10 + i, 0.5, 1.5), [8], { backend: wasm }).narrow(0, 2, 4));
  const xb = makeTensor(uniform(2 * 4 * 9, 4, -1, 1), [2, 4, 3, 3], { backend: wasm });
  const mid = wasm.memoryStats().liveBytes;
  for (let i = 0; i < 5; i++) F.batchNorm(xb, bn[0]!, bn[1]!, bn[2]!, bn[3]!, 1e-5).dispose();
  assert.is(wasm.memoryStats().liveBytes, mid);
});

test('training batch norm with its activation in the same pass: the same bits and gradients as BN then the activation, js and wasm', async () => {
  const wasm = await initBackend('wasm');
  for (const b of [js, wasm]) {
    for (const act of ['relu', 'sigmoid'] as const) {
      const run = (fused: boolean) => tidy(() => {
        const mk = (d: Float32Array, s: number[]) => makeTensor(d, s, { backend: b });
        const x = mk(uniform(4 * 5 * 3 * 3, 7, -2, 2), [4, 5, 3, 3]).requiresGrad_();
        const w = mk(uniform(5, 8, 0.5, 1.5), [5]).requiresGrad_(), bias = mk(uniform(5, 9, -1, 1), [5]).requiresGrad_();
        const rm = mk(new Float32Array(5), [5]), rv = mk(new Float32Array(5).fill(1), [5]);
        const bn = (opts: object) => F.batchNorm(x, rm, rv, w, bias, { training: true, ...opts });
        const y = fused ? bn({ act }) : act === 'relu' ? F.relu(bn({})) : F.sigmoid(bn({}));
        F.sum(F.mul(y, mk(uniform(y.size, 10, -1, 1), [...y.shape]))).backward();
        return [y, x.grad!, w.grad!, bias.grad!, rm, rv].map((v) => Array.from(v.dataSync()));
      });
      const [fused, plain] = [run(true), run(false)];
      assert.ok(fused[0]!.some((v) => v === 0 || v < 0.3) && fused[1]!.some((v) => v !== 0), `${b.name} ${act}: the activation bites and gradients flow`);
      // relu: the same bits. sigmoid: the kernels' epilogue and the unary op may round exp apart.
      ['y', 'dx', 'dweight', 'dbias', 'running_mean', 'running_var'].forEach((k, i) => {
        if (act === 'relu') return assert.equal(fused[i], plain[i], `${b.name} relu: ${k}`);
        const scale = Math.max(...plain[i]!.map(Math.abs));
        const err = Math.max(...fused[i]!.map((v, j) => Math.abs(v - plain[i]![j]!)));
        assert.ok(err <= 1e-6 * scale, `${b.name} sigmoid: ${k} differs by ${err} of ${scale}`);
      });
    }
  }
});

test('in training, BatchNorm2d runs the ReLU after it in its own pass unless a hook must see its output', async () => {
  const net = new Sequential([new Conv2d(2, 4, 3, { padding: 1, bias: false }, js), new BatchNorm2d(4, 1e-5, js), new ReLU(js)], js);
  net.resetParameters(5);
  const x = rand([2, 2, 5, 5], 6);
  const reluCalls = () => {
    let calls = 0;
    const restore = net.interceptForwards((path, _m, fwd) => (path === '2' && calls++, fwd()));
    const y = net.call(x);
    restore();
    return { calls, y: Array.from(y.dataSync()) };
  };
  net.train();
  const fused = reluCalls();
  assert.is(fused.calls, 0, 'no separate ReLU in training');
  let seen: number[] = [];
  const remove = (net.layers[1] as BatchNorm2d).registerForwardHook((_m, _x, y) => { seen = Array.from(y.dataSync()); });
  const hooked = reluCalls();
  remove();
  assert.is(hooked.calls, 1, 'the ReLU runs apart when the BN is hooked');
  assert.ok(seen.some((v) => v < 0), 'the hook sees the BN output before the ReLU');
  assert.equal(hooked.y, fused.y);
  net.eval();
  assert.is(reluCalls().calls, 1, 'inference keeps the modules apart (fuse() folds instead)');
});

test('200 training steps on wasm keep live memory flat', async () => {
  const wasm = (await initBackend('wasm')) as WasmBackend;
  const net = new Sequential([
    new Conv2d(3, 8, 3, { padding: 1, bias: false }, wasm), new BatchNorm2d(8, 1e-5, wasm), new ReLU(wasm),
    new SplAtConv2d(8, 8, 3, { padding: 1, radix: 2, groups: 2, bias: false }, wasm), new GlobalAvgPool2d(wasm), new Linear(8, 5, true, wasm),
  ], wasm);
  net.resetParameters(3);
  net.train();
  const opt = new SGD([...net.namedParameters()].map(([, p]) => p), { lr: 0.05, momentum: 0.9, nesterov: true });
  const x = uniform(4 * 3 * 8 * 8, 5, -1, 1);
  const labels = [0, 1, 2, 3];
  const losses: number[] = [];
  let warm = 0;
  for (let i = 0; i < 200; i++) {
    losses.push(trainStep(net, opt, x, [4, 3, 8, 8], labels, 0.1));
    if (i === 9) warm = wasm.memoryStats().liveBytes;
  }
  const end = wasm.memoryStats().liveBytes;
  assert.is(end, warm, `live bytes ${warm} after 10 steps, ${end} after 200`);
  assert.ok(losses[199]! < losses[0]! * 0.5, `the loss falls: ${losses[0]} → ${losses[199]}`);
  opt.zeroGrad();
  net.dispose();
});

test.run();

test('a 1×1 pool at stride 1 (avg_down on a stride-1 block) is the identity: same values, the gradient passes straight through', () => {
  const x = rand([2, 3, 4, 5], 11).requiresGrad_();
  const w = rand([2, 3, 4, 5], 12);
  for (const pool of [F.avgPool2d, F.maxPool2d]) {
    const y = pool(x, 1, { stride: 1, ceilMode: true, countIncludePad: false });
    assert.ok(y === x, 'no kernel, no copy');
    assert.equal(Array.from(y.dataSync()), Array.from(x.dataSync()));
    F.sum(F.mul(y, w)).backward();
    assert.equal(Array.from(x.grad!.dataSync()), Array.from(w.dataSync()));
    x.zeroGrad();
  }
  // Any other window still pools.
  assert.equal(F.avgPool2d(x, 1, { stride: 2 }).shape, [2, 3, 2, 3]);
});
