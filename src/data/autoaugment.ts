// AutoAugment (ImageNet policy) and ColorJitter on 8-bit images, reproducing torchvision 0.14
// on PIL images bit for bit: the ops of torchvision.transforms.autoaugment._apply_op, the
// policy and magnitude tables, and ColorJitter's four adjustments. torchvision hands PIL images
// to Pillow (9.4), so the arithmetic below is libImaging's: float32 where it computes in
// float, its 16.16 fixed-point affine sampler, its integer grey conversion. Comments point at
// the Pillow/torchvision behaviour each piece reproduces; the code is written from those
// definitions, not translated.
//
// Images are interleaved HWC with 1 (PIL "L") or 3 (PIL "RGB") channels. Every op returns a
// new image and leaves its input alone. Random draws come from a seeded Rng; they do not
// replay torch's generator, but given the same draw the result is torchvision's.

import { ArgumentError, ShapeError } from '../errors.js';
import type { Image8 } from '../io/image/preprocess.js';
import type { Rng } from '../util/random.js';

export type OpName =
  | 'ShearX' | 'ShearY' | 'TranslateX' | 'TranslateY' | 'Rotate'
  | 'Brightness' | 'Color' | 'Contrast' | 'Sharpness'
  | 'Posterize' | 'Solarize' | 'AutoContrast' | 'Equalize' | 'Invert';

export const OP_NAMES: readonly OpName[] = [
  'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate', 'Brightness', 'Color', 'Contrast',
  'Sharpness', 'Posterize', 'Solarize', 'AutoContrast', 'Equalize', 'Invert',
];

const f32 = Math.fround;

function check(img: Image8, what: string): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ShapeError(`${what}: image must have positive integer width and height, got ${width}×${height}`);
  }
  if (channels !== 1 && channels !== 3) {
    throw new ShapeError(`${what}: image must have 1 (grey) or 3 (RGB) channels, got ${channels}`);
  }
  if (data.length !== width * height * channels) {
    throw new ShapeError(`${what}: image data has ${data.length} bytes, expected ${width}×${height}×${channels} = ${width * height * channels}`);
  }
}

const withData = (img: Image8, data: Uint8Array): Image8 => ({ width: img.width, height: img.height, channels: img.channels, data });
const copy = (img: Image8): Image8 => withData(img, img.data.slice());

// ---------------------------------------------------------------------------------------------
// Geometry: PIL's Image.transform(AFFINE, NEAREST) with a fill colour of 0.

/** C's (int) cast as libImaging's COORD uses it: anything below 0 is "outside" (-1). */
const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v));

/**
 * Samples `img` through the inverse affine map `a` (output pixel centre → input point), as
 * libImaging's ImagingTransformAffine does for nearest neighbour. Pillow picks one of three
 * loops and they round differently, so all three are reproduced: a pure scale/translation
 * (float steps), the 16.16 fixed-point loop (whenever the corners map inside ±32768, i.e.
 * always for real images), and the float fallback. Pixels that sample outside stay 0.
 */
