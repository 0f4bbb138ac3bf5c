// Shape arithmetic shared by every op. Kept free of tensors so backends can use it too.

import { ShapeError } from '../errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Normalises a possibly negative dim index, like PyTorch. */
export function normDim(dim: number, rank: number, what = 'dim'): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(d) || d < 0 || d >= Math.max(rank, 1)) {
    throw new ShapeError(`${what} ${dim} is out of range for a tensor of rank ${rank}`);
  }
  return d;
}

/** NumPy/PyTorch broadcasting of two shapes. */
export function broadcastShapes(a: Shape, b: Shape, op = 'broadcast'): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if it had `target` shape (0 on broadcast dims). */
export function broadcastStrides(shape: Shape, strides: Shape, target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  const off = target.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 ? 0 : strides[i]!;
  return out;
}

/** Resolves a single -1 in a reshape target. */
export function inferShape(target: Shape, total: number, from: Shape): number[] {
  const out = [...target];
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(out.filter((_, i) => i !== neg));
    if (rest === 0 || total % rest !== 0) throw new ShapeError(`cannot reshape ${fmt(from)} into ${fmt(target)}`);
    out[neg] = total / rest;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || numel(out) !== total) {
    throw new ShapeError(`cannot reshape ${fmt(from)} (${total} elements) into ${fmt(target)}`);
  }
  return out;
}

/** Largest element count a tensor may have: typed arrays and wasm memory both stop near 2^31 bytes. */
export const MAX_NUMEL = 2 ** 29;

export function checkNumel(shape: Shape, what = 'tensor'): number {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`${what}: invalid dimension ${d} in shape ${fmt(shape)}`);
  }
  const n = numel(shape);
  if (n > MAX_NUMEL) {
    throw new ShapeError(`${what}: shape ${fmt(shape)} has ${n} elements, more than the ${MAX_NUMEL} a float32 tensor may hold`);
  }
  return n;
}
