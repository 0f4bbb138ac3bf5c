// mixup (Zhang et al. 2018) as the recipe applies it (recipe.mixup): each image mixed with the
// batch reversed, x' = λ·x + (1 − λ)·flip(x), and the label-smoothed targets mixed the same way.

import { ShapeError } from '../errors.js';

export interface Mixed {
  images: Float32Array;
  /** Soft targets [N, K]. */
  targets: Float32Array;
}

/** Label smoothing's targets: (1 − ε)·one_hot + ε/K, [N, K]. */
export function smoothedTargets(labels: ArrayLike<number>, numClasses: number, eps: number): Float32Array {
  const t = new Float32Array(labels.length * numClasses).fill(eps / numClasses);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!Number.isInteger(l) || l < 0 || l >= numClasses) throw new ShapeError(`mixup: label ${l} at index ${i} is outside [0, ${numClasses})`);
    t[i * numClasses + l] = 1 - eps + eps / numClasses;
  }
  return t;
}

/** λ·v + (1 − λ)·flip(v) over a batch [N, …] (row-major), in float32 as PyTorch computes it. */
export function mixBatch(v: Float32Array, n: number, lam: number): Float32Array {
  if (v.length % n !== 0) throw new ShapeError(`mixup: ${v.length} values do not split into a batch of ${n}`);
  const per = v.length / n, out = new Float32Array(v.length);
  const a = Math.fround(lam), b = Math.fround(1 - lam);
  for (let i = 0; i < n; i++) {
    const j = n - 1 - i;
    for (let k = 0; k < per; k++) out[i * per + k] = Math.fround(a * v[i * per + k]!) + Math.fround(b * v[j * per + k]!);
  }
  return out;
}

/** recipe.mixup with a given λ (draw it from Beta(α, α) for the recipe): mixed images and soft targets. */
export function mixup(images: Float32Array, n: number, labels: ArrayLike<number>, numClasses: number, lam: number, eps = 0.1): Mixed {
  if (labels.length !== n) throw new ShapeError(`mixup: ${labels.length} labels for a batch of ${n}`);
  return { images: mixBatch(images, n, lam), targets: mixBatch(smoothedTargets(labels, numClasses, eps), n, lam) };
}
