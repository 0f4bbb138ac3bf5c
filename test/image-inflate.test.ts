import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constants, deflateRawSync, deflateSync } from 'node:zlib';
import { FormatError, NotSupportedError, ResnestError, ResourceLimitError } from '../src/errors.js';
import { adler32, inflateRaw, inflateZlib } from '../src/io/image/inflate.js';

// Deterministic PRNG so failures reproduce.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function samples(): Array<[string, Uint8Array]> {
  const r = rng(1);
  const random = new Uint8Array(70_000).map(() => Math.floor(r() * 256));
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog; '.repeat(3000));
  const skewed = new Uint8Array(300_000).map(() => (r() < 0.9 ? 65 + Math.floor(r() * 4) : Math.floor(r() * 256)));
  return [
    ['empty', new Uint8Array(0)],
    ['one byte', new Uint8Array([42])],
    ['random 70k (stored blocks > 64 KiB)', random],
    ['text', text],
    ['skewed 300k', skewed],
    ['zeros 1M', new Uint8Array(1 << 20)],
  ];
}

function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, pattern?: RegExp): Error {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    if (pattern) assert.match((e as Error).message, pattern);
    return e as Error;
  }
  assert.unreachable(`expected ${cls.name} to be thrown`);
  throw new Error('unreachable');
}

test('inflateZlib and inflateRaw match node:zlib across levels and strategies', () => {
  const strategies = [
    ['default', constants.Z_DEFAULT_STRATEGY],
    ['fixed', constants.Z_FIXED],
    ['huffman-only', constants.Z_HUFFMAN_ONLY],
    ['rle', constants.Z_RLE],
    ['filtered', constants.Z_FILTERED],
  ] as const;
  for (const [name, data] of samples()) {
    for (const level of [0, 1, 6, 9]) {
      for (const [sname, strategy] of strategies) {
        const z = deflateSync(data, { level, strategy });
        const out = inflateZlib(z, { maxOutput: data.length, file: 'x.png' });
        assert.equal(out.length, data.length, `${name} level ${level} ${sname}`);
        assert.ok(Buffer.from(out).equals(Buffer.from(data)), `${name} level ${level} ${sname}`);
        const raw = deflateRawSync(data, { level, strategy });
        assert.ok(Buffer.from(inflateRaw(raw, { maxOutput: data.length })).equals(Buffer.from(data)));
      }
    }
  }
});

test('expectedSize preallocation gives the same result', () => {
  const data = samples()[3]![1];
  const z = deflateSync(data);
  const out = inflateZlib(z, { maxOutput: data.length, expectedSize: data.length });
  assert.ok(Buffer.from(out).equals(Buffer.from(data)));
});

test('adler32 of known strings', () => {
  assert.is(adler32(new TextEncoder().encode('Wikipedia')), 0x11e60398);
  assert.is(adler32(new Uint8Array(0)), 1);
  const big = new Uint8Array(100_000).fill(255);
  assert.is(adler32(big), deflateSync(big).readUInt32BE(deflateSync(big).length - 4));
});

test('zlib bomb: small input, huge output, refused at maxOutput quickly', () => {
  const bomb = deflateSync(new Uint8Array(64 << 20), { level: 9 });
  assert.ok(bomb.length < 100_000, `bomb is ${bomb.length} bytes`);
  const t0 = performance.now();
  expectError(() => inflateZlib(bomb, { maxOutput: 1 << 20, file: 'bomb.png' }), ResourceLimitError, /bomb\.png.*1048576/);
  assert.ok(performance.now() - t0 < 1000, 'refusal should be quick');
  // The bound is inclusive: exactly maxOutput bytes is fine, one fewer is not.
  const exact = deflateSync(new Uint8Array(5000));
  assert.is(inflateZlib(exact, { maxOutput: 5000 }).length, 5000);
  expectError(() => inflateZlib(exact, { maxOutput: 4999 }), ResourceLimitError);
  expectError(() => inflateZlib(exact, { maxOutput: 4999, expectedSize: 4999 }), ResourceLimitError);
});

test('every truncation of a zlib stream is a FormatError naming the file', () => {
  const data = samples()[3]![1].subarray(0, 2000);
  for (const level of [0, 6]) {
    const z = deflateSync(data, { level });
    for (let cut = 0; cut < z.length; cut++) {
      const e = expectError(() => inflateZlib(z.subarray(0, cut), { maxOutput: 1 << 20, file: 'cut.png' }), FormatError);
      assert.is((e as FormatError).file, 'cut.png');
    }
  }
});

test('corrupt zlib headers, checksums and blocks', () => {
  const z = deflateSync(new TextEncoder().encode('hello hello hello hello'));
  const opts = { maxOutput: 1000, file: 'f.png' };
  const bad = (mutate: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(z);
    mutate(b);
    return b;
  };
  expectError(() => inflateZlib(bad((b) => (b[0] = 0x79)), opts), FormatError, /zlib/); // CM 9
  expectError(() => inflateZlib(bad((b) => (b[1] ^= 1)), opts), FormatError, /bad header/); // FCHECK
  expectError(() => inflateZlib(bad((b) => (b[b.length - 1] ^= 1)), opts), FormatError, /Adler/);
  // FDICT set (0x78 0xBB has a valid FCHECK with the dictionary bit).
  expectError(() => inflateZlib(Uint8Array.from([0x78, 0xbb, 0, 0, 0, 0, 0, 0]), opts), NotSupportedError, /dictionary/);
  expectError(() => inflateRaw(Uint8Array.from([0x07, 0, 0]), opts), FormatError, /reserved block type/);
  // Stored block whose NLEN is not the complement of LEN.
  expectError(() => inflateRaw(Uint8Array.from([0x01, 4, 0, 0, 0, 1, 2, 3, 4]), opts), FormatError, /stored block/);

  // Fixed-Huffman block that starts with a back-reference: nothing to copy from yet.
  const bits: number[] = [];
  const put = (v: number, n: number) => { for (let i = 0; i < n; i++) bits.push((v >> i) & 1); };
  const code = (c: number, n: number) => { for (let i = n - 1; i >= 0; i--) bits.push((c >> i) & 1); };
  put(1, 1); // BFINAL
  put(1, 2); // fixed Huffman
  code(0b0000001, 7); // length code 257 (length 3)
  code(0, 5); // distance code 0 (distance 1)
  code(0, 7); // end of block
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => (bytes[i >> 3]! |= b << (i & 7)));
  expectError(() => inflateRaw(bytes, opts), FormatError, /distance/);
});

test('random garbage never hangs and only throws library errors', () => {
  const r = rng(7);
  const t0 = performance.now();
  let ok = 0;
  for (let i = 0; i < 2000; i++) {
    const len = 1 + Math.floor(r() * 200);
    const buf = new Uint8Array(len).map(() => Math.floor(r() * 256));
    try {
      inflateRaw(buf, { maxOutput: 1 << 16, file: 'g' });
      ok++;
    } catch (e) {
      assert.ok(e instanceof ResnestError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  // Bit flips in a real stream: mostly caught by Huffman decoding or the Adler-32.
  const z = deflateSync(samples()[3]![1].subarray(0, 5000));
  for (let i = 0; i < 2000; i++) {
    const b = Uint8Array.from(z);
    b[2 + Math.floor(r() * (b.length - 2))]! ^= 1 << Math.floor(r() * 8);
    try {
      inflateZlib(b, { maxOutput: 1 << 16 });
      ok++;
    } catch (e) {
      assert.ok(e instanceof ResnestError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  assert.ok(performance.now() - t0 < 5000, 'fuzzing took too long');
  assert.ok(ok < 4000);
});

test.run();
