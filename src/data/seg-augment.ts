// The toolkit's training transform for an image and its mask together (PyTorch-Encoding's
// BaseDataset._sync_transform): a mirror with probability ½, the long side resized to a random
// whole number in [½·base, 2·base] (the image bilinear as PIL does, the mask nearest), padded on
// the right and bottom to the crop (black pixels, unlabelled classes), a random crop; then
// ImageNet normalisation. Without augmentation, _val_sync_transform: the short side resized to
// the crop, the centre crop. As a batch source: seeded per sample, order-independent.

import type { BatchSource } from './batch-source.js';
import { resizeBilinear, writeNormalized, type Image8, imagenetTables } from '../io/image/preprocess.js';
import { hash32, Rng } from '../util/random.js';
import { SEG_IGNORE, type SegSample } from './seg-folder.js';
import { longSide } from '../models/segmentation/multi-eval.js';

export interface SegTransformOptions {
  /** The toolkit's base_size (520) and crop_size (480). */
  base: number;
  crop: number;
  augment: boolean;
}

/** PIL's NEAREST: each output pixel takes the source pixel under its centre. */
export function resizeNearest(labels: Int16Array, w: number, h: number, ow: number, oh: number): Int16Array {
  const out = new Int16Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    const sy = Math.min(h - 1, Math.floor(((y + 0.5) * h) / oh));
    for (let x = 0; x < ow; x++) out[y * ow + x] = labels[sy * w + Math.min(w - 1, Math.floor(((x + 0.5) * w) / ow))]!;
  }
  return out;
}

function mirror(s: SegSample): SegSample {
  const { width: w, height: h, channels: c, data } = s.image;
  const img = new Uint8Array(data.length), labels = new Int16Array(s.labels.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const from = y * w + x, to = y * w + w - 1 - x;
      labels[to] = s.labels[from]!;
      for (let k = 0; k < c; k++) img[to * c + k] = data[from * c + k]!;
    }
  }
  return { image: { width: w, height: h, channels: c, data: img }, labels };
}

function resized(s: SegSample, ow: number, oh: number): SegSample {
  const { width: w, height: h } = s.image;
  if (ow === w && oh === h) return s;
  return { image: resizeBilinear(s.image, ow, oh), labels: resizeNearest(s.labels, w, h, ow, oh) };
}

/** The crop×crop window at (x0, y0), padded past the edges with black and SEG_IGNORE. */
function cut(s: SegSample, x0: number, y0: number, crop: number): SegSample {
  const { width: w, height: h, channels: c, data } = s.image;
  const img = new Uint8Array(crop * crop * c), labels = new Int16Array(crop * crop).fill(SEG_IGNORE);
  for (let y = 0; y < crop && y0 + y < h; y++) {
    for (let x = 0; x < crop && x0 + x < w; x++) {
      const from = (y0 + y) * w + x0 + x, to = y * crop + x;
      labels[to] = s.labels[from]!;
      for (let k = 0; k < c; k++) img[to * c + k] = data[from * c + k]!;
    }
  }
  return { image: { width: crop, height: crop, channels: c, data: img }, labels };
}

/** One training sample as the toolkit transforms it, with randomness from `rng`. */
export function syncTransform(s: SegSample, o: SegTransformOptions, rng: Rng): SegSample {
  const { crop, base } = o;
  const { width: w, height: h } = s.image;
  if (!o.augment) {
    const [ow, oh] = w > h ? [Math.trunc((w * crop) / h + 0.5), crop] : [crop, Math.trunc((h * crop) / w + 0.5)];
    return cut(resized(s, ow, oh), Math.trunc((ow - crop) / 2 + 0.5), Math.trunc((oh - crop) / 2 + 0.5), crop);
  }
  if (rng.next() < 0.5) s = mirror(s);
  const lo = Math.trunc(base * 0.5), hi = Math.trunc(base * 2);
  const long = lo + Math.floor(rng.next() * (hi - lo + 1));
  const [oh, ow] = longSide(h, w, long);
  s = resized(s, Math.max(1, ow), Math.max(1, oh));
  const [pw, ph] = [Math.max(s.image.width, crop), Math.max(s.image.height, crop)];
  const x0 = Math.floor(rng.next() * (pw - crop + 1)), y0 = Math.floor(rng.next() * (ph - crop + 1));
  return cut(s, x0, y0, crop);
}

/** Images [n, 3, crop, crop] (ImageNet-normalised) and classes [n·crop·crop] from a data set, seeded per (key, position). */
export function segBatchSource(set: { length: number; sample(i: number): Promise<SegSample> }, o: SegTransformOptions & { seed: number }): BatchSource {
  const { crop } = o, plane = 3 * crop * crop;
  return {
    length: set.length,
    sampleShape: [3, crop, crop],
    async batch(idx, key) {
      const x = new Float32Array(idx.length * plane), labels = new Int32Array(idx.length * crop * crop);
      const samples = await Promise.all([...idx].map((i) => set.sample(i)));
      samples.forEach((s, i) => {
        const t = syncTransform(s, o, new Rng(hash32((o.seed ^ Math.imul(key + 1, 0x2545f491) ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0)));
        writeNormalized(t.image as Image8, x, i * plane, imagenetTables());
        labels.set(t.labels, i * crop * crop);
      });
      return { x, labels };
    },
  };
}
