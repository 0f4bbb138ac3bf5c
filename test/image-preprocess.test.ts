import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, ShapeError } from '../src/errors.js';
import { decodeImage } from '../src/io/image/decode.js';
import { createHash } from 'node:crypto';
import { preprocess, resizeBilinear, resizeBilinearWindow, resizedSize, type Image8 } from '../src/io/image/preprocess.js';

const DIR = join(process.cwd(), 'test/fixtures/images');
const read = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));

/** Minimal .npy (format 1.0, little-endian) reader for the fixtures written by numpy.save. */
function readNpy(name: string): { descr: string; shape: number[]; bytes: Uint8Array } {
  const b = read(name);
  assert.is(String.fromCharCode(...b.subarray(1, 6)), 'NUMPY');
  assert.is(b[6], 1, 'npy format 1.x');
  const hlen = b[8]! | (b[9]! << 8);
  const header = String.fromCharCode(...b.subarray(10, 10 + hlen));
  assert.match(header, /'fortran_order': False/);
  const descr = header.match(/'descr': '([^']*)'/)![1]!;
  const shape = header.match(/'shape': \(([^)]*)\)/)![1]!.split(',').filter((s) => s.trim()).map(Number);
  return { descr, shape, bytes: b.subarray(10 + hlen) };
}
function readRgb(name: string): Image8 {
  const { descr, shape, bytes } = readNpy(`${name}.rgb.npy`);
  assert.is(descr, '|u1');
  return { height: shape[0]!, width: shape[1]!, channels: 3, data: Uint8Array.from(bytes) };
}
function readF32(name: string): { shape: number[]; data: Float32Array } {
  const { descr, shape, bytes } = readNpy(name);
  assert.is(descr, '<f4');
  const copy = Uint8Array.from(bytes); // aligns the data for Float32Array
  return { shape, data: new Float32Array(copy.buffer, 0, copy.length / 4) };
}

// Every <image>.r<resize>c<crop>.npy reference written by scripts/make_image_fixtures.py.
const refs = readdirSync(DIR)
  .map((f) => f.match(/^(.*\.(?:png|jpg))\.r(\d+)c(\d+)\.npy$/))
  .filter((m): m is RegExpMatchArray => m !== null);

// PIL's resize is reproduced with its own fixed-point arithmetic, so the uint8 pixels are
// identical and the float32 normalisation is the same sequence of IEEE operations: the
// measured error is 0. The 1e-4 bound is the contract; one uint8 level would be ≈ 0.017.
const TOL = 1e-4;
const measured: string[] = [];

test('reference files are present', () => {
  assert.ok(refs.length >= 6, `${refs.length} references`);
});

for (const [file, image, resize, crop] of refs) {
  test(`preprocess ${image} (resize ${resize}, crop ${crop}) matches the PIL/numpy reference`, () => {
    // PNG: through our decoder (lossless, so PIL's pixels). JPEG: PIL's decoded pixels, so the
    // comparison isolates the transform from JPEG decoder differences.
    const img = image!.endsWith('.png') ? decodeImage(read(image!), image) : readRgb(image!);
    const want = readF32(file!);
    const got = preprocess(img, { crop: Number(crop), resize: Number(resize) });
    assert.equal(got.shape, [1, 3, Number(crop), Number(crop)]);
    assert.equal(want.shape, got.shape);
    assert.ok(got.data instanceof Float32Array);
    let max = 0;
    for (let i = 0; i < want.data.length; i++) max = Math.max(max, Math.abs(got.data[i]! - want.data[i]!));
    measured.push(`${image} r${resize}c${crop}: ${max}`);
    assert.ok(max <= TOL, `max abs error ${max}`);
  });
}

test('default resize is int(crop / 0.875), as the seed evaluates', () => {
  const img = decodeImage(read('pre_wide_128x96.png'), 'pre_wide_128x96.png');
  const want = readF32('pre_wide_128x96.png.r54c48.npy');
  const got = preprocess(img, { crop: 48 });
  let max = 0;
  for (let i = 0; i < want.data.length; i++) max = Math.max(max, Math.abs(got.data[i]! - want.data[i]!));
  assert.ok(max <= TOL);
  console.log(`    preprocess max abs error vs reference: ${measured.join('; ')}`);
});

test('resizedSize follows torchvision (shorter side to size, longer side truncated)', () => {
  assert.equal(resizedSize(96, 80, 37), [44, 37]);
  assert.equal(resizedSize(23, 29, 37), [37, 46]);
  assert.equal(resizedSize(640, 480, 256), [341, 256]);
  assert.equal(resizedSize(500, 500, 256), [256, 256]);
});

