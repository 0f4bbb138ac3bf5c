// Split-Attention Conv2d and rSoftMax (ResNeSt, Zhang et al. 2020, §3; the seed's splat.py).
//
// A grouped conv produces radix·C channels (radix "splits" per cardinal group). Their sum
// is pooled to one vector per image (the global context), squeezed through fc1 → bn1 →
// relu → fc2 into radix·C attention logits, normalised across the splits by r-softmax
// (sigmoid when radix = 1), and the output is the attention-weighted sum of the splits.

import type { Backend } from '../../backend/backend.js';
import * as F from '../../ops/index.js';
import type { IntOrPair } from '../../ops/index.js';
import type { Tensor } from '../../tensor/tensor.js';
import { BatchNorm2d, Conv2d, convBn, foldBatchNorm, RFConv2d } from '../../nn/layers.js';
import { Module, type FuseOptions } from '../../nn/module.js';
import { DropBlock2D } from '../../nn/dropblock.js';

export interface SplAtConv2dOptions {
  stride?: IntOrPair;
  padding?: IntOrPair;
  dilation?: IntOrPair;
  /** Cardinality: the number of groups the splits are taken within. */
  groups?: number;
  bias?: boolean;
  radix?: number;
  reductionFactor?: number;
  /** The seed passes its norm layer; false builds the conv without bn0/bn1, as norm_layer=None. */
  norm?: boolean;
  /** RFConv2d for the grouped conv when it is padded (the seed's rectify). */
  rectify?: boolean;
  /** RFConv2d's average mode (rectify_avg). */
  rectifyAvg?: boolean;
  dropblockProb?: number;
}

export class rSoftMax extends Module {
  constructor(readonly radix: number, readonly cardinality: number, backend?: Backend) {
    super(backend);
  }

  /** softmax over the radix axis of (batch, cardinality, radix, -1), radix-major out; sigmoid if radix = 1. */
  override forward(x: Tensor): Tensor {
    return F.rSoftmax(x, this.radix, this.cardinality);
  }
}

export class SplAtConv2d extends Module {
  readonly radix: number;
  readonly cardinality: number;
  readonly channels: number;
  readonly useBn: boolean;
  readonly conv: Conv2d;
  readonly bn0: BatchNorm2d | null;
  readonly fc1: Conv2d;
  readonly bn1: BatchNorm2d | null;
  readonly fc2: Conv2d;
  readonly rsoftmax: rSoftMax;
  readonly dropblock: DropBlock2D | null;

  constructor(inChannels: number, channels: number, kernelSize: IntOrPair, opts: SplAtConv2dOptions = {}, backend?: Backend) {
    super(backend);
    const radix = opts.radix ?? 2, groups = opts.groups ?? 1;
    const padding = opts.padding ?? 0;
    const padded = typeof padding === 'number' ? padding > 0 : padding.some((p) => p > 0);
    const interChannels = Math.max(Math.floor((inChannels * radix) / (opts.reductionFactor ?? 4)), 32);
    this.radix = radix;
    this.cardinality = groups;
    this.channels = channels;
    this.useBn = opts.norm ?? true;
    const b = this.backend;
    const conv = { stride: opts.stride ?? 1, padding, dilation: opts.dilation ?? 1, groups: groups * radix, bias: opts.bias ?? true };
    this.conv = this.child('conv', opts.rectify && padded
      ? new RFConv2d(inChannels, channels * radix, kernelSize, { ...conv, averageMode: !!opts.rectifyAvg }, b)
      : new Conv2d(inChannels, channels * radix, kernelSize, conv, b));
    this.bn0 = this.useBn ? this.child('bn0', new BatchNorm2d(channels * radix, 1e-5, b)) : null;
    this.fc1 = this.child('fc1', new Conv2d(channels, interChannels, 1, { groups }, b));
    this.bn1 = this.useBn ? this.child('bn1', new BatchNorm2d(interChannels, 1e-5, b)) : null;
    this.fc2 = this.child('fc2', new Conv2d(interChannels, channels * radix, 1, { groups }, b));
    this.rsoftmax = this.child('rsoftmax', new rSoftMax(radix, groups, b));
    this.dropblock = (opts.dropblockProb ?? 0) > 0 ? this.child('dropblock', new DropBlock2D(opts.dropblockProb!, 3, b)) : null;
  }

  override forward(input: Tensor): Tensor {
    // x = relu(bn0(conv(x))): radix·C channels, split r = channels [r·C, (r+1)·C).
    // (DropBlock, in training, between bn0 and the ReLU.)
    const x = this.bn0 ? convBn(this.conv, this.bn0, input, 'relu', null, this.dropblock) : F.relu(this.conv.call(input));
    const batch = x.shape[0]!;

    // gap = adaptive_avg_pool2d(sum(split(x, C, dim=1)), 1)      (radix = 1: the pool of x)
    let gap = F.radixGap(x, this.radix);
    gap = this.bn1 ? convBn(this.fc1, this.bn1, gap, 'relu') : F.relu(this.fc1.call(gap));

    // atten = rsoftmax(fc2(gap)).view(batch, -1, 1, 1)
    const atten = this.rsoftmax.call(this.fc2.call(gap)).reshape(batch, -1, 1, 1);

    // out = sum(att_r * split_r)                                   (radix = 1: atten * x)
    return F.radixAttend(x, atten, this.radix);
  }

  protected override fuseOwn(opts: FuseOptions): void {
    if (this.bn0) foldBatchNorm(this.conv, this.bn0, opts);
    if (this.bn1) foldBatchNorm(this.fc1, this.bn1, opts);
  }
}
