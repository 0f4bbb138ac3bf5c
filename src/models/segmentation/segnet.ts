// FCN and DeepLabV3 on a dilated ResNeSt (the toolkit's sseg/base.py, fcn.py, deeplab.py as the
// reference's segmentation.py reformats them): the backbone at output stride 8 (layer3
// dilation 2, layer4 dilation 4) without its classifier, under `pretrained.*`; the head on
// layer4 (`head.*`) and an auxiliary FCN head on layer3 (`auxlayer.*`, trained with weight
// 0.2); each head's logits upsampled bilinearly, corners aligned, to the input's size.

import type { Backend } from '../../backend/backend.js';
import { ArgumentError, ShapeError } from '../../errors.js';
import * as F from '../../ops/index.js';
import type { Tensor } from '../../tensor/tensor.js';
import { tidy } from '../../tensor/scope.js';
import { Module } from '../../nn/module.js';
import { ResNet, type ResNetOptions } from '../resnest/resnet.js';
import { zooEntry } from '../resnest/zoo.js';
import { DeepLabV3Head, FCNHead } from './heads.js';

export type SegHead = 'fcn' | 'deeplab';

export interface SegNetOptions {
  /**
   * A zoo backbone (resnest50, resnest101, resnest200, resnest269), or any ResNet's layers and
   * options (made dilated, without a classifier): its layer3/layer4 have 1024/2048 channels
   * whatever the depth and width, so the heads are the toolkit's.
   */
  backbone: string | { layers: number[]; options: ResNetOptions };
  numClasses: number;
  /** The auxiliary head on layer3 (every published model has it). */
  aux?: boolean;
}

const up = (t: Tensor, h: number, w: number) => F.interpolate(t, { size: [h, w], mode: 'bilinear', alignCorners: true });

export class SegNet extends Module {
  readonly pretrained: ResNet;
  readonly head: FCNHead | DeepLabV3Head;
  readonly auxlayer: FCNHead | null;

  constructor(readonly kind: SegHead, readonly opts: SegNetOptions, backend?: Backend) {
    super(backend);
    const { layers, options } = typeof opts.backbone === 'string' ? zooEntry(opts.backbone) : opts.backbone;
    if (!Number.isInteger(opts.numClasses) || opts.numClasses < 1) throw new ArgumentError(`SegNet: numClasses must be a positive integer, got ${opts.numClasses}`);
    const b = this.backend;
    this.pretrained = this.child('pretrained', new ResNet(layers, { ...options, dilated: true, numClasses: 0 }, b));
    this.head = this.child('head', kind === 'fcn' ? new FCNHead(2048, opts.numClasses, b) : new DeepLabV3Head(2048, opts.numClasses, [12, 24, 36], b));
    this.auxlayer = opts.aux ?? true ? this.child('auxlayer', new FCNHead(1024, opts.numClasses, b)) : null;
  }

  /** layer3 and layer4 of the backbone (c3, c4), intermediates freed. */
  private backbone(x: Tensor): [Tensor, Tensor] {
    this.requireRank(x, 4, 'N, 3, H, W');
    if (x.shape[1] !== 3) throw new ShapeError(`${this.kind}: input must have 3 channels (N, 3, H, W), got [${x.shape.join(', ')}]`);
    // Each stage's input freed once the next is made (they are the dilated net's largest maps).
    const p = this.pretrained;
    let t = p.stem(x);
    for (const stage of [p.layer1, p.layer2]) {
      const next = stage.call(t);
      t.dispose();
      t = next;
    }
    const c3 = p.layer3.call(t);
    t.dispose();
    return [c3, p.layer4.call(c3)];
  }

  /** The main head's logits [N, classes, H, W] at the input's size (what inference uses). */
  override forward(x: Tensor): Tensor {
    const [c3, c4] = this.backbone(x);
    c3.dispose();
    const logits = this.head.call(c4);
    c4.dispose();
    return up(logits, x.shape[2]!, x.shape[3]!);
  }

  /** Both heads' logits at the input's size, as the toolkit's forward returns them (main, aux). */
  forwardAll(x: Tensor): { main: Tensor; aux: Tensor | null } {
    // Under tidy, as call() runs forward: only the two results outlive it.
    return tidy(() => {
      const [c3, c4] = this.backbone(x);
      const [h, w] = [x.shape[2]!, x.shape[3]!];
      return { main: up(this.head.call(c4), h, w), aux: this.auxlayer ? up(this.auxlayer.call(c3), h, w) : null };
    });
  }
}
