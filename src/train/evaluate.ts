// Accuracy of a classifier on a data set, through the same preprocessing `classify` uses
// (resize the shorter side, centre crop, normalise; grayscale replicated to RGB), in eval mode
// without a tape.

import { noGrad } from '../autograd/tape.js';
import { ArgumentError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { IMAGENET_MEAN, IMAGENET_STD, preprocess } from '../io/image/preprocess.js';
import { resizeFor, type ZooEntry } from '../models/resnest/zoo.js';
import type { Module } from '../nn/module.js';
import { tidy } from '../tensor/scope.js';
import { tensor } from '../tensor/tensor.js';

export interface Preprocessing {
  /** Centre-crop side (the model's input). */
  size: number;
  /** Shorter side after resizing. */
  resize: number;
  mean: readonly number[];
  std: readonly number[];
}

/** A zoo network's ImageNet evaluation: its crop, the resize before it, ImageNet's mean and std. */
export function zooPreprocessing(entry: ZooEntry): Preprocessing {
  return { size: entry.crop, resize: resizeFor(entry), mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] };
}

export interface EvalResult {
  accuracy: number;
  n: number;
  correct: number;
  /** Per-class [correct, total]. */
  perClass: [number, number][];
}

export async function evaluate(model: Module, ds: Dataset, pre: Preprocessing, o: { batchSize?: number; onProgress?: (done: number, n: number) => void } = {}): Promise<EvalResult> {
  if (ds.length === 0) throw new ArgumentError(`evaluate: ${ds.source} holds no images (an accuracy of 0 of 0 means nothing)`);
  // Modes and requiresGrad are restored exactly afterwards (a frozen backbone stays frozen).
  const modes = [...model.namedModules()].map(([, m]) => [m, m.training] as const);
  const grads = [...model.namedParameters()].map(([, t]) => [t, t.requiresGrad] as const);
  const wasTraining = model.training;
  model.eval();
  const bs = o.batchSize ?? 100, plane = 3 * pre.size * pre.size;
  const perClass = ds.classes.map(() => [0, 0] as [number, number]);
  let correct = 0;
  try {
    for (let at = 0; at < ds.length; at += bs) {
      const n = Math.min(bs, ds.length - at);
      const x = new Float32Array(n * plane);
      for (let i = 0; i < n; i++) x.set(preprocess(ds.image(at + i), { crop: pre.size, resize: pre.resize, mean: pre.mean, std: pre.std }).data, i * plane);
      const out = noGrad(() => tidy(() => model.call(tensor(x, [n, 3, pre.size, pre.size], { backend: model.backend }))));
      const logits = (await out.data()) as Float32Array;
      out.dispose();
      const k = logits.length / n;
      for (let i = 0; i < n; i++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (logits[i * k + c]! > logits[i * k + best]!) best = c;
        const label = ds.label(at + i);
        const pc = perClass[label];
        if (pc) pc[1]++;
        if (best === label) {
          correct++;
          if (pc) pc[0]++;
        }
      }
      o.onProgress?.(at + n, ds.length);
    }
  } finally {
    if (wasTraining) model.train();
    for (const [m, on] of modes) m.training = on;
    for (const [t, on] of grads) t.requiresGrad = on;
  }
  return { accuracy: ds.length ? correct / ds.length : 0, n: ds.length, correct, perClass };
}
