import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FormatError, NotSupportedError, ResourceLimitError, UnsafeCheckpointError } from '../src/errors.js';
import { loadTorch } from '../src/io/torch.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { readZip } from '../src/io/zip.js';
import { unpickle } from '../src/io/pickle.js';
import {
  assertMatches, assertStateDictsEqual, concat, expected, f32bytes, fixture, makeZip, onlyLibraryErrors, Pickle,
  tensorPickle, throwsKind, torchZip,
} from './helpers/io.js';

const KEYS = Object.keys(expected.tensors);

for (const name of ['sd_zip.pth', 'sd_legacy.pth', 'sd_wrapped_zip.pth', 'sd_wrapped_module_legacy.pth', 'sd_module_zip.pth']) {
  test(`${name}: every tensor matches expected.json`, () => {
    const sd = loadTorch(fixture(name), name);
    assert.equal([...sd.keys()], KEYS);
    for (const k of KEYS) assertMatches(sd.get(k), expected.tensors[k], `${name} ${k}`);
  });
}

test('zip, legacy and safetensors copies agree exactly', () => {
  const zip = loadTorch(fixture('sd_zip.pth'));
  assertStateDictsEqual(zip, loadTorch(fixture('sd_legacy.pth')), 'legacy');
  assertStateDictsEqual(zip, loadSafetensors(fixture('sd.safetensors')), 'safetensors');
  assertStateDictsEqual(zip, loadTorch(fixture('sd_wrapped_module_legacy.pth')), 'wrapped module legacy');
});

test('strided tensors are gathered in row-major order', () => {
  const sd = loadTorch(fixture('sd_zip.pth'));
  const tr = sd.get('extra.transposed')!;
  assert.equal(tr.shape, [5, 3]);
  const vb = sd.get('extra.view_b')!;
  assert.equal(vb.shape, [2, 5]);
  assert.equal(sd.get('extra.scalar')!.shape, []);
  assert.equal(Array.from(sd.get('extra.scalar')!.data as Float32Array), [3.5]);
  assert.equal(sd.get('extra.empty')!.shape, [0, 3]);
  assert.is(sd.get('extra.empty')!.data.length, 0);
  assert.equal(Array.from(sd.get('extra.int64_big')!.data as BigInt64Array), [2n ** 40n + 1n, -5n]);
  assert.equal(Array.from(sd.get('bn.num_batches_tracked')!.data as BigInt64Array), [7n]);
  assert.equal(Array.from(sd.get('extra.int32')!.data as Int32Array), [-3, -2, -1, 0, 1, 2]);
  assert.equal(Array.from(sd.get('extra.bool')!.data as Uint8Array), [1, 0, 1]);
});

test('aligned contiguous float32 tensors are views of the file, not copies', () => {
  const bytes = fixture('sd_zip.pth');
  const w = loadTorch(bytes).get('conv.weight')!;
  assert.is(w.data.buffer, bytes.buffer);
  // A misaligned file buffer still loads (one copy per storage).
  const shifted = new Uint8Array(bytes.length + 1).subarray(1);
  shifted.set(bytes);
  const w2 = loadTorch(shifted).get('conv.weight')!;
  assert.is.not(w2.data.buffer, shifted.buffer);
  assert.equal(Array.from(w2.data as Float32Array), Array.from(w.data as Float32Array));
});

test('hostile pickles are refused when the global is referenced', () => {
  for (const name of ['hostile_zip.pth', 'hostile_legacy.pth']) {
    const e = throwsKind(() => loadTorch(fixture(name), name), UnsafeCheckpointError, name, 'posix.system') as UnsafeCheckpointError;
    assert.is(e.global, 'posix.system');
    assert.ok(e instanceof FormatError);
  }
});

test('archive folder prefix may be anything; byteorder little is accepted', () => {
  const pkl = tensorPickle([{ key: 'w', storage: '0', numel: 3, size: [3], stride: [1] }]);
  const sd = loadTorch(torchZip(pkl, { 0: f32bytes([1, 2, 3]) }, 'my_model', [['my_model/byteorder', new TextEncoder().encode('little')]]));
  assert.equal(Array.from(sd.get('w')!.data as Float32Array), [1, 2, 3]);
});

