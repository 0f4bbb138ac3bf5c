// The segmentation heads of the ResNeSt authors' toolkit (PyTorch-Encoding), as the
// reference's segmentation.py builds them, with its module tree and state-dict keys:
// FCNHead (keys conv5.{0,1,4}), and DeepLabV3Head = ASPP (b0–b4, project) + block.{0,1,4}.

import type { Backend } from '../../backend/backend.js';
import * as F from '../../ops/index.js';
import { full, type Tensor } from '../../tensor/tensor.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, ReLU, Sequential } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';

/** conv3×3 (in → in/4) - BN - ReLU - Dropout(0.1) - conv1×1 (→ classes, with bias). */
export class FCNHead extends Module {
  readonly conv5: Sequential;
  constructor(inChannels: number, outChannels: number, backend?: Backend) {
    super(backend);
    const inter = inChannels / 4, b = this.backend;
    this.conv5 = this.child('conv5', new Sequential([
      new Conv2d(inChannels, inter, 3, { padding: 1, bias: false }, b), new BatchNorm2d(inter, 1e-5, b), new ReLU(b),
      new Dropout(0.1, b), new Conv2d(inter, outChannels, 1, {}, b),
    ], b));
  }

  override forward(x: Tensor): Tensor {
    return this.conv5.call(x);
  }
}

/** conv (1×1, or 3×3 at a rate) - BN - ReLU: one ASPP branch. */
function branch(cin: number, cout: number, rate: number, b: Backend): Sequential {
  const conv = rate ? new Conv2d(cin, cout, 3, { padding: rate, dilation: rate, bias: false }, b) : new Conv2d(cin, cout, 1, { bias: false }, b);
  return new Sequential([conv, new BatchNorm2d(cout, 1e-5, b), new ReLU(b)], b);
}

/** Image pooling: global average pool - conv1×1 - BN - ReLU, upsampled back to the map (keys gap.{1,2}). */
export class AsppPooling extends Module {
  readonly gap: Sequential;
  constructor(cin: number, cout: number, backend?: Backend) {
    super(backend);
    const b = this.backend;
    this.gap = this.child('gap', new Sequential([
      new AdaptiveAvgPool2d(b), new Conv2d(cin, cout, 1, { bias: false }, b), new BatchNorm2d(cout, 1e-5, b), new ReLU(b),
    ], b));
  }

  override forward(x: Tensor): Tensor {
    return F.interpolate(this.gap.call(x), { size: [x.shape[2]!, x.shape[3]!], mode: 'bilinear', alignCorners: true });
  }
}

/**
 * Atrous spatial pyramid pooling: a 1×1 branch, three 3×3 branches at rates 12, 24, 36 and image
 * pooling, each in/8 channels, concatenated and projected back to in/8 (Dropout2d 0.5 in training).
 */
export class ASPP extends Module {
  readonly b0: Sequential;
  readonly b1: Sequential;
  readonly b2: Sequential;
  readonly b3: Sequential;
  readonly b4: AsppPooling;
  readonly project: Sequential;
  constructor(cin: number, rates: readonly [number, number, number], backend?: Backend) {
    super(backend);
    const cout = cin / 8, b = this.backend;
    this.b0 = this.child('b0', branch(cin, cout, 0, b));
    this.b1 = this.child('b1', branch(cin, cout, rates[0], b));
    this.b2 = this.child('b2', branch(cin, cout, rates[1], b));
    this.b3 = this.child('b3', branch(cin, cout, rates[2], b));
    this.b4 = this.child('b4', new AsppPooling(cin, cout, b));
    this.project = this.child('project', new Sequential([
      new Conv2d(5 * cout, cout, 1, { bias: false }, b), new BatchNorm2d(cout, 1e-5, b), new ReLU(b), new Dropout2d(0.5, b),
    ], b));
  }

  override forward(x: Tensor): Tensor {
    return this.project.call(F.cat([this.b0.call(x), this.b1.call(x), this.b2.call(x), this.b3.call(x), this.b4.call(x)], 1));
  }
}

/** ASPP, then conv3×3 - BN - ReLU - Dropout(0.1) - conv1×1 (→ classes). */
export class DeepLabV3Head extends Module {
  readonly aspp: ASPP;
  readonly block: Sequential;
  constructor(inChannels: number, outChannels: number, rates: readonly [number, number, number] = [12, 24, 36], backend?: Backend) {
    super(backend);
    const inter = inChannels / 8, b = this.backend;
    this.aspp = this.child('aspp', new ASPP(inChannels, rates, b));
    this.block = this.child('block', new Sequential([
      new Conv2d(inter, inter, 3, { padding: 1, bias: false }, b), new BatchNorm2d(inter, 1e-5, b), new ReLU(b),
      new Dropout(0.1, b), new Conv2d(inter, outChannels, 1, {}, b),
    ], b));
  }

  override forward(x: Tensor): Tensor {
    return this.block.call(this.aspp.call(x));
  }
}

/**
 * nn.Dropout2d: whole channels dropped in training. Inference (all this file's networks are
 * evaluated here) is the identity; training drops a channel per image with probability p.
 */
export class Dropout2d extends Module {
  constructor(readonly p = 0.5, backend?: Backend) {
    super(backend);
  }

  override forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const [n, c] = x.shape as [number, number];
    // One keep/drop per (image, channel), broadcast over the map, scaled by 1 / (1 − p).
    return F.mul(x, F.dropout(full([n, c, 1, 1], 1, { backend: x.backend }), this.p, true));
  }
}
