// Fixture types and the parity measure, with no Node imports (Deno and browser pages use them).

import type { ResNetOptions } from '../../src/models/resnest/resnet.js';

export interface NetworkFixture {
  name: string;
  layers: number[];
  kwargs: Record<string, number | boolean>;
  input: number[];
  seed: number;
  num_classes: number;
  splat_at: string | null;
  outputs: Record<string, number[]>;
  arch?: string;
}

export interface Manifest {
  networks: NetworkFixture[];
  zoo: NetworkFixture[];
  modules: Record<string, unknown>[];
}

/** The seed's keyword arguments (snake_case) as ResNetOptions (camelCase). */
export function resnetOptions(kwargs: Record<string, number | boolean>, numClasses: number): ResNetOptions {
  const opts: Record<string, number | boolean> = { numClasses };
  for (const [k, v] of Object.entries(kwargs)) opts[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return opts as ResNetOptions;
}

/** max |ours − torch| / max |torch|: the parity measure (target ≤ 1e-4). */
export function relErr(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`length ${ours.length} vs ${ref.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    diff = d > diff || d !== d ? d : diff;
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

export const TOLERANCE = 1e-4;
