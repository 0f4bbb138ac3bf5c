// Losses and dropout, as compositions of differentiable ops: their gradients come from the
// ops they are made of.

import { ShapeError } from '../errors.js';
import { Tensor, tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { hash32 } from '../util/random.js';
import { mul, mulScalar, neg } from './elementwise.js';
import { mean, sum, sumDims } from './reduce.js';
import { logSoftmax } from './softmax.js';

export interface CrossEntropyOptions {
  /** PyTorch's label_smoothing: the target is (1 − ε)·one_hot + ε/K. */
  labelSmoothing?: number;
  /**
   * PyTorch's ignore_index: positions with this label add nothing and the mean is over the
   * others (the segmentation toolkit uses −1 for unlabelled pixels). Absent: every label counts.
   */
  ignoreIndex?: number;
}

function labelValues(labels: Tensor | ArrayLike<number>, n: number, k: number): ArrayLike<number> {
  const values = labels instanceof Tensor ? labels.dataSync() : labels;
  if (values.length !== n) throw new ShapeError(`cross_entropy: ${values.length} labels for a batch of ${n}`);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= k) throw new ShapeError(`cross_entropy: label ${v} at index ${i} is outside [0, ${k})`);
  }
  return values;
}

/** The soft targets of int labels with label smoothing, [N, K] on `like`'s backend. */
export function smoothTargets(labels: Tensor | ArrayLike<number>, numClasses: number, eps = 0, like?: Tensor): Tensor {
  const n = labels instanceof Tensor ? labels.size : labels.length;
  const values = labelValues(labels, n, numClasses);
  const t = new Float32Array(n * numClasses).fill(eps / numClasses);
  for (let i = 0; i < n; i++) t[i * numClasses + values[i]!] = 1 - eps + eps / numClasses;
  return tensor(t, [n, numClasses], like ? { backend: like.backend } : {});
}

/** Mean over the batch of −Σ_k targets·log_softmax(logits): the recipe's soft cross-entropy (mixup). */
export function softCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  if (logits.rank !== 2 || targets.shape.join() !== logits.shape.join()) {
    throw new ShapeError(`soft_cross_entropy: logits ${fmt(logits.shape)} and targets ${fmt(targets.shape)} must both be [N, K]`);
  }
  return neg(mean(sumDims(mul(targets, logSoftmax(logits, 1)), 1)));
}

/**
 * F.cross_entropy(logits, int labels, label_smoothing, ignore_index), the mean over the labels
 * that count: logits [N, K] with labels [N], or per pixel, logits [N, K, H, W] with labels
 * [N, H, W] (flat, row-major) as segmentation trains.
 */
export function crossEntropy(logits: Tensor, labels: Tensor | ArrayLike<number>, opts: CrossEntropyOptions = {}): Tensor {
  if (logits.rank === 4 || opts.ignoreIndex !== undefined) return pixelCrossEntropy(logits, labels, opts);
  if (logits.rank !== 2) throw new ShapeError(`cross_entropy: logits must be [N, K] or [N, K, H, W], got ${fmt(logits.shape)}`);
  const targets = smoothTargets(labels, logits.shape[1]!, opts.labelSmoothing ?? 0, logits);
  const loss = softCrossEntropy(logits, targets);
  targets.dispose();
  return loss;
}

/**
 * The general case: logits [N, K, …] (the class dim second), labels [N, …]. Targets are built
 * on the CPU as a [N, K, …] weight map — (1 − ε)·one_hot + ε/K where the label counts, 0 where
 * it is ignored — so the loss is −Σ targets·log_softmax(logits, 1) / (labels that count), one
 * composition whose gradient is PyTorch's.
 */
function pixelCrossEntropy(logits: Tensor, labels: Tensor | ArrayLike<number>, opts: CrossEntropyOptions): Tensor {
  if (logits.rank < 2) throw new ShapeError(`cross_entropy: logits must be [N, K, …], got ${fmt(logits.shape)}`);
  const [n, k] = [logits.shape[0]!, logits.shape[1]!];
  const inner = logits.size / (n * k), eps = opts.labelSmoothing ?? 0, ignore = opts.ignoreIndex;
  const values = labels instanceof Tensor ? labels.dataSync() : labels;
  const want = [n, ...logits.shape.slice(2)];
  if (values.length !== n * inner) throw new ShapeError(`cross_entropy: ${values.length} labels for logits ${fmt(logits.shape)} (want ${fmt(want)})`);
  const t = new Float32Array(logits.size);
  let counted = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < inner; i++) {
      const v = values[b * inner + i]!;
      if (v === ignore) continue;
      if (!Number.isInteger(v) || v < 0 || v >= k) {
        throw new ShapeError(`cross_entropy: label ${v} at index ${b * inner + i} is outside [0, ${k})${ignore === undefined ? '' : ` and is not the ignore index ${ignore}`}`);
      }
      counted++;
      const base = b * k * inner + i;
      if (eps) for (let c = 0; c < k; c++) t[base + c * inner] = eps / k;
      t[base + v * inner] = 1 - eps + eps / k;
    }
  }
  const targets = tensor(t, logits.shape, { backend: logits.backend });
  // PyTorch's mean over no labels is 0/0 = NaN; so is this.
  const loss = mulScalar(sum(mul(targets, logSoftmax(logits, 1))), -1 / counted);
  targets.dispose();
  return loss;
}

let dropoutCalls = 0;

/**
 * Dropout: in training, each element is zeroed with probability p and the rest scaled by
 * 1/(1 − p); the mask is a hash stream of `seed` (a fresh one per call when omitted), so a
 * seeded run repeats exactly. The identity in eval mode.
 */
export function dropout(x: Tensor, p: number, training: boolean, seed?: number): Tensor {
  if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const s = (seed ?? hash32(0x9e3779b9 ^ dropoutCalls++)) >>> 0;
  const mask = new Float32Array(x.size);
  const keepScale = 1 / (1 - p);
  for (let i = 0; i < x.size; i++) mask[i] = hash32((s + i) >>> 0) / 4294967296 >= p ? keepScale : 0;
  const m = tensor(mask, x.shape, { backend: x.backend });
  const out = mul(x, m);
  m.dispose();
  return out;
}

