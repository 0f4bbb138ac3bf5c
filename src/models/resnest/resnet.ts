// ResNet variants with the ResNeSt block (the seed's resnet.py): Bottleneck and ResNet with
// every constructor option of the seed and the same module tree, hence the same state-dict keys.

import type { Backend } from '../../backend/backend.js';
import { ArgumentError, ShapeError } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { tidy } from '../../tensor/scope.js';
import {
  AvgPool2d, BatchNorm2d, Conv2d, convBn, fusesActivation, Dropout, foldBatchNorm, GlobalAvgPool2d, Linear, MaxPool2d, ReLU, RFConv2d, Sequential,
  type Conv2dOptions,
} from '../../nn/layers.js';
import { Module, type FuseOptions } from '../../nn/module.js';
import { SplAtConv2d } from './splat.js';
import { DropBlock2D } from '../../nn/dropblock.js';

export interface BottleneckOptions {
  stride?: number;
  downsample?: Sequential | null;
  /** 0: plain grouped conv + bn2; 1: split attention with a sigmoid gate; ≥ 2: r-softmax. */
  radix?: number;
  cardinality?: number;
  bottleneckWidth?: number;
  avd?: boolean;
  avdFirst?: boolean;
  dilation?: number;
  isFirst?: boolean;
  /** RFConv2d for conv2 (SplAtConv2d's grouped conv, or the radix-0 conv2). */
  rectifiedConv?: boolean;
  /** RFConv2d's average mode. */
  rectifyAvg?: boolean;
  dropblockProb?: number;
  lastGamma?: boolean;
}

export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly radix: number;
  readonly avd: boolean;
  readonly avdFirst: boolean;
  readonly lastGamma: boolean;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly avdLayer: AvgPool2d | null;
  readonly conv2: SplAtConv2d | Conv2d;
  readonly bn2: BatchNorm2d | null;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;
  /** DropBlock after bn1, bn2 (radix 0) and bn3, as the seed places it (layers 3–4). */
  readonly dropblock1: DropBlock2D | null;
  readonly dropblock2: DropBlock2D | null;
  readonly dropblock3: DropBlock2D | null;

  constructor(inplanes: number, planes: number, opts: BottleneckOptions = {}, backend?: Backend) {
    super(backend);
    const b = this.backend;
    const cardinality = opts.cardinality ?? 1, radix = opts.radix ?? 1, dilation = opts.dilation ?? 1;
    let stride = opts.stride ?? 1;
    const groupWidth = Math.trunc(planes * ((opts.bottleneckWidth ?? 64) / 64)) * cardinality;
    this.conv1 = this.child('conv1', new Conv2d(inplanes, groupWidth, 1, { bias: false }, b));
    this.bn1 = this.child('bn1', new BatchNorm2d(groupWidth, 1e-5, b));
    this.radix = radix;
    this.avd = !!opts.avd && (stride > 1 || !!opts.isFirst);
    this.avdFirst = !!opts.avdFirst;
    this.avdLayer = null;
    if (this.avd) {
      this.avdLayer = this.child('avd_layer', new AvgPool2d(3, { stride, padding: 1 }, b));
      stride = 1;
    }
    if (radix >= 1) {
      this.conv2 = this.child('conv2', new SplAtConv2d(groupWidth, groupWidth, 3, {
        stride, padding: dilation, dilation, groups: cardinality, bias: false, radix, dropblockProb: opts.dropblockProb ?? 0,
        rectify: !!opts.rectifiedConv, rectifyAvg: !!opts.rectifyAvg,
      }, b));
      this.bn2 = null;
    } else {
      const conv2 = { stride, padding: dilation, dilation, groups: cardinality, bias: false };
      this.conv2 = this.child('conv2', opts.rectifiedConv
        ? new RFConv2d(groupWidth, groupWidth, 3, { ...conv2, averageMode: !!opts.rectifyAvg }, b)
        : new Conv2d(groupWidth, groupWidth, 3, conv2, b));
      this.bn2 = this.child('bn2', new BatchNorm2d(groupWidth, 1e-5, b));
    }
    this.conv3 = this.child('conv3', new Conv2d(groupWidth, planes * 4, 1, { bias: false }, b));
    this.bn3 = this.child('bn3', new BatchNorm2d(planes * 4, 1e-5, b));
    this.lastGamma = !!opts.lastGamma;
    this.downsample = opts.downsample ? this.child('downsample', opts.downsample) : null;
    const p = opts.dropblockProb ?? 0;
    const drop = (name: string) => (p > 0 ? this.child(name, new DropBlock2D(p, 3, b)) : null);
    this.dropblock1 = drop('dropblock1');
    this.dropblock2 = radix === 0 ? drop('dropblock2') : null;
    this.dropblock3 = drop('dropblock3');
  }

  override forward(x: Tensor): Tensor {
    let out = convBn(this.conv1, this.bn1, x, 'relu', null, this.dropblock1);
    if (this.avdLayer && this.avdFirst) out = this.avdLayer.call(out);

    out = this.conv2 instanceof SplAtConv2d ? this.conv2.call(out) : convBn(this.conv2, this.bn2!, out, 'relu', null, this.dropblock2);
    if (this.avdLayer && !this.avdFirst) out = this.avdLayer.call(out);

    // As in the seed, the shortcut is computed last: it is not held while conv1/conv2 run.
    const residual = this.downsample ? this.downsample.call(x) : x;
    // out = relu(bn3(conv3(out)) + residual)
    return convBn(this.conv3, this.bn3, out, 'relu', residual, this.dropblock3);
  }

  protected override fuseOwn(opts: FuseOptions): void {
    foldBatchNorm(this.conv1, this.bn1, opts);
    if (this.conv2 instanceof Conv2d) foldBatchNorm(this.conv2, this.bn2!, opts);
    foldBatchNorm(this.conv3, this.bn3, opts);
  }

  protected override initOwn(): void {
    // Zero-init the last BN's gamma so each block starts as the identity. (The seed's
    // ResNet re-fills every BN weight with 1 after building its blocks, which silently
    // undoes this; we keep the option's documented meaning.)
    if (this.lastGamma) this.bn3.weight.backend.fill(this.bn3.weight.ref, this.bn3.weight.size, 0, 'float32');
  }
}

