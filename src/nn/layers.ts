// The layers the seed's ResNet is built from, with PyTorch's names, options and state-dict keys.

import type { Activation } from '../backend/backend.js';
import type { Backend } from '../backend/backend.js';
import { ArgumentError, ShapeError } from '../errors.js';
import type { RawTensor } from '../io/raw.js';
import * as F from '../ops/index.js';
import type { IntOrPair } from '../ops/index.js';
import { pair } from '../ops/check.js';
import { rectifies, type RectifyMode } from '../ops/rectify.js';
import { full, type Tensor } from '../tensor/tensor.js';
import { normal, uniform } from '../util/random.js';
import { foldBatchNorm, foldOf, type Fold } from './fusion.js';
import { Module, type FuseOptions } from './module.js';

export { foldBatchNorm };

/** The fused epilogue a conv can run in its output pass (inference only). */
export interface Epilogue {
  act?: Activation;
  residual?: Tensor | null;
}

export interface Conv2dOptions {
  stride?: IntOrPair;
  padding?: IntOrPair;
  dilation?: IntOrPair;
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  /** RFConv2d's rectify factor mode when it applies (src/ops/rectify.ts); null for a plain conv. */
  protected rectifyMode: RectifyMode | null = null;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: IntOrPair, opts: Conv2dOptions = {}, backend?: Backend) {
    super(backend);
    this.kernelSize = pair(kernelSize);
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    // PyTorch's own checks; without them the weight's shape would hold a fraction.
    if (!Number.isInteger(this.groups) || this.groups < 1) throw new ArgumentError(`Conv2d: groups must be a positive integer, got ${this.groups}`);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ArgumentError(`Conv2d: in_channels (${inChannels}) and out_channels (${outChannels}) must be divisible by groups (${this.groups})`);
    }
    this.param('weight', [outChannels, inChannels / this.groups, ...this.kernelSize]);
    this.param('bias', opts.bias ?? true ? [outChannels] : null);
  }

  get weight(): Tensor {
    return this.tensorOf('weight');
  }
  get bias(): Tensor | null {
    return this.hasTensor('bias') ? this.tensorOf('bias') : null;
  }

  get rectify(): RectifyMode | null {
    return this.rectifyMode;
  }

  /** The weight and bias it runs with a following BatchNorm folded in reversibly by fuse() (src/nn/fusion.ts), else null. */
  get folded(): Fold['copy'] {
    return foldOf(this)?.copy ?? null;
  }

  override forward(x: Tensor, epilogue: Epilogue = {}): Tensor {
    this.requireRank(x, 4, 'N, C, H, W');
    const fold = foldOf(this);
    const { weight, bias } = fold?.copy ?? { weight: this.weight, bias: this.bias };
    const geometry = { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups };
    const opts = { ...geometry, act: epilogue.act ?? 'none', residual: epilogue.residual ?? null };
    const rectify = this.rectifyMode;
    // A folded BatchNorm's shift is added after the factor; RFConv2d's own bias is scaled by it.
    if (!rectify || fold) return F.conv2d(x, weight, bias, { ...opts, rectify });
    return F.rfConv2d(x, weight, bias, rectify, opts);
  }

  /** Takes folded values as its own weight and bias (foldBatchNorm with inPlace). */
  adoptFolded(weight: Tensor, bias: Tensor): void {
    this.adoptParam('weight', weight);
    this.adoptParam('bias', bias);
  }

  protected override initOwn(seed: (name: string) => number): void {
    // The seed's ResNet init: normal(0, sqrt(2 / (kH·kW·out_channels))).
    const [kh, kw] = this.kernelSize;
    this.setParam('weight', normal(this.weight.size, seed('weight'), 0, Math.sqrt(2 / (kh * kw * this.outChannels))));
    if (this.bias) {
      // PyTorch's default conv bias init: U(±1/sqrt(fan_in)).
      const bound = 1 / Math.sqrt((this.inChannels / this.groups) * kh * kw);
      this.setParam('bias', uniform(this.outChannels, seed('bias'), -bound, bound));
    }
  }
}