export function transformAffine(img: Image8, a: readonly number[]): Image8 {
  check(img, 'affine');
  const { width: w, height: h, channels: c, data: src } = img;
  const out = new Uint8Array(src.length);
  const put = (x: number, y: number, xi: number, yi: number) => {
    const o = (y * w + x) * c, s = (yi * w + xi) * c;
    for (let k = 0; k < c; k++) out[o + k] = src[s + k]!;
  };
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  if (a1 === 0 && a3 === 0) {
    // ImagingScaleAffine: the column of every output x is tabulated once (a calloc'd table,
    // so unset entries inside [xmin, xmax) would read column 0, as Pillow's would).
    const xintab = new Int32Array(w);
    let xmin = w, xmax = 0, xo = a2 + a0 * 0.5;
    for (let x = 0; x < w; x++) {
      const xi = coord(xo);
      if (xi >= 0 && xi < w) {
        xmax = x + 1;
        if (x < xmin) xmin = x;
        xintab[x] = xi;
      }
      xo += a0;
    }
    let yo = a5 + a4 * 0.5;
    for (let y = 0; y < h; y++) {
      const yi = coord(yo);
      if (yi >= 0 && yi < h) for (let x = xmin; x < xmax; x++) put(x, y, xintab[x]!, yi);
      yo += a4;
    }
    return withData(img, out);
  }
  const fits = (x: number, y: number) => Math.abs(x * a0 + y * a1 + a2) < 32768 && Math.abs(x * a3 + y * a4 + a5) < 32768;
  if (fits(0, 0) && fits(w, h) && fits(0, h) && fits(w, 0)) {
    // affine_fixed: 16.16 fixed point, rounded once per coefficient, then stepped by integer
    // adds; the sample is the integer part (an arithmetic shift, i.e. floor).
    const fix = (v: number) => Math.floor(v * 65536 + 0.5) | 0;
    const f0 = fix(a0), f1 = fix(a1), f3 = fix(a3), f4 = fix(a4);
    let rx = fix(a2 + a0 * 0.5 + a1 * 0.5), ry = fix(a5 + a3 * 0.5 + a4 * 0.5);
    for (let y = 0; y < h; y++) {
      let xx = rx, yy = ry;
      for (let x = 0; x < w; x++) {
        const xi = xx >> 16;
        if (xi >= 0 && xi < w) {
          const yi = yy >> 16;
          if (yi >= 0 && yi < h) put(x, y, xi, yi);
        }
        xx = (xx + f0) | 0;
        yy = (yy + f3) | 0;
      }
      rx = (rx + f1) | 0;
      ry = (ry + f4) | 0;
    }
    return withData(img, out);
  }
  // The float loop for maps too large for 16.16.
  let xo = a2 + a1 * 0.5 + a0 * 0.5, yo = a5 + a4 * 0.5 + a3 * 0.5;
  for (let y = 0; y < h; y++) {
    let xx = xo, yy = yo;
    for (let x = 0; x < w; x++) {
      const xi = coord(xx);
      if (xi >= 0 && xi < w) {
        const yi = coord(yy);
        if (yi >= 0 && yi < h) put(x, y, xi, yi);
      }
      xx += a0;
      yy += a3;
    }
    xo += a1;
    yo += a4;
  }
  return withData(img, out);
}

// CPython's math.radians / math.degrees multiply by these constants; dividing instead would
// differ in the last bit.
const DEG_TO_RAD = Math.PI / 180;
const RAD_TO_DEG = 180 / Math.PI;

/**
 * torchvision's _get_inverse_affine_matrix (inverted form): the map from output to input for
 * rotation `angle`, translation, scale and shear (degrees) about `center`, evaluated in the
 * same order so that the doubles agree.
 */
export function inverseAffineMatrix(center: readonly [number, number], angle: number, translate: readonly [number, number],
  scale: number, shear: readonly [number, number]): number[] {
  const rot = angle * DEG_TO_RAD, sx = shear[0] * DEG_TO_RAD, sy = shear[1] * DEG_TO_RAD;
  const [cx, cy] = center, [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = -Math.cos(rot - sy) * Math.tan(sx) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = -Math.sin(rot - sy) * Math.tan(sx) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((v) => v / scale) as [number, number, number, number, number, number];
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

export interface AffineOptions {
  angle?: number;
  translate?: readonly [number, number];
  scale?: number;
  /** Degrees, parallel to x and to y. */
  shear?: readonly [number, number];
  /** Default: the image centre (w/2, h/2), without PIL's half-pixel offset, as torchvision. */
  center?: readonly [number, number];
}

/** torchvision F.affine on a PIL image, nearest neighbour, fill 0. */
export function affine(img: Image8, o: AffineOptions): Image8 {
  check(img, 'affine');
  const center = o.center ?? [img.width * 0.5, img.height * 0.5];
  return transformAffine(img, inverseAffineMatrix(center, o.angle ?? 0, o.translate ?? [0, 0], o.scale ?? 1, o.shear ?? [0, 0]));
}

/** Python's float %: the result takes the divisor's sign. */
function pyMod(a: number, b: number): number {
  let m = a % b;
  if (m !== 0) {
    if (m < 0 !== b < 0) m += b;
  } else m = 0;
  return m;
}

/**
 * Python's round(x, 15). toFixed rounds the exact binary value to the nearest 15-decimal
 * number as CPython's dtoa does; they could only part on an exact tie, which a sine or cosine
 * never produces.
 */
const round15 = (x: number) => Number(x.toFixed(15));

/** PIL's Transpose for the right-angle fast paths of Image.rotate. */
function rightAngle(img: Image8, quarterTurns: 1 | 2 | 3): Image8 {
  const { width: w, height: h, channels: c, data } = img;
  const ow = quarterTurns === 2 ? w : h, oh = quarterTurns === 2 ? h : w;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Counter-clockwise: ROTATE_90 sends (x, y) to row w-1-x, column y; ROTATE_270 to row x, column h-1-y.
      const [ox, oy] = quarterTurns === 1 ? [y, w - 1 - x] : quarterTurns === 2 ? [w - 1 - x, h - 1 - y] : [h - 1 - y, x];
      const s = (y * w + x) * c, o = (oy * ow + ox) * c;
      for (let k = 0; k < c; k++) out[o + k] = data[s + k]!;
    }
  }
  return { width: ow, height: oh, channels: c, data: out };
}

