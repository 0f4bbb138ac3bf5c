import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, NotSupportedError, ResnestError, ResourceLimitError } from '../src/errors.js';
import { decodeImage } from '../src/io/image/decode.js';
import { decodeJpeg } from '../src/io/image/jpeg.js';
import { decodePng } from '../src/io/image/png.js';

const DIR = join(process.cwd(), 'test/fixtures/images');
const read = (name: string) => new Uint8Array(readFileSync(join(DIR, name)));
const fixtures = readdirSync(DIR);
const pngs = fixtures.filter((f) => f.endsWith('.png'));
const jpegs = fixtures.filter((f) => f.endsWith('.jpg'));

/** Minimal .npy (format 1.0) reader for the uint8 fixtures written by numpy.save. */
function readNpyU8(name: string): { shape: number[]; data: Uint8Array } {
  const b = read(name);
  assert.is(String.fromCharCode(...b.subarray(1, 6)), 'NUMPY');
  const hlen = b[8]! | (b[9]! << 8);
  const header = String.fromCharCode(...b.subarray(10, 10 + hlen));
  assert.match(header, /'descr': '\|u1'/);
  assert.match(header, /'fortran_order': False/);
  const shape = header.match(/'shape': \(([^)]*)\)/)![1]!.split(',').filter((s) => s.trim()).map(Number);
  return { shape, data: b.subarray(10 + hlen) };
}

function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, file: string, pattern?: RegExp): Error {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.ok((e as Error).message.includes(file), `message should name ${file}: ${(e as Error).message}`);
    if (pattern) assert.match((e as Error).message, pattern);
    return e as Error;
  }
  assert.unreachable(`expected ${cls.name} to be thrown`);
  throw new Error('unreachable');
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const v of b) c = crcTable[(c ^ v) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}
function ihdr(w: number, h: number, depth = 8, colorType = 2, interlace = 0): Uint8Array {
  const d = new Uint8Array(13);
  const dv = new DataView(d.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  d.set([depth, colorType, 0, 0, interlace], 8);
  return pngChunk('IHDR', d);
}
const SIG = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
/** Offsets of the chunks of a PNG: [offset, type, dataLength]. */
function chunks(png: Uint8Array): Array<[number, string, number]> {
  const out: Array<[number, string, number]> = [];
  for (let p = 8; p < png.length; ) {
    const len = new DataView(png.buffer, png.byteOffset).getUint32(p);
    out.push([p, String.fromCharCode(...png.subarray(p + 4, p + 8)), len]);
    p += 12 + len;
  }
  return out;
}
/** Recomputes every chunk CRC, so a corruption reaches the decoder proper. */
function fixCrcs(png: Uint8Array): Uint8Array {
  for (const [p, , len] of chunks(png)) {
    new DataView(png.buffer, png.byteOffset).setUint32(p + 8 + len, crc32(png.subarray(p + 4, p + 8 + len)));
  }
  return png;
}

test('fixtures are present', () => {
  assert.ok(pngs.length >= 25, `${pngs.length} PNGs`);
  assert.ok(jpegs.length >= 5, `${jpegs.length} JPEGs`);
});

for (const name of pngs) {
  test(`PNG ${name} decodes exactly to PIL's pixels`, () => {
    const img = decodeImage(read(name), name);
    const want = readNpyU8(`${name}.rgb.npy`);
    assert.equal([img.height, img.width, img.channels], want.shape);
    assert.ok(img.data instanceof Uint8Array);
    let diff = 0;
    for (let i = 0; i < want.data.length; i++) if (img.data[i] !== want.data[i]) diff++;
    assert.is(diff, 0, `${diff} bytes differ`);
  });
}

const jpegStats: string[] = [];
for (const name of jpegs) {
  test(`JPEG ${name} is within tolerance of PIL's decode`, () => {
    const img = decodeImage(read(name), name);
    const want = readNpyU8(`${name}.rgb.npy`);
    assert.equal([img.height, img.width, img.channels], want.shape);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < want.data.length; i++) {
      const d = Math.abs(img.data[i]! - want.data[i]!);
      sum += d;
      if (d > max) max = d;
    }
    const mean = sum / want.data.length;
    jpegStats.push(`${name}: mean |Δ| ${mean.toFixed(3)}, max ${max}`);
    // jpeg-js replicates chroma where libjpeg interpolates, and its IDCT rounds differently.
    assert.ok(mean < 2, `mean abs diff ${mean}`);
    assert.ok(max <= 8, `max abs diff ${max}`);
  });
}

