// Lazy zip-format checkpoints: the same tensors as reading the whole file, each read only
// when its data is used; structural problems are caught before any tensor is read.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTorch, loadTorchLazy } from '../src/io/torch.js';
import { saveTorch } from '../src/io/torch-save.js';
import { fileSource } from '../src/io/files.js';
import { memorySource, type ByteSource } from '../src/io/source.js';
import { FileError, FormatError, UnsafeCheckpointError } from '../src/errors.js';
import { assertStateDictsEqual, tensorPickle, torchZip, type TensorSpec } from './helpers/io.js';

const IO = join(process.cwd(), 'test', 'fixtures', 'io');
const dir = mkdtempSync(join(tmpdir(), 'resnest-lazy-'));

function counting(src: ByteSource): ByteSource & { bytesRead: number } {
  const c = { size: src.size, bytesRead: 0, read: (o: number, n: number) => ((c.bytesRead += n), src.read(o, n)) };
  return c;
}

for (const name of ['sd_zip.pth', 'sd_wrapped_zip.pth', 'sd_module_zip.pth']) {
  test(`${name}: lazy tensors equal the eager ones`, () => {
    const path = join(IO, name);
    const eager = loadTorch(new Uint8Array(readFileSync(path)), path);
    const lazy = loadTorchLazy(fileSource(path), path);
    assertStateDictsEqual(eager, lazy, `${name} lazy`);
  });
}

test('opening a 12 MB checkpoint reads its directory only; each tensor is read when used', () => {
  const path = join(dir, 'big.pth');
  const sd = new Map(['a', 'b', 'c'].map((k, i) => [k, { dtype: 'float32' as const, shape: [1024, 1024], data: new Float32Array(1 << 20).fill(i + 1) }]));
  writeFileSync(path, saveTorch(sd));
  const src = counting(fileSource(path));
  const lazy = loadTorchLazy(src, path);
  assert.ok(src.bytesRead < 100_000, `opening read ${src.bytesRead} of ${src.size} bytes`);
  const before = src.bytesRead;
  assert.is((lazy.get('b')!.data as Float32Array)[12345], 2);
  assert.is(src.bytesRead - before, 4 << 20, 'one tensor read');
});

test('200 tensors viewing one storage: each reads only its own window, the storage about once in all', () => {
  const T = 200, N = 1000;
  const storage = Float32Array.from({ length: T * N }, (_, i) => i);
  const specs: TensorSpec[] = Array.from({ length: T }, (_, i) => ({ key: `t${i}`, storage: '0', numel: T * N, offset: i * N, size: [N], stride: [1] }));
  // Non-contiguous views too: a transposed [10, 20] block late in the storage and a row expanded 3 times.
  specs.push({ key: 'tr', storage: '0', numel: T * N, offset: 150_000, size: [10, 20], stride: [1, 10] });
  specs.push({ key: 'ex', storage: '0', numel: T * N, offset: 7, size: [3, 4], stride: [0, 1] });
  const bytes = torchZip(tensorPickle(specs), { 0: new Uint8Array(storage.buffer) });
  const src = counting(memorySource(bytes));
  const lazy = loadTorchLazy(src, 'views.pth', { verifyCrc: false });
  const opened = src.bytesRead;
  for (let i = 0; i < T; i++) {
    const d = lazy.get(`t${i}`)!.data as Float32Array;
    assert.is(d.length, N);
    assert.ok(d[0] === i * N && d[N - 1] === i * N + N - 1, `t${i}`);
  }
  assert.equal(Array.from(lazy.get('tr')!.data as Float32Array).slice(0, 4), [150_000, 150_010, 150_020, 150_030]);
  assert.equal(Array.from(lazy.get('ex')!.data as Float32Array), [7, 8, 9, 10, 7, 8, 9, 10, 7, 8, 9, 10]);
  // Each tensor's own window: the storage once, plus the transposed block's 200 elements and
  // the expanded row's 4 (before, every tensor read the whole storage: 200 times over).
  assert.is(src.bytesRead - opened, storage.byteLength + 4 * (200 + 4));
  assertStateDictsEqual(loadTorch(bytes, 'views.pth'), lazy, 'views lazy');
  // With the CRC checked (the default at this size), the first tensor of a storage reads and
  // checks the whole record once: the storage about twice in all, never once per tensor.
  const checked = counting(memorySource(bytes));
  const verified = loadTorchLazy(checked, 'views.pth');
  const before = checked.bytesRead;
  for (const t of verified.values()) void t.data;
  assert.is(checked.bytesRead - before, storage.byteLength + (storage.byteLength - 4 * N) + 4 * (200 + 4));
});

test('hostile pickles are refused before any storage is read', () => {
  const path = join(IO, 'hostile_zip.pth');
  assert.throws(() => loadTorchLazy(fileSource(path), path), (e: unknown) => e instanceof UnsafeCheckpointError);
});

test('a truncated file fails when opened; a file that changes size fails on read', () => {
  const path = join(IO, 'sd_zip.pth');
  const bytes = readFileSync(path);
  const cut = join(dir, 'cut.pth');
  writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
  assert.throws(() => loadTorchLazy(fileSource(cut), cut), (e: unknown) => e instanceof FormatError && String(e).includes('cut.pth'));
  const grow = join(dir, 'grow.pth');
  copyFileSync(path, grow);
  const sd = loadTorchLazy(fileSource(grow), grow);
  appendFileSync(grow, Buffer.alloc(10));
  const first = [...sd.values()][0]!;
  assert.throws(() => first.data, (e: unknown) => e instanceof FileError && /changed while it was being read/.test(String(e)));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
