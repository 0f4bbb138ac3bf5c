// PNG decoder (PNG spec, 2nd/3rd edition): every standard colour type and bit depth, Adam7
// interlacing and all five row filters, to 8-bit RGB. Alpha is dropped, not composited, and
// tRNS is ignored: that is what PIL's `Image.open(f).convert('RGB')` does, which is how
// torchvision-style pipelines read images. 16-bit samples keep their high byte (as PIL does
// for 16-bit RGB/RGBA). Gamma, colour profiles and text chunks are ignored (PIL ignores them
// on load too).

import { FormatError, NotSupportedError, ResourceLimitError } from '../../errors.js';
import { inflateZlib, MAX_DEFLATE_RATIO } from './inflate.js';
import { crc32 } from '../../util/crc32.js';

/** A decoded image: 8-bit RGB, interleaved, row-major (height × width × 3). */
export interface DecodedImage {
  width: number;
  height: number;
  channels: 3;
  data: Uint8Array;
}

/** Bounds checked against the header before any pixel memory is allocated. */
export interface ImageLimits {
  /** Largest width × height accepted (default 100 megapixels, like jpeg-js). */
  maxPixels?: number;
  /** Largest width or height accepted (default 65535, the most a JPEG can declare). */
  maxDimension?: number;
}

export const DEFAULT_MAX_PIXELS = 100_000_000;
export const DEFAULT_MAX_DIMENSION = 65535;

export function checkImageLimits(
  width: number,
  height: number,
  format: string,
  file: string | undefined,
  limits: ImageLimits | undefined,
): void {
  const maxDim = limits?.maxDimension ?? DEFAULT_MAX_DIMENSION;
  const maxPix = limits?.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width > maxDim || height > maxDim || width * height > maxPix) {
    throw new ResourceLimitError(
      `${file ? `${file}: ` : ''}${format} declares ${width}×${height} pixels, above the limit ` +
        `(${maxDim} per side, ${maxPix} in all); raise maxPixels/maxDimension to decode it`,
    );
  }
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

const u32 = (b: Uint8Array, p: number) => ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;

/** Samples per pixel for each colour type; undefined marks an invalid type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Adam7 passes: x0, y0, dx, dy. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((v, i) => bytes[i] === v);
}

/** A label map (a segmentation mask): one 8-bit value per pixel, row-major. */
export interface LabelMap {
  width: number;
  height: number;
  data: Uint8Array;
}

const IDENTITY_PALETTE = Uint8Array.from({ length: 768 }, (_, i) => Math.floor(i / 3));

/**
 * A segmentation mask: an 8-bit (or packed) greyscale PNG's values, or a palette PNG's indices
 * (PASCAL's masks), as stored. Colour masks are refused: their classes would have to be guessed
 * from colours.
 */
export function decodeLabelPng(bytes: Uint8Array, file?: string, limits?: ImageLimits): LabelMap {
  const { width, height, data, header } = decodePngWith(bytes, file, limits, IDENTITY_PALETTE);
  if ((header.colorType !== 0 && header.colorType !== 3) || header.depth > 8) {
    throw new FormatError(`a mask must be a greyscale or palette PNG of at most 8 bits (class indices), not colour type ${header.colorType} at ${header.depth} bits`, file);
  }
  // Packed greys were scaled to 0..255 by bit replication: undo it.
  const scale = header.colorType === 0 && header.depth < 8 ? 255 / ((1 << header.depth) - 1) : 1;
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = data[3 * i]! / scale;
  return { width, height, data: out };
}

export function decodePng(bytes: Uint8Array, file?: string, limits?: ImageLimits): DecodedImage {
  const { width, height, data } = decodePngWith(bytes, file, limits);
  return { width, height, channels: 3, data };
}

