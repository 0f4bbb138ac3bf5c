// Where a training step spends its time, so that each change to training speed is aimed:
// per module, its forward (train mode) and its backward self times — a backward node is the
// module's whose forward recorded it — and the work of its convolutions and linear layers in
// both directions; then the loss, the optimizer's step, and the time outside every kernel
// (JavaScript between launches, allocation, the tape). CPU backends run their kernels
// synchronously, so these are the kernels' times; on webgpu they would only be the times to
// record them, and the profile refuses it.

import type { Backend } from '../backend/backend.js';
import { observeBackward } from '../autograd/engine.js';
import { withNodeTag } from '../autograd/tape.js';
import { ArgumentError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { flopsOf, groupByPath, median, selfTimer } from '../nn/profile.js';
import { crossEntropy } from '../ops/loss.js';
import { tidy } from '../tensor/scope.js';
import { tensor } from '../tensor/tensor.js';
import type { AdamW, SGD } from './optim.js';

export interface StepProfileRow {
  /** The module's path ('' for the root), as state-dict keys are named. */
  path: string;
  kind: string;
  /** Medians over the runs of the module's self time per step. */
  forwardMs: number;
  backwardMs: number;
  /** (forwardMs + backwardMs) / the step. */
  share: number;
  /** 2 × multiply-adds of the forward, and of the backward (input and weight gradients as computed). */
  forwardFlops: number;
  backwardFlops: number;
}

export interface StepProfile {
  rows: StepProfileRow[];
  /** Medians of the whole step and of its phases. */
  stepMs: number;
  forwardMs: number;
  lossMs: number;
  backwardMs: number;
  optimizerMs: number;
  /** Time inside the backend's kernels, and the rest of the step (JavaScript, allocation, the tape). */
  kernelMs: number;
  outsideMs: number;
  /** Per backend kernel (conv2d, conv2dBackwardWeight, batchNormBackward, …): median ms a step and calls a step, slowest first. */
  kernels: { name: string; ms: number; calls: number }[];
  runs: number;
}

/** Names on a backend that are not compute kernels (memory, reads, set-up). */
const NOT_KERNELS = new Set(['alloc', 'free', 'read', 'readSync', 'write', 'stats', 'sync', 'capture', 'convAlgorithm', 'configure', 'dispose', 'measurePeak']);

/** Times every compute kernel the backend runs (outermost calls only: a kernel may call another). */
function timeKernels(backend: Backend): { ms: () => number; byName: Map<string, { ms: number; calls: number }>; reset(): void; restore(): void } {
  let total = 0, depth = 0;
  const byName = new Map<string, { ms: number; calls: number }>();
  const undo: (() => void)[] = [];
  for (const target of [backend, backend.training].filter(Boolean) as unknown as Record<string, unknown>[]) {
    for (const [name, f] of Object.entries(target)) {
      if (typeof f !== 'function' || NOT_KERNELS.has(name)) continue;
      target[name] = (...args: unknown[]) => {
        const t0 = depth++ === 0 ? performance.now() : 0;
        try {
          return (f as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          if (--depth === 0) {
            const dt = performance.now() - t0;
            total += dt;
            const k = byName.get(name) ?? { ms: 0, calls: 0 };
            k.ms += dt;
            k.calls++;
            byName.set(name, k);
          }
        }
      };
      undo.push(() => { target[name] = f; });
    }
  }
  return { ms: () => total, byName, reset: () => { total = 0; byName.clear(); }, restore: () => undo.forEach((u) => u()) };
}

/**
 * Profiles `runs` training steps (after one warm-up) of `model` (in train mode) with `opt` on
 * one batch: forward, label-smoothed cross-entropy, backward, the optimizer's step. The
 * model's forwards are intercepted for the measurement and restored after it.
 */
export function profileTrainStep(model: Module, opt: SGD | AdamW, batch: { x: Float32Array; shape: readonly number[]; labels: ArrayLike<number> },
  o: { runs?: number; labelSmoothing?: number } = {}): StepProfile {
  const backend = model.backend;
  if (backend.asyncRead) throw new ArgumentError(`bench --train --profile: the ${backend.name} backend runs kernels asynchronously; its times would be the recording's, not the kernels' (profile on js or wasm)`);
  if (!model.training) throw new ArgumentError('profileTrainStep: call model.train() first');
  const runs = Math.max(1, o.runs ?? 5);
  const modules = [...model.namedModules()];
  const fwd = new Map<Module, number>(), bwd = new Map<Module, number>();
  const fwdFlops = new Map<Module, number>(), bwdFlops = new Map<Module, number>();
  const series = new Map<Module, { f: number[]; b: number[] }>(modules.map(([, m]) => [m, { f: [], b: [] }]));
  const perKernel = new Map<string, { ms: number[]; calls: number }>();
  const phases = { step: [] as number[], forward: [] as number[], loss: [] as number[], backward: [] as number[], optimizer: [] as number[], kernels: [] as number[] };
  let counting = false;
  const time = selfTimer(fwd);
  const restoreForwards = model.interceptForwards((_path, m, run, input) => {
    const y = time(m, () => withNodeTag(m, run));
    if (counting) fwdFlops.set(m, (fwdFlops.get(m) ?? 0) + flopsOf(m, input, y));
    return y;
  });
  const kernels = timeKernels(backend);
  try {
    for (let r = 0; r <= runs; r++) {
      fwd.clear();
      bwd.clear();
      counting = r === 1;
      kernels.reset();
      const t0 = performance.now();
      opt.zeroGrad();
      let t1 = 0, t2 = 0, t3 = 0;
      tidy(() => {
        const logits = model.call(tensor(batch.x, batch.shape, { backend }));
        t1 = performance.now();
        const loss = crossEntropy(logits, batch.labels, { labelSmoothing: o.labelSmoothing ?? 0.1 });
        t2 = performance.now();
        observeBackward((node, ms, needs) => {
          const m = node.tag as Module | null;
          if (!m) return;
          bwd.set(m, (bwd.get(m) ?? 0) + ms);
          if (counting && (node.name === 'conv2d' || node.name === 'linear')) {
            // Each wanted gradient of a conv or linear layer is one product the size of the forward's.
            const wanted = needs.slice(0, 2).filter(Boolean).length;
            bwdFlops.set(m, (bwdFlops.get(m) ?? 0) + wanted * (fwdFlops.get(m) ?? 0));
          }
        }, () => loss.backward());
        t3 = performance.now();
      });
      opt.step();
      const t4 = performance.now();
      if (r === 0) continue; // warm-up
      phases.step.push(t4 - t0);
      phases.forward.push(t1 - t0);
      phases.loss.push(t2 - t1);
      phases.backward.push(t3 - t2);
      phases.optimizer.push(t4 - t3);
      phases.kernels.push(kernels.ms());
      for (const [name, k] of kernels.byName) {
        const e = perKernel.get(name) ?? { ms: [], calls: k.calls };
        e.ms.push(k.ms);
        perKernel.set(name, e);
      }
      for (const [, m] of modules) {
        const s = series.get(m)!;
        s.f.push(fwd.get(m) ?? 0);
        s.b.push(bwd.get(m) ?? 0);
      }
    }
  } finally {
    kernels.restore();
    restoreForwards();
  }
  const stepMs = median(phases.step);
  const rows = modules.map(([path, m]) => {
    const s = series.get(m)!;
    const forwardMs = median(s.f), backwardMs = median(s.b);
    return { path, kind: m.constructor.name, forwardMs, backwardMs, share: stepMs ? (forwardMs + backwardMs) / stepMs : 0, forwardFlops: fwdFlops.get(m) ?? 0, backwardFlops: bwdFlops.get(m) ?? 0 };
  });
  const kernelMs = median(phases.kernels);
  return {
    rows, stepMs, forwardMs: median(phases.forward), lossMs: median(phases.loss), backwardMs: median(phases.backward), optimizerMs: median(phases.optimizer),
    kernelMs, outsideMs: Math.max(0, stepMs - kernelMs), runs,
    kernels: [...perKernel].map(([name, k]) => ({ name, ms: median(k.ms), calls: k.calls })).sort((a, b) => b.ms - a.ms),
  };
}

/** Rows summed by the first `depth` parts of their path ('layer3.0' at depth 2), in model order. */
export function groupStepProfile(p: StepProfile, depth: number): StepProfileRow[] {
  return groupByPath(p.rows, depth, (g, r) => {
    g.forwardMs += r.forwardMs;
    g.backwardMs += r.backwardMs;
    g.forwardFlops += r.forwardFlops;
    g.backwardFlops += r.backwardFlops;
  }).map((g) => ({ ...g, share: p.stepMs ? (g.forwardMs + g.backwardMs) / p.stepMs : 0 }));
}
