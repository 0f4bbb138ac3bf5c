// The ImageNet evaluation transform, bit-compatible with torchvision on PIL images:
//   Resize(resize, BILINEAR) → CenterCrop(crop) → ToTensor() → Normalize(mean, std)
// PIL's bilinear resize is not textbook bilinear interpolation: it is a separable triangle
// filter whose support widens with the downscale factor (so it antialiases), computed with
// 22-bit fixed-point weights and rounded to uint8 after each pass. We reproduce that
// arithmetic exactly, so the uint8 pixels match PIL and the float output matches to float32
// rounding.

import { ArgumentError, ShapeError } from '../../errors.js';

/** Interleaved 8-bit image (height × width × channels). */
export interface Image8 {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

export interface PreprocessOptions {
  /** Side of the square centre crop (224 for the standard evaluation). */
  crop: number;
  /** Shorter side after resizing; default int(crop / 0.875) as in the seed's evaluation, e.g. 256 for 224. */
  resize?: number;
  mean?: readonly number[];
  std?: readonly number[];
}

export interface Preprocessed {
  /** 1×3×crop×crop, NCHW, float32. */
  data: Float32Array;
  shape: [1, 3, number, number];
}

const PRECISION_BITS = 32 - 8 - 2;

/** Per output index in [first, first + count): first input index, tap count, and fixed-point weights (ksize per row). */
function triangleCoeffs(inSize: number, outSize: number, first: number, count: number): { bounds: Int32Array; weights: Int32Array; ksize: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle filter's support is 1 input pixel, widened when shrinking
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(count * 2);
  const weights = new Int32Array(count * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterScale; // multiply by the reciprocal, as PIL does, for identical rounding
  for (let i = 0; i < count; i++) {
    const center = (first + i + 0.5) * scale;
    // Math.trunc mirrors C's (int) cast, which PIL uses to round these bounds.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      w[x] = t < 1 ? 1 - t : 0;
      sum += w[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const v = sum !== 0 ? w[x]! / sum : w[x]!;
      weights[i * ksize + x] = Math.trunc(v < 0 ? v * (1 << PRECISION_BITS) - 0.5 : v * (1 << PRECISION_BITS) + 0.5);
    }
    bounds[i * 2] = xmin;
    bounds[i * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

const clip8 = (acc: number) => {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * Resizes like PIL's `Image.resize((outW, outH), Image.BILINEAR)` on an 8-bit image:
 * horizontal pass first, then vertical, each skipped when that side keeps its size.
 */
export function resizeBilinear(img: Image8, outW: number, outH: number): Image8 {
  return resizeBilinearWindow(img, outW, outH, 0, 0, outW, outH);
}

/**
 * The window [x0, x0 + w) × [y0, y0 + h) of `resizeBilinear(img, outW, outH)`, bit for bit,
 * at a cost set by the window rather than by outW × outH. Every output pixel depends only on
 * its own filter taps, so the rest of the resized image need never exist: a 1×65535 image
 * resized to 256 × 16.7 M and centre-cropped needs a few input rows and crop² pixels.
 */
export function resizeBilinearWindow(img: Image8, outW: number, outH: number, x0: number, y0: number, w: number, h: number): Image8 {
  const { width: inW, height: inH, channels: c, data } = img;
  checkImage(img);
  if (!Number.isSafeInteger(outW) || !Number.isSafeInteger(outH) || outW < 1 || outH < 1) {
    throw new ArgumentError(`resize: output size must be positive integers, got ${outW}×${outH}`);
  }
  if (![x0, y0, w, h].every(Number.isSafeInteger) || x0 < 0 || y0 < 0 || w < 1 || h < 1 || x0 + w > outW || y0 + h > outH) {
    throw new ArgumentError(`resize: window ${w}×${h} at (${x0}, ${y0}) is outside the ${outW}×${outH} output`);
  }
  // src holds input rows from rowOffset on, srcW pixels a row, the window's first column at colOffset.
  let src = data;
  let srcW = inW;
  let rowOffset = 0;
  let colOffset = x0;
  const vert = outH !== inH ? triangleCoeffs(inH, outH, y0, h) : null;

  if (outW !== inW) {
    // Only the rows the vertical pass will read (or the window's own rows when there is none).
    const first = vert ? vert.bounds[0]! : y0;
    const rows = vert ? vert.bounds[(h - 1) * 2]! + vert.bounds[(h - 1) * 2 + 1]! - first : h;
    const tmp = new Uint8Array(rows * w * c);
    const { bounds, weights, ksize } = triangleCoeffs(inW, outW, x0, w);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + first) * inW * c;
      const outRow = y * w * c;
      for (let xx = 0; xx < w; xx++) {
        const xmin = bounds[xx * 2]!;
        const n = bounds[xx * 2 + 1]!;
        const k = xx * ksize;
        for (let ch = 0; ch < c; ch++) {
          let acc = 1 << (PRECISION_BITS - 1);
          for (let x = 0, p = inRow + xmin * c + ch; x < n; x++, p += c) acc += data[p]! * weights[k + x]!;
          tmp[outRow + xx * c + ch] = clip8(acc);
        }
      }
    }
    src = tmp;
    srcW = w;
    rowOffset = first;
    colOffset = 0;
  }
  const rowLen = w * c;
  const out = new Uint8Array(h * rowLen);
  if (!vert) {
    for (let y = 0; y < h; y++) {
      const from = ((y0 + y - rowOffset) * srcW + colOffset) * c;
      out.set(src.subarray(from, from + rowLen), y * rowLen);
    }
    return { width: w, height: h, channels: c, data: out };
  }
  const { bounds, weights, ksize } = vert;
  const srcRowLen = srcW * c;
  for (let yy = 0; yy < h; yy++) {
    const start = (bounds[yy * 2]! - rowOffset) * srcRowLen + colOffset * c;
    const n = bounds[yy * 2 + 1]!;
    const k = yy * ksize;
    const outRow = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let acc = 1 << (PRECISION_BITS - 1);
      for (let y = 0, p = start + i; y < n; y++, p += srcRowLen) acc += src[p]! * weights[k + y]!;
      out[outRow + i] = clip8(acc);
    }
  }
  return { width: w, height: h, channels: c, data: out };
}

function checkImage(img: Image8): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || !(channels >= 1)) {
    throw new ShapeError(`image must have positive integer width, height and channels, got ${width}×${height}×${channels}`);
  }
  if (data.length !== width * height * channels) {
    throw new ShapeError(`image data has ${data.length} bytes, expected ${width}×${height}×${channels} = ${width * height * channels}`);
  }
}

/** Python's round() on the halves torchvision's CenterCrop produces: ties go to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Output size of torchvision's Resize(size) for an int size: shorter side → size, longer side truncated. */
export function resizedSize(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.trunc((size * height) / width)];
  return [Math.trunc((size * width) / height), size];
}

