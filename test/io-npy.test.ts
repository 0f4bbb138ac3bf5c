import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FormatError, NotSupportedError, ResourceLimitError } from '../src/errors.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import type { RawDType, RawTensor } from '../src/io/raw.js';
import { assertMatches, concat, expected, fixture, onlyLibraryErrors, throwsKind } from './helpers/io.js';

const DTYPE_OF: Record<string, RawDType> = {
  '<f4': 'float32', '<f8': 'float64', '<f2': 'float16', '<i8': 'int64', '<i4': 'int32', '<i2': 'int16', '|i1': 'int8', '|u1': 'uint8', '|b1': 'bool',
};

test('numpy-written files (versions 1.0, 2.0, 3.0) match expected.json', () => {
  let n = 0;
  for (const [name, e] of Object.entries(expected.npy)) {
    if (name === 'fortran.npy' || name === 'bigendian.npy') continue;
    assertMatches(readNpy(fixture(name), name), e, name, DTYPE_OF[e.dtype]);
    n++;
  }
  assert.is(n, 13);
  assert.equal(Array.from(readNpy(fixture('i8_1d.npy')).data as BigInt64Array).slice(0, 2), [-5000015n, -4000012n]);
  assert.equal(Array.from(readNpy(fixture('b1_1d.npy')).data as Uint8Array), [1, 0, 0, 1]);
  assert.equal(readNpy(fixture('f4_0d.npy')).shape, []);
});

test('fortran order and big-endian are NotSupportedError', () => {
  throwsKind(() => readNpy(fixture('fortran.npy'), 'fortran.npy'), NotSupportedError, 'fortran.npy', 'fortran_order');
  throwsKind(() => readNpy(fixture('bigendian.npy'), 'bigendian.npy'), NotSupportedError, 'bigendian.npy', "'>f4'");
});

const samples: RawTensor[] = [
  { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) },
  { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, -0, 1e-310]) },
  { dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0xfc00]) },
  { dtype: 'int64', shape: [2, 1], data: new BigInt64Array([2n ** 63n - 1n, -1n]) },
  { dtype: 'int32', shape: [1], data: new Int32Array([-(2 ** 31)]) },
  { dtype: 'int16', shape: [2], data: new Int16Array([-1, 2]) },
  { dtype: 'int8', shape: [2], data: new Int8Array([-1, 2]) },
  { dtype: 'uint8', shape: [1, 1, 2], data: new Uint8Array([0, 255]) },
  { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
  { dtype: 'float32', shape: [], data: new Float32Array([7]) },
  { dtype: 'float32', shape: [0, 2], data: new Float32Array(0) },
];

test('write → read round trip for every dtype; data starts at a multiple of 64', () => {
  for (const t of samples) {
    const b = writeNpy(t);
    const hlen = b[8] | (b[9] << 8);
    assert.is((10 + hlen) % 64, 0);
    assert.is(b[10 + hlen - 1], 0x0a);
    const back = readNpy(b, 'rt.npy');
    assert.is(back.dtype, t.dtype);
    assert.equal(back.shape, t.shape);
    assert.equal(Array.from(back.data as ArrayLike<number>), Array.from(t.data as ArrayLike<number>));
  }
  const header = new TextDecoder().decode(writeNpy(samples[0]).subarray(10, 128));
  assert.ok(header.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), header);
  assert.ok(new TextDecoder().decode(writeNpy(samples[4]).subarray(10, 128)).includes("'shape': (1,)"));
  throwsKind(() => writeNpy({ dtype: 'bfloat16', shape: [1], data: new Uint16Array(1) }), NotSupportedError, 'bfloat16');
});

function npy(header: string, data: number[] | Uint8Array = [], version = 1): Uint8Array {
  const h = new TextEncoder().encode(header);
  const len = version === 1 ? [h.length & 0xff, h.length >> 8] : [h.length & 0xff, (h.length >> 8) & 0xff, 0, 0];
  return concat([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0], len, h, data);
}

