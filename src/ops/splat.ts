// The two reductions around split attention's softmax, each one pass over the feature map
// instead of the seed's split / sum / multiply chain (same values, no intermediate tensors).

import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { floatInput, rank, sameBackend } from './check.js';

function splits(op: string, x: Tensor, radix: number): [number, number, number] {
  floatInput(op, x);
  rank(op, x, 4, 'input', 'N, radix·C, H, W');
  const [n, rc, h, w] = x.shape as [number, number, number, number];
  if (!Number.isInteger(radix) || radix < 1 || rc % radix !== 0) {
    throw new ShapeError(`${op}: ${rc} channels of ${fmt(x.shape)} do not split into radix=${radix}`);
  }
  return [n, rc / radix, h * w];
}

/** `adaptive_avg_pool2d(sum(torch.split(x, C, dim=1)), 1)`: [N, radix·C, H, W] → [N, C, 1, 1]. */
export function radixGap(x: Tensor, radix: number): Tensor {
  const [n, c, hw] = splits('radix_gap', x, radix);
  const xc = x.contiguous();
  const out = Tensor.empty([n, c, 1, 1], 'float32', x.backend);
  x.backend.radixGap(xc.ref, out.ref, n, radix, c, hw);
  if (xc !== x) xc.dispose();
  return out;
}

/** `sum(att_r * split_r for r)` with att of [N, radix·C] (or [N, radix·C, 1, 1]): → [N, C, H, W]. */
export function radixAttend(x: Tensor, atten: Tensor, radix: number): Tensor {
  const [n, c, hw] = splits('radix_attend', x, radix);
  sameBackend('radix_attend', x, atten);
  if (atten.size !== n * radix * c || atten.shape[0] !== n) {
    throw new ShapeError(`radix_attend: attention ${fmt(atten.shape)} does not match ${n}×${radix * c} for input ${fmt(x.shape)}`);
  }
  const xc = x.contiguous(), ac = atten.contiguous();
  const out = Tensor.empty([n, c, x.shape[2]!, x.shape[3]!], 'float32', x.backend);
  x.backend.radixAttend(xc.ref, ac.ref, out.ref, n, radix, c, hw);
  if (xc !== x) xc.dispose();
  if (ac !== atten) ac.dispose();
  return out;
}
