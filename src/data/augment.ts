// Training-time geometric augmentation on 8-bit images, with torchvision 0.14's semantics on
// PIL images: RandomResizedCrop picks its box exactly as torchvision's get_params does (ten
// tries at a random area and log-uniform aspect ratio, then a centre crop clamped to the
// ratio range) and resizes the box with PIL's bilinear filter; RandomHorizontalFlip mirrors.
// Randomness comes from a seeded Rng, so a run (and a resumed run) is reproducible.

import { ArgumentError } from '../errors.js';
import { resizeBilinear, type Image8 } from '../io/image/preprocess.js';
import type { Rng } from '../util/random.js';

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

export interface ResizedCropOptions {
  /** Output side (square). */
  size: number;
  /** Range of the crop's area as a fraction of the image (torchvision: 0.08–1). */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio w/h (torchvision: 3/4–4/3). */
  ratio?: readonly [number, number];
}

/** torch.randint(lo, hi + 1) from the stream: an integer in [lo, hi]. */
const randint = (rng: Rng, lo: number, hi: number) => lo + Math.min(hi - lo, Math.floor(rng.next() * (hi - lo + 1)));

/** RandomResizedCrop.get_params: the box to crop from a height × width image. */
export function resizedCropBox(height: number, width: number, rng: Rng, scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3]): CropBox {
  if (!(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1)) throw new ArgumentError(`random-resized crop: scale must satisfy 0 < lo ≤ hi ≤ 1, got [${scale.join(', ')}]`);
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1])) throw new ArgumentError(`random-resized crop: ratio must satisfy 0 < lo ≤ hi, got [${ratio.join(', ')}]`);
  const area = height * width;
  const logLo = Math.log(ratio[0]), logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + rng.next() * (scale[1] - scale[0]));
    const aspect = Math.exp(logLo + rng.next() * (logHi - logLo));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: randint(rng, 0, height - h), left: randint(rng, 0, width - w), height: h, width: w };
    }
  }
  // Fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
  const inRatio = width / height;
  let w = width, h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** The pixels of a box (inside the image). */
export function cropImage(img: Image8, box: CropBox): Image8 {
  const { top, left, height, width } = box;
  const c = img.channels;
  if (top < 0 || left < 0 || top + height > img.height || left + width > img.width || height < 1 || width < 1) {
    throw new ArgumentError(`crop: box ${width}×${height} at (${left}, ${top}) is outside the ${img.width}×${img.height} image`);
  }
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * c;
    out.set(img.data.subarray(from, from + width * c), y * width * c);
  }
  return { width, height, channels: c, data: out };
}

export function randomResizedCrop(img: Image8, rng: Rng, o: ResizedCropOptions): Image8 {
  const box = resizedCropBox(img.height, img.width, rng, o.scale, o.ratio);
  return resizeBilinear(cropImage(img, box), o.size, o.size);
}

export function hflip(img: Image8): Image8 {
  const { width: w, height: h, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const from = (y * w + x) * c, to = (y * w + (w - 1 - x)) * c;
      for (let k = 0; k < c; k++) out[to + k] = data[from + k]!;
    }
  }
  return { width: w, height: h, channels: c, data: out };
}
