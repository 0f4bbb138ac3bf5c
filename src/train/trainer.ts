// Training a classifier: batches in a seeded order from a batch source (arrays in memory, or a
// data set with augmentation, possibly prepared in a worker while the kernels run), the
// recipe's loss (label smoothing, mixup), backward, gradient accumulation, the optimizer
// step, a per-iteration learning-rate schedule and a per-epoch DropBlock rate. All
// randomness is keyed by (seed, epoch, iteration), so a run resumed from a checkpoint at a
// step boundary continues exactly as the uninterrupted run. Every tensor of a step is freed
// when it ends, so a long run keeps memory flat.

import type { Batch, BatchSource } from '../data/batch-source.js';
import { ArgumentError, ShapeError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { noGrad } from '../autograd/tape.js';
import { add, mulScalar } from '../ops/elementwise.js';
import { crossEntropy, softCrossEntropy } from '../ops/loss.js';
import { tidy } from '../tensor/scope.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { hash32, Rng } from '../util/random.js';
import { mixBatch, smoothedTargets } from './mixup.js';
import { AdamW, SGD } from './optim.js';
import { paramGroups } from './param-groups.js';
import { setDropBlockProb } from '../nn/dropblock.js';
import { dropBlockProbAt, lrAt, polyLr } from './schedule.js';

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
  /**
   * 'constant'; 'cosine': linear warm-up over warmupEpochs, then cosine decay to 0; 'poly': the
   * segmentation toolkit's lr·(1 − t/T)^0.9; per iteration.
   */
  schedule?: 'constant' | 'cosine' | 'poly';
  warmupEpochs?: number;
  seed?: number;
  /** mixup's α (the recipe: 0.2): λ ~ Beta(α, α) per step; 0 or absent: off. */
  mixup?: number;
  /** Micro-batches per optimizer step: gradients of batchSize-sized pieces add up to an effective batch accumulate·batchSize. */
  accumulate?: number;
  /** The DropBlock rate reached at the last epoch (the recipe: 0.1), rising linearly per epoch; absent: the model's own. */
  dropBlockProb?: number;
  /** Called after every step. */
  onStep?: (s: StepInfo) => void;
}

export interface LoopOptions extends TrainOptions {
  /** Where to start (a resumed run): 0-based epoch and step within it. */
  start?: { epoch: number; step: number };
  /** Called after each epoch (evaluation, checkpoints, plots); awaited. */
  onEpochEnd?: (e: EpochInfo) => void | Promise<void>;
  /** Polled after every step: true stops the loop there (Ctrl-C), reporting where. */
  shouldStop?: () => boolean;
  /**
   * The loss of one micro-batch, with backward (gradients add to .grad), returning it as a
   * scalar tensor the loop owns (backwardLoss); labels are whatever the source gives (one per
   * image, or one per pixel). Default: the recipe's classification loss (label smoothing, mixup).
   */
  objective?: (x: Float32Array, shape: readonly number[], labels: Int32Array, scale: number, iteration: number) => Tensor;
}

export interface EpochInfo {
  epoch: number;
  meanLoss: number;
  /** Iterations done so far (the next step's schedule index). */
  iteration: number;
}

export interface StepInfo {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  lr: number;
  ms: number;
  /** Of ms, the time spent waiting for the batch (augmentation not hidden behind the kernels). */
  dataMs: number;
  /** Images in this step. */
  images: number;
}

export interface TrainResult {
  losses: number[];
  /** Mean loss of each epoch (of the steps this run did). */
  epochLosses: number[];
  /** Where a stopped run stopped (the next step to run), or null when it finished. */
  stoppedAt: { epoch: number; step: number; iteration: number } | null;
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
 * cross-entropy on the mixed targets), backward: gradients add to .grad. Returns the loss as
 * a scalar tensor the caller owns, left where it was computed: a GPU backend reads it back
 * when the caller chooses (once a step), not between the forward and the backward.
 */
export function backwardLoss(model: Module, x: Float32Array, shape: readonly number[], labels: ArrayLike<number>,
  o: LossOptions = {}): Tensor {
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
    return backwardScaled(l, o.scale);
  });
}

/** Backward from scale·loss (1/k for k accumulated micro-batches); returns the unscaled loss, detached. */
export function backwardScaled(loss: Tensor, scale = 1): Tensor {
  (scale !== 1 ? mulScalar(loss, scale) : loss).backward();
  return loss.detach();
}

/** backwardLoss, read at once (backends that read synchronously: js, wasm). */
export function lossAndBackward(model: Module, x: Float32Array, shape: readonly number[], labels: ArrayLike<number>,
  o: LossOptions = {}): number {
  return readScalar(backwardLoss(model, x, shape, labels, o));
}