test('unsupported archives: big-endian, TorchScript, compressed entries', () => {
  const pkl = tensorPickle([{ key: 'w', storage: '0', numel: 1, size: [1], stride: [1] }]);
  const st = { 0: f32bytes([1]) };
  throwsKind(() => loadTorch(torchZip(pkl, st, 'archive', [['archive/byteorder', new TextEncoder().encode('big')]]), 'be.pth'), NotSupportedError, 'be.pth', 'big-endian');
  throwsKind(() => loadTorch(torchZip(pkl, st, 'archive', [['archive/constants.pkl', new Uint8Array(1)]]), 'ts.pt'), NotSupportedError, 'TorchScript');
  throwsKind(() => loadTorch(torchZip(pkl, st, 'archive', [], { method: 8 }), 'c.pth'), NotSupportedError, 'c.pth', 'archive/data.pkl', 'compressed');
});

test('storage offsets, views and strides are bounds-checked', () => {
  const load = (spec: Parameters<typeof tensorPickle>[0][0], data = f32bytes([1, 2, 3, 4])) =>
    loadTorch(torchZip(tensorPickle([spec]), { 0: data }), 'bounds.pth');
  assert.equal(Array.from(load({ key: 'w', storage: '0', numel: 4, offset: 1, size: [3], stride: [1] }).get('w')!.data as Float32Array), [2, 3, 4]);
  assert.equal(Array.from(load({ key: 'w', storage: '0', numel: 4, size: [2, 2], stride: [1, 2] }).get('w')!.data as Float32Array), [1, 3, 2, 4]);
  // An expanded (stride 0) tensor is materialized.
  assert.equal(Array.from(load({ key: 'w', storage: '0', numel: 4, offset: 3, size: [2, 3], stride: [0, 0] }).get('w')!.data as Float32Array), [4, 4, 4, 4, 4, 4]);
  throwsKind(() => load({ key: 'w', storage: '0', numel: 4, offset: 2, size: [3], stride: [1] }), FormatError, 'bounds.pth', 'w:', 'past the storage');
  throwsKind(() => load({ key: 'w', storage: '0', numel: 4, size: [2, 2], stride: [3, 1] }), FormatError, 'bounds.pth', 'w:');
  throwsKind(() => load({ key: 'w', storage: '0', numel: 5, size: [4], stride: [1] }), FormatError, 'bounds.pth', 'storage 0');
  throwsKind(() => load({ key: 'w', storage: '1', numel: 4, size: [4], stride: [1] }), FormatError, 'bounds.pth', 'data/1');
  throwsKind(() => load({ key: 'w', storage: '0', numel: 4, size: [2, 2], stride: [1] }), FormatError, 'bounds.pth', 'stride');
  throwsKind(() => load({ key: 'w', storage: '0', numel: 4, size: [100000, 100000], stride: [0, 0] }), ResourceLimitError, 'bounds.pth');
  throwsKind(() => load({ key: 'w', storage: '0', type: 'ComplexFloatStorage', numel: 2, size: [2], stride: [1] }), NotSupportedError, 'ComplexFloatStorage');
});

