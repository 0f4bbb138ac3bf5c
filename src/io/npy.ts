// NumPy .npy files (format versions 1.0, 2.0, 3.0), little-endian C-order arrays only. The
// header is a Python dict literal; it is read by a small strict parser, never evaluated.
// Also home of the typed-array helpers the other parsers share.

import { FormatError, NotSupportedError, ResourceLimitError, ShapeError } from '../errors.js';
import { BYTES_PER_ELEMENT, checkRaw, numel, type RawData, type RawDType, type RawTensor } from './raw.js';

type TypedCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => RawData;

const CTORS: Record<RawDType, TypedCtor> = {
  float64: Float64Array, float32: Float32Array, float16: Uint16Array, bfloat16: Uint16Array,
  int64: BigInt64Array, int32: Int32Array, int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A zero-filled typed array of `n` elements of `dtype`. */
export function allocTyped(dtype: RawDType, n: number): RawData {
  return new CTORS[dtype](new ArrayBuffer(n * BYTES_PER_ELEMENT[dtype]), 0, n);
}

/**
 * Little-endian element bytes as a typed array: a view sharing `bytes` when the offset is
 * aligned to the element size, otherwise one aligned copy. `bytes.length` must be a multiple
 * of the element size.
 */
export function bytesToTyped(dtype: RawDType, bytes: Uint8Array): RawData {
  const size = BYTES_PER_ELEMENT[dtype];
  if (size > 1 && !LITTLE_ENDIAN_HOST) throw new NotSupportedError('big-endian hosts are not supported');
  const src = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  return new CTORS[dtype](src.buffer, src.byteOffset, src.length / size);
}

/** The raw little-endian bytes of a typed array (a view, no copy). */
export function typedBytes(data: RawData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Checks a tensor given to a writer: shape, element count and typed-array kind agree with dtype. */
export function checkWritable(t: RawTensor, name: string): void {
  if (!Object.prototype.hasOwnProperty.call(BYTES_PER_ELEMENT, t.dtype)) throw new ShapeError(`${name}: unknown dtype ${String(t.dtype)}`);
  if (t.shape.some((d) => !Number.isSafeInteger(d) || d < 0) || numel(t.shape) !== t.data.length) {
    throw new ShapeError(`${name}: shape [${t.shape.join(', ')}] does not match ${t.data.length} elements`);
  }
  if (!(t.data instanceof CTORS[t.dtype])) throw new ShapeError(`${name}: ${t.data.constructor.name} cannot hold dtype ${t.dtype}`);
}

const DESCR: Record<string, RawDType> = {
  '<f8': 'float64', '<f4': 'float32', '<f2': 'float16', '<i8': 'int64', '<i4': 'int32', '<i2': 'int16',
  '|i1': 'int8', '|u1': 'uint8', '|b1': 'bool', '<i1': 'int8', '<u1': 'uint8', '<b1': 'bool',
};
const DESCR_OF: Partial<Record<RawDType, string>> = {
  float64: '<f8', float32: '<f4', float16: '<f2', int64: '<i8', int32: '<i4', int16: '<i2', int8: '|i1', uint8: '|u1', bool: '|b1',
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_HEADER = 1 << 20;

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && MAGIC.every((b, i) => bytes[i] === b);
}

type HeaderValue = string | boolean | number | number[];

/** Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` and nothing more general. */
function parseHeader(text: string, fail: (msg: string) => never): Map<string, HeaderValue> {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) fail(`header: expected '${c}' at column ${i}`);
    i++;
  };
  const string = (): string => {
    ws();
    const q = text[i];
    if (q !== "'" && q !== '"') fail(`header: expected a string at column ${i}`);
    const end = text.indexOf(q, i + 1);
    if (end < 0) fail('header: unterminated string');
    const s = text.slice(i + 1, end);
    if (s.includes('\\')) fail('header: escapes in strings are not supported');
    i = end + 1;
    return s;
  };
  const integer = (): number => {
    ws();
    const m = /^[0-9]+L?/.exec(text.slice(i, i + 24));
    if (!m) fail(`header: expected an integer at column ${i}`);
    i += m![0].length;
    const v = Number(m![0].replace('L', ''));
    if (!Number.isSafeInteger(v)) fail(`header: integer ${m![0]} is too large`);
    return v;
  };
  const value = (): HeaderValue => {
    ws();
    const c = text[i];
    if (c === "'" || c === '"') return string();
    if (text.startsWith('True', i)) return (i += 4), true;
    if (text.startsWith('False', i)) return (i += 5), false;
    if (c === '[') throw new NotSupportedError('structured dtypes are not supported');
    if (c === '(') {
      i++;
      const items: number[] = [];
      ws();
      while (text[i] !== ')') {
        items.push(integer());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== ')') fail(`header: expected ',' or ')' at column ${i}`);
        ws();
      }
      i++;
      return items;
    }
    return integer();
  };
  const out = new Map<string, HeaderValue>();
  expect('{');
  ws();
  while (text[i] !== '}') {
    const k = string();
    expect(':');
    if (out.has(k)) fail(`header: duplicate key '${k}'`);
    out.set(k, value());
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail(`header: expected ',' or '}' at column ${i}`);
    ws();
  }
  i++;
  ws();
  if (i !== text.length) fail(`header: unexpected text after the dict at column ${i}`);
  return out;
}