/** A scalar tensor's value, synchronously; the tensor is freed. */
function readScalar(t: Tensor): number {
  try {
    return t.dataSync()[0]!;
  } finally {
    t.dispose();
  }
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

/** total + share·piece, on the device, without a tape; both inputs are freed. */
function addLoss(total: Tensor | null, piece: Tensor, share: number): Tensor {
  const out = noGrad(() => tidy(() => {
    const scaled = share === 1 ? piece.detach() : mulScalar(piece, share);
    return total ? add(total, scaled) : scaled;
  }));
  total?.dispose();
  piece.dispose();
  return out;
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

/** In-memory arrays as a batch source, with the seeded horizontal flip as augmentation. */
export function arraySource(images: Float32Array, shape: readonly number[], labels: ArrayLike<number>, o: { augment?: boolean; seed?: number } = {}): BatchSource {
  const [n, c, h, w] = shape as [number, number, number, number];
  if (shape.length !== 4 || images.length !== n * c * h * w) throw new ShapeError(`train: images must be [N, C, H, W], got [${shape.join(', ')}]`);
  if (labels.length !== n) throw new ShapeError(`train: ${labels.length} labels for ${n} images`);
  const plane = c * h * w, seed = o.seed ?? 0, augment = o.augment ?? true;
  return {
    length: n,
    sampleShape: [c, h, w],
    batch(idx, key) {
      const x = new Float32Array(idx.length * plane), y = new Int32Array(idx.length);
      idx.forEach((src, i) => {
        y[i] = labels[src]!;
        const flip = augment && hash32((seed ^ 0x5bd1e995 ^ Math.imul(key, 2654435761) ^ i) >>> 0) & 1;
        if (!flip) {
          x.set(images.subarray(src * plane, (src + 1) * plane), i * plane);
          return;
        }
        for (let row = 0; row < c * h; row++) {
          const from = src * plane + row * w, to = i * plane + row * w;
          for (let col = 0; col < w; col++) x[to + col] = images[from + w - 1 - col]!;
        }
      });
      return { x, labels: y };
    },
  };
}

/** Trains `model` on images [N, C, H, W] (float32, row-major) with int labels [N]. */
export async function trainArrays(model: Module, images: Float32Array, shape: readonly number[], labels: ArrayLike<number>,
  o: LoopOptions): Promise<TrainResult> {
  const source = arraySource(images, shape, labels, o);
  model.train();
  const opt = makeOptimizer(model, o);
  try {
    return await trainLoop(model, opt, source, o);
  } finally {
    opt.zeroGrad();
  }
}

/** Checks the options every loop needs. */
export function checkTrainOptions(o: TrainOptions): void {
  for (const [k, v] of [['epochs', o.epochs], ['batchSize', o.batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`train: ${k} must be a positive integer, got ${v}`);
  }
  if (!(o.lr >= 0)) throw new ArgumentError(`train: lr must be ≥ 0, got ${o.lr}`);
  const accumulate = o.accumulate ?? 1;
  if (!Number.isInteger(accumulate) || accumulate < 1) throw new ArgumentError(`train: accumulate must be a positive integer, got ${accumulate}`);
  if (o.mixup !== undefined && !(o.mixup >= 0)) throw new ArgumentError(`train: mixup's alpha must be ≥ 0, got ${o.mixup}`);
}

/** Optimizer steps per epoch for n samples. */
export function stepsPerEpoch(n: number, o: TrainOptions): number {
  return Math.ceil(n / (o.batchSize * (o.accumulate ?? 1)));
}

/**
 * The training loop: the model (in train mode) and its optimizer, batches from `source`. The
 * next micro-batch is asked for before the current one runs, so a source that prepares it
 * elsewhere (a worker) overlaps with the kernels.
 */
export async function trainLoop(model: Module, opt: SGD | AdamW, source: BatchSource, o: LoopOptions): Promise<TrainResult> {
  checkTrainOptions(o);
  const n = source.length;
  const [c, h, w] = source.sampleShape;
  const accumulate = o.accumulate ?? 1;
  const perStep = o.batchSize * accumulate;
  const steps = stepsPerEpoch(n, o);
  const total = steps * o.epochs, warmup = (o.warmupEpochs ?? 0) * steps;
  const seed = o.seed ?? 0;
  const start = o.start ?? { epoch: 0, step: 0 };
  if (!(start.epoch >= 0 && start.step >= 0 && start.step < steps && start.epoch <= o.epochs)) {
    throw new ArgumentError(`train: cannot start at epoch ${start.epoch + 1}, step ${start.step + 1} of ${o.epochs} epochs × ${steps} steps`);
  }
  // The caller put the model in training mode (and froze what it wanted frozen).
  if (!model.training) throw new ArgumentError('trainLoop: call model.train() first');
  const losses: number[] = [], epochLosses: number[] = [];
  // The prefetch asks for the next epoch's first batch before this epoch ends: one order cached.
  let cached: { epoch: number; order: Int32Array } = { epoch: -1, order: new Int32Array(0) };
  const orderOf = (epoch: number) => {
    if (cached.epoch !== epoch) cached = { epoch, order: o.shuffle ?? true ? epochOrder(n, seed, epoch) : Int32Array.from({ length: n }, (_, i) => i) };
    return cached.order;
  };
  const piecesOf = (s: number) => Math.ceil((Math.min(n, (s + 1) * perStep) - s * perStep) / o.batchSize);
  const ask = (epoch: number, s: number, m: number) => {
    const first = s * perStep, last = Math.min(n, (s + 1) * perStep);
    const idx = orderOf(epoch).slice(first + m * o.batchSize, Math.min(last, first + (m + 1) * o.batchSize));
    const iteration = epoch * steps + s;
    return Promise.resolve(source.batch(idx, iteration * accumulate + m));
  };
  const nextOf = (epoch: number, s: number, m: number): [number, number, number] | null => {
    if (m + 1 < piecesOf(s)) return [epoch, s, m + 1];
    if (s + 1 < steps) return [epoch, s + 1, 0];
    return epoch + 1 < o.epochs ? [epoch + 1, 0, 0] : null;
  };
  let pending: Promise<Batch> | null = start.epoch < o.epochs ? ask(start.epoch, start.step, 0) : null;
  for (let epoch = start.epoch; epoch < o.epochs; epoch++) {
    if (o.dropBlockProb !== undefined) setDropBlockProb(model, dropBlockProbAt(epoch, o.epochs, o.dropBlockProb));
    let sum = 0, count = 0;
    for (let s = epoch === start.epoch ? start.step : 0; s < steps; s++) {
      const iteration = epoch * steps + s;
      if ((epoch !== start.epoch || s !== start.step) && o.shouldStop?.()) {
        await pending?.catch(() => {});
        return { losses, epochLosses, stoppedAt: { epoch, step: s, iteration } };
      }
      const t0 = performance.now();
      const lr = o.schedule === 'cosine' ? lrAt(iteration, total, warmup, o.lr) : o.schedule === 'poly' ? polyLr(iteration, total, o.lr) : o.lr;
      opt.setLr(lr);
      opt.zeroGrad();
      let dataMs = 0, stepLoss: Tensor | null = null;
      const first = s * perStep, last = Math.min(n, (s + 1) * perStep);
      const pieces = piecesOf(s);
      for (let m = 0; m < pieces; m++) {
        const tw = performance.now();
        const b = await pending!;
        dataMs += performance.now() - tw;
        const next = nextOf(epoch, s, m);
        pending = next ? ask(...next) : null;
        const size = b.x.length / (c * h * w);
        if (!Number.isInteger(size) || (!o.objective && b.labels.length !== size)) {
          throw new ShapeError(`train: a batch of ${b.labels.length} labels came with ${b.x.length} values, not ${b.labels.length}×${c}×${h}×${w}`);
        }
        // Each piece's mean loss weighted by its share of the step, so the sum is the step's mean.
        const share = size / (last - first);
        let piece: Tensor;
        if (o.objective) piece = o.objective(b.x, [size, c, h, w], b.labels, share, iteration);
        else {
          const lam = o.mixup ? new Rng(hash32((seed ^ 0x6d1e7a ^ Math.imul(iteration * accumulate + m, 0x27d4eb2f)) >>> 0)).beta(o.mixup, o.mixup) : null;
          piece = backwardLoss(model, b.x, [size, c, h, w], b.labels, { labelSmoothing: o.labelSmoothing ?? 0, lam, scale: share });
        }
        stepLoss = addLoss(stepLoss, piece, share);
      }
      opt.step();
      // The one read of a step, after its last kernel is queued: a GPU is not left idle waiting for it.
      const loss = (await stepLoss!.data())[0]!;
      stepLoss!.dispose();
      if (!Number.isFinite(loss)) throw new ShapeError(`training diverged: the loss is ${loss} at epoch ${epoch + 1}, step ${s + 1} (lower the learning rate)`);
      losses.push(loss);
      sum += loss;
      count++;
      o.onStep?.({ epoch, step: s, stepsPerEpoch: steps, loss, lr, ms: performance.now() - t0, dataMs, images: last - first });
      // The kernels run synchronously: give the event loop a turn so a stop request (a signal handler) is seen.
      if (o.shouldStop) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    epochLosses.push(sum / count);
    await o.onEpochEnd?.({ epoch, meanLoss: sum / count, iteration: (epoch + 1) * steps });
  }
  return { losses, epochLosses, stoppedAt: null };
}
