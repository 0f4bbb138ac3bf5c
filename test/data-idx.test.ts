// The IDX reader (MNIST / Fashion-MNIST format) on files made here, gzipped and not: values,
// shapes, big-endian element types, and a one-line typed error for each way a file is bad.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import { existsSync, readFileSync } from 'node:fs';
import { FormatError, ResourceLimitError } from '../src/errors.js';
import { pairIdx, parseIdx, readIdx } from '../src/data/idx.js';

function idx(type: number, shape: number[], body: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * shape.length);
  const dv = new DataView(head.buffer);
  head[2] = type;
  head[3] = shape.length;
  shape.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

const pixels = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256);
const images = idx(0x08, [2, 3, 4], pixels);
const labels = idx(0x08, [2], Uint8Array.of(7, 2));

test('uint8 images and labels, plain and gzipped', async () => {
  for (const bytes of [images, new Uint8Array(gzipSync(images))]) {
    const a = await readIdx(bytes, 'imgs');
    assert.equal(a.shape, [2, 3, 4]);
    assert.is(a.dtype, 'uint8');
    assert.equal(Array.from(a.data), Array.from(pixels));
  }
  const pair = pairIdx(parseIdx(images), parseIdx(labels), 'i', 'l', 10);
  assert.equal(Array.from(pair.labels), [7, 2]);
  assert.equal(pair.shape, [2, 3, 4]);
});

test('big-endian int32 and float32 elements', () => {
  const body = new Uint8Array(8);
  const dv = new DataView(body.buffer);
  dv.setInt32(0, -5, false);
  dv.setInt32(4, 70000, false);
  assert.equal(Array.from(parseIdx(idx(0x0c, [2], body)).data), [-5, 70000]);
  dv.setFloat32(0, 1.5, false);
  dv.setFloat32(4, -0.25, false);
  assert.equal(Array.from(parseIdx(idx(0x0d, [2], body)).data), [1.5, -0.25]);
});

test('bad files: one typed error naming the file, before any large allocation', async () => {
  const cases: [Uint8Array, RegExp, typeof FormatError | typeof ResourceLimitError][] = [
    [Uint8Array.of(0, 0), /too short/, FormatError],
    [Uint8Array.of(1, 2, 8, 1, 0, 0, 0, 1, 9), /not an IDX file/, FormatError],
    [idx(0x07, [1], Uint8Array.of(1)), /unknown element type 0x7/, FormatError],
    [images.subarray(0, images.length - 1), /needs 40 bytes, the file has 39/, FormatError],
    [idx(0x08, [65536, 65536, 1], new Uint8Array(0)), /more than/, ResourceLimitError],
    [Uint8Array.of(0, 0, 8, 3, 0, 0), /truncated header/, FormatError],
  ];
  for (const [bytes, re, cls] of cases) {
    assert.throws(() => parseIdx(bytes, 'bad.idx'), (e: unknown) => e instanceof cls && re.test((e as Error).message) && /bad.idx/.test((e as Error).message) && !(e as Error).message.includes('\n'), String(re));
  }
  await readIdx(Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2, 3), 'broken.gz').then(() => assert.unreachable(), (e: unknown) => {
    assert.ok(e instanceof FormatError && /broken.gz: not a valid gzip stream/.test((e as Error).message), String(e));
  });
  assert.throws(() => pairIdx(parseIdx(images), parseIdx(idx(0x08, [3], Uint8Array.of(1, 2, 3))), 'i', 'l'), /3 labels for 2 images/);
  assert.throws(() => pairIdx(parseIdx(images), parseIdx(labels), 'i', 'l', 5), /label 7 at index 0 is outside \[0, 5\)/);
});

const DEBIAN = '/usr/share/datasets/fashion-mnist';
test('Fashion-MNIST from Debian (when installed): 10 000 test images of 28×28, labels 0–9', async () => {
  const f = ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((n) => `${DEBIAN}/${n}`);
  if (!f.every(existsSync)) {
    console.log(`  (skipping: no ${DEBIAN}; apt-get install -y dataset-fashion-mnist)`);
    return;
  }
  const [im, lb] = await Promise.all(f.map(async (p) => readIdx(new Uint8Array(readFileSync(p)), p)));
  const pair = pairIdx(im!, lb!, f[0], f[1], 10);
  assert.equal(pair.shape, [10000, 28, 28]);
  const counts = new Array(10).fill(0);
  for (const l of pair.labels) counts[l]++;
  assert.equal(counts, new Array(10).fill(1000));
});

test.run();