test('grayscale JPEG comes out as 3 equal channels', () => {
  const img = decodeImage(read('gray_36x28.jpg'), 'gray_36x28.jpg');
  assert.is(img.channels, 3);
  assert.is(img.data.length, 36 * 28 * 3);
  for (let i = 0; i < img.data.length; i += 3) {
    assert.ok(img.data[i] === img.data[i + 1] && img.data[i] === img.data[i + 2]);
  }
  console.log(`    JPEG vs PIL: ${jpegStats.join('; ')}`);
});

test('unknown formats are FormatErrors naming the file', () => {
  expectError(() => decodeImage(new TextEncoder().encode('GIF89a....'), 'a.gif'), FormatError, 'a.gif', /not a PNG or JPEG/);
  expectError(() => decodeImage(new Uint8Array(0), 'empty.png'), FormatError, 'empty.png');
  expectError(() => decodePng(read('gray_36x28.jpg'), 'x.png'), FormatError, 'x.png', /signature/);
  expectError(() => decodeJpeg(read('rgb8_37x53.png'), 'x.jpg'), FormatError, 'x.jpg', /SOI/);
});

test('truncated PNGs: every cut point is a FormatError', () => {
  for (const name of ['rgb8_37x53.png', 'gray4_17x11_adam7.png', 'rgb8_31x20_multi_idat.png', 'palette8_trns_29x31.png']) {
    const b = read(name);
    const cuts = new Set([1, 7, 8, 12, 20, 33, 34, 40, 60, b.length >> 1, b.length - 13, b.length - 12, b.length - 1]);
    for (let c = 0; c < b.length; c += 7) cuts.add(c);
    for (const cut of cuts) expectError(() => decodeImage(b.subarray(0, cut), name), FormatError, name);
  }
});

