// A segmentation data set on disk: images and their masks, paired by file name (stem).
// Layouts: ADE20K's (DIR/images/{training,validation}/*.jpg with DIR/annotations/<split>/*.png),
// or DIR/images/ with DIR/masks/ (or annotations/), with or without train/val sub-folders.
// A mask is a greyscale or palette PNG of class indices in ADE20K's convention, which the
// toolkit reads for ADE20K and PASCAL-Context alike: 0 is unlabelled (ignored), value v is
// class v − 1; 255 is unlabelled too (PASCAL's boundary value).

import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { FileError, FormatError } from '../errors.js';
import { readBytes } from '../io/files.js';
import { decodeImage } from '../io/image/decode.js';
import { decodeLabelPng } from '../io/image/png.js';
import type { Image8 } from '../io/image/preprocess.js';


/** The toolkit's label for pixels that no class covers (ADE20K's 0 after its −1 shift). */
export const SEG_IGNORE = -1;

export type SegSplit = 'train' | 'val';

const SPLIT_NAMES: Record<SegSplit, readonly string[]> = { train: ['training', 'train'], val: ['validation', 'val'] };
const IMAGE_EXT = /\.(png|jpe?g)$/i;

export interface SegSample {
  image: Image8;
  /** Class per pixel (−1: ignored), row-major, the image's size. */
  labels: Int16Array;
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

/** The mask value's class: v − 1, with 0 and 255 unlabelled. */
export function maskClass(v: number): number {
  return v === 0 || v === 255 ? SEG_IGNORE : v - 1;
}

export class SegmentationFolder {
  private constructor(readonly source: string, readonly images: string[], readonly masks: string[], readonly numClasses: number | null) {}

  /**
   * Opens `split` of `dir` (a layout without split folders is one set, for either split;
   * null when the split is asked for and the layout has split folders but not this one).
   * `numClasses` bounds the mask values, checked as each mask is read.
   */
  static async open(dir: string, split: SegSplit, numClasses: number | null = null): Promise<SegmentationFolder | null> {
    if (!(await isDir(dir))) throw new FileError('not a directory', dir);
    const imagesDir = join(dir, 'images');
    const masksRoot = (await isDir(join(dir, 'annotations'))) ? join(dir, 'annotations') : join(dir, 'masks');
    if (!(await isDir(imagesDir)) || !(await isDir(masksRoot))) {
      throw new FormatError('a segmentation data set needs images/ and masks/ (or annotations/) folders, with or without training/validation inside', dir);
    }
    let imgDir = imagesDir, maskDir = masksRoot;
    const hasSplits = (await Promise.all([...SPLIT_NAMES.train, ...SPLIT_NAMES.val].map((s) => isDir(join(imagesDir, s))))).some(Boolean);
    if (hasSplits) {
      const name = (await Promise.all(SPLIT_NAMES[split].map(async (s) => ((await isDir(join(imagesDir, s))) ? s : null)))).find(Boolean);
      if (!name) return null;
      imgDir = join(imagesDir, name);
      maskDir = join(masksRoot, name);
      if (!(await isDir(maskDir))) throw new FormatError(`images/${name} has no masks folder beside it (${maskDir})`, dir);
    }
    const stem = (f: string) => basename(f, extname(f));
    const maskFiles = new Map((await readdir(maskDir)).filter((f) => /\.png$/i.test(f)).map((f) => [stem(f), join(maskDir, f)]));
    const imageFiles = (await readdir(imgDir)).filter((f) => IMAGE_EXT.test(f)).sort();
    if (!imageFiles.length) throw new FormatError('no .png or .jpg images', imgDir);
    const images: string[] = [], masks: string[] = [];
    for (const f of imageFiles) {
      const m = maskFiles.get(stem(f));
      if (!m) throw new FormatError(`${f} has no mask (${stem(f)}.png) in ${maskDir}`, imgDir);
      images.push(join(imgDir, f));
      masks.push(m);
    }
    return new SegmentationFolder(hasSplits ? join(dir, `images/${basename(imgDir)}`) : dir, images, masks, numClasses);
  }

  get length(): number {
    return this.images.length;
  }

  /** The image and its classes; a mask of another size or with a class past numClasses is a FormatError naming it. */
  async sample(i: number): Promise<SegSample> {
    const [imgBytes, maskBytes] = await Promise.all([readBytes(this.images[i]!), readBytes(this.masks[i]!)]);
    const image = decodeImage(imgBytes, this.images[i]);
    const mask = decodeLabelPng(maskBytes, this.masks[i]);
    if (mask.width !== image.width || mask.height !== image.height) {
      throw new FormatError(`the mask is ${mask.width}×${mask.height}, its image ${this.images[i]} ${image.width}×${image.height}`, this.masks[i]);
    }
    const labels = new Int16Array(mask.data.length);
    for (let p = 0; p < labels.length; p++) {
      const c = maskClass(mask.data[p]!);
      if (this.numClasses !== null && c >= this.numClasses) {
        throw new FormatError(`mask value ${mask.data[p]} at pixel ${p} is class ${c}, past the model's ${this.numClasses} classes (0 and 255 are unlabelled, v is class v − 1)`, this.masks[i]);
      }
      labels[p] = c;
    }
    return { image, labels };
  }
}
