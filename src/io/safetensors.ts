// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {str: str}}, then the byte
// buffer. Offsets are relative to the buffer, and the tensors must tile it exactly with
// neither gaps nor overlaps (as the reference implementation checks).

import { ArgumentError, FormatError, NotSupportedError, ResourceLimitError } from '../errors.js';
import { BYTES_PER_ELEMENT, type RawDType, type StateDict } from './raw.js';
import { bytesToTyped, checkWritable, typedBytes } from './npy.js';

const MAX_HEADER = 100_000_000;

const DTYPES: Record<string, RawDType> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const NAMES: Record<RawDType, string> = {
  float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16',
  int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

/** True when the bytes start like a safetensors file: a plausible header length, then '{'. */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10 || bytes[8] !== 0x7b) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(bytes.length - 8);
}

export function loadSafetensors(bytes: Uint8Array, file?: string): StateDict {
  return loadSafetensorsWithMetadata(bytes, file).tensors;
}

export function loadSafetensorsWithMetadata(bytes: Uint8Array, file?: string): { tensors: StateDict; metadata: Record<string, string> } {
  const fail = (msg: string): never => {
    throw new FormatError(`safetensors: ${msg}`, file);
  };
  if (bytes.length < 8) fail(`file of ${bytes.length} bytes is too short for a header`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) throw new ResourceLimitError(`${file ? `${file}: ` : ''}safetensors: header length ${n} exceeds ${MAX_HEADER} bytes`);
  const hlen = Number(n);
  if (8 + hlen > bytes.length) fail(`header length ${hlen} runs past the end of the ${bytes.length}-byte file`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + hlen)));
  } catch (e) {
    return fail(`header is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('header is not a JSON object');

  const buffer = bytes.subarray(8 + hlen);
  const metadata: Record<string, string> = {};
  const found: { name: string; dtype: RawDType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail('__metadata__ must be an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} must be a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (typeof info !== 'object' || info === null) return fail(`${name}: entry is not an object`);
    const { dtype: d, shape, data_offsets: offs } = info as Record<string, unknown>;
    if (typeof d !== 'string') return fail(`${name}: dtype is missing`);
    const dtype = DTYPES[d];
    if (!dtype) throw new NotSupportedError(`${file ? `${file}: ` : ''}safetensors: ${name}: dtype ${d} is not supported`);
    if (!Array.isArray(shape) || shape.some((x) => !Number.isSafeInteger(x) || x < 0)) return fail(`${name}: shape must be a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || offs.some((x) => !Number.isSafeInteger(x) || x < 0)) {
      return fail(`${name}: data_offsets must be [begin, end]`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > buffer.length) fail(`${name}: data_offsets [${begin}, ${end}] are outside the ${buffer.length}-byte data buffer`);
    let count = 1;
    for (const x of shape as number[]) count *= x;
    if (count * BYTES_PER_ELEMENT[dtype] !== end - begin) {
      fail(`${name}: shape [${shape.join(', ')}] of ${d} needs ${count * BYTES_PER_ELEMENT[dtype]} bytes, data_offsets give ${end - begin}`);
    }
    found.push({ name, dtype, shape: shape as number[], begin, end });
  }

  found.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const t of found) {
    if (t.begin < at) fail(`${t.name}: data_offsets [${t.begin}, ${t.end}] overlap another tensor`);
    if (t.begin > at) fail(`${t.name}: gap of ${t.begin - at} bytes before its data`);
    at = t.end;
  }
  if (at !== buffer.length) fail(`data buffer has ${buffer.length - at} bytes not covered by any tensor`);

  const tensors: StateDict = new Map();
  for (const t of found) {
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: bytesToTyped(t.dtype, buffer.subarray(t.begin, t.end)) });
  }
  return { tensors, metadata };
}

/** Serializes in the dict's order, the header padded with spaces to a multiple of 8 bytes. */
export function saveSafetensors(dict: StateDict, metadata?: Record<string, string>): Uint8Array {
  const parts: string[] = [];
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new ArgumentError(`safetensors metadata '${k}' must be a string`);
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const [name, t] of dict) {
    if (name === '__metadata__') throw new ArgumentError("a tensor cannot be named '__metadata__' in safetensors");
    checkWritable(t, name);
    const end = offset + t.data.byteLength;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${NAMES[t.dtype]}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  let json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) {
    const padded = new Uint8Array(json.length + pad).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of dict.values()) {
    out.set(typedBytes(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}