export interface ResNetOptions {
  radix?: number;
  groups?: number;
  bottleneckWidth?: number;
  numClasses?: number;
  dilated?: boolean;
  /** 1, 2 or 4: the output stride is 32, 16 or 8 (detection/segmentation backbones). */
  dilation?: number;
  deepStem?: boolean;
  stemWidth?: number;
  avgDown?: boolean;
  rectifiedConv?: boolean;
  rectifyAvg?: boolean;
  avd?: boolean;
  avdFirst?: boolean;
  finalDrop?: number;
  dropblockProb?: number;
  lastGamma?: boolean;
}

/** The outputs of the stem and each stage, for detection and segmentation backbones. */
export interface ResNetFeatures {
  stem: Tensor;
  layer1: Tensor;
  layer2: Tensor;
  layer3: Tensor;
  layer4: Tensor;
}

export const FEATURE_NAMES = ['stem', 'layer1', 'layer2', 'layer3', 'layer4'] as const;

export class ResNet extends Module {
  readonly options: Required<ResNetOptions>;
  readonly conv1: Conv2d | Sequential;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: GlobalAvgPool2d;
  readonly drop: Dropout | null;
  /** Null with numClasses 0: a backbone only, as the segmentation toolkit's `pretrained.fc = None`. */
  readonly fc: Linear | null;
  private inplanes: number;