/**
 * PIL's Image.rotate(angle, NEAREST, expand=False) about the centre (w/2, h/2), fill 0, which
 * is what torchvision F.rotate does with a PIL image. Angles are counter-clockwise degrees.
 * PIL rounds the rotation matrix to 15 decimals (so that right angles are exact) and
 * transposes for 0°/180° (and 90°/270° on square images).
 */
export function rotate(img: Image8, angle: number): Image8 {
  check(img, 'Rotate');
  const { width: w, height: h } = img;
  const deg = pyMod(angle, 360);
  if (deg === 0) return copy(img);
  if (deg === 180) return rightAngle(img, 2);
  if ((deg === 90 || deg === 270) && w === h) return rightAngle(img, deg === 90 ? 1 : 3);
  const t = -(deg * DEG_TO_RAD);
  const m = [round15(Math.cos(t)), round15(Math.sin(t)), 0, round15(-Math.sin(t)), round15(Math.cos(t)), 0] as
    [number, number, number, number, number, number];
  const cx = w / 2, cy = h / 2;
  m[2] = m[0] * -cx + m[1] * -cy + m[2] + cx;
  m[5] = m[3] * -cx + m[4] * -cy + m[5] + cy;
  return transformAffine(img, m);
}

/**
 * AutoAugment's ShearX: torchvision passes shear = degrees(atan(magnitude)) so that the
 * shear matrix holds tan(atan(m)) ≈ m, as in the original AutoAugment, and shears about the
 * top-left corner (center [0, 0]).
 */
export function shearX(img: Image8, magnitude: number): Image8 {
  return affine(img, { shear: [Math.atan(magnitude) * RAD_TO_DEG, 0], center: [0, 0] });
}

/** AutoAugment's ShearY (see shearX). */
export function shearY(img: Image8, magnitude: number): Image8 {
  return affine(img, { shear: [0, Math.atan(magnitude) * RAD_TO_DEG], center: [0, 0] });
}

/** AutoAugment's TranslateX: torchvision truncates the magnitude to whole pixels (int()). */
export function translateX(img: Image8, magnitude: number): Image8 {
  return affine(img, { translate: [Math.trunc(magnitude), 0] });
}

/** AutoAugment's TranslateY (see translateX). */
export function translateY(img: Image8, magnitude: number): Image8 {
  return affine(img, { translate: [0, Math.trunc(magnitude)] });
}

// ---------------------------------------------------------------------------------------------
// Enhancement: PIL's ImageEnhance, which blends the image with a "degenerate" version.

/** PIL's RGB → L: ITU-R 601-2 weights in 16.16 fixed point, rounded. */
function greyOf(img: Image8): Uint8Array {
  const { channels: c, data } = img;
  if (c === 1) return data.slice();
  const n = data.length / 3, out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = (data[3 * i]! * 19595 + data[3 * i + 1]! * 38470 + data[3 * i + 2]! * 7471 + 0x8000) >>> 16;
  }
  return out;
}

/** An L image converted to the image's mode (RGB repeats the grey value). */
function spread(grey: Uint8Array, c: number): Uint8Array {
  if (c === 1) return grey;
  const out = new Uint8Array(grey.length * c);
  for (let i = 0; i < grey.length; i++) for (let k = 0; k < c; k++) out[i * c + k] = grey[i]!;
  return out;
}

