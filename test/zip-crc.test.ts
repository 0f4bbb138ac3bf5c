// Damage that keeps a checkpoint's structure intact (one flipped byte inside a tensor's
// storage) is invisible to every structural check; only the zip's CRC-32 sees it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from '../src/util/crc32.js';
import { readZipIndex } from '../src/io/zip.js';
import { memorySource } from '../src/io/source.js';
import { loadTorch, loadTorchLazy } from '../src/io/torch.js';
import { saveTorch } from '../src/io/torch-save.js';
import { fileSource } from '../src/io/files.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { FormatError } from '../src/errors.js';
import { FIXTURES } from './helpers/fixtures.js';
import { tempDirsPerTest } from './helpers/http.js';

const freshDir = tempDirsPerTest(test, 'resnest-crc-');

/** A copy of `bytes` with one byte flipped, `at` bytes into the data of zip record `name`. */
function damage(bytes: Uint8Array, name: string, at = 5): Uint8Array {
  const e = readZipIndex(memorySource(bytes), 'x')?.get(name);
  assert.ok(e && e.size > at, `record ${name} present`);
  const out = bytes.slice();
  out[e!.offset + at] ^= 0x10;
  return out;
}

function throwsDamaged(f: () => unknown, file: string, record: string): void {
  try {
    f();
  } catch (e) {
    assert.instance(e, FormatError);
    const m = (e as Error).message;
    assert.ok(m.startsWith(`${file}: `) && m.includes(`record '${record}' is damaged: CRC-32`), m);
    assert.not.ok(m.includes('\n'));
    return;
  }
  assert.unreachable(`expected a CRC-32 error naming ${record}`);
}

const sd = new Map([
  ['conv.weight', { dtype: 'float32' as const, shape: [4, 8], data: Float32Array.from({ length: 32 }, (_, i) => i / 8) }],
  ['fc.bias', { dtype: 'float32' as const, shape: [3], data: Float32Array.of(1, 2, 3) }],
]);

test('crc32: standard check value, any range, and continued piece by piece (matches zlib)', () => {
  assert.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  const b = Uint8Array.from({ length: 1003 }, (_, i) => (i * 131 + 7) & 255);
  for (const [s, e] of [[0, 1003], [3, 998], [0, 0], [0, 7], [1, 9], [5, 13]]) assert.is(crc32(b, s, e), zlibCrc32(b.subarray(s, e)), `${s}..${e}`);
  assert.is(crc32(b, 400, 1003, crc32(b, 0, 400)), crc32(b));
});

test("a flipped byte in a saveTorch tensor record: eager, lazy and index checks name the record; verifyCrc: false doesn't", () => {
  const bad = damage(saveTorch(sd), 'archive/data/0');
  throwsDamaged(() => loadTorch(bad, 'w.pth'), 'w.pth', 'archive/data/0');
  throwsDamaged(() => readZipIndex(memorySource(bad), 'w.pth', { verifyCrc: true }), 'w.pth', 'archive/data/0');
  const path = join(freshDir(), 'w.pth');
  writeFileSync(path, bad);
  // Lazily, the structure loads and the damage shows when the tensor's bytes are read.
  const lazy = loadTorchLazy(fileSource(path), path);
  assert.equal(Array.from(lazy.get('fc.bias')!.data as Float32Array), [1, 2, 3], 'an intact record loads');
  throwsDamaged(() => lazy.get('conv.weight')!.data, path, 'archive/data/0');
  // Without the check the damage loads silently: exactly what the CRC is for.
  const unchecked = loadTorch(bad, 'w.pth', { verifyCrc: false }).get('conv.weight')!.data as Float32Array;
  assert.ok(unchecked.some((v, i) => v !== i / 8));
  readZipIndex(memorySource(bad), 'w.pth'); // the index alone reads no data
});

test('data.pkl and byteorder are always checked', () => {
  const saved = saveTorch(sd);
  throwsDamaged(() => loadTorch(damage(saved, 'archive/data.pkl', 40), 'w.pth', { verifyCrc: false }), 'w.pth', 'archive/data.pkl');
  throwsDamaged(() => loadTorch(damage(saved, 'archive/byteorder', 0), 'w.pth', { verifyCrc: false }), 'w.pth', 'archive/byteorder');
});

test("resume: a flipped byte in a torch-written training checkpoint's tensor is refused, naming the record", () => {
  const file = join(FIXTURES, 'grad', 'torch_checkpoint.pth');
  const bytes = new Uint8Array(readFileSync(file));
  const index = readZipIndex(memorySource(bytes), file);
  const storage = [...index.keys()].find((k) => /\/data\/\d+$/.test(k) && index.get(k)!.size >= 16)!;
  throwsDamaged(() => readCheckpoint(damage(bytes, storage, 9), 'last.pth'), 'last.pth', storage);
  assert.ok(readCheckpoint(bytes, file).model.size > 0, 'the intact file reads');
});

test.run();
