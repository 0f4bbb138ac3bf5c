// The two reductions around split attention's softmax, each one pass over the feature map
// instead of the seed's split / sum / multiply chain (same values, no intermediate tensors).

import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { floatInput, rank } from './check.js';
import { mulScalar } from './elementwise.js';
import { apply, defineOp, gradKernel } from './op.js';
import { expand } from './reduce.js';

export interface Splits {
  n: number;
  radix: number;
  c: number;
  h: number;
  w: number;
}

function splits(op: string, x: Tensor, radix: number): Splits {
  floatInput(op, x);
  rank(op, x, 4, 'input', 'N, radix·C, H, W');
  const [n, rc, h, w] = x.shape as [number, number, number, number];
  if (!Number.isInteger(radix) || radix < 1 || rc % radix !== 0) {
    throw new ShapeError(`${op}: ${rc} channels of ${fmt(x.shape)} do not split into radix=${radix}`);
  }
  return { n, radix, c: rc / radix, h, w };
}

export const radixGapOp = defineOp<Splits, 'radixGap'>({
  name: 'radixGap',
  shape: (_, s) => [s.n, s.c, 1, 1],
  kernel: ([x], out, s) => x!.backend.radixGap(x!.ref, out.ref, s.n, s.radix, s.c, s.h * s.w),
  // Every split and cell of channel j gets gap_j's gradient / (h·w): divided before it is
  // spread, so the map is written once.
  backward: (_, g, s) => {
    const spread = expand(mulScalar(g, 1 / (s.h * s.w)).reshape(s.n, 1, s.c, 1), [s.n, s.radix, s.c, s.h * s.w]);
    return [spread.reshape(s.n, s.radix * s.c, s.h, s.w)];
  },
});

/** `adaptive_avg_pool2d(sum(torch.split(x, C, dim=1)), 1)`: [N, radix·C, H, W] → [N, C, 1, 1]. */
export function radixGap(x: Tensor, radix: number): Tensor {
  return apply(radixGapOp, [x], splits('radix_gap', x, radix));
}

export const radixAttendOp = defineOp<Splits, 'radixAttend'>({
  name: 'radixAttend',
  shape: ([, atten], s) => {
    if (atten!.size !== s.n * s.radix * s.c || atten!.shape[0] !== s.n) {
      throw new ShapeError(`radix_attend: attention ${fmt(atten!.shape)} does not match ${s.n}×${s.radix * s.c} for input [${s.n}, ${s.radix * s.c}, ${s.h}, ${s.w}]`);
    }
    return [s.n, s.c, s.h, s.w];
  },
  kernel: ([x, atten], out, s) => x!.backend.radixAttend(x!.ref, atten!.ref, out.ref, s.n, s.radix, s.c, s.h * s.w),
  save: ([x, atten]) => [x!, atten!],
  backward: ([x, atten], g, s) => {
    const gc = g.contiguous();
    const dx = Tensor.empty(x!.shape, 'float32', g.backend), da = Tensor.empty(atten!.shape, 'float32', g.backend);
    gradKernel(g.backend, 'radixAttendBackward', 'radix_attend backward')(x!.ref, atten!.ref, gc.ref, dx.ref, da.ref,
      s.n, s.radix, s.c, s.h * s.w);
    return [dx, da];
  },
});

/** `sum(att_r * split_r for r)` with att of [N, radix·C] (or [N, radix·C, 1, 1]): → [N, C, H, W]. */
export function radixAttend(x: Tensor, atten: Tensor, radix: number): Tensor {
  return apply(radixAttendOp, [x, atten], splits('radix_attend', x, radix));
}
