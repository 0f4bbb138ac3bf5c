// Training a segmentation network as the authors' toolkit does (PyTorch-Encoding's train.py):
// pixel-wise cross-entropy on both heads' logits at the input's size, unlabelled pixels (-1)
// ignored, the auxiliary head's loss weighted 0.2; SGD with the heads at 10× the backbone's
// rate (with the "poly" schedule of schedule.ts).

import { SEG_IGNORE } from '../data/seg-folder.js';
import type { SegNet } from '../models/segmentation/segnet.js';
import { add, mulScalar } from '../ops/elementwise.js';
import { crossEntropy } from '../ops/loss.js';
import { tidy } from '../tensor/scope.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import type { ParamGroup } from './optim.js';
import { backwardScaled } from './trainer.js';

/** The auxiliary head's share of the loss (the toolkit's --aux-weight default). */
export const AUX_WEIGHT = 0.2;
/** The heads' rate over the backbone's. */
export const HEAD_LR_SCALE = 10;

export interface SegLossOptions {
  auxWeight?: number;
  ignoreIndex?: number;
  /** Multiplies the loss before backward (1/k for k accumulated micro-batches). */
  scale?: number;
}

/** SegmentationLosses(aux=True): CE(main) + auxWeight·CE(aux), each the mean over labelled pixels. */
export function segmentationLoss(main: Tensor, aux: Tensor | null, labels: ArrayLike<number>, o: SegLossOptions = {}): Tensor {
  const opts = { ignoreIndex: o.ignoreIndex ?? SEG_IGNORE };
  const l = crossEntropy(main, labels, opts);
  return aux ? add(l, mulScalar(crossEntropy(aux, labels, opts), o.auxWeight ?? AUX_WEIGHT)) : l;
}

/**
 * Forward in train mode, the segmentation loss, backward (gradients add to .grad). Returns the
 * loss as a scalar tensor the caller owns (read when convenient, as backwardLoss's).
 */
export function segBackwardLoss(model: SegNet, x: Float32Array, shape: readonly number[], labels: ArrayLike<number>, o: SegLossOptions = {}): Tensor {
  return tidy(() => {
    const { main, aux } = model.forwardAll(tensor(x, shape, { backend: model.backend }));
    const l = segmentationLoss(main, aux, labels, o);
    return backwardScaled(l, o.scale);
  });
}

/** The toolkit's groups: the backbone at the schedule's rate, head and auxlayer at 10×, weight decay on all. */
export function segParamGroups(model: SegNet, weightDecay = 1e-4): ParamGroup[] {
  const params = (m: { namedParameters(): Iterable<[string, Tensor]> }) => [...m.namedParameters()].map(([, t]) => t);
  const groups: ParamGroup[] = [{ params: params(model.pretrained), weightDecay }, { params: params(model.head), weightDecay, lrScale: HEAD_LR_SCALE }];
  if (model.auxlayer) groups.push({ params: params(model.auxlayer), weightDecay, lrScale: HEAD_LR_SCALE });
  return groups.filter((g) => g.params.length);
}