test('wrappers: state_dict / model keys, non-tensor entries ignored, no tensors is an error', () => {
  const specs = [{ key: 'module.a', storage: '0', numel: 2, size: [2], stride: [1] }, { key: 'module.b', storage: '0', numel: 2, offset: 1, size: [1], stride: [1] }];
  const inner = tensorPickle(specs);
  // { 'epoch': 3, 'model': <state dict> } built by splicing the state dict pickle into a dict.
  const body = inner.subarray(2, inner.length - 1);
  const wrapped = concat(new Pickle().proto().emptyDict().mark().str('epoch').int(3).str('model').bytes(), body, new Pickle().setitems().stop().bytes());
  const sd = loadTorch(torchZip(wrapped, { 0: f32bytes([5, 6]) }), 'wrapped.pth');
  assert.equal([...sd.keys()], ['a', 'b']);
  assert.equal(Array.from(sd.get('b')!.data as Float32Array), [6]);
  const noTensors = new Pickle().proto().emptyDict().mark().str('epoch').int(3).setitems().stop().bytes();
  throwsKind(() => loadTorch(torchZip(noTensors, {}), 'empty.pth'), FormatError, 'empty.pth', 'no tensors');
  const notDict = new Pickle().proto().int(3).stop().bytes();
  throwsKind(() => loadTorch(torchZip(notDict, {}), 'int.pth'), FormatError, 'int.pth', 'not a state dict');
  // Only a prefix shared by every key is stripped.
  const mixed = tensorPickle([specs[0], { ...specs[1], key: 'b' }]);
  assert.equal([...loadTorch(torchZip(mixed, { 0: f32bytes([5, 6]) })).keys()], ['module.a', 'b']);
});

test('_metadata BUILD on the OrderedDict is ignored, Parameter rebuilds are unwrapped', () => {
  const pkl = tensorPickle([{ key: 'w', storage: '0', numel: 1, size: [], stride: [] }], (p) => {
    p.emptyDict().mark().str('_metadata').global('collections', 'OrderedDict').emptyTuple().reduce().setitems().build();
  });
  assert.equal(Array.from(loadTorch(torchZip(pkl, { 0: f32bytes([9]) })).get('w')!.data as Float32Array), [9]);
  const param = new Pickle().proto().emptyDict().mark().str('p').global('torch._utils', '_rebuild_parameter').mark()
    .global('torch._utils', '_rebuild_tensor_v2').mark()
    .mark().str('storage').global('torch', 'DoubleStorage').str('0').str('cpu').int(2).tuple().persid()
    .int(0).ints([2]).ints([1]).false().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce()
    .raw(0x88).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().setitems().stop().bytes();
  const t = loadTorch(torchZip(param, { 0: new Uint8Array(new Float64Array([1.5, -2]).buffer) })).get('p')!;
  assert.is(t.dtype, 'float64');
  assert.equal(Array.from(t.data as Float64Array), [1.5, -2]);
});

test('corrupted zip checkpoints throw FormatError naming the file', () => {
  const good = fixture('sd_zip.pth');
  const name = 'corrupt.pth';
  const cases: [string, Uint8Array][] = [];
  for (const n of [0, 3, 30, 100, 1000, good.length / 2, good.length - 23, good.length - 1]) cases.push([`truncated to ${n}`, good.slice(0, n)]);
  const flipped = good.slice();
  flipped[1] = 0x58;
  cases.push(['bad magic', flipped]);
  const eocd = good.length - 22;
  assert.is(new DataView(good.buffer, good.byteOffset).getUint32(eocd, true), 0x06054b50);
  const locator = eocd - 20;
  const patch = (at: number, bytes: number[], what: string) => {
    const b = good.slice();
    b.set(bytes, at);
    cases.push([what, b]);
  };
  patch(locator + 8, [0xff, 0xff, 0xff, 0x0f], 'zip64 EOCD offset past the end');
  const eocd64 = new DataView(good.buffer, good.byteOffset).getUint32(locator + 8, true);
  patch(eocd64 + 48, [0xff, 0xff, 0xff, 0x7f], 'central directory offset past the end');
  patch(eocd64 + 40, [0xff, 0xff, 0xff, 0x7f], 'central directory size past the end');
  patch(eocd64 + 32, [0xff, 0xff, 0xff, 0x7f], 'absurd entry count');
  const cd = new DataView(good.buffer, good.byteOffset).getUint32(eocd64 + 48, true);
  patch(cd + 42, [0x00, 0x00, 0xff, 0x00], 'entry offset past the end');
  patch(cd + 24, [0xff, 0xff, 0x00, 0x00], 'entry size disagrees with compressed size');
  patch(cd + 20, [0xff, 0xff, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00], 'entry size too large');
  patch(cd + 28, [0x07, 0x00], 'name length changed');
  patch(cd + 47, [0x5f], 'central name differs from the local name');
  patch(30, [0x5f], 'local name differs');
  patch(64, [0x99], 'pickle opcode corrupted');
  for (const [what, bytes] of cases) {
    const e = onlyLibraryErrors(() => loadTorch(bytes, name), what);
    assert.ok(e instanceof FormatError || e instanceof ResourceLimitError, `${what}: got ${e?.name ?? 'no error'}`);
    assert.ok(e!.message.includes(name), `${what}: ${e!.message}`);
  }
  throwsKind(() => readZip(good.slice(0, 100), name), FormatError, name, 'end-of-central-directory');
});

