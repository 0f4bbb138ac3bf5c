// ONNX export: the protobuf encoder byte for byte, the .onnx structure read back by a small
// decoder, and the traced graphs run in onnxruntime-web's wasm backend against our js
// forward (≤ 1e-4 relative): ResNet variants (radix 0/1/2/4, cardinality, avd, avg_down,
// dilation, odd sizes, fixed and dynamic batch, fused and unfused), resnest14d with the
// fixture's synthetic weights (also against PyTorch), and a module of views, broadcasts and
// reductions that exercises Slice / Transpose / Concat / Pad / Expand / ReduceSum.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import '../src/backend/js/index.js';
import '../src/backend/wasm/index.js';
import type { Backend } from '../src/backend/backend.js';
import { initBackend } from '../src/backend/registry.js';
import { BackendError, NotSupportedError, ArgumentError } from '../src/errors.js';
import { ResNet, type ResNetOptions } from '../src/models/resnest/resnet.js';
import { createModel } from '../src/models/resnest/zoo.js';
import { Conv2d, Linear, RFConv2d, Sequential } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import * as F from '../src/ops/index.js';
import { tidy } from '../src/tensor/scope.js';
import { full, Tensor, tensor, zeros } from '../src/tensor/tensor.js';
import { uniform } from '../src/util/random.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { ProtoWriter } from '../src/export/protobuf.js';
import { encodeModel, exportOnnx, traceOnnx, type OnnxModel } from '../src/export/onnx.js';
import { expected, FIXTURES, manifest, relErr, TOLERANCE } from './helpers/fixtures.js';
import { createSegmentationModel } from '../src/models/segmentation/zoo.js';
import { loadSafetensors as loadSafetensorsFile } from '../src/io/safetensors.js';
import { toFloat32 } from '../src/io/raw.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';
import { runCli } from './helpers/cli.js';

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const js = await initBackend('js');
const report: string[] = [];

// ---- a test-only protobuf decoder ------------------------------------------------------------

type Field = { no: number; wire: number; int?: bigint; bytes?: Uint8Array };

