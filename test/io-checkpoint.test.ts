import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FormatError, UnsafeCheckpointError } from '../src/errors.js';
import { loadCheckpoint } from '../src/io/checkpoint.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { assertMatches, expected, fixture, throwsKind } from './helpers/io.js';

test('detects every checkpoint format by content', () => {
  for (const name of ['sd_zip.pth', 'sd_legacy.pth', 'sd.safetensors', 'sd_wrapped_zip.pth', 'sd_wrapped_module_legacy.pth']) {
    const sd = loadCheckpoint(fixture(name), name);
    for (const [k, e] of Object.entries(expected.tensors)) assertMatches(sd.get(k), e, `${name} ${k}`);
  }
  for (const name of ['hostile_zip.pth', 'hostile_legacy.pth']) throwsKind(() => loadCheckpoint(fixture(name), name), UnsafeCheckpointError, 'posix.system');
});

test('a safetensors header length starting 0x80 0x02 is not mistaken for a pickle', () => {
  // Pads the header to exactly 0x280 bytes so the file starts 80 02 00 ...
  const sd = new Map([['w', { dtype: 'float32' as const, shape: [1], data: new Float32Array([2]) }]]);
  const pad = 'x'.repeat(0x280 - 100);
  let bytes = saveSafetensors(sd, { pad });
  const hlen = new DataView(bytes.buffer).getUint32(0, true);
  bytes = saveSafetensors(sd, { pad: pad + 'x'.repeat(0x280 - hlen) });
  assert.equal([bytes[0], bytes[1]], [0x80, 0x02]);
  assert.equal(Array.from(loadCheckpoint(bytes, 'p.safetensors').get('w')!.data as Float32Array), [2]);
});

test('anything else is a FormatError that says what was expected', () => {
  throwsKind(() => loadCheckpoint(new TextEncoder().encode('hello world, not weights'), 'notes.txt'), FormatError, 'notes.txt', 'not a PyTorch checkpoint', 'safetensors');
  throwsKind(() => loadCheckpoint(new Uint8Array(0), 'empty.pth'), FormatError, 'empty.pth', 'empty');
  throwsKind(() => loadCheckpoint(fixture('f4_3d.npy'), 'a.npy'), FormatError, 'a.npy', 'readNpy');
  throwsKind(() => loadCheckpoint(new Uint8Array([0x1f, 0x8b, 8, 0]), 'w.pth.gz'), FormatError, 'gzip');
  const pk = fixture('sd_zip.pth').slice();
  pk[2] = 0;
  throwsKind(() => loadCheckpoint(pk, 'pk.pth'), FormatError, 'pk.pth', 'not a PyTorch checkpoint');
});

test.run();
