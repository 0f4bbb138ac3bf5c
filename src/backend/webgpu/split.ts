// Keeping every bound window under maxStorageBufferBindingSize (128 MiB on some adapters;
// a batch-32 stem activation is 200 MiB): kernels run over chunks of their outer unit
// (images, planes, rows), and strided walks are halved along their outermost dimension
// until each operand's window fits.

import { BackendError } from '../../errors.js';
import { MAX_RANK } from './kernels/elementwise.js';

/**
 * Calls run(first, count) over [0, units) in chunks such that `perUnit[i]` elements per
 * unit of each split operand (plus the alignment slack) fit in `maxBind` bytes; elements
 * are `elem` bytes each.
 */
export function inChunks(what: string, maxBind: number, slack: number, units: number, perUnit: number[], fixed: number[],
  run: (first: number, count: number) => void, elem = 4): void {
  for (const f of fixed) {
    if (f * elem + slack > maxBind) throw new BackendError(`webgpu: ${what}: an operand of ${f * elem} bytes exceeds maxStorageBufferBindingSize (${maxBind})`);
  }
  let most = units;
  for (const per of perUnit) if (per > 0) most = Math.min(most, Math.floor((maxBind - slack) / (per * elem)));
  if (most < 1) {
    throw new BackendError(`webgpu: ${what}: one slice needs ${Math.max(...perUnit) * elem} bytes, more than maxStorageBufferBindingSize (${maxBind})`);
  }
  for (let first = 0; first < units; first += most) run(first, Math.min(most, units - first));
}

export interface StridedOperand {
  offset: number;
  strides: number[];
}

/** Elements spanned by a strided view (from its first to its last element). */
export function span(shape: readonly number[], strides: readonly number[]): number {
  let s = 1;
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 0) return 0;
    s += (shape[d]! - 1) * strides[d]!;
  }
  return s;
}

/**
 * Drops size-1 dimensions and merges neighbours that every operand walks as one, so
 * ordinary views need one or two dimensions of index arithmetic.
 */
export function coalesce(shape: readonly number[], strides: (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, i) => outStrides[i]![last] === s[d]! * size)) {
      outShape[last]! *= size;
      strides.forEach((s, i) => { outStrides[i]![last] = s[d]!; });
    } else {
      outShape.push(size);
      strides.forEach((s, i) => outStrides[i]!.push(s[d]!));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [1]) };
  if (outShape.length > MAX_RANK) throw new BackendError(`webgpu: a strided view needs ${outShape.length} dimensions after merging; at most ${MAX_RANK} are supported`);
  for (const s of outStrides) if (s.some((v) => v < 0)) throw new BackendError('webgpu: negative strides are not supported');
  return { shape: outShape, strides: outStrides };
}

/** Runs `run` over pieces of a strided walk whose every operand window (of `elem`-byte elements) fits. */
export function stridedPieces(shape: number[], ops: StridedOperand[], maxBind: number, slack: number,
  run: (shape: number[], offsets: number[]) => void, elem = 4): void {
  if (ops.every((o) => span(shape, o.strides) * elem + slack <= maxBind)) {
    run(shape, ops.map((o) => o.offset));
    return;
  }
  const d = shape.findIndex((s) => s > 1);
  if (d < 0) throw new BackendError(`webgpu: one element does not fit maxStorageBufferBindingSize (${maxBind})`);
  const half = Math.ceil(shape[d]! / 2);
  const first = [...shape], second = [...shape];
  first[d] = half;
  second[d] = shape[d]! - half;
  stridedPieces(first, ops, maxBind, slack, run, elem);
  stridedPieces(second, ops.map((o) => ({ offset: o.offset + half * o.strides[d]!, strides: o.strides })), maxBind, slack, run, elem);
}
