// Synthetic weights and inputs, bit-identical to scripts/make_fixtures.py: every tensor is a
// counter-based hash stream keyed by its state-dict name, scaled by a rule on its role.

import type { Module } from '../../src/nn/module.js';
import type { RawTensor } from '../../src/io/raw.js';
import { fnv1a, uniform } from '../../src/util/random.js';

const stream = (key: string, n: number, lo: number, hi: number, seed: number) => uniform(n, (fnv1a(key) ^ seed) >>> 0, lo, hi);

function range(key: string, shape: readonly number[], keys: Set<string>): [number, number] {
  const prefix = key.slice(0, key.lastIndexOf('.') + 1);
  const name = key.slice(prefix.length);
  const isBn = keys.has(`${prefix}running_mean`);
  if (name === 'running_mean') return [-0.1, 0.1];
  if (name === 'running_var') return [0.5, 1.5];
  // Small last-BN gammas keep deep residual stacks well conditioned, as in trained nets.
  if (name === 'weight' && isBn && key.endsWith('.bn3.weight')) return [0.1, 0.4];
  if (name === 'weight' && isBn) return [0.5, 1.5];
  if (name === 'bias' && isBn) return [-0.2, 0.2];
  if (name === 'bias') return [-0.1, 0.1];
  if (name === 'weight' && shape.length === 4) {
    const a = Math.sqrt(6 / (shape[1]! * shape[2]! * shape[3]!));
    return [-a, a];
  }
  if (name === 'weight' && shape.length === 2) {
    const a = Math.sqrt(3 / shape[1]!);
    return [-a, a];
  }
  throw new Error(`no synthetic rule for ${key}`);
}

export function syntheticStateDict(model: Module, seed: number): Map<string, RawTensor> {
  const own = model.stateDict();
  const keys = new Set(own.keys());
  const out = new Map<string, RawTensor>();
  for (const [key, t] of own) {
    const [lo, hi] = range(key, t.shape, keys);
    out.set(key, { dtype: 'float32', shape: [...t.shape], data: stream(key, t.size, lo, hi, seed) });
  }
  return out;
}

export function syntheticInput(shape: readonly number[], seed: number): Float32Array {
  return stream('__input__', shape.reduce((a, b) => a * b, 1), -1, 1, seed);
}
