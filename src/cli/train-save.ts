// The end of a run: the model's state dict written as torch.save does (the seed's keys, running
// stats, num_batches_tracked; --half: float16) and, for data sets, the card beside it that says
// how to use it.

import { createHash } from 'node:crypto';
import type { Backend } from '../backend/backend.js';
import { writeFileAtomic } from '../io/files.js';
import { toHalf, type StateDict } from '../io/raw.js';
import { saveTorch } from '../io/torch-save.js';
import { configOf, type ZooEntry } from '../models/resnest/zoo.js';
import type { Module } from '../nn/module.js';
import { loadModel } from '../node.js';
import { evaluate } from '../train/evaluate.js';
import type { DataSetRun } from './train-data.js';

/** Writes the .pth; its bytes, for the card. */
export async function saveWeights(model: Module, save: string, half: boolean): Promise<Uint8Array> {
  let out: StateDict = await model.exportStateDict();
  if (half) out = new Map([...out].map(([k, t]) => [k, toHalf(t)]));
  const saved = saveTorch(out);
  await writeFileAtomic(save, saved);
  return saved;
}

export interface CardFacts {
  entry: ZooEntry;
  numClasses: number;
  backend: Backend;
  argv: string[];
  /** The test accuracy after the last epoch; with a test split, the saved file's replaces it. */
  accuracy: number | null;
  seen: number;
  t0: number;
}

/** Writes the card beside the .pth; the test accuracy it states. */
export async function saveCard(save: string, saved: Uint8Array, set: DataSetRun, o: CardFacts): Promise<number | null> {
  let accuracy = o.accuracy;
  // The card's accuracy is that of the file as written (half precision, BatchNorm folded), as classify and eval will load it.
  if (set.test) {
    const shipped = await loadModel(o.entry, { weights: save, backend: o.backend });
    accuracy = (await evaluate(shipped, set.test, set.pre)).accuracy;
    shipped.dispose();
  }
  const { pre } = set;
  const meta = {
    resnet: configOf(o.entry, o.numClasses),
    // After the .pth is in place, before the card: see model-card.ts for why the card names its weights.
    weights: { size: saved.length, sha256: createHash('sha256').update(saved).digest('hex') },
    preprocess: { size: pre.size, resize: pre.resize, mean: pre.mean, std: pre.std },
    labels: set.classes,
    accuracy,
    command: ['resnest', 'train', ...o.argv].map((a) => (/^[\w./:=,-]+$/.test(a) ? a : `'${a}'`)).join(' '),
    seconds: Math.round((performance.now() - o.t0) / 1000),
    images_per_s: Math.round((o.seen / (performance.now() - o.t0)) * 1000 * 10) / 10,
  };
  await writeFileAtomic(save.replace(/\.pth$/, '') + '.json', new TextEncoder().encode(JSON.stringify(meta, null, 2) + '\n'));
  return accuracy;
}