/**
 * PIL's Image.blend(degenerate, image, factor) (ImagingBlend): alpha arrives as a C float and
 * the blend is float32 arithmetic, truncated; outside [0, 1] it extrapolates and clips.
 */
function blend(img: Image8, degenerate: Uint8Array, factor: number): Image8 {
  const alpha = f32(factor), src = img.data;
  if (alpha === 0) return withData(img, degenerate.slice());
  if (alpha === 1) return copy(img);
  const out = new Uint8Array(src.length);
  const inside = alpha >= 0 && alpha <= 1;
  for (let i = 0; i < src.length; i++) {
    const d = degenerate[i]!;
    const v = f32(d + f32(alpha * (src[i]! - d)));
    out[i] = inside ? v : v <= 0 ? 0 : v >= 255 ? 255 : v;
  }
  return withData(img, out);
}

/** ImageEnhance.Brightness: blend with black. */
export function adjustBrightness(img: Image8, factor: number): Image8 {
  check(img, 'adjust_brightness');
  return blend(img, new Uint8Array(img.data.length), factor);
}

/** ImageEnhance.Color: blend with the grey image (a grey image is its own degenerate). */
export function adjustSaturation(img: Image8, factor: number): Image8 {
  check(img, 'adjust_saturation');
  return blend(img, spread(greyOf(img), img.channels), factor);
}

/** ImageEnhance.Contrast: blend with a flat image at the grey mean, rounded as int(mean + 0.5). */
export function adjustContrast(img: Image8, factor: number): Image8 {
  check(img, 'adjust_contrast');
  const grey = greyOf(img);
  let sum = 0;
  for (let i = 0; i < grey.length; i++) sum += grey[i]!;
  const mean = Math.trunc(sum / grey.length + 0.5);
  return blend(img, new Uint8Array(img.data.length).fill(mean), factor);
}

/**
 * PIL's ImageFilter.SMOOTH (3×3 kernel 1 1 1 / 1 5 1 / 1 1 1 over 13), as ImagingFilter3x3
 * computes it: float32 weights, a +0.5 offset for rounding, each kernel row summed on its own
 * before joining the total, truncated and clipped; the outermost rows and columns are copied.
 */
function smooth(img: Image8): Uint8Array {
  const { width: w, height: h, channels: c, data } = img;
  const out = data.slice();
  if (w < 3 || h < 3) return out;
  const k1 = f32(1 / 13), k5 = f32(5 / 13);
  const at = (x: number, y: number, k: number) => data[(y * w + x) * c + k]!;
  const row = (x: number, y: number, k: number, mid: number) =>
    f32(f32(f32(at(x - 1, y, k) * k1) + f32(at(x, y, k) * mid)) + f32(at(x + 1, y, k) * k1));
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      for (let k = 0; k < c; k++) {
        let ss = 0.5;
        ss = f32(ss + row(x, y + 1, k, k1));
        ss = f32(ss + row(x, y, k, k5));
        ss = f32(ss + row(x, y - 1, k, k1));
        out[(y * w + x) * c + k] = ss <= 0 ? 0 : ss >= 255 ? 255 : ss;
      }
    }
  }
  return out;
}

/** ImageEnhance.Sharpness: blend with the SMOOTH-filtered image. */
export function adjustSharpness(img: Image8, factor: number): Image8 {
  check(img, 'adjust_sharpness');
  return blend(img, smooth(img), factor);
}

/** AutoAugment's Brightness: factor 1 + magnitude. */
export const brightness = (img: Image8, magnitude: number): Image8 => adjustBrightness(img, 1 + magnitude);
/** AutoAugment's Color (saturation): factor 1 + magnitude. */
export const color = (img: Image8, magnitude: number): Image8 => adjustSaturation(img, 1 + magnitude);
/** AutoAugment's Contrast: factor 1 + magnitude. */
export const contrast = (img: Image8, magnitude: number): Image8 => adjustContrast(img, 1 + magnitude);
/** AutoAugment's Sharpness: factor 1 + magnitude. */
export const sharpness = (img: Image8, magnitude: number): Image8 => adjustSharpness(img, 1 + magnitude);

