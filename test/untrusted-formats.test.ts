// Container and image formats against inputs built to cost memory or time: overlapping zip
// entries, a checkpoint that views one storage through many expanded tensors, images whose
// headers promise far more pixels than their data can hold, JPEGs with thousands of scans,
// and the safetensors header bound. Each is a typed error before the memory is allocated.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, ResourceLimitError } from '../src/errors.js';
import { readZip } from '../src/io/zip.js';
import { loadTorch } from '../src/io/torch.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { decodeImage } from '../src/io/image/decode.js';
import { crc32 } from '../src/util/crc32.js';
import { concat, f32bytes, makeZip, tensorPickle, throwsKind, torchZip, type TensorSpec } from './helpers/io.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** Runs fn, asserting it is fast and that ArrayBuffer memory did not jump while it ran. */
function cheap<T>(what: string, fn: () => T, ms = 500, bytes = 32 << 20): T {
  const ab0 = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  const r = fn();
  const dt = performance.now() - t0;
  const grew = process.memoryUsage().arrayBuffers - ab0;
  assert.ok(dt < ms, `${what}: ${dt.toFixed(0)} ms`);
  assert.ok(grew < bytes, `${what}: ArrayBuffers grew by ${(grew / 2 ** 20).toFixed(0)} MB`);
  return r;
}

// ---------------------------------------------------------------- zip

test('zip: entries that overlap (inconsistent central directory) are refused', () => {
  const z = makeZip([['a', enc('x'.repeat(50))], ['b', enc('y'.repeat(50))]]);
  assert.is(readZip(z).size, 2);
  // Stretch entry a's size in the central directory so that its data runs over entry b.
  const dv = new DataView(z.buffer);
  let cd = z.length - 22;
  cd = dv.getUint32(cd + 16, true);
  const bad = z.slice();
  const bdv = new DataView(bad.buffer);
  bdv.setUint32(cd + 20, 150, true);
  bdv.setUint32(cd + 24, 150, true);
  throwsKind(() => readZip(bad, 'o.zip'), FormatError, 'o.zip', "'a' and 'b' overlap");
  // The usual suspects, for completeness: an entry count larger than the directory, offsets
  // past the end, a central directory that claims more than the file.
  const count = z.slice();
  new DataView(count.buffer).setUint16(z.length - 22 + 10, 3, true);
  new DataView(count.buffer).setUint16(z.length - 22 + 8, 3, true);
  throwsKind(() => readZip(count, 'c.zip'), FormatError, 'c.zip');
  const off = z.slice();
  new DataView(off.buffer).setUint32(cd + 42, 0x7fffffff, true);
  throwsKind(() => readZip(off, 'off.zip'), FormatError, 'off.zip', 'outside the file');
  const cdSize = z.slice();
  new DataView(cdSize.buffer).setUint32(z.length - 22 + 12, 0xfffffff, true);
  throwsKind(() => readZip(cdSize, 's.zip'), FormatError, 's.zip', 'runs past the end');
});

// ---------------------------------------------------------------- torch copies

test('torch: one small storage viewed by many expanded tensors hits the copy budget, quickly', () => {
  // 4 bytes of storage, 200 tensors of 4096×4096 float32 (64 MiB each) with zero strides:
  // 12.5 GiB if materialized. Before the budget each was allowed up to 64 MiB.
  const specs: TensorSpec[] = [];
  for (let i = 0; i < 200; i++) specs.push({ key: `t${i}`, storage: '0', numel: 1, size: [4096, 4096], stride: [0, 0] });
  const file = torchZip(tensorPickle(specs), { 0: f32bytes([1]) });
  assert.ok(file.length < 64 * 1024);
  const e = cheap('expanded views', () => throwsKind(() => loadTorch(file, 'exp.pth'), ResourceLimitError, 'exp.pth', 't0:', 'may copy'), 500, 20 << 20);
  assert.match(e.message, /size \[4096, 4096\], stride \[0, 0\]/);
  // Within the budget, expanded and transposed tensors load as before.
  const ok = torchZip(tensorPickle([
    { key: 'e', storage: '0', numel: 1, size: [512, 512], stride: [0, 0] },
    { key: 't', storage: '1', numel: 6, size: [3, 2], stride: [1, 3] },
  ]), { 0: f32bytes([2]), 1: f32bytes([1, 2, 3, 4, 5, 6]) });
  const sd = loadTorch(ok, 'ok.pth');
  assert.is(sd.get('e')!.data.length, 512 * 512);
  assert.equal(Array.from(sd.get('t')!.data as Float32Array), [1, 4, 2, 5, 3, 6]);
  // Many non-contiguous views of one real storage: copies beyond twice the file are refused.
  const big = new Float32Array(256 * 1024);
  const many: TensorSpec[] = [];
  for (let i = 0; i < 40; i++) many.push({ key: `v${i}`, storage: '0', numel: big.length, size: [512, 512], stride: [1, 512] });
  throwsKind(() => loadTorch(torchZip(tensorPickle(many), { 0: new Uint8Array(big.buffer) }), 'views.pth'), ResourceLimitError, 'views.pth', 'may copy');
});