test('resizeBilinear: identity, constant images, channel counts', () => {
  const img = readRgb('pre_up_23x29.png');
  const same = resizeBilinear(img, 23, 29);
  assert.ok(Buffer.from(same.data).equals(Buffer.from(img.data)));
  assert.ok(same.data !== img.data, 'returns a copy');
  const flat: Image8 = { width: 50, height: 31, channels: 1, data: new Uint8Array(50 * 31).fill(200) };
  for (const [w, h] of [[7, 5], [50, 9], [13, 31], [120, 77]] as const) {
    const r = resizeBilinear(flat, w, h);
    assert.is(r.data.length, w * h);
    assert.ok(r.data.every((v) => v === 200), `${w}×${h}`);
  }
});

/** A deterministic, busy image (no flat areas for a wrong tap to hide in). */
function noise(width: number, height: number, channels: number): Image8 {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i, 2654435761) >>> 24) ^ (i % 251);
  return { width, height, channels, data };
}

test('thin and padded images: the same floats as resizing the whole image before cropping', () => {
  // SHA-256 prefixes of the output of the full-resize-then-crop implementation this
  // replaced (commit 2a505df): the windowed resize must not move a single bit.
  const pinned: [number, number, number, number, number, string][] = [
    [3, 700, 3, 224, 256, '794ee77b6dc8cba7'], [700, 3, 3, 224, 256, '4f789632017bd418'], [5, 900, 1, 20, 30, '8ea37626a642a59a'],
    [640, 37, 3, 48, 54, '0a355ca37a59375b'], [900, 700, 3, 224, 100, 'de98e4e516de4863'], [300, 7, 3, 10, 5, 'a4460dadc5046353'],
  ];
  for (const [w, h, c, crop, resize, hash] of pinned) {
    const got = preprocess(noise(w, h, c), { crop, resize });
    assert.is(createHash('sha256').update(new Uint8Array(got.data.buffer)).digest('hex').slice(0, 16), hash, `${w}×${h}×${c} r${resize}c${crop}`);
  }
});

test('resizeBilinearWindow is the window of resizeBilinear, for shrinking, growing and kept sides', () => {
  for (const [inW, inH, outW, outH] of [[37, 53, 20, 90], [37, 53, 37, 30], [37, 53, 80, 53], [9, 300, 31, 7], [37, 53, 37, 53]] as const) {
    const img = noise(inW, inH, 3);
    const full = resizeBilinear(img, outW, outH);
    for (const [x0, y0, w, h] of [[0, 0, outW, outH], [1, 2, outW - 1, outH - 2], [outW - 1, outH - 1, 1, 1], [3, 0, 4, outH]]) {
      const win = resizeBilinearWindow(img, outW, outH, x0, y0, w, h);
      assert.equal([win.width, win.height], [w, h]);
      for (let y = 0; y < h; y++) {
        const want = full.data.subarray(((y0 + y) * outW + x0) * 3, ((y0 + y) * outW + x0 + w) * 3);
        assert.ok(Buffer.from(win.data.subarray(y * w * 3, (y + 1) * w * 3)).equals(Buffer.from(want)), `${inW}×${inH}→${outW}×${outH} window ${x0},${y0} ${w}×${h} row ${y}`);
      }
    }
  }
  assert.throws(() => resizeBilinearWindow(noise(4, 4, 1), 8, 8, 5, 0, 4, 1), (e: unknown) => e instanceof ArgumentError);
});

test('a 1×65535 image resized to 256 then cropped: only the crop is computed', () => {
  // The whole resize would be 256 × 16.7 M × 3 bytes, past what a typed array can hold.
  const img = noise(1, 65535, 3);
  const before = process.memoryUsage().arrayBuffers;
  const t = performance.now();
  const got = preprocess(img, { crop: 224, resize: 256 });
  assert.ok(performance.now() - t < 2000, `${performance.now() - t} ms`);
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20);
  assert.equal(got.shape, [1, 3, 224, 224]);
  // Upscaling one column: every output column of a row is the same, and rows vary.
  for (let y = 0; y < 224; y += 37) for (let x = 1; x < 224; x++) assert.is(got.data[y * 224 + x], got.data[y * 224]);
  assert.ok(got.data.some((v) => v !== got.data[0]));
});

test('bad arguments and shapes are typed errors', () => {
  const img = readRgb('pre_up_23x29.png');
  assert.throws(() => preprocess(img, { crop: 0 }), (e: unknown) => e instanceof ArgumentError);
  assert.throws(() => preprocess(img, { crop: 10.5 }), (e: unknown) => e instanceof ArgumentError);
  assert.throws(() => preprocess(img, { crop: 8, resize: -1 }), (e: unknown) => e instanceof ArgumentError);
  assert.throws(() => preprocess(img, { crop: 8, std: [1, 0, 1] }), (e: unknown) => e instanceof ArgumentError);
  assert.throws(() => preprocess({ ...img, channels: 4 }, { crop: 8 }), (e: unknown) => e instanceof ShapeError);
  assert.throws(() => preprocess({ ...img, width: 24 }, { crop: 8 }), (e: unknown) => e instanceof ShapeError);
  assert.throws(() => resizeBilinear(img, 0, 5), (e: unknown) => e instanceof ArgumentError);
});

test.run();