  constructor(readonly layers: readonly number[], opts: ResNetOptions = {}, backend?: Backend) {
    super(backend);
    const o: Required<ResNetOptions> = {
      radix: 1, groups: 1, bottleneckWidth: 64, numClasses: 1000, dilated: false, dilation: 1,
      deepStem: false, stemWidth: 64, avgDown: false, rectifiedConv: false, rectifyAvg: false,
      avd: false, avdFirst: false, finalDrop: 0, dropblockProb: 0, lastGamma: false, ...opts,
    };
    this.options = o;
    if (layers.length !== 4 || layers.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new ArgumentError(`ResNet: layers must be four positive block counts, got [${layers.join(', ')}]`);
    }
    if (![1, 2, 4].includes(o.dilation)) throw new ArgumentError(`ResNet: unknown dilation size ${o.dilation} (1, 2 or 4)`);
    const b = this.backend;
    this.inplanes = o.deepStem ? o.stemWidth * 2 : 64;
    // The seed's conv_layer: RFConv2d for the stem when rectified_conv.
    const convLayer = (cin: number, cout: number, k: number, opts: Conv2dOptions) => (o.rectifiedConv
      ? new RFConv2d(cin, cout, k, { ...opts, averageMode: o.rectifyAvg }, b)
      : new Conv2d(cin, cout, k, opts, b));
    if (o.deepStem) {
      const w = o.stemWidth;
      this.conv1 = this.child('conv1', new Sequential([
        convLayer(3, w, 3, { stride: 2, padding: 1, bias: false }),
        new BatchNorm2d(w, 1e-5, b),
        new ReLU(b),
        convLayer(w, w, 3, { stride: 1, padding: 1, bias: false }),
        new BatchNorm2d(w, 1e-5, b),
        new ReLU(b),
        convLayer(w, w * 2, 3, { stride: 1, padding: 1, bias: false }),
      ], b));
    } else {
      this.conv1 = this.child('conv1', convLayer(3, 64, 7, { stride: 2, padding: 3, bias: false }));
    }
    this.bn1 = this.child('bn1', new BatchNorm2d(this.inplanes, 1e-5, b));
    this.relu = this.child('relu', new ReLU(b));
    this.maxpool = this.child('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }, b));
    this.layer1 = this.child('layer1', this.makeLayer(64, layers[0]!, 1, 1, false));
    this.layer2 = this.child('layer2', this.makeLayer(128, layers[1]!, 2, 1, true));
    const [s3, d3, s4, d4] = o.dilated || o.dilation === 4 ? [1, 2, 1, 4] : o.dilation === 2 ? [2, 1, 1, 2] : [2, 1, 2, 1];
    // DropBlock in layers 3–4 only, as the seed passes dropblock_prob.
    this.layer3 = this.child('layer3', this.makeLayer(256, layers[2]!, s3, d3, true, o.dropblockProb));
    this.layer4 = this.child('layer4', this.makeLayer(512, layers[3]!, s4, d4, true, o.dropblockProb));
    this.avgpool = this.child('avgpool', new GlobalAvgPool2d(b));
    this.drop = o.finalDrop > 0 ? this.child('drop', new Dropout(o.finalDrop, b)) : null;
    if (!Number.isInteger(o.numClasses) || o.numClasses < 0) throw new ArgumentError(`ResNet: numClasses must be a non-negative integer, got ${o.numClasses}`);
    this.fc = o.numClasses ? this.child('fc', new Linear(512 * Bottleneck.expansion, o.numClasses, true, b)) : null;
  }

  private makeLayer(planes: number, blocks: number, stride: number, dilation: number, isFirst: boolean, dropblockProb = 0): Sequential {
    const o = this.options, b = this.backend;
    let downsample: Sequential | null = null;
    if (stride !== 1 || this.inplanes !== planes * Bottleneck.expansion) {
      const down: Module[] = [];
      if (o.avgDown) {
        // With dilation the pool is 1×1 (identity); kept so that the keys stay downsample.1/.2.
        const k = dilation === 1 ? stride : 1;
        down.push(new AvgPool2d(k, { stride: k, ceilMode: true, countIncludePad: false }, b));
        down.push(new Conv2d(this.inplanes, planes * 4, 1, { stride: 1, bias: false }, b));
      } else {
        down.push(new Conv2d(this.inplanes, planes * 4, 1, { stride, bias: false }, b));
      }
      down.push(new BatchNorm2d(planes * 4, 1e-5, b));
      downsample = new Sequential(down, b);
    }
    const common = {
      radix: o.radix, cardinality: o.groups, bottleneckWidth: o.bottleneckWidth, avd: o.avd, avdFirst: o.avdFirst,
      lastGamma: o.lastGamma, dropblockProb, rectifiedConv: o.rectifiedConv, rectifyAvg: o.rectifyAvg,
    };
    // The seed gives the first block of a dilation-4 stage dilation 2, the others 4.
    const blocks_: Module[] = [new Bottleneck(this.inplanes, planes, {
      ...common, stride, downsample, dilation: dilation === 4 ? 2 : 1, isFirst,
    }, b)];
    this.inplanes = planes * Bottleneck.expansion;
    for (let i = 1; i < blocks; i++) blocks_.push(new Bottleneck(this.inplanes, planes, { ...common, dilation }, b));
    return new Sequential(blocks_, b);
  }

  /** conv1 → bn1 → relu → maxpool (the deep stem's own conv-bn-relu pairs run inside conv1). */
  stem(x: Tensor): Tensor {
    this.requireRank(x, 4, 'N, 3, H, W');
    if (x.shape[1] !== 3) throw new ShapeError(`ResNet: input must have 3 channels (N, 3, H, W), got [${x.shape.join(', ')}]`);
    const fused = fusesActivation(this.bn1, this.relu);
    return this.sequence(x, this.conv1, fused ? (t) => this.bn1.call(t, { act: 'relu' }) : this.bn1, fused ? null : this.relu, this.maxpool);
  }

  /** Logits [N, num_classes] for images [N, 3, H, W]. */
  override forward(x: Tensor): Tensor {
    if (!this.fc) throw new ArgumentError('ResNet: this backbone has no classifier (numClasses 0); use features()');
    return this.sequence(x, (t) => this.stem(t), this.layer1, this.layer2, this.layer3, this.layer4, this.avgpool, this.drop, this.fc);
  }

  /** The stem's and every stage's output (strides 4, 4, 8, 16, 32 — less when dilated). */
  features(x: Tensor): ResNetFeatures {
    return tidy(() => {
      const stem = this.stem(x);
      const layer1 = this.layer1.call(stem);
      const layer2 = this.layer2.call(layer1);
      const layer3 = this.layer3.call(layer2);
      const layer4 = this.layer4.call(layer3);
      return { stem, layer1, layer2, layer3, layer4 };
    });
  }

  protected override fuseOwn(opts: FuseOptions): void {
    foldBatchNorm(this.conv1 instanceof Sequential ? (this.conv1.layers[6] as Conv2d) : this.conv1, this.bn1, opts);
  }
}
