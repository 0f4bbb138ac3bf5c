// IDX files (the MNIST / Fashion-MNIST format): a big-endian magic (0, 0, type, rank), rank
// big-endian uint32 dimensions, then the elements row-major. Optionally gzipped; gunzip uses
// the platform's DecompressionStream (Node ≥ 18, Deno, browsers). Every malformed file is a
// one-line FormatError naming it; sizes are checked before anything is allocated.

import { FormatError, ResourceLimitError } from '../errors.js';
import { MAX_NUMEL } from '../tensor/shape.js';

export interface IdxArray {
  dtype: 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
  shape: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, [IdxArray['dtype'], number]> = {
  0x08: ['uint8', 1], 0x09: ['int8', 1], 0x0b: ['int16', 2], 0x0c: ['int32', 4], 0x0d: ['float32', 4], 0x0e: ['float64', 8],
};

/** Whether bytes start with gzip's magic. */
export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/**
 * Decompresses gzip with the platform's DecompressionStream, refusing output beyond maxBytes.
 * Memory stays near the output's size, not twice it: the output array is allocated once and
 * chunks are copied in as they arrive. Its size comes from the gzip trailer (ISIZE, the size
 * mod 2^32 of the last member) when that is at most maxBytes and turns out exact, the usual
 * case; otherwise (a trailer that lies, several members, a bomb) a first pass counts the
 * output without keeping it, stopping at maxBytes, and a second pass fills an array of the
 * counted size.
 */
export async function gunzip(bytes: Uint8Array, file?: string, maxBytes = 512 << 20): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') throw new FormatError('gzip needs DecompressionStream, which this runtime lacks', file);
  const n = bytes.length;
  const hint = n >= 18 ? (bytes[n - 4]! | (bytes[n - 3]! << 8) | (bytes[n - 2]! << 16) | (bytes[n - 1]! << 24)) >>> 0 : 0;
  let guess: Uint8Array | undefined = hint > 0 && hint <= maxBytes ? new Uint8Array(hint) : undefined;
  const total = await inflateGzip(bytes, file, maxBytes, (chunk, at) => {
    if (!guess) return;
    if (at + chunk.length <= guess.length) guess.set(chunk, at);
    else guess = undefined; // dropped at once: the count goes on without it
  });
  if (guess && total === guess.length) return guess;
  guess = undefined;
  const out = new Uint8Array(total);
  const again = await inflateGzip(bytes, file, total, (chunk, at) => out.set(chunk, at));
  if (again !== total) throw new FormatError(`gzip stream decompressed to ${total} bytes, then to ${again}`, file);
  return out;
}

/** Streams the decompressed chunks to `take` (with their offset) and returns the total, refusing more than maxBytes. */
async function inflateGzip(bytes: Uint8Array, file: string | undefined, maxBytes: number, take: (chunk: Uint8Array, at: number) => void): Promise<number> {
  let total = 0;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.length > maxBytes) {
        await reader.cancel();
        throw new ResourceLimitError(`${file ?? 'gzip'}: decompresses to more than ${maxBytes} bytes`);
      }
      take(value, total);
      total += value.length;
    }
  } catch (e) {
    if (e instanceof ResourceLimitError) throw e;
    throw new FormatError(`not a valid gzip stream (${(e as Error).message})`, file);
  }
  return total;
}

/** Parses an (uncompressed) IDX file. */
export function parseIdx(b: Uint8Array, file?: string): IdxArray {
  if (b.length < 4) throw new FormatError(`IDX: ${b.length} bytes is too short for the magic number`, file);
  if (b[0] !== 0 || b[1] !== 0) throw new FormatError(`not an IDX file (magic ${[...b.subarray(0, 4)].map((x) => x.toString(16).padStart(2, '0')).join('')})`, file);
  const type = TYPES[b[2]!];
  if (!type) throw new FormatError(`IDX: unknown element type 0x${b[2]!.toString(16)}`, file);
  const rank = b[3]!;
  if (rank < 1 || rank > 8) throw new FormatError(`IDX: rank ${rank} (1–8 expected)`, file);
  const header = 4 + 4 * rank;
  if (b.length < header) throw new FormatError(`IDX: truncated header (${b.length} of ${header} bytes)`, file);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const n = shape.reduce((a, d) => a * d, 1);
  if (n > MAX_NUMEL) throw new ResourceLimitError(`${file ?? 'IDX'}: shape [${shape.join(', ')}] has ${n} elements, more than ${MAX_NUMEL}`);
  const [dtype, size] = type;
  if (b.length !== header + n * size) {
    throw new FormatError(`IDX: shape [${shape.join(', ')}] of ${dtype} needs ${header + n * size} bytes, the file has ${b.length}`, file);
  }
  const body = b.subarray(header);
  let data: IdxArray['data'];
  if (dtype === 'uint8') data = Uint8Array.from(body);
  else if (dtype === 'int8') data = new Int8Array(Uint8Array.from(body).buffer);
  else {
    const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[dtype];
    data = new Ctor(n);
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    for (let i = 0; i < n; i++) {
      data[i] = dtype === 'int16' ? dv.getInt16(i * 2, false) : dtype === 'int32' ? dv.getInt32(i * 4, false)
        : dtype === 'float32' ? dv.getFloat32(i * 4, false) : dv.getFloat64(i * 8, false);
    }
  }
  return { dtype, shape, data };
}

/** An IDX file's bytes, gzipped or not. */
export async function readIdx(bytes: Uint8Array, file?: string): Promise<IdxArray> {
  return parseIdx(isGzip(bytes) ? await gunzip(bytes, file) : bytes, file);
}

export interface LabelledImages {
  /** uint8 pixels [N, H, W] (grayscale). */
  images: Uint8Array;
  shape: [number, number, number];
  labels: Int32Array;
}

/** An images file ([N, H, W] uint8) and its labels file ([N] uint8), checked against each other. */
export function pairIdx(images: IdxArray, labels: IdxArray, imagesFile = 'images', labelsFile = 'labels', numClasses = 256): LabelledImages {
  if (images.dtype !== 'uint8' || images.shape.length !== 3) {
    throw new FormatError(`IDX images must be uint8 [N, H, W], got ${images.dtype} [${images.shape.join(', ')}]`, imagesFile);
  }
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1) {
    throw new FormatError(`IDX labels must be uint8 [N], got ${labels.dtype} [${labels.shape.join(', ')}]`, labelsFile);
  }
  if (labels.shape[0] !== images.shape[0]) {
    throw new FormatError(`${labels.shape[0]} labels for ${images.shape[0]} images in ${imagesFile}`, labelsFile);
  }
  const l = Int32Array.from(labels.data as Uint8Array);
  const bad = l.findIndex((v) => v >= numClasses);
  if (bad >= 0) throw new FormatError(`label ${l[bad]} at index ${bad} is outside [0, ${numClasses})`, labelsFile);
  return { images: images.data as Uint8Array, shape: images.shape as [number, number, number], labels: l };
}
