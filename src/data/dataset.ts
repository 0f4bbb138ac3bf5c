// Labelled image data sets for training and evaluation: 8-bit images (grayscale or RGB) with
// integer labels and class names. Two sources: an IDX directory (MNIST / Fashion-MNIST layout,
// train-* and t10k-* files, optionally gzipped) and an image folder (DIR/<class>/*.png|jpg,
// classes in sorted order as torchvision's ImageFolder numbers them).

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentError, FileError, FormatError } from '../errors.js';
import { decodeImage } from '../io/image/decode.js';
import type { Image8 } from '../io/image/preprocess.js';
import { readBytes } from '../io/files.js';
import { pairIdx, readIdx } from './idx.js';

export interface Dataset {
  readonly length: number;
  readonly classes: readonly string[];
  label(i: number): number;
  image(i: number): Image8;
  /** Where it came from, for messages. */
  readonly source: string;
}

export type Split = 'train' | 'test';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Images held in memory: [N, H, W, C] uint8. */
export class ArrayDataset implements Dataset {
  constructor(readonly pixels: Uint8Array, readonly height: number, readonly width: number, readonly channels: number,
    readonly labels: Int32Array, readonly classes: readonly string[], readonly source: string) {
    if (pixels.length !== labels.length * height * width * channels) {
      throw new FormatError(`${labels.length} labels for ${pixels.length / (height * width * channels)} images`, source);
    }
  }
  get length(): number {
    return this.labels.length;
  }
  label(i: number): number {
    return this.labels[i]!;
  }
  image(i: number): Image8 {
    const n = this.height * this.width * this.channels;
    return { width: this.width, height: this.height, channels: this.channels, data: this.pixels.subarray(i * n, (i + 1) * n) };
  }
  /** The samples at `indices` (a split, or a subset for a short run). */
  subset(indices: ArrayLike<number>, source = this.source): ArrayDataset {
    const n = this.height * this.width * this.channels;
    const px = new Uint8Array(indices.length * n), labels = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k]!;
      px.set(this.pixels.subarray(i * n, (i + 1) * n), k * n);
      labels[k] = this.labels[i]!;
    }
    return new ArrayDataset(px, this.height, this.width, this.channels, labels, this.classes, source);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** Whether an IDX directory holds a t10k (test) split. */
async function hasTestSplit(dir: string): Promise<boolean> {
  return (await exists(join(dir, 't10k-images-idx3-ubyte'))) || exists(join(dir, 't10k-images-idx3-ubyte.gz'));
}

async function idxFile(dir: string, stem: string): Promise<string> {
  for (const name of [stem, `${stem}.gz`]) if (await exists(join(dir, name))) return join(dir, name);
  throw new FileError(`no ${stem}[.gz] (an IDX directory holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)`, dir);
}

/** Whether a directory holds IDX files (rather than class folders). */
export async function isIdxDir(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.some((n) => /^(train|t10k)-images-idx3-ubyte(\.gz)?$/.test(n));
}

/** One split of an IDX directory. Ten classes are named as Fashion-MNIST's when the directory's name says so, else by digit; other counts 'class k'. */
export async function loadIdxSplit(dir: string, split: Split): Promise<ArrayDataset> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const imagesFile = await idxFile(dir, `${prefix}-images-idx3-ubyte`), labelsFile = await idxFile(dir, `${prefix}-labels-idx1-ubyte`);
  const images = await readIdx(await readBytes(imagesFile), imagesFile);
  const labels = await readIdx(await readBytes(labelsFile), labelsFile);
  const { images: px, shape, labels: l } = pairIdx(images, labels, imagesFile, labelsFile);
  const max = l.reduce((a, b) => Math.max(a, b), 0);
  const classes = max === 9 ? (/fashion/i.test(dir) ? [...FASHION_MNIST_CLASSES] : MNIST_CLASSES) : Array.from({ length: max + 1 }, (_, i) => `class ${i}`);
  return new ArrayDataset(px, shape[1], shape[2], 1, l, classes, imagesFile);
}

const IMAGE_EXT = /\.(png|jpe?g)$/i;

/** An image folder: DIR/<class>/<file>.png|jpg; images are decoded when read. */
export class ImageFolder implements Dataset {
  private constructor(readonly source: string, readonly classes: readonly string[], private readonly files: string[],
    private readonly labels: Int32Array, private readonly bytes: Map<number, Uint8Array>) {}