// ---------------------------------------------------------------------------------------------
// Hue: PIL's RGB ↔ HSV conversions (libImaging Convert.c), which mix float and double.

/**
 * rgb2hsv: H, S, V as bytes. The quotients are C floats; "2 + rc - bc", the sixth of the hue
 * and fmod run in double and are stored back to float; bytes are truncated.
 */
function rgbToHsv(r: number, g: number, b: number, out: Uint8Array, o: number): void {
  const maxc = Math.max(r, g, b), minc = Math.min(r, g, b);
  out[o + 2] = maxc;
  if (maxc === minc) {
    out[o] = 0;
    out[o + 1] = 0;
    return;
  }
  const cr = maxc - minc;
  const s = f32(cr / maxc);
  const rc = f32((maxc - r) / cr), gc = f32((maxc - g) / cr), bc = f32((maxc - b) / cr);
  let hue = r === maxc ? f32(bc - gc) : g === maxc ? f32(2 + rc - bc) : f32(4 + gc - rc);
  hue = f32((hue / 6 + 1) % 1);
  out[o] = Math.min(255, Math.max(0, Math.trunc(hue * 255)));
  out[o + 1] = Math.min(255, Math.max(0, Math.trunc(s * 255)));
}

/** C's round(): halves away from zero. */
const cRound = (x: number) => {
  const f = Math.floor(x);
  return x - f >= 0.5 ? f + 1 : f;
};
const clip8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : v);

/**
 * hsv2rgb. Note q's product fs·f is float32 (both operands are floats) while t's fs·(1 − f)
 * is double (1.0 − f is); both round half away from zero.
 */
function hsvToRgb(h: number, s: number, v: number, out: Uint8Array, o: number): void {
  if (s === 0) {
    out[o] = out[o + 1] = out[o + 2] = v;
    return;
  }
  const i = Math.floor((h * 6) / 255);
  const f = f32((h * 6) / 255 - i);
  const fs = f32(s / 255);
  const p = clip8(cRound(v * (1 - fs)));
  const q = clip8(cRound(v * (1 - f32(fs * f))));
  const t = clip8(cRound(v * (1 - fs * (1 - f))));
  const rgb = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6]!;
  out[o] = rgb[0]!;
  out[o + 1] = rgb[1]!;
  out[o + 2] = rgb[2]!;
}

/**
 * torchvision F.adjust_hue on PIL: convert to HSV, add np.uint8(hue_factor · 255) to H with
 * uint8 wrap-around (numpy truncates the product toward zero, then wraps: −0.1 → −25 → 231),
 * convert back. Grey images come back unchanged.
 */
export function adjustHue(img: Image8, hueFactor: number): Image8 {
  check(img, 'adjust_hue');
  if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw new ArgumentError(`adjust_hue: hue_factor (${hueFactor}) is not in [-0.5, 0.5]`);
  if (img.channels === 1) return copy(img);
  const shift = ((Math.trunc(hueFactor * 255) % 256) + 256) % 256;
  const src = img.data, out = new Uint8Array(src.length), hsv = new Uint8Array(3);
  for (let i = 0; i < src.length; i += 3) {
    rgbToHsv(src[i]!, src[i + 1]!, src[i + 2]!, hsv, 0);
    hsvToRgb((hsv[0]! + shift) & 255, hsv[1]!, hsv[2]!, out, i);
  }
  return withData(img, out);
}

// ---------------------------------------------------------------------------------------------
// Lookup-table ops: PIL's ImageOps (per channel on RGB).

/** One table for every channel, or one per channel. */
function applyLuts(img: Image8, luts: readonly Uint8Array[]): Image8 {
  const { data } = img, c = luts.length, out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = luts[i % c]![data[i]!]!;
  return withData(img, out);
}

function lutFrom(f: (i: number) => number): Uint8Array {
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = clip8(f(i));
  return lut;
}

function histograms(img: Image8): Float64Array[] {
  const { channels: c, data } = img;
  const hs = Array.from({ length: c }, () => new Float64Array(256));
  for (let i = 0; i < data.length; i++) hs[i % c]![data[i]!]!++;
  return hs;
}