test('header parser: accepted spellings', () => {
  const t = readNpy(npy(`{"shape": (2L,), "fortran_order": False, "descr": "<i2"}\n`, [1, 0, 2, 0]));
  assert.equal([t.dtype, t.shape, Array.from(t.data as Int16Array)], ['int16', [2], [1, 2]]);
  assert.equal(readNpy(npy(`{'descr':'<f4','fortran_order':False,'shape':()}`, [0, 0, 0x80, 0x3f])).data, new Float32Array([1]));
});

test('hand-made corruptions are FormatErrors naming the file', () => {
  const name = 'bad.npy';
  const good = writeNpy(samples[0]);
  const flipped = good.slice();
  flipped[1] = 0x4f;
  const cases: [string, Uint8Array, string][] = [
    ['bad magic', flipped, 'magic'],
    ['too short', good.subarray(0, 5), 'magic'],
    ['no header length', good.subarray(0, 8), 'truncated'],
    ['truncated header length', good.subarray(0, 9), 'truncated'],
    ['header past the end', good.subarray(0, 40), 'past the end'],
    ['short data', good.subarray(0, good.length - 1), 'needs 24 data bytes'],
    ['extra data', concat(good, [0]), 'needs 24 data bytes'],
    ['not a dict', npy("['descr']"), "expected '{'"],
    ['unterminated dict', npy("{'descr': '<f4', "), 'expected a string'],
    ['unterminated string', npy("{'descr: '<f4'}"), 'header'],
    ['missing key', npy("{'descr': '<f4', 'shape': (1,)}"), 'exactly the keys'],
    ['extra key', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", [0, 0, 0, 0]), 'exactly the keys'],
    ['duplicate key', npy("{'descr': '<f4', 'descr': '<f4'}"), 'duplicate'],
    ['shape not a tuple', npy("{'descr': '<f4', 'fortran_order': False, 'shape': 3}"), 'tuple'],
    ['negative dim', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}"), 'integer'],
    ['float dim', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}"), "','"],
    ['huge dim', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}"), 'too large'],
    ['huge product', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"), 'data bytes'],
    ['fortran not bool', npy("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}"), 'fortran_order'],
    ['code in header', npy("{'descr': __import__('os'), 'fortran_order': False, 'shape': ()}"), 'header'],
    ['text after dict', npy("{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", [0, 0, 0, 0]), 'after the dict'],
  ];
  for (const [what, bytes, needle] of cases) {
    const e = onlyLibraryErrors(() => readNpy(bytes, name), what);
    assert.ok(e instanceof FormatError, `${what}: got ${e?.name ?? 'no error'}: ${e?.message}`);
    assert.ok(e!.message.includes(name) && e!.message.includes(needle), `${what}: ${e!.message}`);
  }
  throwsKind(() => readNpy(npy("{'descr': '<c8', 'fortran_order': False, 'shape': ()}"), name), NotSupportedError, "'<c8'");
  throwsKind(() => readNpy(npy("{'descr': '|O', 'fortran_order': False, 'shape': ()}"), name), NotSupportedError, "'|O'");
  throwsKind(() => readNpy(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}"), name), NotSupportedError, 'structured');
  throwsKind(() => readNpy(concat([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0], [0, 0, 0, 0x10], new Uint8Array(4))), ResourceLimitError, 'header');
  throwsKind(() => readNpy(concat([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 9, 0, 0, 0])), NotSupportedError, 'version 9');
});

test('fuzz: truncations and byte flips never escape as TypeError/RangeError', () => {
  const good = fixture('f4_3d.npy');
  for (let n = 0; n < good.length; n++) onlyLibraryErrors(() => readNpy(good.subarray(0, n), 'cut'), `cut at ${n}`);
  for (let i = 0; i < 128; i++) {
    for (let v = 0; v < 256; v += 5) {
      const b = good.slice();
      b[i] = v;
      onlyLibraryErrors(() => readNpy(b, 'flip'), `byte ${i} = ${v}`);
    }
  }
});

test.run();