function decode(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[at++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const no = key >>> 3, wire = key & 7;
    if (wire === 0) out.push({ no, wire, int: varint() });
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ no, wire, bytes: buf.subarray(at, at + n) });
      at += n;
    } else if (wire === 5) {
      out.push({ no, wire, bytes: buf.subarray(at, at + 4) });
      at += 4;
    } else if (wire === 1) {
      out.push({ no, wire, bytes: buf.subarray(at, at + 8) });
      at += 8;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const all = (fs: Field[], no: number) => fs.filter((f) => f.no === no);
const one = (fs: Field[], no: number) => {
  const xs = all(fs, no);
  assert.is(xs.length, 1, `field ${no} appears ${xs.length} times`);
  return xs[0]!;
};
function packed(b: Uint8Array): bigint[] {
  const out: bigint[] = [];
  let v = 0n, shift = 0n;
  for (const byte of b) {
    v |= BigInt(byte & 0x7f) << shift;
    shift += 7n;
    if (!(byte & 0x80)) {
      out.push(v >= 1n << 63n ? v - (1n << 64n) : v);
      v = 0n;
      shift = 0n;
    }
  }
  return out;
}

// ---- helpers ---------------------------------------------------------------------------------

async function runOrt(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const r = await session.run({ input: new ort.Tensor('float32', x, shape) });
  const out = r.logits!;
  const data = out.data as Float32Array;
  await session.release();
  return { data, dims: out.dims };
}

const ops = (m: OnnxModel) => new Set(m.nodes.map((n) => n.opType));

// ---- protobuf ------------------------------------------------------------------------------

test('protobuf writer: known encodings', () => {
  const hex = (w: ProtoWriter) => Buffer.from(w.finish()).toString('hex');
  assert.is(hex(new ProtoWriter().varint(1, 150)), '089601');
  assert.is(hex(new ProtoWriter().string(2, 'testing')), '120774657374696e67');
  assert.is(hex(new ProtoWriter().packedVarints(4, [3, 270, 86942])), '2206038e029ea705');
  assert.is(hex(new ProtoWriter().varint(1, -1)), '08ffffffffffffffffff01');
  assert.is(hex(new ProtoWriter().varint(3, 2 ** 40)), '18808080808020');
  assert.is(hex(new ProtoWriter().varint(3, 2n ** 40n)), '18808080808020');
  assert.is(hex(new ProtoWriter().float(1, 1.5)), '0d0000c03f');
  assert.is(hex(new ProtoWriter().message(3, new ProtoWriter().varint(1, 150))), '1a03089601');
  assert.is(hex(new ProtoWriter().varint(1, true).varint(2, 0)), '08011000');
  // Large payloads are referenced, and the nesting prefixes stay right around them.
  const big = new Uint8Array(300).map((_, i) => i & 0xff);
  const nested = new ProtoWriter().message(1, new ProtoWriter().bytes(2, big).varint(3, 7)).finish();
  const outer = decode(nested);
  const inner = decode(one(outer, 1).bytes!);
  assert.equal([...one(inner, 2).bytes!], [...big]);
  assert.is(one(inner, 3).int, 7n);
});

test('the .onnx file decodes to the traced model: opset, IR version, graph, initializers, shapes', () => {
  const model = traceOnnx((b) => {
    const m = new ResNet([1, 1, 1, 1], { radix: 2, numClasses: 7, deepStem: true, stemWidth: 8, avgDown: true, avd: true }, b);
    m.resetParameters(5);
    return m.eval().fuse();
  }, [1, 3, 32, 32], { batch: 'dynamic', opset: 18 });
  const bytes = encodeModel(model);
  const mp = decode(bytes);
  assert.is(one(mp, 1).int, 8n); // opset 18 → IR 8
  assert.is(text(one(mp, 2).bytes), 'resnest-ts');
  const opset = decode(one(mp, 8).bytes!);
  assert.is(text(one(opset, 1).bytes), '');
  assert.is(one(opset, 2).int, 18n);
  const graph = decode(one(mp, 7).bytes!);
  const nodes = all(graph, 1).map((f) => decode(f.bytes!));
  assert.is(nodes.length, model.nodes.length);
  assert.equal(nodes.map((n) => text(one(n, 4).bytes)), model.nodes.map((n) => n.opType));
  const conv = nodes.find((n) => text(one(n, 4).bytes) === 'Conv')!;
  const attrs = new Map(all(conv, 5).map((f) => decode(f.bytes!)).map((a) => [text(one(a, 1).bytes), a]));
  const group = attrs.get('group')!;
  assert.is(one(group, 20).int, 2n); // AttributeProto.INT
  const pads = attrs.get('pads')!;
  assert.is(one(pads, 20).int, 7n); // INTS
  assert.equal(packed(one(pads, 8).bytes!), [1n, 1n, 1n, 1n]);

  const inits = all(graph, 5).map((f) => decode(f.bytes!));
  assert.is(inits.length, model.initializers.length);
  for (const [i, t] of inits.entries()) {
    const ref = model.initializers[i]!;
    assert.is(text(one(t, 8).bytes), ref.name);
    assert.equal(all(t, 1).length ? packed(one(t, 1).bytes!).map(Number) : [], [...ref.dims]);
    const raw = one(t, 9).bytes!;
    const expectBytes = new Uint8Array(ref.data.buffer, ref.data.byteOffset, ref.data.byteLength);
    assert.ok(raw.length === expectBytes.length && raw.every((v, k) => v === expectBytes[k]), `${ref.name} data`);
  }
  assert.ok(model.initializers.some((t) => t.name === 'layer1.0.conv2.conv.weight'), 'initializers carry state-dict keys');

  const input = decode(one(graph, 11).bytes!);
  assert.is(text(one(input, 1).bytes), 'input');
  const tensorType = decode(one(decode(one(input, 2).bytes!), 1).bytes!);
  assert.is(one(tensorType, 1).int, 1n); // FLOAT
  const dims = all(decode(one(tensorType, 2).bytes!), 1).map((f) => decode(f.bytes!)[0]!);
  assert.equal(dims.map((d) => (d.no === 2 ? text(d.bytes) : Number(d.int))), ['N', 3, 32, 32]);
  assert.is(text(one(decode(one(graph, 12).bytes!), 1).bytes), 'logits');
});

// ---- parity with onnxruntime-web ----------------------------------------------------------------

interface Case {
  name: string;
  opts: ResNetOptions;
  size: [number, number];
  batch: number;
  dynamic?: boolean;
  fuse?: boolean;
  opset?: number;
}

const cases: Case[] = [
  { name: 'radix 2, deep stem, avg_down, avd', opts: { radix: 2, deepStem: true, stemWidth: 16, avgDown: true, avd: true }, size: [33, 31], batch: 1 },
  { name: 'radix 0 (plain ResNet), batch 2', opts: { radix: 0 }, size: [32, 32], batch: 2 },
  { name: 'radix 1, cardinality 2, avd first, dilation 2', opts: { radix: 1, groups: 2, bottleneckWidth: 32, avd: true, avdFirst: true, dilation: 2 }, size: [29, 35], batch: 1 },
  { name: 'radix 4, cardinality 2, avg_down, dilation 4, dynamic batch', opts: { radix: 4, groups: 2, bottleneckWidth: 24, avgDown: true, dilation: 4 }, size: [27, 27], batch: 3, dynamic: true },
  { name: 'radix 2, unfused (BatchNormalization nodes), opset 13', opts: { radix: 2, avd: true, avgDown: true }, size: [30, 26], batch: 1, fuse: false, opset: 13 },
  { name: 'radix 2, cardinality 2, dilated, opset 21', opts: { radix: 2, groups: 2, bottleneckWidth: 40, dilated: true, deepStem: true, stemWidth: 8 }, size: [25, 23], batch: 2, opset: 21 },
  // Rectified convolution: Conv, then Mul by the factor map (a constant), then the bias.
  { name: 'rectified conv (deep stem, conv2), radix 2', opts: { radix: 2, deepStem: true, stemWidth: 16, avgDown: true, avd: true, rectifiedConv: true }, size: [33, 31], batch: 1 },
  { name: 'rectified conv, average mode, radix 0, 7×7 stem, dilation 2, dynamic batch', opts: { radix: 0, rectifiedConv: true, rectifyAvg: true, dilation: 2 }, size: [29, 27], batch: 2, dynamic: true },
  { name: 'rectified conv, average mode, radix 1, unfused', opts: { radix: 1, groups: 2, bottleneckWidth: 32, rectifiedConv: true, rectifyAvg: true }, size: [26, 30], batch: 1, fuse: false },
];

for (const c of cases) {
  test(`ORT parity: ${c.name}`, async () => {
    const opts = { numClasses: 16, ...c.opts };
    const model = new ResNet([1, 1, 1, 1], opts, js);
    model.resetParameters(11);
    const bytes = await exportOnnx(model, { size: c.size, batch: c.dynamic ? 'dynamic' : c.batch, fuse: c.fuse ?? true, opset: c.opset });
    model.eval().fuse();
    const batches = c.dynamic ? [c.batch, 1] : [c.batch];
    for (const n of batches) {
      const shape = [n, 3, ...c.size];
      const x = uniform(shape.reduce((a, b) => a * b, 1), 100 + n, -1.5, 1.5);
      const ours = tidy(() => model.call(tensor(x, shape, { backend: js }))).dataSync();
      const theirs = await runOrt(bytes, x, shape);
      assert.equal([...theirs.dims], [n, 16]);
      const err = relErr(theirs.data, ours);
      report.push(`${c.name} [${shape.join('×')}]: ${err.toExponential(2)}`);
      assert.ok(err <= TOLERANCE, `${c.name} batch ${n}: relative error ${err.toExponential(2)}`);
    }
  });
}

test('ORT parity: resnest14d with the fixture weights (and PyTorch\'s logits)', async () => {
  const fx = manifest().zoo.find((z) => z.arch === 'resnest14d')!;
  const model = createModel('resnest14d', { backend: js, init: false });
  model.loadStateDict(syntheticStateDict(model, fx.seed));
  const bytes = await exportOnnx(model, { size: [fx.input[2]!, fx.input[3]!], batch: fx.input[0]! });
  model.eval().fuse();
  const x = syntheticInput(fx.input, fx.seed);
  const ours = tidy(() => model.call(tensor(x, fx.input, { backend: js }))).dataSync();
  const theirs = await runOrt(bytes, x, fx.input);
  const err = relErr(theirs.data, ours);
  const torchErr = relErr(theirs.data, expected(fx.name).get('logits')!);
  report.push(`resnest14d [${fx.input.join('×')}]: vs ours ${err.toExponential(2)}, vs PyTorch ${torchErr.toExponential(2)}`);
  assert.ok(err <= TOLERANCE, `vs ours: ${err}`);
  assert.ok(torchErr <= TOLERANCE, `vs PyTorch: ${torchErr}`);
});

test('ORT parity: RFConv2d with its own bias (scaled by the factor too), the factor one Mul by a constant', async () => {
  const build = (b: Backend) => new Sequential([
    new RFConv2d(3, 5, 3, { stride: 2, padding: 1 }, b), new RFConv2d(5, 4, 3, { padding: 2, dilation: 2, averageMode: true }, b),
  ], b).resetParameters(3).eval();
  const shape = [2, 3, 11, 9];
  const onnx = traceOnnx(build, shape);
  assert.equal(onnx.nodes.map((n) => n.opType), ['Conv', 'Mul', 'Conv', 'Mul', 'Identity']);
  const x = uniform(2 * 3 * 11 * 9, 5, -1, 1);
  const ours = tidy(() => build(js).call(tensor(x, shape, { backend: js }))).dataSync();
  const err = relErr((await runOrt(encodeModel(onnx), x, shape)).data, ours);
  report.push(`RFConv2d with bias [${shape.join('×')}]: ${err.toExponential(2)}`);
  assert.ok(err <= TOLERANCE, `relative error ${err.toExponential(2)}`);
});

// ---- views, broadcasts and partial writes -------------------------------------------------------

/** Exercises every translation: views (Slice, Transpose, Reshape), concatenation, broadcasts, reductions, pools. */
class Views extends Module {
  readonly conv: Conv2d;
  readonly fc: Linear;
  constructor(backend: Backend) {
    super(backend);
    this.conv = this.child('conv', new Conv2d(3, 6, 3, { padding: 1 }, backend));
    this.fc = this.child('fc', new Linear(6, 5, true, backend));
  }

  override forward(x: Tensor): Tensor {
    const n = x.shape[0]!;
    const y = this.conv.call(x); // [n, 6, 7, 6]
    const [a, b] = y.split([2, 4], 1); // Slice
    const t = F.cat([b.transpose(2, 3).contiguous().transpose(2, 3), a], 1); // Transpose, then Concat
    const g = F.mul(t, F.sigmoid(t.narrow(3, 1, 1))); // Slice, broadcast over W
    const e = F.div(F.sub(F.exp(F.neg(g)), F.rsqrt(F.addScalar(F.mulScalar(F.sigmoid(g), 2), 1))), F.sqrt(F.addScalar(F.sigmoid(g), 0.5)));
    const s = F.softmax(e.permute(0, 2, 3, 1), 3).permute(0, 3, 1, 2); // channels-last softmax
    const p = F.avgPool2d(s, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: true }); // Pad + AveragePool
    const q = F.maxPool2d(s, 2, { stride: 2, ceilMode: true }); // [n, 6, 4, 3]
    const rows = F.sum(q, [2, 3], true).reshape(n, 6, 1); // ReduceSum over two axes
    const bcast = F.expand(F.mean(q, 1, true).reshape(n, 1, 12), [n, 3, 12]).reshape(n, 36).narrow(1, 5, 6); // Expand
    const pooled = F.adaptiveAvgPool2d(p, 1).reshape(n, 6); // GlobalAveragePool
    const soft = F.logSoftmax(t.reshape(n, 3, 84), 1).narrow(2, 0, 2).reshape(n, 6); // LogSoftmax under another shape
    const mixed = F.add(F.mul(pooled, rows.reshape(n, 6)), soft);
    return this.fc.call(F.add(F.sum([bcast, mixed]), F.mulScalar(bcast, 0.5)));
  }
}

