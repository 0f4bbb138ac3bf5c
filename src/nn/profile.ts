// Where a forward pass spends its time, per module: each module's self time (its own ops,
// without its children's), the convolutions' and linear layers' floating-point work, and
// GFLOP/s. The model's forwards are intercepted for the measurement and restored after it.
// CPU backends run their kernels synchronously, so a module's time is its kernels' time; on
// an asynchronous backend (webgpu) it is only the time to record them (`synchronous: false`).

import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { conv2dGeometry, isFixedWeight } from '../ops/conv.js';
import { Conv2d, Linear } from './layers.js';
import type { Module } from './module.js';

export interface ProfileRow {
  /** The module's path in the tree ('' for the root), as state-dict keys are named. */
  path: string;
  /** Its class ('Conv2d', 'SplAtConv2d', …). */
  kind: string;
  /** Median over the runs of the module's self time per forward pass. */
  ms: number;
  /** ms / the total. */
  share: number;
  /** Multiply-adds × 2 per forward pass (convolutions and linear layers; 0 for the rest). */
  flops: number;
  /** flops / ms, or null where there are none. */
  gflops: number | null;
  /** A convolution computed by Winograd: fewer multiplies than `flops` counts (an effective rate, not a fraction of any peak). */
  winograd?: boolean;
}

export interface Profile {
  rows: ProfileRow[];
  /** Median total of a forward pass (the sum of the self times). */
  totalMs: number;
  runs: number;
  /** Whether the times are the kernels' (CPU backends) or only their recording (webgpu). */
  synchronous: boolean;
}

const kindOf = (m: Module) => m.constructor.name;

/**
 * Self times of nested module calls: time(m, run) runs run and adds to into[m] its time less
 * that of the calls nested in it.
 */
export function selfTimer(into: Map<Module, number>): <T>(m: Module, run: () => T) => T {
  const stack: { child: number }[] = [];
  return (m, run) => {
    const frame = { child: 0 };
    stack.push(frame);
    const t0 = performance.now();
    try {
      return run();
    } finally {
      stack.pop();
      const dt = performance.now() - t0;
      into.set(m, (into.get(m) ?? 0) + dt - frame.child);
      if (stack.length) stack[stack.length - 1]!.child += dt;
    }
  };
}

/** Profiles `runs` forward passes of `model` on `x` (after one warm-up), per module. */
export async function profileModel(model: Module, x: Tensor, opts: { runs?: number } = {}): Promise<Profile> {
  const runs = Math.max(1, opts.runs ?? 5);
  const modules = [...model.namedModules()];
  const self = new Map<Module, number[]>(modules.map(([, m]) => [m, []]));
  const flops = new Map<Module, number>();
  const winograd = new Set<Module>();
  const current = new Map<Module, number>();
  const time = selfTimer(current);
  const restore = model.interceptForwards((_path, m, run, input) => {
    const y = time(m, run);
    if (!flops.has(m)) {
      flops.set(m, flopsOf(m, input, y));
      if (m instanceof Conv2d && x.backend.convAlgorithm?.(conv2dGeometry(input.shape, m.weight.shape, m), isFixedWeight(m.weight)) === 'winograd') winograd.add(m);
    }
    return y;
  });
  try {
    for (let r = 0; r <= runs; r++) {
      current.clear();
      const y = tidy(() => model.call(x));
      await y.data();
      y.dispose();
      if (r === 0) continue; // warm-up
      for (const [, m] of modules) self.get(m)!.push(current.get(m) ?? 0);
    }
  } finally {
    restore();
  }
  const rows = modules.map(([path, m]) => ({ path, kind: kindOf(m), ms: median(self.get(m)!), flops: flops.get(m) ?? 0, ...(winograd.has(m) ? { winograd: true } : {}) }));
  const totalMs = rows.reduce((s, r) => s + r.ms, 0);
  return {
    rows: rows.map((r) => ({ ...r, share: totalMs ? r.ms / totalMs : 0, gflops: r.flops && r.ms ? r.flops / (r.ms * 1e6) : null })),
    totalMs, runs, synchronous: !x.backend.asyncRead,
  };
}

/** 2 × multiply-adds of a conv or linear layer's call (from its input and output shapes). */
export function flopsOf(m: Module, input: Tensor, out: Tensor): number {
  if (m instanceof Conv2d) {
    const [n, o, oh, ow] = out.shape as [number, number, number, number];
    return 2 * n * o * oh * ow * (m.inChannels / m.groups) * m.kernelSize[0] * m.kernelSize[1];
  }
  if (m instanceof Linear) return 2 * input.size * m.outFeatures;
  return 0;
}

/**
 * Rows summed by the first `depth` parts of their path ('layer3.0' at depth 2), in model order:
 * a group starts as a copy of its first row (its kind, or 'group' where that row is a child)
 * and `add` adds each later row into it.
 */
export function groupByPath<R extends { path: string; kind: string }>(rows: readonly R[], depth: number, add: (group: R, row: R) => void): R[] {
  const groups = new Map<string, R>();
  for (const r of rows) {
    const key = r.path.split('.').slice(0, depth).join('.');
    const g = groups.get(key);
    if (g) add(g, r);
    else groups.set(key, { ...r, path: key, kind: key === r.path ? r.kind : 'group' });
  }
  return [...groups.values()];
}

/** The median of a sample (the upper one of an even count). */
export const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? 0;

/** Rows summed by the first `depth` parts of their path, with share and GFLOP/s of the sums. */
export function groupProfile(p: Profile, depth: number): ProfileRow[] {
  return groupByPath(p.rows, depth, (g, r) => {
    g.ms += r.ms;
    g.flops += r.flops;
    if (r.winograd) g.winograd = true;
  }).map((g) => ({ ...g, share: p.totalMs ? g.ms / p.totalMs : 0, gflops: g.flops && g.ms ? g.flops / (g.ms * 1e6) : null }));
}