/** Decodes to RGB; `forcePalette` replaces the file's PLTE (label maps read indices through an identity one). */
function decodePngWith(bytes: Uint8Array, file: string | undefined, limits: ImageLimits | undefined, forcePalette?: Uint8Array): { width: number; height: number; data: Uint8Array; header: Header } {
  if (!isPng(bytes)) throw new FormatError('not a PNG image (bad signature)', file);
  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  const idat: Array<[number, number]> = [];
  let idatDone = false;
  let ended = false;

  let pos = 8;
  while (pos < bytes.length) {
    if (pos + 12 > bytes.length) throw new FormatError(`truncated PNG (incomplete chunk header at byte ${pos})`, file);
    const len = u32(bytes, pos);
    const typeStart = pos + 4;
    const dataStart = pos + 8;
    if (len > 0x7fffffff) throw new FormatError(`corrupt PNG (chunk length ${len} at byte ${pos})`, file);
    if (dataStart + len + 4 > bytes.length) throw new FormatError(`truncated PNG (chunk at byte ${pos} runs past the end)`, file);
    const type = String.fromCharCode(bytes[typeStart]!, bytes[typeStart + 1]!, bytes[typeStart + 2]!, bytes[typeStart + 3]!);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new FormatError(`corrupt PNG (invalid chunk type at byte ${pos})`, file);
    if (crc32(bytes, typeStart, dataStart + len) !== u32(bytes, dataStart + len)) {
      throw new FormatError(`corrupt PNG (CRC mismatch in ${type} chunk at byte ${pos})`, file);
    }
    pos = dataStart + len + 4;

    if (!header && type !== 'IHDR') throw new FormatError(`corrupt PNG (first chunk is ${type}, not IHDR)`, file);
    if (idat.length > 0 && type !== 'IDAT') idatDone = true;
    switch (type) {
      case 'IHDR':
        if (header) throw new FormatError('corrupt PNG (more than one IHDR)', file);
        header = parseHeader(bytes, dataStart, len, file);
        checkImageLimits(header.width, header.height, 'PNG', file, limits);
        break;
      case 'PLTE':
        if (idat.length > 0) throw new FormatError('corrupt PNG (PLTE after IDAT)', file);
        if (len === 0 || len % 3 !== 0 || len > 768) throw new FormatError(`corrupt PNG (PLTE length ${len})`, file);
        // Indices past the palette's end read as black (the spec leaves them undefined).
        palette = new Uint8Array(768);
        palette.set(bytes.subarray(dataStart, dataStart + len));
        break;
      case 'IDAT':
        if (idatDone) throw new FormatError('corrupt PNG (IDAT chunks are not consecutive)', file);
        idat.push([dataStart, dataStart + len]);
        break;
      case 'IEND':
        ended = true;
        break;
      default:
        // Bit 5 of the first letter clear (upper case) marks a critical chunk we must understand.
        if (!(bytes[typeStart]! & 0x20)) {
          throw new NotSupportedError(`${file ? `${file}: ` : ''}PNG uses unknown critical chunk '${type}'`);
        }
    }
    if (ended) break;
  }
  if (!header) throw new FormatError('truncated PNG (no IHDR)', file);
  if (!ended) throw new FormatError('truncated PNG (no IEND chunk)', file);
  if (idat.length === 0) throw new FormatError('corrupt PNG (no IDAT chunk)', file);
  if (header.colorType === 3 && !palette) throw new FormatError('corrupt PNG (palette image without PLTE)', file);

  const { width, height, depth, colorType, interlace } = header;
  const bitsPerPixel = CHANNELS[colorType]! * depth;
  const bpp = Math.ceil(bitsPerPixel / 8); // filter distance in bytes
  const passes: Array<{ x0: number; y0: number; dx: number; dy: number; w: number; h: number }> = [];
  if (interlace) {
    for (const [x0, y0, dx, dy] of ADAM7) {
      const w = width > x0 ? Math.ceil((width - x0) / dx) : 0;
      const h = height > y0 ? Math.ceil((height - y0) / dy) : 0;
      if (w > 0 && h > 0) passes.push({ x0, y0, dx, dy, w, h });
    }
  } else {
    passes.push({ x0: 0, y0: 0, dx: 1, dy: 1, w: width, h: height });
  }
  const rowBytes = (w: number) => Math.ceil((w * bitsPerPixel) / 8);
  let expected = 0;
  for (const p of passes) expected += p.h * (1 + rowBytes(p.w));

  // DEFLATE expands at most 1032:1 (a 258-byte match coded in two 1-bit codes), so image data
  // this short cannot hold what IHDR declares: refuse before allocating for it. Without this
  // a few hundred bytes declaring 10000×10000 would cost a 300 MB buffer before inflate
  // noticed the data ends.
  let idatBytes = 0;
  for (const [s, e] of idat) idatBytes += e - s;
  if (expected > idatBytes * MAX_DEFLATE_RATIO) {
    throw new FormatError(
      `truncated PNG (${idatBytes} bytes of compressed image data cannot hold the ${expected} bytes a ${width}×${height} image needs)`,
      file,
    );
  }

  let compressed: Uint8Array;
  if (idat.length === 1) {
    compressed = bytes.subarray(idat[0]![0], idat[0]![1]);
  } else {
    let total = 0;
    for (const [s, e] of idat) total += e - s;
    compressed = new Uint8Array(total);
    let o = 0;
    for (const [s, e] of idat) {
      compressed.set(bytes.subarray(s, e), o);
      o += e - s;
    }
  }
  let raw: Uint8Array;
  try {
    raw = inflateZlib(compressed, { maxOutput: expected, expectedSize: expected, file });
  } catch (e) {
    // The bound is exactly what IHDR implies, so overrunning it is a malformed file, not a big one.
    if (e instanceof ResourceLimitError) throw new FormatError('corrupt PNG (more image data than IHDR declares)', file);
    throw e;
  }
  if (raw.length !== expected) {
    throw new FormatError(`truncated PNG (image data has ${raw.length} of ${expected} bytes)`, file);
  }

  const out = new Uint8Array(width * height * 3);
  const pal = forcePalette ?? palette ?? new Uint8Array(768);
  let p0 = 0;
  for (const pass of passes) {
    const rb = rowBytes(pass.w);
    for (let r = 0; r < pass.h; r++) {
      const line = p0 + 1;
      unfilter(raw, raw[p0]!, line, r === 0 ? -1 : line - rb - 1, rb, bpp, file);
      emitRow(raw, line, pass.w, header, pal, out, ((pass.y0 + r * pass.dy) * width + pass.x0) * 3, pass.dx * 3);
      p0 += rb + 1;
    }
  }
  return { width, height, data: out, header };
}