test('ORT parity: views, broadcasts, reductions (Slice, Transpose, Concat, Pad, Expand, ReduceSum, LogSoftmax)', async () => {
  const shape = [2, 3, 7, 6];
  const x = uniform(2 * 3 * 7 * 6, 3, -1, 1);
  const ours = tidy(() => new Views(js).resetParameters(2).call(tensor(x, shape, { backend: js }))).dataSync();
  for (const opset of [17, 18]) {
    const model = traceOnnx((b) => new Views(b).resetParameters(2), shape, { opset });
    for (const op of ['Slice', 'Transpose', 'Concat', 'Pad', 'Expand', 'Softmax', 'LogSoftmax', 'ReduceSum', 'GlobalAveragePool', 'MaxPool', 'AveragePool', 'Gemm']) {
      assert.ok(ops(model).has(op), `graph lacks ${op}`);
    }
    const theirs = await runOrt(encodeModel(model), x, shape);
    const err = relErr(theirs.data, ours);
    report.push(`views module, opset ${opset}: ${err.toExponential(2)}`);
    assert.ok(err <= TOLERANCE, `opset ${opset}: relative error ${err}`);
  }
});

/** The segmentation heads' upsampling: bilinear to a size (align_corners), ASPP's pooled branch from 1×1, a scale factor, nearest. */
class Resize extends Module {
  readonly conv: Conv2d;
  constructor(backend: Backend) {
    super(backend);
    this.conv = this.child('conv', new Conv2d(3, 4, 3, { padding: 1, stride: 2 }, backend));
  }

