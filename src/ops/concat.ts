// torch.cat: each input is copied into its slice of the output (a strided copy per input).

import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normDim } from '../tensor/shape.js';
import { noGrad } from '../autograd/tape.js';
import { apply, defineOp } from './op.js';

export const catOp = defineOp<{ dim: number; sizes: readonly number[] }, 'cat'>({
  name: 'cat',
  strided: true,
  shape: (ts, { dim }) => {
    const first = ts[0]!;
    for (const t of ts) {
      if (t!.rank !== first.rank || t!.dtype !== first.dtype || t!.shape.some((s, i) => i !== dim && s !== first.shape[i])) {
        throw new ShapeError(`cat: ${fmt(t!.shape)} (${t!.dtype}) does not match ${fmt(first.shape)} (${first.dtype}) outside dim ${dim}`);
      }
    }
    const shape = [...first.shape];
    shape[dim] = ts.reduce((a, t) => a + t!.shape[dim]!, 0);
    return shape;
  },
  kernel: (ts, out, { dim }) => {
    let at = 0;
    for (const t of ts) {
      const slot = out.narrow(dim, at, t!.shape[dim]!);
      out.backend.copy(t!.shape, t!.stridedRef, slot.stridedRef, t!.dtype);
      slot.dispose();
      at += t!.shape[dim]!;
    }
  },
  // Each input's gradient is its slice of the output's.
  backward: (_, g, { dim, sizes }) => {
    let at = 0;
    return sizes.map((s) => {
      const part = g.narrow(dim, at, s);
      at += s;
      return part;
    });
  },
});

export function cat(ts: readonly Tensor[], dim = 0): Tensor {
  if (ts.length === 0) throw new ShapeError('cat: needs at least one tensor');
  const d = normDim(dim, ts[0]!.rank);
  if (ts.some((t) => t.dtype !== 'float32')) {
    // int tensors (labels) are concatenated without autograd.
    return noGrad(() => catRaw(ts, d));
  }
  return apply(catOp, ts, { dim: d, sizes: ts.map((t) => t.shape[d]!) });
}

function catRaw(ts: readonly Tensor[], d: number): Tensor {
  const shape = catOp.shape(ts, { dim: d, sizes: [] });
  const out = Tensor.empty(shape, ts[0]!.dtype, ts[0]!.backend);
  catOp.kernel(ts, out, { dim: d, sizes: [] });
  return out;
}