test('corrupted legacy checkpoints throw FormatError naming the file', () => {
  const good = fixture('sd_legacy.pth');
  const name = 'corrupt_legacy.pth';
  const cases: [string, Uint8Array][] = [];
  for (const n of [1, 2, 10, 20, 200, good.length / 2, good.length - 100, good.length - 1]) cases.push([`truncated to ${n}`, good.slice(0, n)]);
  const magic = good.slice();
  magic[5] ^= 0xff;
  cases.push(['bad magic number', magic]);
  const firstCount = storageStart(good);
  const count = good.slice();
  count[firstCount] ^= 0x01;
  cases.push(['element count changed', count]);
  const huge = good.slice();
  huge[firstCount + 6] = 0x7f;
  cases.push(['element count huge', huge]);
  for (const [what, bytes] of cases) {
    const e = onlyLibraryErrors(() => loadTorch(bytes, name), what);
    assert.ok(e instanceof FormatError, `${what}: got ${e?.name ?? 'no error'}`);
    assert.ok(e!.message.includes(name), `${what}: ${e!.message}`);
  }
});

/** Byte position after the five pickles of a legacy file, where the first storage's count is. */
function storageStart(bytes: Uint8Array): number {
  let pos = 0;
  for (let i = 0; i < 5; i++) pos = unpickle(bytes, { offset: pos, persistentLoad: () => null }).end;
  return pos;
}

test('random byte flips and truncations never escape as TypeError/RangeError', () => {
  for (const name of ['sd_zip.pth', 'sd_legacy.pth', 'hostile_zip.pth']) {
    const good = fixture(name);
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 600; i++) {
      const b = good.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let j = 0; j < flips; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      onlyLibraryErrors(() => loadTorch(b, name), `${name} flip #${i}`);
    }
    for (let n = 0; n < good.length; n += 7) onlyLibraryErrors(() => loadTorch(good.subarray(0, n), name), `${name} cut at ${n}`);
  }
});

test('a 100 MB zip checkpoint loads as views without copying', () => {
  const n = 25_000_000;
  const big = new Float32Array(n);
  for (let i = 0; i < n; i += 1000) big[i] = i;
  const pkl = tensorPickle([
    { key: 'big', storage: '0', numel: n, size: [5000, 5000], stride: [5000, 1] },
    { key: 'row', storage: '0', numel: n, offset: 5000, size: [5000], stride: [1] },
  ]);
  const file = makeZip([['archive/data.pkl', pkl], ['archive/data/0', new Uint8Array(big.buffer)]], { zip64: true });
  const t0 = performance.now();
  const sd = loadTorch(file, 'big.pth');
  const ms = performance.now() - t0;
  const t = sd.get('big')!;
  assert.is(t.data.buffer, file.buffer);
  assert.is(t.data.length, n);
  assert.is((t.data as Float32Array)[24_999_000], 24_999_000);
  assert.is((sd.get('row')!.data as Float32Array)[0], 5000);
  assert.ok(ms < 1000, `took ${ms} ms`);
  console.log(`    100 MB zip checkpoint loaded in ${ms.toFixed(1)} ms`);
});

test.run();
