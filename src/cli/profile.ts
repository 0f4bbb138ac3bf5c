// resnest bench --profile: where a forward pass spends its time, per module — self time,
// share, GFLOP/s and % of the SIMD peak measured around the run (wasm) — as a table or JSON.

import type { Backend } from '../backend/backend.js';
import type { ResNet } from '../models/resnest/resnet.js';
import { groupProfile, profileModel, type ProfileRow } from '../nn/profile.js';
import type { Tensor } from '../tensor/tensor.js';
import { bestPeak, peakAround, type PeakMeter } from './measure.js';
import type { Module } from '../nn/module.js';
import type { AdamW, SGD } from '../train/optim.js';
import { groupStepProfile, profileTrainStep, type StepProfileRow } from '../train/step-profile.js';

export interface ProfileOptions {
  runs: number;
  /** Rows summed by the first `depth` parts of their path; 0: every module. */
  depth: number;
  json: boolean;
  title: string;
}

/**
 * Runs fn between two measurements of the backend's SIMD peak (wasm): the peak of all the
 * threads the kernels ran on, and the measurements' warning where they differ (a busy machine).
 */
async function withPeak<T>(backend: Backend, fn: () => T | Promise<T>) {
  const meter = 'measurePeak' in backend ? (backend as unknown as PeakMeter) : null;
  const threads = (backend as { threads?: number }).threads ?? 1;
  const before = meter ? bestPeak(meter) : null;
  const result = await fn();
  const around = meter && before !== null ? peakAround(before, bestPeak(meter)) : null;
  return { result, threads, peak: around ? around.peak * threads : null, around };
}

export async function printProfile(model: ResNet, x: Tensor, backend: Backend, o: ProfileOptions): Promise<void> {
  const { result: p, threads, peak, around } = await withPeak(backend, () => profileModel(model, x, { runs: o.runs }));
  // Winograd's rate is effective (fewer multiplies than counted): no % of a peak for it.
  const pct = (r: ProfileRow) => (r.gflops !== null && peak && !r.winograd ? (100 * r.gflops) / peak : null);
  const rows = (o.depth > 0 ? groupProfile(p, o.depth) : p.rows).filter((r) => r.ms > 0 || r.flops > 0);
  if (o.json) {
    console.log(JSON.stringify({
      title: o.title, total_ms: p.totalMs, runs: p.runs, synchronous: p.synchronous, backend: backend.name, threads,
      peak_gflops: peak, noisy: !!around?.warning,
      rows: rows.map((r) => ({ module: r.path || '(model)', kind: r.kind, ms: r.ms, share: r.share, gflop: r.flops / 1e9, gflops: r.gflops, pct_peak: pct(r), winograd: !!r.winograd })),
    }));
    return;
  }
  console.log(`${o.title}: ${p.totalMs.toFixed(1)} ms per forward pass (median of ${p.runs}), self time per module${peak ? `; SIMD peak ${peak.toFixed(1)} GFLOP/s on ${threads} thread${threads === 1 ? '' : 's'}` : ''}`);
  if (!p.synchronous) console.log(`note: ${backend.name} runs kernels asynchronously: the times are for recording them, not running them`);
  if (around?.warning) console.log(`warning: ${around.warning}`);
  console.log(`${'module'.padEnd(30)} ${'kind'.padEnd(14)} ${'ms'.padStart(8)} ${'share'.padStart(6)} ${'GFLOP'.padStart(7)} ${'GFLOP/s'.padStart(8)} ${'% peak'.padStart(7)}`);
  let hidden = 0, hiddenMs = 0;
  for (const r of rows) {
    if (o.depth === 0 && r.share < 0.002) {
      hidden++;
      hiddenMs += r.ms;
      continue;
    }
    const q = pct(r);
    console.log(`${(r.path || '(model)').padEnd(30)} ${(r.winograd ? `${r.kind} (W)` : r.kind).padEnd(14)} ${r.ms.toFixed(2).padStart(8)} ${(100 * r.share).toFixed(1).padStart(5)}% ${(r.flops / 1e9).toFixed(3).padStart(7)} `
      + `${r.gflops === null ? '-'.padStart(8) : r.gflops.toFixed(1).padStart(8)} ${q === null ? '-'.padStart(7) : `${q.toFixed(0).padStart(6)}%`}`);
  }
  if (rows.some((r) => r.winograd)) console.log('(W): Winograd F(2×2, 3×3) or F(4×4, 3×3), 2.25× or 4× fewer multiplies than the GFLOP counted: an effective rate, so no % of peak');
  if (hidden) console.log(`(${hidden} modules under 0.2 % each, ${hiddenMs.toFixed(2)} ms in all; --depth 2 sums by block, --json lists every one)`);
}

/**
 * resnest bench --train --profile: a training step per module — forward and backward self
 * times, share of the step, GFLOP/s and % of the peak — then the loss, the optimizer and the
 * time outside every kernel.
 */
