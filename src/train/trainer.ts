// Training a classifier on in-memory arrays: batches in a seeded order, an optional seeded
// horizontal flip, label-smoothed cross-entropy, backward, the optimizer step, and a
// per-iteration learning-rate schedule. Every tensor of a step is freed when it ends, so a
// long run keeps memory flat.

import { ArgumentError, ShapeError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { mulScalar } from '../ops/elementwise.js';
import { crossEntropy, softCrossEntropy } from '../ops/loss.js';
import { tidy } from '../tensor/scope.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { hash32, Rng } from '../util/random.js';
import { mixBatch, smoothedTargets } from './mixup.js';
import { AdamW, SGD } from './optim.js';
import { paramGroups } from './param-groups.js';
import { lrAt } from './schedule.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Base learning rate (of the whole schedule). */
  lr: number;
  optimizer?: 'sgd' | 'adamw';
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** No weight decay on BatchNorm weights/biases or on any bias (the recipe's --no-wd). */
  noBiasDecay?: boolean;
  labelSmoothing?: number;
  /** A new seeded order of the samples each epoch (default true). */
  shuffle?: boolean;
  /** Seeded random horizontal flips (default true). */
  augment?: boolean;
  /** 'constant', or 'cosine': linear warm-up over warmupEpochs, then cosine decay to 0, per iteration. */
  schedule?: 'constant' | 'cosine';
  warmupEpochs?: number;
  seed?: number;
  /** mixup's α (the recipe: 0.2): λ ~ Beta(α, α) per step; 0 or absent: off. */
  mixup?: number;
  /** Micro-batches per optimizer step: gradients of batchSize-sized pieces add up to an effective batch accumulate·batchSize. */
  accumulate?: number;
  /** Called after every step. */
  onStep?: (s: StepInfo) => void;
}

export interface StepInfo {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  lr: number;
  ms: number;
}

export interface TrainResult {
  losses: number[];
  /** Mean loss of each epoch. */
  epochLosses: number[];
}

export interface LossOptions {
  labelSmoothing?: number;
  /** mixup's λ: the batch is mixed with itself reversed, targets too (recipe.mixup). */
  lam?: number | null;
  /** Multiplies the loss before backward (1/k for k accumulated micro-batches). */
  scale?: number;
}

/**
 * Forward in train mode, the recipe's loss (label-smoothed cross-entropy; with mixup, soft
 * cross-entropy on the mixed targets), backward: gradients add to .grad. Returns the loss.
 */
export function lossAndBackward(model: Module, x: Float32Array, shape: readonly number[], labels: ArrayLike<number>,
  o: LossOptions = {}): number {
  const n = shape[0]!, eps = o.labelSmoothing ?? 0, lam = o.lam ?? null;
  return tidy(() => {
    const images = lam === null ? x : mixBatch(x, n, lam);
    const logits = model.call(tensor(images, shape, { backend: model.backend }));
    let l: Tensor;
    if (lam === null) l = crossEntropy(logits, labels, { labelSmoothing: eps });
    else {
      const k = logits.shape[1]!;
      const targets = mixBatch(smoothedTargets(labels, k, eps), n, lam);
      l = softCrossEntropy(logits, tensor(targets, [n, k], { backend: model.backend }));
    }
    const value = l.dataSync()[0]!;
    (o.scale !== undefined && o.scale !== 1 ? mulScalar(l, o.scale) : l).backward();
    return value;
  });
}

/** One step: forward in train mode, cross-entropy, backward, update. Returns the loss. */
export function trainStep(model: Module, opt: SGD | AdamW, x: Float32Array, shape: readonly number[], labels: ArrayLike<number>,
  labelSmoothing = 0): number {
  opt.zeroGrad();
  const loss = lossAndBackward(model, x, shape, labels, { labelSmoothing });
  if (!Number.isFinite(loss)) throw new ShapeError(`training diverged: the loss is ${loss} (lower the learning rate)`);
  opt.step();
  return loss;
}

/** The seeded permutation of n samples for one epoch (Fisher–Yates over a hash stream). */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const base = hash32((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = hash32((base + i) >>> 0) % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

export function makeOptimizer(model: Module, o: TrainOptions): SGD | AdamW {
  const groups = paramGroups(model, o.weightDecay ?? 0, !!o.noBiasDecay);
  if ((o.optimizer ?? 'sgd') === 'adamw') return new AdamW(groups, { lr: o.lr });
  return new SGD(groups, { lr: o.lr, momentum: o.momentum ?? 0, nesterov: !!o.nesterov });
}

/** Trains `model` on images [N, C, H, W] (float32, row-major) with int labels [N]. */
export function trainArrays(model: Module, images: Float32Array, shape: readonly number[], labels: ArrayLike<number>,
  o: TrainOptions): TrainResult {
  const [n, c, h, w] = shape as [number, number, number, number];
  if (shape.length !== 4 || images.length !== n * c * h * w) throw new ShapeError(`train: images must be [N, C, H, W], got [${shape.join(', ')}]`);
  if (labels.length !== n) throw new ShapeError(`train: ${labels.length} labels for ${n} images`);
  for (const [k, v] of [['epochs', o.epochs], ['batchSize', o.batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`train: ${k} must be a positive integer, got ${v}`);
  }
  if (!(o.lr >= 0)) throw new ArgumentError(`train: lr must be ≥ 0, got ${o.lr}`);
  const plane = c * h * w;
  const accumulate = o.accumulate ?? 1;
  if (!Number.isInteger(accumulate) || accumulate < 1) throw new ArgumentError(`train: accumulate must be a positive integer, got ${accumulate}`);
  if (o.mixup !== undefined && !(o.mixup >= 0)) throw new ArgumentError(`train: mixup's alpha must be ≥ 0, got ${o.mixup}`);
  const perStep = o.batchSize * accumulate;
  const stepsPerEpoch = Math.ceil(n / perStep);
  const total = stepsPerEpoch * o.epochs, warmup = (o.warmupEpochs ?? 0) * stepsPerEpoch;
  const seed = o.seed ?? 0;
  const rng = new Rng(hash32((seed ^ 0x6d1e7a) >>> 0));
  model.train();
  const opt = makeOptimizer(model, o);
  const losses: number[] = [], epochLosses: number[] = [];
  let iteration = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = o.shuffle ?? true ? epochOrder(n, seed, epoch) : Int32Array.from({ length: n }, (_, i) => i);
    let sum = 0;
    for (let s = 0; s < stepsPerEpoch; s++, iteration++) {
      const t0 = performance.now();
      const lr = o.schedule === 'cosine' ? lrAt(iteration, total, warmup, o.lr) : o.lr;
      opt.setLr(lr);
      opt.zeroGrad();
      let loss = 0;
      const first = s * perStep, last = Math.min(n, (s + 1) * perStep);
      const pieces = Math.ceil((last - first) / o.batchSize);
      for (let m = 0; m < pieces; m++) {
        const idx = order.subarray(first + m * o.batchSize, Math.min(last, first + (m + 1) * o.batchSize));
        const x = new Float32Array(idx.length * plane), y = new Int32Array(idx.length);
        idx.forEach((src, i) => {
          y[i] = labels[src]!;
          const flip = (o.augment ?? true) && hash32((seed ^ 0x5bd1e995 ^ Math.imul(iteration * accumulate + m, 2654435761) ^ i) >>> 0) & 1;
          if (!flip) {
            x.set(images.subarray(src * plane, (src + 1) * plane), i * plane);
            return;
          }
          for (let row = 0; row < c * h; row++) {
            const from = src * plane + row * w, to = i * plane + row * w;
            for (let col = 0; col < w; col++) x[to + col] = images[from + w - 1 - col]!;
          }
        });
        const lam = o.mixup ? rng.beta(o.mixup, o.mixup) : null;
        // Each piece's mean loss weighted by its share of the step, so the sum is the step's mean.
        const share = idx.length / (last - first);
        loss += share * lossAndBackward(model, x, [idx.length, c, h, w], y, { labelSmoothing: o.labelSmoothing ?? 0, lam, scale: share });
      }
      if (!Number.isFinite(loss)) throw new ShapeError(`training diverged: the loss is ${loss} at epoch ${epoch + 1}, step ${s + 1} (lower the learning rate)`);
      opt.step();
      losses.push(loss);
      sum += loss;
      o.onStep?.({ epoch, step: s, stepsPerEpoch, loss, lr, ms: performance.now() - t0 });
    }
    epochLosses.push(sum / stepsPerEpoch);
  }
  opt.zeroGrad();
  return { losses, epochLosses };
}