/**
 * Rectified convolution (the seed's RFConv2d; the reference's rfconv.py): a Conv2d whose
 * output, bias included, is multiplied per pixel by (kh·kw) / (taps inside the input), or by
 * 1 / that count in average mode. It applies when padded, and always in average mode. Same
 * parameters and state-dict keys as Conv2d.
 */
export class RFConv2d extends Conv2d {
  readonly averageMode: boolean;

  constructor(inChannels: number, outChannels: number, kernelSize: IntOrPair, opts: Conv2dOptions & { averageMode?: boolean } = {},
    backend?: Backend) {
    super(inChannels, outChannels, kernelSize, opts, backend);
    this.averageMode = !!opts.averageMode;
    const mode: RectifyMode = this.averageMode ? 'average' : 'normal';
    this.rectifyMode = rectifies(mode, this.padding[0], this.padding[1]) ? mode : null;
  }
}

export class BatchNorm2d extends Module {
  /** The conv this BN has been folded into (src/nn/fusion.ts); forward is then the identity. */
  get foldedInto(): Conv2d | null {
    return foldOf(this)?.conv ?? null;
  }

  /** Folded for good (fuse({ inPlace: true })): its tensors are gone and unfuse() keeps it folded. */
  get foldedInPlace(): boolean {
    const fold = foldOf(this);
    return !!fold && !fold.copy;
  }

  /** Weight of the batch statistics in the running ones (PyTorch's default). */
  momentum = 0.1;

  constructor(readonly numFeatures: number, readonly eps = 1e-5, backend?: Backend) {
    super(backend);
    this.param('weight', [numFeatures]);
    this.param('bias', [numFeatures]);
    this.buffer('running_mean', full([numFeatures], 0, { backend: this.backend }));
    this.buffer('running_var', full([numFeatures], 1, { backend: this.backend }));
    this.ignoredKeys.add('num_batches_tracked');
  }

  get weight(): Tensor { return this.tensorOf('weight'); }
  get bias(): Tensor { return this.tensorOf('bias'); }
  get runningMean(): Tensor { return this.tensorOf('running_mean'); }
  get runningVar(): Tensor { return this.tensorOf('running_var'); }

  /** Batches seen in training mode (the state dict's num_batches_tracked). */
  numBatchesTracked = 0;

  /** extra: { act } runs an activation in the normalising pass (convBn, in training). */
  override forward(x: Tensor, extra?: { act?: Activation }): Tensor {
    const act = extra?.act ?? 'none';
    if (foldOf(this)) return F.activate(x, act);
    if (this.training) this.numBatchesTracked++;
    return F.batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias,
      { training: this.training, momentum: this.momentum, eps: this.eps, act });
  }

  protected override loadExtra(name: string, value: RawTensor): void {
    if (name !== 'num_batches_tracked') return;
    const v = Number(value.data[0] ?? 0);
    if (value.data.length !== 1 || !Number.isSafeInteger(v) || v < 0) {
      throw new ShapeError(`BatchNorm2d: num_batches_tracked must be one non-negative integer, got shape [${value.shape.join(', ')}]`);
    }
    this.numBatchesTracked = v;
  }

  protected override extraState(): [string, RawTensor][] {
    if (this.foldedInPlace) return [];
    return [['num_batches_tracked', { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(this.numBatchesTracked)) }]];
  }

  /** Drops this BN's tensors once its conv carries the folded values (foldBatchNorm with inPlace). */
  dropFoldedTensors(): void {
    this.dropTensors();
  }

  protected override initOwn(): void {
    this.setParam('weight', new Float32Array(this.numFeatures).fill(1));
    this.setParam('bias', new Float32Array(this.numFeatures));
  }
}

