// What `resnest train` trains on: a data set (--data: an IDX directory or an image folder,
// augmented, with its test split) or arrays (--inputs/--labels .npy), as a BatchSource.

import { ArgumentError, ShapeError } from '../errors.js';
import type { BatchSource } from '../data/batch-source.js';
import { openTrainingData, type Dataset } from '../data/dataset.js';
import { datasetSource, type AugmentOptions } from '../data/loader.js';
import { workerSource } from '../data/worker-source.js';
import { readBytes } from '../io/files.js';
import { readNpy } from '../io/npy.js';
import { toFloat32, type RawTensor } from '../io/raw.js';
import type { Preprocessing } from '../train/evaluate.js';
import { arraySource } from '../train/trainer.js';
import { flag, int, num, required, str, type Parsed } from './args.js';
import { pixelStats } from './train-pixel-stats.js';
import type { Recipe } from './train-options.js';

/** A data set (--data): what evaluation, the checkpoint and the card need of it. */
export interface DataSetRun {
  dir: string;
  classes: readonly string[];
  /** Evaluated after each epoch. */
  test: Dataset | null;
  pre: Preprocessing;
  cropScale: number;
  autoAugment: boolean;
  colorJitter: number;
  subset: number | undefined;
}

export interface TrainingData {
  source: BatchSource;
  /** One more than the largest label. */
  numLabels: number;
  set: DataSetRun | null;
  arrays: { labels: Int32Array; file: string } | null;
}

/** --data, when given instead of --inputs/--labels. */
export function dataDirOf(p: Parsed): string | undefined {
  const dataDir = str(p, 'data');
  if (dataDir && (str(p, 'inputs') || str(p, 'labels'))) throw new ArgumentError('train: give --data or --inputs/--labels, not both');
  return dataDir;
}

export async function trainingData(p: Parsed, dataDir: string | undefined, opts: Recipe): Promise<TrainingData> {
  return dataDir ? dataSet(p, dataDir, opts) : arrays(p, opts);
}

/** --mean/--std: one number (every channel) or three, comma-separated. */
function triple(p: Parsed, key: string): number[] | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  const xs = v.split(',').map(Number);
  if (!(xs.length === 1 || xs.length === 3) || xs.some((x) => !Number.isFinite(x))) throw new ArgumentError(`--${key} must be one number or three comma-separated, got '${v}'`);
  return xs.length === 1 ? [xs[0]!, xs[0]!, xs[0]!] : xs;
}

async function dataSet(p: Parsed, dataDir: string, opts: Recipe): Promise<TrainingData> {
  const valSplit = str(p, 'val-split') !== undefined ? num(p, 'val-split', 0) : 0;
  if (valSplit >= 1) throw new ArgumentError(`--val-split must be in [0, 1), got ${valSplit}`);
  const openOpts = { valFraction: valSplit, seed: opts.seed, subset: int(p, 'subset') };
  const data = await openTrainingData(dataDir, openOpts);
  const trainSet = data.train, test = data.test, classes = trainSet.classes;
  const first = trainSet.image(0);
  const size = int(p, 'size') ?? Math.min(first.width, first.height);
  const resize = int(p, 'resize') ?? size;
  const stats = triple(p, 'mean') && triple(p, 'std') ? { mean: triple(p, 'mean')!, std: triple(p, 'std')! } : pixelStats(trainSet);
  const scaleLo = str(p, 'crop-scale') !== undefined ? num(p, 'crop-scale', 0.08) : 0.08;
  if (!(scaleLo > 0 && scaleLo <= 1)) throw new ArgumentError(`--crop-scale must be in (0, 1], got ${scaleLo}`);
  const pre = { size, resize, mean: stats.mean, std: stats.std };
  const jitter = str(p, 'color-jitter') !== undefined ? num(p, 'color-jitter', 0) : 0;
  const augment: AugmentOptions = {
    size, scale: opts.augment ? [scaleLo, 1] : null, hflip: opts.augment, mean: stats.mean, std: stats.std, seed: opts.seed,
    autoAugment: opts.augment && flag(p, 'auto-augment'), colorJitter: opts.augment ? jitter : 0,
  };
  // The augmentation runs in a worker (the next batch is made while the kernels run) unless --workers 0.
  const workers = int(p, 'workers', 0) ?? 1;
  if (workers > 1) throw new ArgumentError('--workers is 0 (augment on the main thread) or 1 (one worker)');
  const source = workers ? await workerSource(dataDir, openOpts, augment) : datasetSource(trainSet, augment);
  if (!flag(p, 'quiet')) {
    process.stderr.write(`data: ${trainSet.length} training images (${trainSet.source})${test ? `, ${test.length} test images` : ''}, ${classes.length} classes; `
      + `input ${size}×${size}, mean ${stats.mean.join('/')}, std ${stats.std.join('/')}\n`);
  }
  return {
    source, numLabels: classes.length, arrays: null,
    set: {
      dir: dataDir, classes, test, pre, cropScale: scaleLo, autoAugment: !!augment.autoAugment, colorJitter: augment.colorJitter ?? 0,
      subset: openOpts.subset,
    },
  };
}

function labelArray(raw: RawTensor, file: string, n: number): Int32Array {
  if (!['int64', 'int32', 'int16', 'int8', 'uint8'].includes(raw.dtype)) throw new ShapeError(`${file}: labels must be integers, got ${raw.dtype}`);
  if (raw.shape.length !== 1 || raw.shape[0] !== n) throw new ShapeError(`${file}: labels must have shape [${n}] (one per image), got [${raw.shape.join(', ')}]`);
  return Int32Array.from(raw.data as ArrayLike<number | bigint>, (v) => Number(v));
}

async function arrays(p: Parsed, opts: Recipe): Promise<TrainingData> {
  const inputsPath = required(p, 'inputs', 'train'), labelsPath = required(p, 'labels', 'train');
  const raw = readNpy(await readBytes(inputsPath), inputsPath);
  if (raw.shape.length !== 4 || raw.shape[1] !== 3 || !raw.dtype.startsWith('float')) {
    throw new ShapeError(`${inputsPath}: images must be float NCHW with 3 channels, got ${raw.dtype} [${raw.shape.join(', ')}]`);
  }
  const images = toFloat32(raw, inputsPath);
  if (images.some((v) => !Number.isFinite(v))) throw new ShapeError(`${inputsPath}: holds NaN or Inf values`);
  const labels = labelArray(readNpy(await readBytes(labelsPath), labelsPath), labelsPath, raw.shape[0]!);
  const numLabels = labels.reduce((a, b) => Math.max(a, b + 1), 0);
  return { source: arraySource(images, raw.shape, labels, opts), numLabels, set: null, arrays: { labels, file: labelsPath } };
}

/** Every label must be one of the model's classes; headOf: the classes of the weights' head, if any. */
export function checkLabels(data: TrainingData, numClasses: number, headOf: number | undefined): void {
  if (data.arrays) {
    const bad = data.arrays.labels.findIndex((l) => l < 0 || l >= numClasses);
    if (bad >= 0) throw new ShapeError(`${data.arrays.file}: label ${data.arrays.labels[bad]} at index ${bad} is outside [0, ${numClasses})`);
  }
  if (data.numLabels > numClasses) throw new ShapeError(`${data.set?.dir ?? data.arrays?.file}: labels reach ${data.numLabels - 1}, outside the model's ${numClasses} classes${headOf ? ' (a new head: --num-classes N)' : ''}`);
}
