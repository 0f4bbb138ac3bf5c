import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FormatError, NotSupportedError, ResourceLimitError } from '../src/errors.js';
import { crc32, readZip } from '../src/io/zip.js';
import { fixture, makeZip, onlyLibraryErrors, throwsKind } from './helpers/io.js';

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

test('crc32 of a known string', () => {
  assert.is(crc32(enc('123456789')), 0xcbf43926);
});

test('reads entries as aligned views, with data descriptors, local sizes, zip64 and a comment', () => {
  const entries: [string, Uint8Array][] = [['a/x', enc('hello')], ['a/empty', new Uint8Array(0)], ['a/y', enc('world!')]];
  for (const opts of [{}, { localSizes: true }, { zip64: true }, { comment: 'a comment with PK\x05\x06 inside' }]) {
    const z = makeZip(entries, opts);
    const m = readZip(z, 'z.zip', { verifyCrc: true });
    assert.equal([...m.keys()], ['a/x', 'a/empty', 'a/y'], JSON.stringify(opts));
    assert.is(text(m.get('a/x')), 'hello');
    assert.is(m.get('a/empty')!.length, 0);
    assert.is(text(m.get('a/y')), 'world!');
    assert.is(m.get('a/y')!.buffer, z.buffer);
    assert.is(m.get('a/y')!.byteOffset % 64, 0);
  }
});

test('the torch fixture: names, alignment, version record', () => {
  const z = fixture('sd_zip.pth');
  const m = readZip(z, 'sd_zip.pth', { verifyCrc: true });
  assert.ok(m.has('sd_zip/data.pkl'));
  assert.is(text(m.get('sd_zip/version')).trim(), '3');
  for (const [k, v] of m) if (k.includes('/data/')) assert.is((v.byteOffset - z.byteOffset) % 64, 0, k);
});

test('errors: missing EOCD, compressed, encrypted, duplicates, CRC, bad signatures', () => {
  throwsKind(() => readZip(enc('not a zip at all, just some text'), 'n.zip'), FormatError, 'n.zip', 'end-of-central-directory');
  throwsKind(() => readZip(new Uint8Array(0), 'e.zip'), FormatError, 'e.zip');
  throwsKind(() => readZip(makeZip([['x', enc('abc')]], { method: 8 }), 'd.zip'), NotSupportedError, 'd.zip', "'x'", 'compressed');
  throwsKind(() => readZip(makeZip([['x', enc('a')], ['x', enc('b')]]), 'dup.zip'), FormatError, 'dup.zip', 'duplicate');
  const z = makeZip([['x', enc('abc')]]);
  const cd = z.length - 22 - 47; // one central record: 46 bytes + the 1-byte name
  const enc1 = z.slice();
  enc1[cd + 8] |= 1;
  throwsKind(() => readZip(enc1, 'enc.zip'), NotSupportedError, 'enc.zip', 'encrypted');
  const badCrc = z.slice();
  badCrc[cd + 16] ^= 1;
  assert.is(text(readZip(badCrc, 'crc.zip').get('x')), 'abc');
  throwsKind(() => readZip(badCrc, 'crc.zip', { verifyCrc: true }), FormatError, 'crc.zip', 'CRC');
  const badSig = z.slice();
  badSig[cd] = 0;
  throwsKind(() => readZip(badSig, 'sig.zip'), FormatError, 'sig.zip', 'signature');
  const badLocal = z.slice();
  badLocal[0] = 0;
  throwsKind(() => readZip(badLocal, 'loc.zip'), FormatError, 'loc.zip', 'local header');
  const tooMany = z.slice();
  tooMany.set([0x10, 0x00], z.length - 22 + 8);
  tooMany.set([0x10, 0x00], z.length - 22 + 10);
  throwsKind(() => readZip(tooMany, 'many.zip'), FormatError, 'many.zip', 'cannot fit');
  const z64 = makeZip([['x', enc('abc')]], { zip64: true });
  const huge = z64.slice();
  huge.set([0x00, 0x00, 0x00, 0x10], z64.length - 22 - 20 - 56 + 32 + 4); // entry count 2^60
  throwsKind(() => readZip(huge, 'huge.zip'), FormatError, 'huge.zip');
  const many = z64.slice();
  many.set([0x00, 0x00, 0x00, 0x01], z64.length - 22 - 20 - 56 + 32); // 16M entries
  throwsKind(() => readZip(many, 'm.zip'), ResourceLimitError, 'm.zip', 'entries');
  const noLocator = z64.slice();
  noLocator[z64.length - 22 - 20] = 0;
  throwsKind(() => readZip(noLocator, 'nl.zip'), FormatError, 'nl.zip', 'locator');
});

test('every truncation and single-byte corruption of an archive is a library error', () => {
  const z = makeZip([['dir/a', enc('x'.repeat(100))], ['dir/b', enc('y'.repeat(10))]], { zip64: true });
  for (let n = 0; n < z.length; n++) onlyLibraryErrors(() => readZip(z.subarray(0, n), 't.zip'), `cut at ${n}`);
  for (let i = 0; i < z.length; i++) {
    for (const v of [0x00, 0xff, z[i] ^ 0x10]) {
      const b = z.slice();
      b[i] = v;
      const e = onlyLibraryErrors(() => readZip(b, 'f.zip', { verifyCrc: true }), `byte ${i} = ${v}`);
      if (e) assert.ok(e.message.includes('f.zip'), e.message);
    }
  }
});

test.run();