  override forward(x: Tensor): Tensor {
    const [n, , h, w] = x.shape as [number, number, number, number];
    const y = this.conv.call(x); // [n, 4, 4, 3]
    const up = F.interpolate(y, { size: [h, w], mode: 'bilinear', alignCorners: true });
    const pooled = F.interpolate(F.adaptiveAvgPool2d(y, 1), { size: [h, w], mode: 'bilinear', alignCorners: true });
    const half = F.interpolate(F.interpolate(y, { scaleFactor: 2, mode: 'bilinear' }), { size: [h, w], mode: 'nearest' });
    const odd = F.interpolate(y, { size: [h, w], mode: 'bilinear' });
    return F.add(F.add(up, pooled), F.add(half, odd)).reshape(n, 4 * h * w);
  }
}

test('ORT parity: interpolate as Resize (bilinear align_corners true/false, from 1×1, scale factor, nearest; dynamic batch)', async () => {
  const shape = [2, 3, 7, 6];
  const x = uniform(2 * 3 * 7 * 6, 9, -1, 1);
  const ours = tidy(() => new Resize(js).resetParameters(3).call(tensor(x, shape, { backend: js }))).dataSync();
  for (const batch of [2, 'dynamic'] as const) {
    const model = traceOnnx((b) => new Resize(b).resetParameters(3), batch === 2 ? shape : [1, 3, 7, 6], { batch, opset: 17 });
    assert.ok(ops(model).has('Resize'));
    const theirs = await runOrt(encodeModel(model), x, shape);
    assert.equal([...theirs.dims], [2, 4 * 7 * 6]);
    const err = relErr(theirs.data, ours);
    report.push(`interpolate module (batch ${batch}): ${err.toExponential(2)}`);
    assert.ok(err <= TOLERANCE, `batch ${batch}: relative error ${err}`);
  }
});