/** ToTensor then Normalize for one channel, as a table over the 256 byte values (float32 like torch: (v / 255 - mean) / std). */
export function normalizeTable(mean: number, std: number): Float32Array {
  const m = Math.fround(mean), s = Math.fround(std);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(v / 255) - m) / s;
  return lut;
}

let imagenet: Float32Array[] | null = null;
/** normalizeTable for ImageNet's mean and std, per channel (made once). */
export function imagenetTables(): readonly Float32Array[] {
  return (imagenet ??= [0, 1, 2].map((k) => normalizeTable(IMAGENET_MEAN[k]!, IMAGENET_STD[k]!)));
}

/** A black pixel after ImageNet normalisation, −mean/std per channel: what the segmentation toolkit pads with. */
export const IMAGENET_BLACK: readonly number[] = [0, 1, 2].map((k) => -IMAGENET_MEAN[k]! / IMAGENET_STD[k]!);

/** Writes a size × size image (1 or 3 channels; grayscale replicated) as normalised CHW float32 at out[offset…]. */
export function writeNormalized(img: Image8, out: Float32Array, offset: number, tables: readonly Float32Array[]): void {
  const { width: w, height: h, channels: c, data } = img;
  const plane = w * h;
  for (let ch = 0; ch < 3; ch++) {
    const lut = tables[ch]!, src = c === 1 ? 0 : ch, base = offset + ch * plane;
    for (let i = 0; i < plane; i++) out[base + i] = lut[data[i * c + src]!]!;
  }
}

