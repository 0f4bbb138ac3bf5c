// Inference fusion: a BatchNorm folded into the conv before it, so that conv + bias (+ residual)
// (+ activation) run as one kernel. This file is the one transform and holds all of its state.
//
// Why one place: the state used to be flags spread over the layers (Conv2d's folded copies and
// "bias after the factor", BatchNorm2d's foldedInto / foldedInPlace), cleared by per-layer
// unfuse hooks and re-derived by Sequential matching Conv → BN → ReLU on every forward; each
// new layer or way of changing parameters had several places to keep in step. Now fuse()
// writes one Fold record per pair, unfold() removes it, and the layers only ask foldOf().
//
// Why records and not new modules (torch.ao.quantization.fuse_modules puts a ConvBnReLU module
// in place of the pair): state-dict keys (`layer1.0.conv1.weight`), forward hooks on
// `layer2.0.conv2.conv`, explainBlock's checks and the ONNX initializer names all address the
// seed's module tree. A record leaves that tree as it is, and so every path in it.
//
// Why a WeakMap keyed by the modules rather than a field on the root: a fold belongs to its
// pair, not to the module fuse() was called on (a block can be fused alone, and convBn() in a
// block's forward knows only its conv and BN), and it goes away with them.

import type { Activation } from '../backend/backend.js';
import * as F from '../ops/index.js';
import { keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { BatchNorm2d, Conv2d } from './layers.js';
import type { FuseOptions, Module } from './module.js';

/** What a Sequential that fused the pair then runs in the conv's epilogue, and how many of the layers after the conv that covers (the BN, and a ReLU). */
export interface FoldedRun {
  act: Activation;
  covers: number;
}

export interface Fold {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  /**
   * The folded weight and bias, owned by the fold (reversible: unfold() frees them). Null when
   * they replaced the conv's own and the BN's tensors were dropped (fuse({ inPlace: true })):
   * such a fold is for good, and the conv's bias is then a shift added after RFConv2d's factor.
   */
  readonly copy: { weight: Tensor; bias: Tensor } | null;
  /** Set when a Sequential made the fold (see FoldedRun); blocks give the epilogue at call time (convBn). */
  readonly run: FoldedRun | null;
}

/** Every fold, under both its conv and its BN. */
const folds = new WeakMap<Module, Fold>();

/** The fold m (a conv or a BatchNorm) is part of. */
export function foldOf(m: Module): Fold | undefined {
  return folds.get(m);
}

/** Whether m is a BatchNorm folded away for good (fuse({ inPlace: true })): its tensors are gone. */
export function foldedForGood(m: Module): boolean {
  const f = folds.get(m);
  return !!f && f.bn === m && !f.copy;
}

/** Undoes m's fold if it is reversible (freeing the folded copies); in-place folds stay. */
export function unfold(m: Module): void {
  const f = folds.get(m);
  if (!f?.copy) return;
  folds.delete(f.conv);
  folds.delete(f.bn);
  f.copy.weight.dispose();
  f.copy.bias.dispose();
}

/**
 * Folds an inference BatchNorm into the conv before it:
 * w' = w · γ/√(var+ε) per output channel, b' = (b − mean) · γ/√(var+ε) + β.
 * Idempotent; a reversible fold is made in place when asked.
 */
export function foldBatchNorm(conv: Conv2d, bn: BatchNorm2d, opts: FuseOptions = {}, run: FoldedRun | null = null): void {
  const old = folds.get(bn);
  if (old && old.conv === conv && (!old.copy || !opts.inPlace)) return;
  // A rectified conv's own bias is scaled per pixel: no per-channel shift can stand for it.
  if (conv.rectify && conv.bias && !old) return;
  unfold(conv);
  const folded = tidy(() => {
    const scale = F.mul(bn.weight, F.rsqrt(F.addScalar(bn.runningVar, bn.eps)));
    const weight = F.mul(conv.weight, scale.reshape(conv.outChannels, 1, 1, 1));
    const centred = conv.bias ? F.sub(conv.bias, bn.runningMean) : F.neg(bn.runningMean);
    const bias = F.add(F.mul(centred, scale), bn.bias);
    return { weight, bias };
  });
  let copy: Fold['copy'] = null;
  if (opts.inPlace) {
    // One layer's temporaries at a time, so the peak is one conv's weights, not the model's.
    conv.adoptFolded(folded.weight, folded.bias);
    bn.dropFoldedTensors();
  } else {
    copy = { weight: keep(folded.weight), bias: keep(folded.bias) };
  }
  const fold: Fold = { conv, bn, copy, run };
  folds.set(conv, fold);
  folds.set(bn, fold);
}
