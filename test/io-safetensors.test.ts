import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ArgumentError, FormatError, NotSupportedError, ResourceLimitError, ShapeError } from '../src/errors.js';
import type { RawTensor, StateDict } from '../src/io/raw.js';
import { loadSafetensors, loadSafetensorsWithMetadata, saveSafetensors } from '../src/io/safetensors.js';
import { assertMatches, assertStateDictsEqual, concat, expected, fixture, onlyLibraryErrors, throwsKind } from './helpers/io.js';

test('the Python-written fixture: values and metadata', () => {
  const { tensors, metadata } = loadSafetensorsWithMetadata(fixture('sd.safetensors'), 'sd.safetensors');
  assert.equal([...tensors.keys()], Object.keys(expected.tensors));
  for (const [k, e] of Object.entries(expected.tensors)) assertMatches(tensors.get(k), e, k);
  assert.equal(metadata, { format: 'pt', source: 'make_io_fixtures.py' });
});

function allDtypes(): StateDict {
  const sd: StateDict = new Map();
  const add = (k: string, t: RawTensor) => sd.set(k, t);
  add('f64', { dtype: 'float64', shape: [2], data: new Float64Array([1e-300, -2.5]) });
  add('f16', { dtype: 'float16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7bff]) }); // odd size: next is misaligned
  add('f32', { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, -2, 3.25, 1e30]) });
  add('bf16', { dtype: 'bfloat16', shape: [1], data: new Uint16Array([0x3f80]) });
  add('i64', { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 7n]) });
  add('i32', { dtype: 'int32', shape: [1, 1], data: new Int32Array([-123456]) });
  add('i16', { dtype: 'int16', shape: [1], data: new Int16Array([-300]) });
  add('i8', { dtype: 'int8', shape: [2], data: new Int8Array([-128, 127]) });
  add('u8', { dtype: 'uint8', shape: [1], data: new Uint8Array([255]) });
  add('bool', { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) });
  add('scalar', { dtype: 'float32', shape: [], data: new Float32Array([4]) });
  add('empty', { dtype: 'float32', shape: [0, 5], data: new Float32Array(0) });
  add('0', { dtype: 'float32', shape: [1], data: new Float32Array([0.5]) }); // integer-like name
  return sd;
}

test('save → load round trip of every dtype, misaligned offsets included', () => {
  const sd = allDtypes();
  const bytes = saveSafetensors(sd, { note: 'round trip' });
  assert.is(new DataView(bytes.buffer).getUint32(0, true) % 8, 0);
  const back = loadSafetensorsWithMetadata(bytes, 'rt.safetensors');
  assertStateDictsEqual(sd, back.tensors, 'round trip');
  assert.equal(back.metadata, { note: 'round trip' });
  // Re-saving the fixture reproduces a loadable, equal file.
  const fx = loadSafetensors(fixture('sd.safetensors'));
  assertStateDictsEqual(fx, loadSafetensors(saveSafetensors(fx)), 'fixture re-save');
});

test('save rejects bad tensors', () => {
  throwsKind(() => saveSafetensors(new Map([['w', { dtype: 'float32', shape: [3], data: new Float32Array(2) }]])), ShapeError, 'w');
  throwsKind(() => saveSafetensors(new Map([['w', { dtype: 'float32', shape: [2], data: new Float64Array(2) }]])), ShapeError, 'w');
  throwsKind(() => saveSafetensors(new Map([['__metadata__', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]])), ArgumentError);
});

/** A file from a header object and a data buffer. */
function file(header: unknown, data: Uint8Array | number[] = [], pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
  return concat(len, json, data);
}

test('hand-made corruptions are FormatErrors naming the file and key', () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  assert.equal(Array.from(loadSafetensors(file(ok, new Uint8Array(new Float32Array([1, 2]).buffer)), 'ok') .get('w')!.data as Float32Array), [1, 2]);
  const name = 'bad.safetensors';
  const cases: [string, Uint8Array, string][] = [
    ['too short', new Uint8Array(5), 'too short'],
    ['length past the end', concat([0xff, 0, 0, 0, 0, 0, 0, 0], new TextEncoder().encode('{}')), 'past the end'],
    ['invalid JSON', file(ok).subarray(0, 20), 'past the end'],
    ['not JSON', concat([2, 0, 0, 0, 0, 0, 0, 0], new TextEncoder().encode('{x')), 'JSON'],
    ['header is a list', file([1, 2]), 'not a JSON object'],
    ['offsets past the end', file(ok, new Uint8Array(4)), 'outside'],
    ['offsets reversed', file({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, new Uint8Array(8)), 'outside'],
    ['size mismatch', file({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), 'w: shape [3]'],
    ['overlap', file({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, new Uint8Array(6)), 'overlap'],
    ['gap', file({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [4, 6] } }, new Uint8Array(6)), 'gap'],
    ['trailing bytes', file(ok, new Uint8Array(12)), 'not covered'],
    ['negative shape', file({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }), 'shape'],
    ['fractional offset', file({ w: { dtype: 'U8', shape: [1], data_offsets: [0, 0.5] } }), 'data_offsets'],
    ['missing dtype', file({ w: { shape: [1], data_offsets: [0, 1] } }, [1]), 'dtype'],
    ['entry not an object', file({ w: 3 }), 'not an object'],
    ['metadata not strings', file({ __metadata__: { a: 1 } }), '__metadata__'],
    ['truncated data', file(ok, new Uint8Array(8)).subarray(0, -3), 'outside'],
  ];
  for (const [what, bytes, needle] of cases) {
    const e = onlyLibraryErrors(() => loadSafetensors(bytes, name), what);
    assert.ok(e instanceof FormatError, `${what}: got ${e?.name ?? 'no error'}`);
    assert.ok(e!.message.includes(name) && e!.message.includes(needle), `${what}: ${e!.message}`);
  }
  throwsKind(() => loadSafetensors(concat([0, 0, 0, 0x10, 0, 0, 0, 0], new Uint8Array(10)), name), ResourceLimitError, name, 'header length');
  throwsKind(() => loadSafetensors(file({ w: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, [0]), name), NotSupportedError, name, 'F8_E4M3');
});

test('fuzz: truncations and byte flips of the fixture never escape as TypeError/RangeError', () => {
  const good = fixture('sd.safetensors');
  for (let n = 0; n < good.length; n += 3) onlyLibraryErrors(() => loadSafetensors(good.subarray(0, n), 'cut'), `cut at ${n}`);
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 2000; i++) {
    const b = good.slice();
    b[Math.floor(rand() * Math.min(b.length, 1500))] = Math.floor(rand() * 256);
    onlyLibraryErrors(() => loadSafetensors(b, 'flip'), `flip #${i}`);
  }
});

test.run();