export function preprocess(img: Image8, opts: PreprocessOptions): Preprocessed {
  const crop = opts.crop;
  if (!Number.isInteger(crop) || crop < 1) throw new ArgumentError(`preprocess: crop must be a positive integer, got ${crop}`);
  const size = opts.resize ?? Math.floor(crop / 0.875 + 1e-9);
  if (!Number.isInteger(size) || size < 1) throw new ArgumentError(`preprocess: resize must be a positive integer, got ${size}`);
  const mean = opts.mean ?? IMAGENET_MEAN;
  const std = opts.std ?? IMAGENET_STD;
  if (mean.length !== 3 || std.length !== 3 || std.some((s) => s === 0)) {
    throw new ArgumentError('preprocess: mean and std must have 3 entries and std must be non-zero');
  }
  checkImage(img);
  // Grayscale is replicated to the three channels (as PIL's convert('RGB') does).
  if (img.channels !== 3 && img.channels !== 1) throw new ShapeError(`preprocess expects an RGB or grayscale image (3 or 1 channels), got ${img.channels}`);
  const c = img.channels;

  const [w, h] = resizedSize(img.width, img.height, size);
  if (!Number.isSafeInteger(w) || !Number.isSafeInteger(h)) {
    throw new ShapeError(`preprocess: a ${img.width}×${img.height} image resized to ${size} has no representable size (${w}×${h})`);
  }

  // CenterCrop: when the crop is larger than the image, torchvision zero-pads (left/top get
  // the smaller half) and then crops at offset 0; otherwise offset = round((side - crop) / 2).
  const offset = (side: number) => (crop > side ? -Math.floor((crop - side) / 2) : roundHalfEven((side - crop) / 2));
  const top = offset(h);
  const left = offset(w);
  // Only the part of the resized image that the crop keeps is computed: for a thin image the
  // whole resize can be gigabytes (1×65535 at 256 is 256 × 16.7 M pixels).
  const y0 = Math.max(top, 0), x0 = Math.max(left, 0);
  const rh = Math.min(top + crop, h) - y0, rw = Math.min(left + crop, w) - x0;
  const r = resizeBilinearWindow(img, w, h, x0, y0, rw, rh);

  // ToTensor then Normalize, in float32 like torch: x = v / 255; (x - mean) / std.
  const out = new Float32Array(3 * crop * crop);
  const plane = crop * crop;
  for (let ch = 0; ch < 3; ch++) {
    const lut = normalizeTable(mean[ch]!, std[ch]!);
    for (let i = 0; i < crop; i++) {
      const y = top + i - y0;
      for (let j = 0; j < crop; j++) {
        const x = left + j - x0;
        const v = y >= 0 && y < rh && x >= 0 && x < rw ? r.data[(y * rw + x) * c + (c === 1 ? 0 : ch)]! : 0;
        out[ch * plane + i * crop + j] = lut[v]!;
      }
    }
  }
  return { data: out, shape: [1, 3, crop, crop] };
}

/** The inverse of preprocess's normalisation: a [3, h, w] input back to RGB bytes (h·w·3), for pictures of what the network saw. */
export function toRgb8(chw: Float32Array, h: number, w: number, mean: readonly number[], std: readonly number[]): Uint8Array {
  const n = h * w, rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) rgb[3 * i + k] = Math.round(Math.min(1, Math.max(0, chw[k * n + i]! * std[k]! + mean[k]!)) * 255);
  }
  return rgb;
}