test('PNG CRC mismatch, bad IHDR and structural errors', () => {
  const name = 'rgb8_37x53.png';
  const good = read(name);
  const [, , idatAt] = [0, 0, chunks(good).find((c) => c[1] === 'IDAT')![0]];
  const flipped = Uint8Array.from(good);
  flipped[idatAt + 20]! ^= 0x10;
  expectError(() => decodeImage(flipped, name), FormatError, name, /CRC mismatch in IDAT/);

  const rest = good.subarray(33); // everything after the signature and IHDR
  const withHeader = (h: Uint8Array) => concat(SIG, h, rest);
  expectError(() => decodeImage(withHeader(ihdr(37, 53, 3, 2)), 'd3.png'), FormatError, 'd3.png', /bit depth 3/);
  expectError(() => decodeImage(withHeader(ihdr(37, 53, 8, 5)), 'c5.png'), FormatError, 'c5.png', /colour type 5/);
  expectError(() => decodeImage(withHeader(ihdr(37, 53, 4, 2)), 'c2d4.png'), FormatError, 'c2d4.png', /bit depth 4/);
  expectError(() => decodeImage(withHeader(ihdr(0, 53)), 'w0.png'), FormatError, 'w0.png', /dimensions/);
  expectError(() => decodeImage(withHeader(ihdr(37, 53, 8, 2, 2)), 'i2.png'), FormatError, 'i2.png', /interlace/);
  expectError(() => decodeImage(concat(SIG, pngChunk('IHDR', new Uint8Array(12)), rest), 'l12.png'), FormatError, 'l12.png', /IHDR length/);
  expectError(() => decodeImage(concat(SIG, rest), 'noihdr.png'), FormatError, 'noihdr.png', /IHDR/);
  // IHDR says 37×52: the image data is longer than it implies.
  expectError(() => decodeImage(withHeader(ihdr(37, 52)), 'short.png'), FormatError, 'short.png', /more image data/);
  // IHDR says 37×54: the image data ends early.
  expectError(() => decodeImage(withHeader(ihdr(37, 54)), 'long.png'), FormatError, 'long.png', /truncated/);
  // Missing IEND.
  const iend = chunks(good).find((c) => c[1] === 'IEND')![0];
  expectError(() => decodeImage(good.subarray(0, iend), name), FormatError, name, /IEND/);
  // Unknown critical chunk.
  const withCritical = concat(good.subarray(0, 33), pngChunk('ZZZZ', new Uint8Array(3)), rest);
  expectError(() => decodeImage(withCritical, 'crit.png'), NotSupportedError, 'crit.png', /ZZZZ/);
  // Unknown ancillary chunks are skipped.
  const withAncillary = concat(good.subarray(0, 33), pngChunk('zzZz', new Uint8Array(3)), rest);
  assert.is(decodeImage(withAncillary, 'anc.png').width, 37);
  // Palette image without PLTE.
  const pal = read('palette4_21x6.png');
  const plte = chunks(pal).find((c) => c[1] === 'PLTE')!;
  const noPlte = concat(pal.subarray(0, plte[0]), pal.subarray(plte[0] + 12 + plte[2]));
  expectError(() => decodeImage(noPlte, 'p.png'), FormatError, 'p.png', /PLTE/);
});

test('huge declared PNG dimensions are refused before allocating', () => {
  for (const [w, h] of [[100000, 100000], [60000, 60000], [70000, 1], [0x7fffffff, 0x7fffffff]] as const) {
    const t0 = performance.now();
    // No IDAT at all: the limit must trigger on IHDR, before anything else is looked at.
    expectError(() => decodeImage(concat(SIG, ihdr(w, h)), 'huge.png'), ResourceLimitError, 'huge.png', /above the limit/);
    assert.ok(performance.now() - t0 < 250, "refusal should be immediate");
  }
  const small = read('rgb8_37x53.png');
  expectError(() => decodeImage(small, 'r.png', { maxPixels: 1000 }), ResourceLimitError, 'r.png');
  expectError(() => decodeImage(small, 'r.png', { maxDimension: 50 }), ResourceLimitError, 'r.png');
  assert.is(decodeImage(small, 'r.png', { maxPixels: 37 * 53, maxDimension: 53 }).height, 53);
});

test('PNG whose IDAT inflates far beyond its IHDR is stopped at the declared size', async () => {
  const { deflateSync } = await import('node:zlib');
  const bomb = deflateSync(new Uint8Array(32 << 20), { level: 9 });
  const png = concat(SIG, ihdr(1, 1), pngChunk('IDAT', bomb), pngChunk('IEND', new Uint8Array(0)));
  const t0 = performance.now();
  expectError(() => decodeImage(png, 'bomb.png'), FormatError, 'bomb.png', /more image data/);
  assert.ok(performance.now() - t0 < 200);
});

test('corrupted PNG image data (CRCs fixed up) only throws library errors', () => {
  let s = 12345;
  const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  let decoded = 0;
  for (const name of ['rgb8_37x53.png', 'rgb8_37x53_adam7.png', 'palette2_11x10_adam7.png', 'rgba16_15x19_adam7.png', 'gray1_23x9.png']) {
    const good = read(name);
    const idats = chunks(good).filter((c) => c[1] === 'IDAT');
    for (let i = 0; i < 150; i++) {
      const b = Uint8Array.from(good);
      const [p, , len] = idats[Math.floor(r() * idats.length)]!;
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) b[p + 8 + Math.floor(r() * len)]! ^= 1 << Math.floor(r() * 8);
      try {
        decodeImage(fixCrcs(b), name);
        decoded++;
      } catch (e) {
        assert.ok(e instanceof ResnestError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
        assert.ok((e as Error).message.includes(name));
      }
    }
  }
  assert.ok(decoded < 750);
});