/** ImageOps.posterize through torchvision: keep the top int(magnitude) bits (0–8). */
export function posterize(img: Image8, magnitude: number): Image8 {
  check(img, 'Posterize');
  const bits = Math.trunc(magnitude);
  if (!(bits >= 0 && bits <= 8)) throw new ArgumentError(`Posterize: bits must be in [0, 8], got ${magnitude}`);
  const mask = ~(2 ** (8 - bits) - 1);
  return applyLuts(img, [lutFrom((i) => i & mask)]);
}

/** ImageOps.solarize: invert every value at or above the threshold (compared as a float). */
export function solarize(img: Image8, threshold: number): Image8 {
  check(img, 'Solarize');
  return applyLuts(img, [lutFrom((i) => (i < threshold ? i : 255 - i))]);
}

/** ImageOps.invert. */
export function invert(img: Image8): Image8 {
  check(img, 'Invert');
  return applyLuts(img, [lutFrom((i) => 255 - i)]);
}

/**
 * ImageOps.autocontrast (no cutoff): per channel, stretch [lo, hi] of the values present to
 * [0, 255] with int(i · scale + offset) in double, clamped; a channel with one value is left.
 */
export function autoContrast(img: Image8): Image8 {
  check(img, 'AutoContrast');
  const luts = histograms(img).map((hist) => {
    let lo = 0, hi = 255;
    while (lo < 255 && !hist[lo]) lo++;
    while (hi > 0 && !hist[hi]) hi--;
    if (hi <= lo) return lutFrom((i) => i);
    const scale = 255 / (hi - lo), offset = -lo * scale;
    return lutFrom((i) => Math.trunc(i * scale + offset));
  });
  return applyLuts(img, luts);
}

/**
 * ImageOps.equalize: per channel, step = (pixels − count of the highest value present) // 255
 * and value i maps to (step // 2 + pixels below i) // step, clipped. With fewer than 256 pixels
 * step is 0 and the channel is left as is (so is a channel with a single value).
 */
export function equalize(img: Image8): Image8 {
  check(img, 'Equalize');
  const luts = histograms(img).map((hist) => {
    const present = Array.from(hist).filter((n) => n > 0);
    if (present.length <= 1) return lutFrom((i) => i);
    const step = Math.floor((present.reduce((s, n) => s + n, 0) - present[present.length - 1]!) / 255);
    if (!step) return lutFrom((i) => i);
    const lut = new Uint8Array(256);
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      lut[i] = clip8(Math.floor(n / step));
      n += hist[i]!;
    }
    return lut;
  });
  return applyLuts(img, luts);
}

// ---------------------------------------------------------------------------------------------
// _apply_op, the magnitude tables and the ImageNet policy.

/** torchvision.transforms.autoaugment._apply_op on a PIL image (NEAREST, fill None → 0). */
export function applyOp(img: Image8, op: OpName, magnitude: number): Image8 {
  switch (op) {
    case 'ShearX': return shearX(img, magnitude);
    case 'ShearY': return shearY(img, magnitude);
    case 'TranslateX': return translateX(img, magnitude);
    case 'TranslateY': return translateY(img, magnitude);
    case 'Rotate': return rotate(img, magnitude);
    case 'Brightness': return brightness(img, magnitude);
    case 'Color': return color(img, magnitude);
    case 'Contrast': return contrast(img, magnitude);
    case 'Sharpness': return sharpness(img, magnitude);
    case 'Posterize': return posterize(img, magnitude);
    case 'Solarize': return solarize(img, magnitude);
    case 'AutoContrast': return autoContrast(img);
    case 'Equalize': return equalize(img);
    case 'Invert': return invert(img);
    default: throw new ArgumentError(`unknown augmentation op ${String(op)}`);
  }
}

/**
 * torch.linspace in float32 as torch 1.13's CPU kernel computes it: step = (end − start) /
 * (steps − 1) in float, the first half counted up from start and the second half down from
 * end, each with one rounding (the AVX2 kernel fuses the multiply-add). The values matter:
 * the Solarize threshold of bin 3 is exactly 170, not 169.99998.
 */
function linspace32(start: number, end: number, steps: number): number[] {
  const s = f32(start), e = f32(end);
  if (steps === 1) return [s];
  const step = f32(f32(e - s) / (steps - 1)), half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < half ? f32(s + step * i) : f32(e - step * (steps - i - 1))));
}