export function readNpy(bytes: Uint8Array, file?: string): RawTensor {
  const fail = (msg: string): never => {
    throw new FormatError(`npy: ${msg}`, file);
  };
  const where = file ? `${file}: ` : '';
  if (!isNpy(bytes)) fail('bad magic (not a .npy file)');
  if (bytes.length < 10) fail('truncated header');
  const major = bytes[6];
  if (major < 1 || major > 3) throw new NotSupportedError(`${where}npy format version ${major}.${bytes[7]} is not supported`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major > 1 && bytes.length < 12) fail('truncated header');
  const start = major === 1 ? 10 : 12;
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (hlen > MAX_HEADER) throw new ResourceLimitError(`${where}npy: header of ${hlen} bytes exceeds ${MAX_HEADER}`);
  if (start + hlen > bytes.length) fail(`header of ${hlen} bytes runs past the end of the file`);
  const raw = bytes.subarray(start, start + hlen);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(raw);
  } catch {
    return fail('header is not valid text');
  }
  const h = parseHeader(text, fail);
  const keys = [...h.keys()].sort().join(',');
  if (keys !== 'descr,fortran_order,shape') fail(`header must have exactly the keys descr, fortran_order, shape (got ${keys})`);
  const descr = h.get('descr'), fortran = h.get('fortran_order'), shape = h.get('shape');
  if (typeof descr !== 'string') return fail('descr must be a string');
  if (typeof fortran !== 'boolean') return fail('fortran_order must be True or False');
  if (!Array.isArray(shape)) return fail('shape must be a tuple');
  const dtype = DESCR[descr];
  if (!dtype) {
    if (descr.startsWith('>') && DESCR[`<${descr.slice(1)}`]) {
      throw new NotSupportedError(`${where}npy: big-endian dtype '${descr}' is not supported; convert with arr.astype('<${descr.slice(1)}')`);
    }
    throw new NotSupportedError(`${where}npy: dtype '${descr}' is not supported`);
  }
  if (fortran) throw new NotSupportedError(`${where}npy: fortran_order arrays are not supported; save np.ascontiguousarray(arr)`);
  const n = numel(shape);
  const dataLen = bytes.length - start - hlen;
  const nbytes = n * BYTES_PER_ELEMENT[dtype];
  if (nbytes !== dataLen) fail(`shape (${shape.join(', ')}) of ${descr} needs ${nbytes} data bytes, file has ${dataLen}`);
  return checkRaw({ dtype, shape, data: bytesToTyped(dtype, bytes.subarray(start + hlen)) }, 'array', file);
}

/** Writes format version 1.0 with the data starting at a multiple of 64 bytes. */
export function writeNpy(t: RawTensor): Uint8Array {
  checkWritable(t, 'array');
  const descr = DESCR_OF[t.dtype];
  if (!descr) throw new NotSupportedError(`npy has no ${t.dtype} dtype`);
  const dims = t.shape.length === 1 ? `${t.shape[0]},` : t.shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const pad = (64 - ((10 + header.length + 1) % 64)) % 64;
  header += ' '.repeat(pad) + '\n';
  if (header.length > 0xffff) throw new NotSupportedError(`npy: a ${t.shape.length}-d header does not fit format 1.0`);
  const body = typedBytes(t.data);
  const out = new Uint8Array(10 + header.length + body.length);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(body, 10 + header.length);
  return out;
}