function sofOffset(b: Uint8Array): number {
  for (let p = 2; p < b.length; ) {
    const m = b[p + 1]!;
    if (m >= 0xc0 && m <= 0xc2) return p;
    p += 2 + ((b[p + 2]! << 8) | b[p + 3]!);
  }
  throw new Error('no SOF');
}

test('truncated JPEGs: cut points are FormatErrors', () => {
  for (const name of jpegs) {
    const b = read(name);
    const cuts = new Set([1, 2, 3, 4, 20, 100, b.length >> 1, b.length - 2, b.length - 1]);
    for (let c = 0; c < b.length; c += 37) cuts.add(c);
    for (const cut of cuts) expectError(() => decodeImage(b.subarray(0, cut), name), FormatError, name);
  }
});

test('huge or unsupported JPEG frame headers', () => {
  const name = 'color420_48x40.jpg';
  const good = read(name);
  const sof = sofOffset(good);
  const patched = (mutate: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(good);
    mutate(b);
    return b;
  };
  const setDims = (b: Uint8Array, w: number, h: number) => {
    b[sof + 5] = h >> 8;
    b[sof + 6] = h & 255;
    b[sof + 7] = w >> 8;
    b[sof + 8] = w & 255;
  };
  const t0 = performance.now();
  expectError(() => decodeImage(patched((b) => setDims(b, 65000, 65000)), 'big.jpg'), ResourceLimitError, 'big.jpg');
  expectError(() => decodeImage(patched((b) => setDims(b, 20000, 20000)), 'big.jpg'), ResourceLimitError, 'big.jpg');
  assert.ok(performance.now() - t0 < 250, "refusal should be immediate");
  expectError(() => decodeImage(good, 'lim.jpg', { maxPixels: 100 }), ResourceLimitError, 'lim.jpg');
  expectError(() => decodeImage(patched((b) => setDims(b, 48, 0)), 'dnl.jpg'), NotSupportedError, 'dnl.jpg', /DNL/);
  expectError(() => decodeImage(patched((b) => setDims(b, 0, 40)), 'w0.jpg'), FormatError, 'w0.jpg', /width 0/);
  expectError(() => decodeImage(patched((b) => (b[sof + 1] = 0xc9)), 'arith.jpg'), NotSupportedError, 'arith.jpg', /arithmetic/);
  expectError(() => decodeImage(patched((b) => (b[sof + 1] = 0xc3)), 'll.jpg'), NotSupportedError, 'll.jpg', /lossless/);
  expectError(() => decodeImage(patched((b) => (b[sof + 4] = 12)), 'p12.jpg'), NotSupportedError, 'p12.jpg', /12-bit/);
  // jpeg-js's own memory budget also surfaces as a ResourceLimitError.
  expectError(() => decodeJpeg(good, 'mem.jpg', { maxMemoryUsageInMB: 0.01 }), ResourceLimitError, 'mem.jpg', /memory/);
});

test('corrupted JPEG scan data only throws library errors', () => {
  let s = 999;
  const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const t0 = performance.now();
  for (const name of jpegs) {
    const good = read(name);
    for (let i = 0; i < 100; i++) {
      const b = Uint8Array.from(good);
      for (let k = 0; k < 1 + Math.floor(r() * 4); k++) b[2 + Math.floor(r() * (b.length - 4))]! ^= 1 << Math.floor(r() * 8);
      try {
        const img = decodeImage(b, name);
        assert.is(img.data.length, img.width * img.height * 3);
      } catch (e) {
        assert.ok(e instanceof ResnestError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
        assert.ok((e as Error).message.includes(name));
      }
    }
  }
  assert.ok(performance.now() - t0 < 10000);
});

test.run();