// ---------------------------------------------------------------- PNG

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(enc(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}
function png(w: number, h: number, depth: number, colorType: number, idat: Uint8Array): Uint8Array {
  const hdr = new Uint8Array(13);
  const dv = new DataView(hdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  hdr.set([depth, colorType, 0, 0, 0], 8);
  return concat([137, 80, 78, 71, 13, 10, 26, 10], chunk('IHDR', hdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0)));
}

test('PNG: a small file declaring a big (allowed) image is refused before the image is allocated', () => {
  const idat = deflateSync(new Uint8Array(4096));
  for (const [w, h] of [[10_000, 10_000], [9000, 9000], [65_535, 1500]] as const) {
    const file = png(w, h, 16, 6, idat); // 8 bytes per pixel: 800 MB for 10000×10000
    cheap(`${w}×${h}`, () => throwsKind(() => decodeImage(file, 'bomb.png'), FormatError, 'bomb.png', 'cannot hold'));
  }
});

test('PNG: maximally compressed real images still decode (the bound is deflate\'s own 1032:1)', () => {
  for (const [w, h, depth, ct] of [[4000, 600, 1, 0], [1500, 1500, 8, 0], [700, 700, 8, 2]] as const) {
    const channels = ct === 2 ? 3 : 1;
    const row = 1 + Math.ceil((w * depth * channels) / 8);
    const raw = new Uint8Array(row * h); // filter 0, all-zero samples
    const file = png(w, h, depth, ct, deflateSync(raw, { level: 9 }));
    assert.ok(raw.length / file.length > 500, `ratio ${raw.length / file.length}`);
    const img = decodeImage(file, 'zeros.png');
    assert.is(img.width * img.height, w * h);
  }
});

// ---------------------------------------------------------------- JPEG

const IMAGES = join(process.cwd(), 'test/fixtures/images');
const jpg = (name: string) => new Uint8Array(readFileSync(join(IMAGES, name)));

function segments(b: Uint8Array): { at: number; marker: number; end: number }[] {
  const out = [];
  for (let p = 2; p < b.length; ) {
    const marker = b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    out.push({ at: p, marker, end: p + 2 + len });
    if (marker === 0xda) break;
    p += 2 + len;
  }
  return out;
}

test('JPEG: a small file declaring a big (allowed) frame is refused before jpeg-js allocates it', () => {
  for (const name of ['gray_36x28.jpg', 'color420_48x40.jpg', 'progressive_56x48.jpg']) {
    const good = jpg(name);
    const sof = segments(good).find((s) => s.marker >= 0xc0 && s.marker <= 0xc2)!;
    for (const [w, h] of [[9000, 9000], [4000, 4000], [10_000, 1000]]) {
      const b = good.slice();
      b.set([h >> 8, h & 255, w >> 8, w & 255], sof.at + 5);
      // Before: ~3.7 s and ~650 MB for 9000×9000 from a 701-byte file, then "unexpected marker".
      cheap(`${name} ${w}×${h}`, () => throwsKind(() => decodeImage(b, 'big.jpg'), FormatError, 'big.jpg', 'cannot hold'), 300);
    }
    assert.is(decodeImage(good, name).data.length % 3, 0);
    // The same with the scan naming components the frame does not have: still refused
    // (jpeg-js allocates every frame component at the frame header, scanned or not).
    const sos = segments(good).find((s) => s.marker === 0xda)!;
    const b = good.slice();
    b.set([0x23, 0x28, 0x23, 0x28], sof.at + 5);
    for (let c = 0; c < b[sos.at + 4]!; c++) b[sos.at + 5 + 2 * c] = 99 + c;
    cheap(`${name} unknown scan components`, () => throwsKind(() => decodeImage(b, 'big.jpg'), FormatError, 'big.jpg', 'cannot hold'), 300);
  }
});

test('JPEG: more than 500 scans is a ResourceLimitError', () => {
  const good = jpg('progressive_56x48.jpg');
  const segs = segments(good);
  const sos = segs.find((s) => s.marker === 0xda)!;
  // The first scan (header and data) repeated 600 times.
  let end = sos.end;
  while (!(good[end] === 0xff && good[end + 1] !== 0 && !(good[end + 1]! >= 0xd0 && good[end + 1]! <= 0xd7))) end++;
  const scan = good.subarray(sos.at, end);
  const parts = [good.subarray(0, sos.at), ...new Array<Uint8Array>(600).fill(scan), Uint8Array.of(0xff, 0xd9)];
  throwsKind(() => decodeImage(concat(...parts), 'scans.jpg'), ResourceLimitError, 'scans.jpg', '500 scans');
});

// ---------------------------------------------------------------- safetensors

test('safetensors: header bound is 100 MB exactly; bad JSON of every kind is a FormatError', () => {
  const len = (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
    return b;
  };
  throwsKind(() => loadSafetensors(concat(len(100_000_001), enc('{}')), 'h.safetensors'), ResourceLimitError, 'h.safetensors', '100000000');
  throwsKind(() => loadSafetensors(concat(len(100_000_000), enc('{}')), 'h.safetensors'), FormatError, 'past the end');
  const bad = ['{"a":', '{"a":1,}', '\u00ff\u00fe', '{"a": NaN}', '[' .repeat(200_000), '{"a":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'];
  for (const text of bad) {
    const json = enc(text);
    const file = concat(len(json.length), json);
    const e = throwsKind(() => loadSafetensors(file, 'j.safetensors'), FormatError, 'j.safetensors');
    assert.not.ok(e.message.includes('\n'));
  }
  const invalidUtf8 = concat(len(4), [0x7b, 0xc3, 0x28, 0x7d]);
  throwsKind(() => loadSafetensors(invalidUtf8, 'u.safetensors'), FormatError, 'JSON');
});

test.run();