test('model code that bypasses the ops (a raw backend call on a traced tensor) is refused, not exported wrong', () => {
  class Raw extends Module {
    override forward(x: Tensor): Tensor {
      const y = F.relu(x);
      const out = zeros(y.shape, { backend: y.backend });
      y.backend.copy(y.shape, y.stridedRef, out.stridedRef, 'float32');
      return F.add(out, y);
    }
  }
  class Aliased extends Module {
    override forward(x: Tensor): Tensor {
      const y = F.relu(x);
      return F.neg(new Tensor(y.storage, [y.size], [1], 0));
    }
  }
  for (const M of [Raw, Aliased]) {
    assert.throws(() => traceOnnx((b) => new M(b), [1, 3, 4, 4]), (e: Error) => e instanceof NotSupportedError && /outside the traced ops/.test(e.message), M.name);
  }
});

test('a constant rewritten during the forward keeps, at each use, the value it had then', async () => {
  class Rewrite extends Module {
    override forward(x: Tensor): Tensor {
      const c = full([1], 2, { backend: x.backend });
      const y1 = F.mul(x, c);
      x.backend.fill(c.ref, 1, 3, 'float32');
      return F.add(y1, F.mul(x, c)); // 2x + 3x
    }
  }
  const x = uniform(12, 1, -1, 1);
  const model = traceOnnx((b) => new Rewrite(b), [1, 12]);
  const theirs = await runOrt(encodeModel(model), x, [1, 12]);
  assert.ok(relErr(theirs.data, x.map((v) => 5 * v)) < 1e-6);
});

test('what a graph cannot express fails with one clear error', () => {
  class Flatten extends Module {
    override forward(x: Tensor): Tensor {
      return F.relu(x).reshape(1, -1);
    }
  }
  class Peek extends Module {
    override forward(x: Tensor): Tensor {
      const y = F.relu(x);
      if (y.dataSync()[0]! > 0) return y;
      return F.neg(y);
    }
  }
  assert.throws(() => traceOnnx((b) => new Flatten(b), [1, 3, 4, 4], { batch: 'dynamic' }),
    (e: Error) => e instanceof NotSupportedError && /across the batch dimension/.test(e.message));
  // A fixed batch exports it fine.
  assert.ok(ops(traceOnnx((b) => new Flatten(b), [2, 3, 4, 4])).has('Reshape'));
  assert.throws(() => traceOnnx((b) => new Peek(b), [1, 3, 4, 4]), (e: Error) => e instanceof BackendError && /cannot depend on data/.test(e.message));
  assert.throws(() => traceOnnx((b) => new Flatten(b), [1, 3, 4, 4], { opset: 11 }), (e: Error) => e instanceof ArgumentError && /opset/.test(e.message));
});

