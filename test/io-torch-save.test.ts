// saveTorch writes torch.save's zip format: loadTorch reads every dtype and shape back
// exactly, through the same allow-listed unpickler that refuses anything else.
// (torch.load reading these files was checked by hand with PyTorch 1.13, see docs/formats-and-safety.md.)

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkZip32, saveTorch } from '../src/io/torch-save.js';
import { ResourceLimitError } from '../src/errors.js';
import { loadTorch } from '../src/io/torch.js';
import { readZip } from '../src/io/zip.js';
import type { RawTensor } from '../src/io/raw.js';
import { assertStateDictsEqual } from './helpers/io.js';

test('round trip of every dtype, 0-d and empty tensors, in order', () => {
  const sd = new Map<string, RawTensor>([
    ['conv.weight', { dtype: 'float32', shape: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i / 7 - 1) }],
    ['bn.num_batches_tracked', { dtype: 'int64', shape: [], data: BigInt64Array.from([123456789012n]) }],
    ['x.f64', { dtype: 'float64', shape: [3], data: Float64Array.from([Math.PI, -0, 1e300]) }],
    ['x.f16', { dtype: 'float16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000]) }],
    ['x.bf16', { dtype: 'bfloat16', shape: [2], data: Uint16Array.from([0x3f80, 0x4000]) }],
    ['x.i32', { dtype: 'int32', shape: [2, 2], data: Int32Array.from([1, -2, 3, -4]) }],
    ['x.u8', { dtype: 'uint8', shape: [3], data: Uint8Array.from([0, 128, 255]) }],
    ['x.bool', { dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) }],
    ['x.empty', { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const bytes = saveTorch(sd);
  const back = loadTorch(bytes, 'saved.pth');
  assertStateDictsEqual(sd, back, 'saved.pth');
});

test('layout: torch.save entry names, 64-byte aligned storages, little-endian marker', () => {
  const sd = new Map<string, RawTensor>([['w', { dtype: 'float32', shape: [5], data: Float32Array.from([1, 2, 3, 4, 5]) }]]);
  const bytes = saveTorch(sd);
  const entries = readZip(bytes, 'saved.pth', { verifyCrc: true });
  assert.equal([...entries.keys()], ['archive/data.pkl', 'archive/data/0', 'archive/byteorder', 'archive/version']);
  const data = entries.get('archive/data/0')!;
  assert.is(data.byteOffset % 64, 0);
  assert.equal(Array.from(new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + 20))), [1, 2, 3, 4, 5]);
  assert.is(new TextDecoder().decode(entries.get('archive/byteorder')!), 'little');
});

const tiny = (n: number) => new Map<string, RawTensor>(Array.from({ length: n }, (_, i) => [`t${i}`, { dtype: 'float32', shape: [1], data: Float32Array.of(i) }]));

function limitError(f: () => unknown, what: RegExp): void {
  try {
    f();
  } catch (e) {
    assert.instance(e, ResourceLimitError);
    assert.match((e as Error).message, what);
    return;
  }
  assert.unreachable('expected a ResourceLimitError');
}

test('no zip64: 65 532 tensors (65 535 records) are refused at once, naming the count; 65 531 are written and read back', () => {
  const t0 = performance.now();
  limitError(() => saveTorch(tiny(65_532)), /^saveTorch: 65535 zip records \(65532 tensor storages \+ 3\) exceed the 65534 /);
  const ms = performance.now() - t0;
  assert.ok(ms < 500, `refused in ${ms.toFixed(0)} ms: before pickling anything`);
  // 65 535 in the end record would mean "see the zip64 record" to a reader.
  const entries = readZip(saveTorch(tiny(65_531)), 'many.pth');
  assert.is(entries.size, 65_534);
  assert.is(new Float32Array(entries.get('archive/data/65530')!.slice().buffer)[0], 65_530);
});

test('no zip64: an archive past 4 GiB − 1 bytes is refused on the sizes alone, naming the record', () => {
  // 'a': a 30-byte header, the name, a 4-byte extra field padded to offset 64; 47 bytes of
  // central directory; a 22-byte end record: 133 bytes besides the data.
  checkZip32([{ name: 'a', size: 0xffffffff - 133 }]);
  limitError(() => checkZip32([{ name: 'a', size: 0xffffffff - 132 }]), /reaches 4294967296 bytes at record 'a' \(4294967163 bytes\), past the 4294967295 /);
  limitError(
    () => checkZip32([{ name: 'archive/data.pkl', size: 900 }, { name: 'archive/data/0', size: 3 * 2 ** 30 }, { name: 'archive/data/1', size: 2 ** 30 }, { name: 'archive/byteorder', size: 6 }]),
    /at record 'archive\/data\/1' \(1073741824 bytes\)/,
  );
});

test.run();