function parseHeader(b: Uint8Array, p: number, len: number, file: string | undefined): Header {
  if (len !== 13) throw new FormatError(`corrupt PNG (IHDR length ${len}, expected 13)`, file);
  const width = u32(b, p);
  const height = u32(b, p + 4);
  const depth = b[p + 8]!;
  const colorType = b[p + 9]!;
  const interlace = b[p + 12]!;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new FormatError(`corrupt PNG (invalid dimensions ${width}×${height})`, file);
  }
  if (!(colorType in DEPTHS)) throw new FormatError(`corrupt PNG (invalid colour type ${colorType})`, file);
  if (!DEPTHS[colorType]!.includes(depth)) {
    throw new FormatError(`corrupt PNG (bit depth ${depth} is invalid for colour type ${colorType})`, file);
  }
  if (b[p + 10] !== 0) throw new FormatError(`corrupt PNG (unknown compression method ${b[p + 10]})`, file);
  if (b[p + 11] !== 0) throw new FormatError(`corrupt PNG (unknown filter method ${b[p + 11]})`, file);
  if (interlace > 1) throw new FormatError(`corrupt PNG (unknown interlace method ${interlace})`, file);
  return { width, height, depth, colorType, interlace };
}

/** Reverses one row's filter in place; `prev` is the previous row of the same pass, or -1. */
function unfilter(raw: Uint8Array, type: number, line: number, prev: number, n: number, bpp: number, file: string | undefined): void {
  switch (type) {
    case 0:
      return;
    case 1: // Sub
      for (let i = bpp; i < n; i++) raw[line + i] = raw[line + i]! + raw[line + i - bpp]!;
      return;
    case 2: // Up
      if (prev < 0) return;
      for (let i = 0; i < n; i++) raw[line + i] = raw[line + i]! + raw[prev + i]!;
      return;
    case 3: // Average
      for (let i = 0; i < n; i++) {
        const left = i >= bpp ? raw[line + i - bpp]! : 0;
        const up = prev >= 0 ? raw[prev + i]! : 0;
        raw[line + i] = raw[line + i]! + ((left + up) >>> 1);
      }
      return;
    case 4: // Paeth
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? raw[line + i - bpp]! : 0;
        const b = prev >= 0 ? raw[prev + i]! : 0;
        const c = i >= bpp && prev >= 0 ? raw[prev + i - bpp]! : 0;
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        raw[line + i] = raw[line + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      return;
    default:
      throw new FormatError(`corrupt PNG (unknown row filter type ${type})`, file);
  }
}

/** Converts one unfiltered row of `w` pixels to RGB, writing every `step` bytes from `o`. */
function emitRow(raw: Uint8Array, line: number, w: number, h: Header, pal: Uint8Array, out: Uint8Array, o: number, step: number): void {
  const { depth, colorType } = h;
  if (depth < 8) {
    // Packed samples, most significant bits first; grey levels scale to 0..255 by bit replication.
    const mask = (1 << depth) - 1;
    const scale = 255 / mask;
    for (let x = 0; x < w; x++, o += step) {
      const bit = x * depth;
      const v = (raw[line + (bit >>> 3)]! >>> (8 - depth - (bit & 7))) & mask;
      if (colorType === 3) {
        out[o] = pal[v * 3]!;
        out[o + 1] = pal[v * 3 + 1]!;
        out[o + 2] = pal[v * 3 + 2]!;
      } else {
        out[o] = out[o + 1] = out[o + 2] = v * scale;
      }
    }
    return;
  }
  const bps = depth >>> 3; // bytes per sample; for 16-bit the first (high) byte is kept
  const stride = CHANNELS[colorType]! * bps;
  let s = line;
  if (colorType === 2 || colorType === 6) {
    // The common case, kept free of per-pixel branching.
    for (let x = 0; x < w; x++, o += step, s += stride) {
      out[o] = raw[s]!;
      out[o + 1] = raw[s + bps]!;
      out[o + 2] = raw[s + 2 * bps]!;
    }
    return;
  }
  for (let x = 0; x < w; x++, o += step, s += stride) {
    switch (colorType) {
      case 0:
      case 4:
        out[o] = out[o + 1] = out[o + 2] = raw[s]!;
        break;
      case 3: {
        const v = raw[s]! * 3;
        out[o] = pal[v]!;
        out[o + 1] = pal[v + 1]!;
        out[o + 2] = pal[v + 2]!;
        break;
      }
    }
  }
}