export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true, backend?: Backend) {
    super(backend);
    this.param('weight', [outFeatures, inFeatures]);
    this.param('bias', bias ? [outFeatures] : null);
  }

  get weight(): Tensor { return this.tensorOf('weight'); }
  get bias(): Tensor | null { return this.hasTensor('bias') ? this.tensorOf('bias') : null; }

  override forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }

  protected override initOwn(seed: (name: string) => number): void {
    // PyTorch's default: kaiming_uniform(a=√5) for the weight = U(±1/sqrt(in)), same bound for the bias.
    const bound = 1 / Math.sqrt(this.inFeatures);
    this.setParam('weight', uniform(this.weight.size, seed('weight'), -bound, bound));
    if (this.bias) this.setParam('bias', uniform(this.outFeatures, seed('bias'), -bound, bound));
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: IntOrPair, readonly opts: F.Pool2dOptions = {}, backend?: Backend) {
    super(backend);
  }
  override forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.opts);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: IntOrPair, readonly opts: F.Pool2dOptions = {}, backend?: Backend) {
    super(backend);
  }
  override forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.opts);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5, backend?: Backend) {
    super(backend);
  }
  override forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

/** nn.AdaptiveAvgPool2d(1): [N, C, H, W] → [N, C, 1, 1]. */
export class AdaptiveAvgPool2d extends Module {
  override forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, 1);
  }
}

/** adaptive_avg_pool2d(x, 1) flattened to [N, C], as the seed's GlobalAvgPool2d. */
export class GlobalAvgPool2d extends Module {
  override forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, 1).reshape(x.shape[0]!, x.shape[1]!);
  }
}

/** Children named '0', '1', …; a Conv2d → BatchNorm2d (→ ReLU) run that fuse() folded runs as one conv. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(layers: Module[], backend?: Backend) {
    super(backend);
    this.layers = layers;
    layers.forEach((m, i) => this.child(String(i), m));
  }

  override forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.layers.length; i++) {
      const m = this.layers[i]!;
      const fold = foldOf(m);
      let next: Tensor;
      const after = this.layers[i + 1];
      if (fold?.run && fold.conv === m) {
        // What fuse() decided: the conv's epilogue stands for the layers it covers.
        next = m.call(y, { act: fold.run.act });
        i += fold.run.covers;
      } else if (after instanceof ReLU && fusesActivation(m, after)) {
        next = m.call(y, { act: 'relu' });
        i++;
      } else {
        next = m.call(y);
      }
      if (y !== x && next !== y) y.dispose(); // a folded BatchNorm hands its input through
      y = next;
    }
    return y;
  }

  protected override fuseOwn(opts: FuseOptions): void {
    for (let i = 0; i + 1 < this.layers.length; i++) {
      const [a, b] = [this.layers[i], this.layers[i + 1]];
      if (!(a instanceof Conv2d && b instanceof BatchNorm2d)) continue;
      const relu = this.layers[i + 2] instanceof ReLU;
      foldBatchNorm(a, b, opts, { act: relu ? 'relu' : 'none', covers: relu ? 2 : 1 });
    }
  }
}

/**
 * Whether bn, followed by an activation (the module `act`, or convBn's), runs it in its own
 * normalising pass: in training (inference folds the BN into the conv instead), and only
 * where no hook must see what passes between them. One read and write of the map fewer.
 */
export function fusesActivation(bn: Module, act: Module | null = null): bn is BatchNorm2d {
  return bn instanceof BatchNorm2d && bn.training && !foldOf(bn) && !bn.hasForwardHooks && !act?.hasForwardHooks;
}

/**
 * conv → bn → (DropBlock) → (+ residual) → act, the seed's recurring pattern. Once the BN is folded
 * (model.fuse()) this is a single conv whose epilogue adds the residual and applies act.
 */
export function convBn(conv: Conv2d, bn: BatchNorm2d, x: Tensor, act: Activation = 'none', residual: Tensor | null = null,
  drop: Module | null = null): Tensor {
  if (foldOf(conv)?.bn === bn) return conv.call(x, { act, residual });
  if (!drop && !residual && act !== 'none' && fusesActivation(bn)) return bn.call(conv.call(x), { act });
  let out = bn.call(conv.call(x));
  if (drop) out = drop.call(out); // DropBlock after the BN, before the residual and the activation (the seed's order)
  if (residual) out = F.add(out, residual);
  return F.activate(out, act);
}