/** torch.round: halves to even. */
const roundHalfEven = (x: number) => {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export type AugmentationSpace = Record<OpName, { magnitudes: readonly number[]; signed: boolean }>;

/**
 * AutoAugment._augmentation_space(numBins, (height, width)): the magnitude of every bin, as
 * the float32 values torch holds (read back as doubles), and whether the op takes a random
 * sign. Translations scale with the image (150/331 of the side, as in the paper's 331 px).
 * The ops without a magnitude have the single value 0.
 */
export function augmentationSpace(numBins: number, height: number, width: number): AugmentationSpace {
  const enhance = linspace32(0, 0.9, numBins);
  const posterizeBits = Array.from({ length: numBins }, (_, i) => 8 - roundHalfEven(f32(i / f32((numBins - 1) / 4))));
  return {
    ShearX: { magnitudes: linspace32(0, 0.3, numBins), signed: true },
    ShearY: { magnitudes: linspace32(0, 0.3, numBins), signed: true },
    TranslateX: { magnitudes: linspace32(0, (150 / 331) * width, numBins), signed: true },
    TranslateY: { magnitudes: linspace32(0, (150 / 331) * height, numBins), signed: true },
    Rotate: { magnitudes: linspace32(0, 30, numBins), signed: true },
    Brightness: { magnitudes: enhance, signed: true },
    Color: { magnitudes: enhance, signed: true },
    Contrast: { magnitudes: enhance, signed: true },
    Sharpness: { magnitudes: enhance, signed: true },
    Posterize: { magnitudes: posterizeBits, signed: false },
    Solarize: { magnitudes: linspace32(255, 0, numBins), signed: false },
    AutoContrast: { magnitudes: [0], signed: false },
    Equalize: { magnitudes: [0], signed: false },
    Invert: { magnitudes: [0], signed: false },
  };
}

export interface PolicyOp {
  op: OpName;
  probability: number;
  /** Index into the op's magnitude table (10 bins); null for the ops without a magnitude. */
  bin: number | null;
}

const P = (op: OpName, probability: number, bin: number | null): PolicyOp => ({ op, probability, bin });

/** AutoAugmentPolicy.IMAGENET: 25 sub-policies of two ops each, in torchvision's order. */
export const IMAGENET_POLICY: readonly (readonly [PolicyOp, PolicyOp])[] = [
  [P('Posterize', 0.4, 8), P('Rotate', 0.6, 9)],
  [P('Solarize', 0.6, 5), P('AutoContrast', 0.6, null)],
  [P('Equalize', 0.8, null), P('Equalize', 0.6, null)],
  [P('Posterize', 0.6, 7), P('Posterize', 0.6, 6)],
  [P('Equalize', 0.4, null), P('Solarize', 0.2, 4)],
  [P('Equalize', 0.4, null), P('Rotate', 0.8, 8)],
  [P('Solarize', 0.6, 3), P('Equalize', 0.6, null)],
  [P('Posterize', 0.8, 5), P('Equalize', 1.0, null)],
  [P('Rotate', 0.2, 3), P('Solarize', 0.6, 8)],
  [P('Equalize', 0.6, null), P('Posterize', 0.4, 6)],
  [P('Rotate', 0.8, 8), P('Color', 0.4, 0)],
  [P('Rotate', 0.4, 9), P('Equalize', 0.6, null)],
  [P('Equalize', 0.0, null), P('Equalize', 0.8, null)],
  [P('Invert', 0.6, null), P('Equalize', 1.0, null)],
  [P('Color', 0.6, 4), P('Contrast', 1.0, 8)],
  [P('Rotate', 0.8, 8), P('Color', 1.0, 2)],
  [P('Color', 0.8, 8), P('Solarize', 0.8, 7)],
  [P('Sharpness', 0.4, 7), P('Invert', 0.6, null)],
  [P('ShearX', 0.6, 5), P('Equalize', 1.0, null)],
  [P('Color', 0.4, 0), P('Equalize', 0.6, null)],
  [P('Equalize', 0.4, null), P('Solarize', 0.2, 4)],
  [P('Solarize', 0.6, 5), P('AutoContrast', 0.6, null)],
  [P('Invert', 0.6, null), P('Equalize', 1.0, null)],
  [P('Color', 0.6, 4), P('Contrast', 1.0, 8)],
  [P('Equalize', 0.8, null), P('Equalize', 0.6, null)],
];

/**
 * One AutoAugment (ImageNet policy) draw, as AutoAugment.forward: a sub-policy uniformly,
 * then for each of its two ops a uniform u (applied when u ≤ p) and a coin for the sign of a
 * signed magnitude (negative on 0), drawn in torch's order: policy, both u, both coins.
 */
export function autoAugment(img: Image8, rng: Rng): Image8 {
  check(img, 'autoAugment');
  const sub = IMAGENET_POLICY[Math.min(IMAGENET_POLICY.length - 1, Math.floor(rng.next() * IMAGENET_POLICY.length))]!;
  const probs = [rng.next(), rng.next()];
  const signs = [rng.next() < 0.5 ? 0 : 1, rng.next() < 0.5 ? 0 : 1];
  const space = augmentationSpace(10, img.height, img.width);
  let out = img;
  sub.forEach(({ op, probability, bin }, i) => {
    if (probs[i]! > probability) return;
    const { magnitudes, signed } = space[op];
    let magnitude = bin === null ? 0 : magnitudes[bin]!;
    if (signed && signs[i] === 0) magnitude = -magnitude;
    out = applyOp(out, op, magnitude);
  });
  return out === img ? copy(img) : out;
}

// ---------------------------------------------------------------------------------------------
// ColorJitter.

export interface ColorJitterOptions {
  /** b: factor in [max(0, 1 − b), 1 + b]; or the [min, max] range itself. */
  brightness?: number | readonly [number, number];
  contrast?: number | readonly [number, number];
  saturation?: number | readonly [number, number];
  /** h ≤ 0.5: hue shift in [−h, h]; or a range within [−0.5, 0.5]. */
  hue?: number | readonly [number, number];
}

/** ColorJitter._check_input: the range to draw from, or null when the adjustment is off. */
function jitterRange(value: number | readonly [number, number] | undefined, name: string, center: number,
  bound: readonly [number, number], clipFirstOnZero: boolean): [number, number] | null {
  if (value === undefined) return null;
  let range: [number, number];
  if (typeof value === 'number') {
    if (!(value >= 0)) throw new ArgumentError(`colorJitter: if ${name} is a single number, it must be non negative, got ${value}`);
    range = [center - value, center + value];
    if (clipFirstOnZero) range[0] = Math.max(range[0], 0);
  } else {
    range = [value[0], value[1]];
  }
  if (!(bound[0] <= range[0] && range[0] <= range[1] && range[1] <= bound[1])) {
    throw new ArgumentError(`colorJitter: ${name} values should be between [${bound[0]}, ${bound[1]}], got [${range[0]}, ${range[1]}]`);
  }
  return range[0] === center && range[1] === center ? null : range;
}

/**
 * torchvision ColorJitter on a PIL image: the four factors are drawn uniformly from their
 * ranges (after a random order of the four adjustments, as get_params draws them) and applied
 * in that order; an adjustment left at its neutral value is skipped.
 */
export function colorJitter(img: Image8, rng: Rng, o: ColorJitterOptions): Image8 {
  check(img, 'colorJitter');
  const ranges = [
    jitterRange(o.brightness, 'brightness', 1, [0, Infinity], true),
    jitterRange(o.contrast, 'contrast', 1, [0, Infinity], true),
    jitterRange(o.saturation, 'saturation', 1, [0, Infinity], true),
    jitterRange(o.hue, 'hue', 0, [-0.5, 0.5], false),
  ];
  const order = [0, 1, 2, 3];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(rng.next() * (i + 1)));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const factors = ranges.map((r) => (r === null ? null : r[0] + (r[1] - r[0]) * rng.next()));
  const adjust = [adjustBrightness, adjustContrast, adjustSaturation, adjustHue];
  let out = img;
  for (const k of order) {
    const f = factors[k];
    if (f !== null && f !== undefined) out = adjust[k]!(out, f);
  }
  return out === img ? copy(img) : out;
}
