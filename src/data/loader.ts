// A data set as a training batch source: each sample augmented (random-resized crop,
// horizontal flip, AutoAugment and colour jitter when asked for; options are plain data so a
// worker can receive them) with randomness keyed by
// (seed, micro-batch, position), then normalised to CHW float32, grayscale replicated to RGB.

import { ArgumentError } from '../errors.js';
import { normalizeTable, resizeBilinear, writeNormalized, type Image8 } from '../io/image/preprocess.js';
import type { Batch, BatchSource } from './batch-source.js';
import { hash32, Rng } from '../util/random.js';
import { hflip, randomResizedCrop } from './augment.js';
import { autoAugment, colorJitter } from './autoaugment.js';
import type { Dataset } from './dataset.js';

export interface AugmentOptions {
  /** Side of the training crop. */
  size: number;
  /** Random-resized crop's area range (torchvision: [0.08, 1]); null: resize the whole image to size. */
  scale?: readonly [number, number] | null;
  ratio?: readonly [number, number];
  hflip?: boolean;
  /** Per-channel normalisation. */
  mean: readonly number[];
  std: readonly number[];
  seed?: number;
  /** torchvision's AutoAugment with the ImageNet policy, after the crop and flip. */
  autoAugment?: boolean;
  /** ColorJitter(b, b, b) after AutoAugment (the recipe: 0.4); 0 or absent: off. */
  colorJitter?: number;
}

export function checkAugmentOptions(o: AugmentOptions): void {
  if (!Number.isInteger(o.size) || o.size < 1) throw new ArgumentError(`augment: size must be a positive integer, got ${o.size}`);
  if (o.mean.length !== 3 || o.std.length !== 3 || o.std.some((s) => !(s > 0))) throw new ArgumentError('augment: mean and std need 3 entries, std > 0');
}

/** One training sample, augmented. */
export function augmentImage(img: Image8, rng: Rng, o: AugmentOptions): Image8 {
  let out = o.scale ? randomResizedCrop(img, rng, { size: o.size, scale: o.scale, ratio: o.ratio })
    : img.width === o.size && img.height === o.size ? img : resizeBilinear(img, o.size, o.size);
  if ((o.hflip ?? true) && rng.next() < 0.5) out = hflip(out);
  if (o.autoAugment) out = autoAugment(out, rng);
  if (o.colorJitter) out = colorJitter(out, rng, { brightness: o.colorJitter, contrast: o.colorJitter, saturation: o.colorJitter });
  return out;
}

/** The per-sample random stream of a run: a function of the seed, the micro-batch key and the position in it. */
export function sampleRng(seed: number, key: number, i: number): Rng {
  return new Rng(hash32((seed ^ Math.imul(key + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0));
}

export function datasetSource(ds: Dataset, o: AugmentOptions): BatchSource {
  checkAugmentOptions(o);
  const tables = [0, 1, 2].map((c) => normalizeTable(o.mean[c]!, o.std[c]!));
  const plane = 3 * o.size * o.size, seed = o.seed ?? 0;
  return {
    length: ds.length,
    sampleShape: [3, o.size, o.size],
    batch(idx: Int32Array, key: number): Batch {
      const x = new Float32Array(idx.length * plane), labels = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) {
        labels[i] = ds.label(idx[i]!);
        writeNormalized(augmentImage(ds.image(idx[i]!), sampleRng(seed, key, i), o), x, i * plane, tables);
      }
      return { x, labels };
    },
  };
}
