// InferenceGraph: a forward recorded as kernels and replayed gives what the module gives op
// by op, follows the model when its weights change, holds its memory apart, and refuses what
// it cannot record.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import type { WasmBackend } from '../src/backend/wasm/index.js';
import { createJsBackend } from '../src/backend/js/index.js';
import type { Backend } from '../src/backend/backend.js';
import { ArgumentError, BackendError, ShapeError } from '../src/errors.js';
import { InferenceGraph } from '../src/nn/graph.js';
import { noGrad } from '../src/autograd/tape.js';
import { Module } from '../src/nn/module.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import * as F from '../src/ops/index.js';
import type { RawTensor } from '../src/io/raw.js';

const wasm = (await initBackend('wasm', { threads: 2 })) as WasmBackend;

const OPTIONS = { radix: 2, groups: 2, bottleneckWidth: 16, deepStem: true, stemWidth: 16, avgDown: true, avd: true, numClasses: 10 };
const net = (backend: Backend, seed = 3) => new ResNet([1, 1, 1, 1], OPTIONS, backend).resetParameters(seed).eval();
const input = (backend: Backend, phase: number, shape = [2, 3, 40, 36]) =>
  tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 0.37 + phase)), shape, { backend });
// Inference (no gradients), as the graph records: fixed weights may take Winograd.
const eager = (m: Module, x: Tensor) => noGrad(() => tidy(() => m.call(x))).dataSync() as Float32Array;
const replayed = (g: InferenceGraph, x: Tensor) => {
  const y = g.run(x);
  const d = y.dataSync() as Float32Array;
  y.dispose();
  return d;
};
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('wasm: a replay gives the eager forward exactly, for new inputs, on 1 and 2 threads', async () => {
  for (const threads of [1, 2]) {
    await initBackend('wasm', { threads });
    const model = net(wasm).fuse({ inPlace: true });
    const a = input(wasm, 0), b = input(wasm, 1);
    const ea = eager(model, a), eb = eager(model, b);
    assert.ok(maxDiff(ea, eb) > 1e-3, 'the two inputs give different logits');
    const g = new InferenceGraph(model, a.shape);
    assert.ok(g.recorded);
    assert.ok(g.steps > 20, `${g.steps} kernel launches`);
    assert.equal(maxDiff(replayed(g, a), ea), 0);
    assert.equal(maxDiff(replayed(g, b), eb), 0);
    assert.equal(maxDiff(replayed(g, a), ea), 0);
    g.dispose();
    model.dispose();
  }
  await initBackend('wasm', { threads: 2 });
});

test('wasm: the graph records again when the model\'s tensors are replaced; weights loaded in place are read as they are', () => {
  const model = net(wasm);
  const x = input(wasm, 0.5);
  const g = new InferenceGraph(model, x.shape);
  const before = replayed(g, x);
  assert.equal(maxDiff(before, eager(model, x)), 0);
  // fuse() folds BatchNorms into new conv weights: the recorded ones are freed.
  model.fuse();
  const fused = eager(model, x);
  assert.equal(maxDiff(replayed(g, x), fused), 0);
  // New values into the same buffers.
  const other = net(wasm, 11);
  const sd = new Map<string, RawTensor>();
  for (const [k, t] of other.stateDict()) sd.set(k, { dtype: 'float32', shape: [...t.shape], data: t.dataSync() as Float32Array });
  model.unfuse();
  model.loadStateDict(sd);
  model.fuse();
  const loaded = eager(model, x);
  assert.ok(maxDiff(loaded, fused) > 1e-3, 'other weights change the logits');
  assert.equal(maxDiff(replayed(g, x), loaded), 0);
  g.dispose();
  model.dispose();
  other.dispose();
});

test('wasm: reconfiguring threads invalidates a recording, and run() records again', async () => {
  const model = net(wasm).fuse({ inPlace: true });
  const x = input(wasm, 2);
  const want = eager(model, x);
  const g = new InferenceGraph(model, x.shape);
  assert.equal(maxDiff(replayed(g, x), want), 0);
  await initBackend('wasm', { threads: 1 });
  assert.equal(maxDiff(replayed(g, x), want), 0);
  await initBackend('wasm', { threads: 2 });
  assert.equal(maxDiff(replayed(g, x), want), 0);
  g.dispose();
  model.dispose();
});