  static async open(dir: string): Promise<ImageFolder> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      throw new FileError('cannot read the directory', dir);
    }
    const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    if (!classes.length) throw new FormatError('an image folder needs one sub-directory per class (DIR/<class>/*.png|jpg)', dir);
    const files: string[] = [], labels: number[] = [];
    for (const [k, c] of classes.entries()) {
      const names = (await readdir(join(dir, c))).filter((n) => IMAGE_EXT.test(n)).sort();
      if (!names.length) throw new FormatError(`class '${c}' has no .png or .jpg images`, join(dir, c));
      for (const n of names) {
        files.push(join(dir, c, n));
        labels.push(k);
      }
    }
    // Read every file up front: a missing or unreadable one fails before training starts.
    const bytes = new Map<number, Uint8Array>();
    for (let i = 0; i < files.length; i++) bytes.set(i, await readBytes(files[i]!));
    return new ImageFolder(dir, classes, files, Int32Array.from(labels), bytes);
  }

  get length(): number {
    return this.files.length;
  }
  label(i: number): number {
    return this.labels[i]!;
  }
  file(i: number): string {
    return this.files[i]!;
  }
  image(i: number): Image8 {
    return decodeImage(this.bytes.get(i)!, this.files[i]);
  }
}

/** A view of some samples of a data set (a validation split). */
export class SubsetDataset implements Dataset {
  constructor(readonly base: Dataset, readonly indices: Int32Array, readonly source: string) {}
  get length(): number {
    return this.indices.length;
  }
  get classes(): readonly string[] {
    return this.base.classes;
  }
  label(i: number): number {
    return this.base.label(this.indices[i]!);
  }
  image(i: number): Image8 {
    return this.base.image(this.indices[i]!);
  }
}

/**
 * The training and evaluation sets of a directory: an IDX directory's train/t10k splits, or an
 * image folder with `valFraction` of it (a seeded, per-class stratified pick) held out.
 */
export async function openData(dir: string, o: { valFraction?: number; seed?: number } = {}): Promise<{ train: Dataset; test: Dataset | null }> {
  if (await isIdxDir(dir)) {
    const train = await loadIdxSplit(dir, 'train');
    if (train.length === 0) throw new FormatError('holds no images to train on', train.source);
    const test = (await hasTestSplit(dir)) ? await loadIdxSplit(dir, 'test') : null;
    return { train, test };
  }
  const all = await ImageFolder.open(dir);
  const frac = o.valFraction ?? 0;
  if (!frac) return { train: all, test: null };
  const { trainIdx, valIdx } = stratifiedSplit(all, frac, o.seed ?? 0);
  // A share that rounds to nothing would evaluate 0 of 0 images and call it 0 % accuracy.
  if (valIdx.length === 0) throw new ArgumentError(`--val-split ${frac} holds out no image of ${dir} (${all.length} images in ${all.classes.length} classes; each class keeps round(share × its images))`);
  if (trainIdx.length === 0) throw new ArgumentError(`--val-split ${frac} leaves no training image in ${dir} (${all.length} images)`);
  return { train: new SubsetDataset(all, trainIdx, dir), test: new SubsetDataset(all, valIdx, `${dir} (validation)`) };
}

/**
 * The set `resnest eval` measures: an IDX directory's t10k split (its train split only where
 * there is no t10k, and then nothing else is read), or an image folder's held-out part with
 * `valFraction`, else the whole folder. An empty set is an error, not 0 % of 0 images.
 */
export async function openEvalData(dir: string, o: { valFraction?: number; seed?: number } = {}): Promise<Dataset> {
  let ds: Dataset;
  if (await isIdxDir(dir)) {
    ds = await loadIdxSplit(dir, (await hasTestSplit(dir)) ? 'test' : 'train');
  } else {
    const data = await openData(dir, o);
    ds = data.test ?? data.train;
  }
  if (ds.length === 0) throw new FormatError('holds no images to evaluate', ds.source);
  return ds;
}

function stratifiedSplit(d: Dataset, frac: number, seed: number): { trainIdx: Int32Array; valIdx: Int32Array } {
  const train: number[] = [], val: number[] = [];
  for (let c = 0; c < d.classes.length; c++) {
    const members = Array.from({ length: d.length }, (_, i) => i).filter((i) => d.label(i) === c);
    // A seeded shuffle per class, then the first share held out.
    let h = (seed ^ (c * 0x9e3779b1)) >>> 0;
    for (let i = members.length - 1; i > 0; i--) {
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
      const j = h % (i + 1);
      [members[i], members[j]] = [members[j]!, members[i]!];
    }
    const k = Math.round(members.length * frac);
    val.push(...members.slice(0, k));
    train.push(...members.slice(k));
  }
  return { trainIdx: Int32Array.from(train.sort((a, b) => a - b)), valIdx: Int32Array.from(val.sort((a, b) => a - b)) };
}

export interface OpenOptions {
  valFraction?: number;
  seed?: number;
  /** Keep n training samples, evenly spaced (a short run on a subset). */
  subset?: number;
}

/** openData, then the training subset: the same samples wherever it is opened (a worker opens its own copy). */
export async function openTrainingData(dir: string, o: OpenOptions = {}): Promise<{ train: Dataset; test: Dataset | null }> {
  const data = await openData(dir, o);
  const n = o.subset;
  if (n === undefined || n >= data.train.length) return data;
  const idx = Int32Array.from({ length: n }, (_, i) => Math.floor((i * data.train.length) / n));
  const train = data.train instanceof ArrayDataset ? data.train.subset(idx) : new SubsetDataset(data.train, idx, data.train.source);
  return { train, test: data.test };
}