// ---- the command ---------------------------------------------------------------------------------

test('resnest export writes a file ONNX Runtime runs, with the checkpoint\'s weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnest-onnx-'));
  try {
    const model = createModel('resnest14d', { backend: js, numClasses: 10, seed: 4 });
    const weights = join(dir, 'w.safetensors');
    const sd = new Map([...model.stateDict()].map(([k, t]) => [k, { dtype: 'float32' as const, shape: [...t.shape], data: t.dataSync() as Float32Array }]));
    writeFileSync(weights, saveSafetensors(sd));
    const out = join(dir, 'm.onnx');
    const r = await runCli(['export', '--onnx', out, '--arch', 'resnest14d', '--weights', weights, '--size', '40', '--batch', 'dynamic', '--opset', '19']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote .*m\.onnx: resnest14d input \[N, 3, 40, 40\] → logits \[N, 10\], opset 19/);
    model.eval().fuse();
    const x = uniform(2 * 3 * 40 * 40, 9, -1, 1);
    const ours = tidy(() => model.call(tensor(x, [2, 3, 40, 40], { backend: js }))).dataSync();
    const theirs = await runOrt(new Uint8Array(readFileSync(out)), x, [2, 3, 40, 40]);
    assert.ok(relErr(theirs.data, ours) <= TOLERANCE);

    const bad = await runCli(['export', '--onnx', out, '--arch', 'resnest14d', '--opset', '9']);
    assert.is(bad.code, 2);
    assert.is(bad.stderr.trim().split('\n').length, 1);
    assert.match(bad.stderr, /opset must be an integer from 13/);
    const missing = await runCli(['export', '--arch', 'resnest14d']);
    assert.is(missing.code, 2);
    assert.match(missing.stderr, /--onnx is required/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ORT parity: deeplab_resnest50_ade (dilated backbone, ASPP, Resize to the input) against ours and PyTorch\'s sampled logits', async () => {
  const dir = join(FIXTURES, 'seg');
  const c = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { cases: { case: string; model: string; input: number[]; seed: number; maxabs: number }[] })
    .cases.find((k) => k.case === 'deeplab50_ade_48x40')!;
  const wasm = await initBackend('wasm');
  const model = createSegmentationModel(c.model, { backend: wasm, init: false });
  const sd = syntheticStateDict(model, c.seed);
  model.loadStateDict(sd);
  const bytes = encodeModel(traceOnnx((backend) => {
    const m = createSegmentationModel(c.model, { backend, init: false });
    m.loadStateDict(sd);
    return m.eval().fuse();
  }, c.input));
  model.eval().fuse();
  const x = syntheticInput(c.input, c.seed);
  const ours = tidy(() => model.call(tensor(x, c.input, { backend: wasm }))).dataSync();
  model.dispose();
  const theirs = await runOrt(bytes, x, c.input);
  assert.equal([...theirs.dims], [1, 150, c.input[2], c.input[3]]);
  const err = relErr(theirs.data, ours);
  const file = join(dir, `${c.case}.safetensors`);
  const ref = loadSafetensorsFile(new Uint8Array(readFileSync(file)), file);
  const idx = toFloat32(ref.get('main.idx')!), want = toFloat32(ref.get('main.values')!);
  let worst = 0;
  idx.forEach((i, j) => { worst = Math.max(worst, Math.abs(theirs.data[i]! - want[j]!)); });
  const torchErr = worst / c.maxabs;
  report.push(`deeplab_resnest50_ade [${c.input.join('×')}]: vs ours ${err.toExponential(2)}, vs PyTorch (sampled) ${torchErr.toExponential(2)}`);
  assert.ok(err <= TOLERANCE, `vs ours: ${err}`);
  assert.ok(torchErr <= TOLERANCE, `vs PyTorch: ${torchErr}`);
});

test.after(() => {
  console.log(`\n  ONNX export vs ours (max rel err):\n    ${report.join('\n    ')}`);
});

test.run();
