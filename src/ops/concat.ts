// torch.cat: each input is copied into its slice of the output (a strided copy per input).

import { ShapeError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, normDim } from '../tensor/shape.js';
import { sameBackend } from './check.js';

export function cat(ts: readonly Tensor[], dim = 0): Tensor {
  if (ts.length === 0) throw new ShapeError('cat: needs at least one tensor');
  const first = ts[0]!;
  const d = normDim(dim, first.rank);
  sameBackend('cat', ...ts);
  for (const t of ts) {
    if (t.rank !== first.rank || t.dtype !== first.dtype || t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
      throw new ShapeError(`cat: ${fmt(t.shape)} (${t.dtype}) does not match ${fmt(first.shape)} (${first.dtype}) outside dim ${d}`);
    }
  }
  const shape = [...first.shape];
  shape[d] = ts.reduce((a, t) => a + t.shape[d]!, 0);
  const out = Tensor.empty(shape, first.dtype, first.backend);
  let at = 0;
  for (const t of ts) {
    const slot = out.narrow(d, at, t.shape[d]!);
    first.backend.copy(t.shape, t.stridedRef, slot.stridedRef, t.dtype);
    slot.dispose();
    at += t.shape[d]!;
  }
  return out;
}