test('wasm: host-side steps (constants written, buffers filled, strided copies) replay in order', () => {
  class HostWork extends Module {
    override forward(x: Tensor): Tensor {
      const shift = tensor(Float32Array.from({ length: x.shape[1]! }, (_, i) => i - 1.5), [1, x.shape[1]!, 1, 1], { backend: this.backend });
      const zero = F.mulScalar(x, 0); // a kernel
      const t = F.add(F.add(x, shift), zero).transpose(2, 3).contiguous();
      return F.relu(F.mul(t, t.narrow(3, 0, 1)));
    }
  }
  const m = new HostWork(wasm);
  const a = input(wasm, 0, [2, 4, 3, 5]), b = input(wasm, 3, [2, 4, 3, 5]);
  const g = new InferenceGraph(m, a.shape);
  assert.equal(maxDiff(replayed(g, a), eager(m, a)), 0);
  assert.equal(maxDiff(replayed(g, b), eager(m, b)), 0);
  g.dispose();
});

test('wasm: the recording\'s memory is its own and is given back on dispose', () => {
  const model = net(wasm).fuse({ inPlace: true });
  const x = input(wasm, 0);
  eager(model, x);
  const live = wasm.memoryStats().liveBytes;
  const g = new InferenceGraph(model, x.shape);
  assert.ok(g.bytes > 0);
  assert.is(wasm.memoryStats().liveBytes, live + g.bytes);
  // Tensors made meanwhile come from the main arena, never from the recording's buffers.
  const y = g.run(x);
  const z = input(wasm, 1);
  const want = replayed(g, x);
  assert.equal(maxDiff(y.dataSync() as Float32Array, want), 0, 'a replay did not overwrite an earlier result');
  y.dispose();
  z.dispose();
  g.dispose();
  assert.is(wasm.memoryStats().liveBytes, live);
  model.dispose();
});

test('wasm: a forward that reads tensor data cannot be recorded (typed error, nothing held)', () => {
  class Reads extends Module {
    override forward(x: Tensor): Tensor {
      const y = F.relu(x);
      return (y.dataSync()[0] ?? 0) > 0 ? y : F.neg(y);
    }
  }
  const live = wasm.memoryStats().liveBytes;
  const x = input(wasm, 0, [1, 2, 3, 3]);
  assert.throws(() => new InferenceGraph(new Reads(wasm), x.shape), (e: unknown) => e instanceof BackendError && /must not read tensor data/.test((e as Error).message));
  x.dispose();
  assert.is(wasm.memoryStats().liveBytes, live);
  assert.throws(() => wasm.capture!(() => wasm.capture!(() => {})), /inside a capture/);
});

test('InferenceGraph: wrong shape, training mode and use after dispose are typed errors', () => {
  const model = net(wasm).fuse();
  const x = input(wasm, 0);
  const g = new InferenceGraph(model, x.shape);
  const other = input(wasm, 0, [1, 3, 40, 36]);
  assert.throws(() => g.run(other), (e: unknown) => e instanceof ShapeError && /\[1, 3, 40, 36\].*\[2, 3, 40, 36\]/.test((e as Error).message));
  model.train();
  assert.throws(() => g.run(x), (e: unknown) => e instanceof ArgumentError && /training mode/.test((e as Error).message));
  assert.throws(() => new InferenceGraph(model, x.shape), (e: unknown) => e instanceof ArgumentError);
  model.eval();
  g.dispose();
  assert.throws(() => g.run(x), /after dispose/);
  model.dispose();
});

test('js: a backend that cannot record runs the module as usual', () => {
  const js = createJsBackend();
  const model = net(js).fuse({ inPlace: true });
  const x = input(js, 0);
  const g = new InferenceGraph(model, x.shape);
  assert.not.ok(g.recorded);
  assert.is(g.steps, 0);
  assert.equal(maxDiff(replayed(g, x), eager(model, x)), 0);
  const w = net(wasm).fuse({ inPlace: true });
  const xw = input(wasm, 0);
  // The wasm replay of the same weights agrees with the js reference.
  const gw = new InferenceGraph(w, xw.shape);
  const err = maxDiff(replayed(gw, xw), eager(model, x));
  assert.ok(err < 1e-4, `wasm replay vs js: ${err}`);
  gw.dispose();
  w.dispose();
});

test.run();
