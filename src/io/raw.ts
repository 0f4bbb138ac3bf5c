// The neutral currency between file formats and tensors: a contiguous, row-major typed
// array with its dtype and shape. Parsers produce these; the model loader converts them to
// float32 tensors on whatever backend the model lives on.

import { FormatError, NotSupportedError } from '../errors.js';

export type RawDType =
  | 'float64' | 'float32' | 'float16' | 'bfloat16'
  | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export type RawData =
  | Float64Array | Float32Array | Uint16Array /* float16, bfloat16 bit patterns */
  | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array /* uint8, bool */;

export interface RawTensor {
  dtype: RawDType;
  shape: number[];
  /** Contiguous row-major elements; length = product(shape). */
  data: RawData;
}

/** An ordered map from parameter name to tensor, like PyTorch's OrderedDict state dict. */
export type StateDict = Map<string, RawTensor>;

export const BYTES_PER_ELEMENT: Record<RawDType, number> = {
  float64: 8, float32: 4, float16: 2, bfloat16: 2,
  int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Whether a value (from a pickle, a checkpoint) is a RawTensor. */
export const isRawTensor = (v: unknown): v is RawTensor =>
  typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v && ArrayBuffer.isView((v as RawTensor).data);

/** float32 → IEEE half with round-to-nearest-even (as torch's .half()), overflow to ±Inf. */
export function floatToHalf(v: number): number {
  const f = new Float32Array([v]), u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000, exp = (u >>> 23) & 0xff, man = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal half: shift the full mantissa (with its hidden bit) into place, rounding to even.
    const m = man | 0x800000, shift = 14 - e;
    const half = 1 << (shift - 1), rest = m & ((1 << shift) - 1);
    let out = m >>> shift;
    if (rest > half || (rest === half && out & 1)) out++;
    return sign | out;
  }
  let out = (e << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && out & 1)) out++; // may carry into the exponent, which is right
  return sign | out;
}

/** A float32 tensor stored as float16 (other dtypes unchanged). */
export function toHalf(t: RawTensor): RawTensor {
  if (t.dtype !== 'float32') return t;
  const src = t.data as Float32Array, out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = floatToHalf(src[i]!);
  return { dtype: 'float16', shape: [...t.shape], data: out };
}

/** Converts any numeric raw tensor to float32 (int64 beyond 2^53 loses precision, as in torch.float()). */
export function toFloat32(t: RawTensor, name = 'tensor'): Float32Array {
  const { data, dtype } = t;
  if (dtype === 'float32') return data as Float32Array;
  const n = data.length;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'float16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat((data as Uint16Array)[i]!);
      return out;
    case 'bfloat16': {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = (data as Uint16Array)[i]! << 16;
      return out;
    }
    case 'int64':
      for (let i = 0; i < n; i++) out[i] = Number((data as BigInt64Array)[i]!);
      return out;
    case 'float64': case 'int32': case 'int16': case 'int8': case 'uint8': case 'bool':
      for (let i = 0; i < n; i++) out[i] = (data as Float64Array)[i]!;
      return out;
    default:
      throw new NotSupportedError(`${name}: cannot convert dtype ${String(dtype)} to float32`);
  }
}

/** Checks that a raw tensor's data length matches its shape (parsers call this before returning). */
export function checkRaw(t: RawTensor, name: string, file?: string): RawTensor {
  const n = numel(t.shape);
  if (t.shape.some((d) => !Number.isSafeInteger(d) || d < 0) || n !== t.data.length) {
    throw new FormatError(`${name}: shape [${t.shape.join(', ')}] does not match ${t.data.length} elements`, file);
  }
  return t;
}