export async function printTrainProfile(model: Module, opt: SGD | AdamW, batch: { x: Float32Array; shape: readonly number[]; labels: ArrayLike<number> },
  backend: Backend, o: ProfileOptions): Promise<void> {
  const { result: p, threads, peak, around } = await withPeak(backend, () => profileTrainStep(model, opt, batch, { runs: o.runs }));
  const rate = (r: StepProfileRow) => {
    const flops = r.forwardFlops + r.backwardFlops, ms = r.forwardMs + r.backwardMs;
    return flops && ms ? flops / (ms * 1e6) : null;
  };
  const rows = (o.depth > 0 ? groupStepProfile(p, o.depth) : p.rows).filter((r) => r.forwardMs + r.backwardMs > 0 || r.forwardFlops > 0);
  const pct = (r: StepProfileRow) => {
    const g = rate(r);
    return g !== null && peak ? (100 * g) / peak : null;
  };
  const totalFlops = p.rows.reduce((a, r) => a + r.forwardFlops + r.backwardFlops, 0);
  if (o.json) {
    console.log(JSON.stringify({
      title: o.title, mode: 'train', step_ms: p.stepMs, forward_ms: p.forwardMs, loss_ms: p.lossMs, backward_ms: p.backwardMs, optimizer_ms: p.optimizerMs,
      kernel_ms: p.kernelMs, outside_kernels_ms: p.outsideMs, kernels: p.kernels, gflop: totalFlops / 1e9, runs: p.runs, backend: backend.name, threads, peak_gflops: peak, noisy: !!around?.warning,
      rows: rows.map((r) => ({
        module: r.path || '(model)', kind: r.kind, forward_ms: r.forwardMs, backward_ms: r.backwardMs, share: r.share,
        gflop: (r.forwardFlops + r.backwardFlops) / 1e9, gflop_forward: r.forwardFlops / 1e9, gflop_backward: r.backwardFlops / 1e9, gflops: rate(r), pct_peak: pct(r),
      })),
    }));
    return;
  }
  const share = (ms: number) => `${((100 * ms) / p.stepMs).toFixed(1)} %`;
  console.log(`${o.title}: ${p.stepMs.toFixed(1)} ms per training step (median of ${p.runs}), ${(totalFlops / 1e9).toFixed(2)} GFLOP`
    + `${peak ? `; SIMD peak ${peak.toFixed(1)} GFLOP/s on ${threads} thread${threads === 1 ? '' : 's'}` : ''}`);
  console.log(`forward ${p.forwardMs.toFixed(1)} ms (${share(p.forwardMs)}), loss ${p.lossMs.toFixed(1)} ms, backward ${p.backwardMs.toFixed(1)} ms (${share(p.backwardMs)}), `
    + `optimizer ${p.optimizerMs.toFixed(1)} ms (${share(p.optimizerMs)}); inside kernels ${p.kernelMs.toFixed(1)} ms, outside them ${p.outsideMs.toFixed(1)} ms (${share(p.outsideMs)}: JavaScript, allocation, the tape)`);
  if (around?.warning) console.log(`warning: ${around.warning}`);
  console.log(`${'module'.padEnd(30)} ${'kind'.padEnd(14)} ${'fwd ms'.padStart(8)} ${'bwd ms'.padStart(8)} ${'share'.padStart(6)} ${'GFLOP'.padStart(7)} ${'GFLOP/s'.padStart(8)} ${'% peak'.padStart(7)}`);
  let hidden = 0, hiddenMs = 0;
  for (const r of rows) {
    if (o.depth === 0 && r.share < 0.002) {
      hidden++;
      hiddenMs += r.forwardMs + r.backwardMs;
      continue;
    }
    const g = rate(r), q = pct(r);
    console.log(`${(r.path || '(model)').padEnd(30)} ${r.kind.padEnd(14)} ${r.forwardMs.toFixed(2).padStart(8)} ${r.backwardMs.toFixed(2).padStart(8)} ${(100 * r.share).toFixed(1).padStart(5)}% `
      + `${((r.forwardFlops + r.backwardFlops) / 1e9).toFixed(3).padStart(7)} ${g === null ? '-'.padStart(8) : g.toFixed(1).padStart(8)} ${q === null ? '-'.padStart(7) : `${q.toFixed(0).padStart(6)}%`}`);
  }
  if (hidden) console.log(`(${hidden} modules under 0.2 % each, ${hiddenMs.toFixed(2)} ms in all; --depth 2 sums by block, --json lists every one)`);
  console.log(`by kernel: ${p.kernels.filter((k) => k.ms >= 0.005 * p.stepMs).map((k) => `${k.name} ${k.ms.toFixed(1)} ms (${k.calls}×)`).join(', ')}`);
}
