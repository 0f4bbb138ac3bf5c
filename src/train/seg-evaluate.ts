// Pixel accuracy and mIoU as the segmentation toolkit measures them (PyTorch-Encoding's
// SegmentationMetric): over labelled pixels only; IoU per class = intersection / union summed
// over the whole set, mIoU its mean over every class of the data set (a class never seen nor
// predicted counts 0, as the toolkit's ε-guarded division gives). The mean over classes that
// occur is reported beside it (the two agree on a full validation set).

import type { SegNet } from '../models/segmentation/segnet.js';
import { argmaxClasses, segmentScores, type MultiEvalOptions } from '../models/segmentation/multi-eval.js';
import { writeNormalized, imagenetTables, IMAGENET_BLACK } from '../io/image/preprocess.js';
import type { SegSample } from '../data/seg-folder.js';

export interface SegMetrics {
  pixAcc: number;
  mIoU: number;
  /** The mean IoU over classes that occur in the labels or the predictions. */
  mIoUPresent: number;
  iou: number[];
  labelled: number;
  correct: number;
  images: number;
}

export class SegmentationMetric {
  private readonly inter: Float64Array;
  private readonly pred: Float64Array;
  private readonly label: Float64Array;
  labelled = 0;
  correct = 0;
  images = 0;

  constructor(readonly numClasses: number) {
    this.inter = new Float64Array(numClasses);
    this.pred = new Float64Array(numClasses);
    this.label = new Float64Array(numClasses);
  }

  /** One image: predicted classes and labels (−1 unlabelled), same length. */
  update(predicted: ArrayLike<number>, labels: ArrayLike<number>): void {
    for (let i = 0; i < labels.length; i++) {
      const t = labels[i]!;
      if (t < 0) continue;
      const p = predicted[i]!;
      this.labelled++;
      this.label[t]!++;
      this.pred[p]!++;
      if (p === t) {
        this.correct++;
        this.inter[t]!++;
      }
    }
    this.images++;
  }

  get(): SegMetrics {
    const iou = Array.from(this.inter, (v, k) => v / (2.220446049250313e-16 + this.pred[k]! + this.label[k]! - v));
    const present = iou.filter((_, k) => this.pred[k]! + this.label[k]! > 0);
    return {
      pixAcc: this.correct / (2.220446049250313e-16 + this.labelled), mIoU: iou.reduce((a, b) => a + b, 0) / this.numClasses,
      mIoUPresent: present.length ? present.reduce((a, b) => a + b, 0) / present.length : 0,
      iou, labelled: this.labelled, correct: this.correct, images: this.images,
    };
  }
}


/** Each image at its own size through segmentScores (one pass, or the toolkit's scales and flips). */
export async function evaluateSegmentation(model: SegNet, set: { length: number; sample(i: number): Promise<SegSample> }, numClasses: number,
  o: Omit<MultiEvalOptions, 'padValue' | 'onProgress'> & { onImage?: (done: number, n: number, m: SegMetrics) => void } = {}): Promise<SegMetrics> {
  const metric = new SegmentationMetric(numClasses);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let i = 0; i < set.length; i++) {
      const { image, labels } = await set.sample(i);
      const x = new Float32Array(3 * image.width * image.height);
      writeNormalized(image, x, 0, imagenetTables());
      const scores = await segmentScores(model, x, image.height, image.width, { ...o, padValue: IMAGENET_BLACK });
      metric.update(argmaxClasses(scores, numClasses), labels);
      o.onImage?.(i + 1, set.length, metric.get());
    }
  } finally {
    if (wasTraining) model.train();
  }
  return metric.get();
}
