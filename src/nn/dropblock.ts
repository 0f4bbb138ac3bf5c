// DropBlock (Ghiasi et al. 2018) as ResNeSt was trained with it (the reference's
// dropblock.py; the seed leaves it unimplemented): in training, one mask per batch and
// channel drops k×k blocks grown from Bernoulli(γ) seeds, and the kept activations are
// rescaled by (C·H·W) / (number kept). The identity in eval mode or at drop_prob 0.

import type { Backend } from '../backend/backend.js';
import { ArgumentError, ShapeError } from '../errors.js';
import * as F from '../ops/index.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { hash32 } from '../util/random.js';
import { Module } from './module.js';

let calls = 0;

/**
 * The keep mask [C·H·W] (already rescaled) for uniforms `noise` [C·H·W] in [0, 1):
 * γ = p·H·W / k² / ((H − k + 1)(W − k + 1)), k = min(block, H, W); seeds = noise < γ grown by
 * a stride-1 max pool with padding k // 2 (cropped to H×W for even k); keep = 1 − blocks.
 */
export function dropBlockMask(noise: Float32Array, c: number, h: number, w: number, dropProb: number, blockSize: number): Float32Array {
  const k = Math.min(blockSize, h, w);
  const gamma = (dropProb * h * w) / (k * k) / ((h - k + 1) * (w - k + 1));
  const pad = Math.floor(k / 2);
  const keep = new Float32Array(c * h * w);
  let kept = 0;
  for (let ch = 0; ch < c; ch++) {
    const base = ch * h * w;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let dropped = false;
        for (let di = i - pad; di < i - pad + k && !dropped; di++) {
          if (di < 0 || di >= h) continue;
          for (let dj = j - pad; dj < j - pad + k; dj++) {
            if (dj >= 0 && dj < w && noise[base + di * w + dj]! < gamma) {
              dropped = true;
              break;
            }
          }
        }
        if (!dropped) {
          keep[base + i * w + j] = 1;
          kept++;
        }
      }
    }
  }
  if (kept === 0) return keep; // everything dropped: y = 0
  const scale = Math.fround(keep.length / kept);
  for (let i = 0; i < keep.length; i++) keep[i] = keep[i]! * scale;
  return keep;
}

export class DropBlock2D extends Module {
  /** Uniforms [1, C, H, W] to draw the seeds from instead of a fresh draw (parity tests). */
  noise: Float32Array | null = null;

  constructor(public dropProb: number, readonly blockSize = 3, backend?: Backend) {
    super(backend);
    if (!(dropProb >= 0 && dropProb < 1)) throw new ArgumentError(`DropBlock2D: drop_prob must be in [0, 1), got ${dropProb}`);
  }

  override forward(x: Tensor): Tensor {
    if (!this.training || this.dropProb <= 0) return x;
    this.requireRank(x, 4, 'N, C, H, W');
    const [, c, h, w] = x.shape as [number, number, number, number];
    let noise = this.noise;
    if (noise) {
      if (noise.length !== c * h * w) throw new ShapeError(`DropBlock2D: noise holds ${noise.length} values, input [${x.shape.join(', ')}] needs 1·${c}·${h}·${w}`);
    } else {
      const seed = hash32((0x2545f491 ^ Math.imul(++calls, 0x9e3779b1)) >>> 0);
      noise = new Float32Array(c * h * w);
      for (let i = 0; i < noise.length; i++) noise[i] = hash32((seed + i) >>> 0) / 4294967296;
    }
    const mask = tensor(dropBlockMask(noise, c, h, w, this.dropProb, this.blockSize), [1, c, h, w], { backend: x.backend });
    const y = F.mul(x, mask);
    mask.dispose();
    return y;
  }
}

/** Sets the rate of every DropBlock2D in a model (the recipe schedules it per epoch). */
export function setDropBlockProb(model: Module, p: number): void {
  if (!(p >= 0 && p < 1)) throw new ArgumentError(`DropBlock: drop_prob must be in [0, 1), got ${p}`);
  for (const [, m] of model.namedModules()) if (m instanceof DropBlock2D) m.dropProb = p;
}
