// Argument checks shared by ops: one-line ShapeErrors that name the op and the shapes.

import { BackendError, ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';

export function floatInput(op: string, t: Tensor, name = 'input'): void {
  t.assertLive();
  if (t.dtype !== 'float32') throw new ShapeError(`${op}: ${name} must be float32, got ${t.dtype} ${fmt(t.shape)}`);
}

export function rank(op: string, t: Tensor, r: number, name = 'input', layout = ''): void {
  if (t.rank !== r) {
    throw new ShapeError(`${op}: ${name} must be ${r}-D${layout ? ` (${layout})` : ''}, got ${fmt(t.shape)}`);
  }
}

export function sameBackend(op: string, ...ts: (Tensor | null | undefined)[]): void {
  const first = ts.find((t) => t)!;
  for (const t of ts) {
    if (t && t.backend !== first.backend) {
      throw new BackendError(`${op}: tensors live on different backends (${first.backend.name} and ${t.backend.name}); move them with .to()`);
    }
  }
}

export function positiveInts(op: string, name: string, v: readonly number[]): void {
  if (v.some((x) => !Number.isInteger(x) || x <= 0)) throw new ShapeError(`${op}: ${name} must be positive integers, got ${fmt(v)}`);
}

/** Expands an int or pair into a pair, like torch.nn.modules.utils._pair. */
export function pair(v: number | readonly [number, number] | readonly number[]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0]!, v[1] ?? v[0]!];
}
