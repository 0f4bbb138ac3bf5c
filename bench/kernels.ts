// Kernel micro-benchmarks at ResNeSt-50's real layer shapes (batch 1, 224×224) on the wasm
// backend: forward kernels, and the convolutions' weight and input gradients (the training
// kernels, GFLOP/s counted as for the forward conv). benchmark.js statistics: GFLOP/s and %
// of this machine's SIMD peak, which is measured here per thread (a tight f32x4 multiply-add
// loop). Never a test.
//   npm run bench -- kernels [--threads 1,2] [--filter REGEX] [--json out.json] [--quick]

import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import os from 'node:os';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import type { WasmBackend } from '../src/backend/wasm/index.js';
import * as F from '../src/ops/index.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import { inputGradientConv, type Conv2dGeometry, type Ref } from '../src/backend/backend.js';
import { bestPeak, peakAround } from '../src/cli/measure.js';

interface BenchmarkCase {
  hz: number;
  stats: { rme: number; sample: number[] };
}
interface BenchmarkCtor {
  new (name: string, fn: () => void, opts: Record<string, unknown>): BenchmarkCase & { run(opts?: { async: boolean }): void };
}
const Benchmark = createRequire(import.meta.url)('benchmark') as BenchmarkCtor;

interface Case {
  name: string;
  kind: string;
  flops: number;
  /** The geometry of the conv kernel this case runs, to ask the backend which algorithm it takes. */
  geometry?: Conv2dGeometry;
  /** Whether that conv's weight is fixed (inference) rather than being trained (gradients). */
  fixedWeight?: boolean;
  /** The measured call; a tensor it returns is disposed after each run. */
  setup(b: WasmBackend): () => Tensor | void;
}

const rand = (b: WasmBackend, shape: number[]) =>
  tensor(new Float32Array(shape.reduce((a, c) => a * c, 1)).map((_, i) => Math.sin(i * 0.1)), shape, { backend: b });

/** A forward conv with a folded BN's bias and ReLU; `rectify`: as RFConv2d (the factor in the store). */
function conv(name: string, c: number, o: number, k: number, hw: number, stride = 1, groups = 1): Case {
  const pad = (k - 1) >> 1;
  const geometry = F.conv2dGeometry([1, c, hw, hw], [o, c / groups, k, k], { stride, padding: pad, groups });
  return {
    name, kind: k === 1 ? 'gemm (1×1 conv)' : groups > 1 ? '3×3 grouped conv' : `${k}×${k} conv`,
    flops: 2 * o * geometry.oh * geometry.ow * (c / groups) * k * k,
    geometry,
    setup: (b) => {
      const x = rand(b, [1, c, hw, hw]), w = rand(b, [o, c / groups, k, k]), bias = rand(b, [o]);
      return (rectify: F.RectifyMode | null = null) => F.conv2d(x, w, bias, { stride, padding: pad, groups, act: 'relu', rectify });
    },
  };
}

/** The 3×3 convs the seed rectifies, one per kernel path (Winograd, GEMM, strided). */
const RECTIFIED = ['layer1 splat 64→128 g2 @56', 'layer3 splat 256→512 g2 @14', 'layer4 splat 512→1024 g2 @7', 'stem 3→32 s2 @224', 'stem 32→64 @112'];

/**
 * What the rectify factor costs (RFConv2d): each conv above with and without it, interleaved
 * in rounds of ten calls so that a slow spell of the machine hits both alike; the median of
 * the per-round ratios.
 */
function rectifyCost(b: WasmBackend, quick: boolean): { name: string; plainMs: number; rectMs: number; ratio: number }[] {
  const median = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1]!;
  const time = (fn: () => void, n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    return (performance.now() - t0) / n;
  };
  return RECTIFIED.map((name) => {
    const run = CASES.find((c) => c.name === name)!.setup(b) as (rectify?: F.RectifyMode | null) => Tensor;
    const plain = () => tidy(() => run(null)).dispose(), rect = () => tidy(() => run('normal')).dispose();
    time(plain, 3);
    time(rect, 3);
    const p: number[] = [], r: number[] = [], ratios: number[] = [];
    for (let i = 0; i < (quick ? 5 : 15); i++) {
      p.push(time(plain, 10));
      r.push(time(rect, 10));
      ratios.push(r[i]! / p[i]!);
    }
    return { name, plainMs: median(p), rectMs: median(r), ratio: median(ratios) };
  });
}

/** A conv's weight (dW) or input (dX) gradient, called as the training kernel itself. */
function convBackward(name: string, which: 'dW' | 'dX', c: number, o: number, k: number, hw: number, stride = 1, groups = 1): Case {
  const g = F.conv2dGeometry([1, c, hw, hw], [o, c / groups, k, k], { stride, padding: (k - 1) >> 1, groups });
  const out = g.oh;
  const how = which === 'dW' ? 'dY·im2col(X)ᵀ' : stride === 1 ? 'flipped conv' : 'col2im';
  return {
    name: `${name} ${which}`, kind: `${which} (${how})`,
    flops: 2 * o * out * out * (c / groups) * k * k,
    // A stride-1 dX is a forward conv of dY, which may take Winograd (its rate then effective);
    // dW takes Winograd where the conv's forward does in training.
    ...(which === 'dX' && stride === 1 ? { geometry: inputGradientConv(g), fixedWeight: false } : which === 'dW' ? { geometry: g, fixedWeight: false } : {}),
    setup: (b) => {
      const x = rand(b, [1, c, hw, hw]), w = rand(b, [o, c / groups, k, k]), dy = rand(b, [1, o, out, out]);
      const grad = tensor(new Float32Array(which === 'dW' ? w.size : x.size), which === 'dW' ? [...w.shape] : [...x.shape], { backend: b });
      const r = (t: Tensor) => t.ref as Ref<number>;
      const kernels = b.training!;
      return which === 'dW' ? () => kernels.conv2dBackwardWeight(g, r(x), r(dy), r(grad)) : () => kernels.conv2dBackwardInput(g, r(dy), r(w), r(grad));
    },
  };
}

const CASES: Case[] = [
  conv('layer1 conv1 256→64 @56', 256, 64, 1, 56),
  conv('layer1 conv3 64→256 @56', 64, 256, 1, 56),
  conv('layer3 conv1 1024→256 @14', 1024, 256, 1, 14),
  conv('layer4 conv3 512→2048 @7', 512, 2048, 1, 7),
  conv('layer1 splat 64→128 g2 @56', 64, 128, 3, 56, 1, 2),
  conv('layer2 splat 128→256 g2 @28', 128, 256, 3, 28, 1, 2),
  conv('layer3 splat 256→512 g2 @14', 256, 512, 3, 14, 1, 2),
  conv('layer4 splat 512→1024 g2 @7', 512, 1024, 3, 7, 1, 2),
  conv('stem 3→32 s2 @224', 3, 32, 3, 224, 2),
  conv('stem 32→64 @112', 32, 64, 3, 112),
  convBackward('layer1 conv1 256→64 @56', 'dW', 256, 64, 1, 56),
  convBackward('layer1 conv1 256→64 @56', 'dX', 256, 64, 1, 56),
  convBackward('layer3 conv1 1024→256 @14', 'dW', 1024, 256, 1, 14),
  convBackward('layer3 conv1 1024→256 @14', 'dX', 1024, 256, 1, 14),
  convBackward('layer1 splat 64→128 g2 @56', 'dW', 64, 128, 3, 56, 1, 2),
  convBackward('layer1 splat 64→128 g2 @56', 'dX', 64, 128, 3, 56, 1, 2),
  convBackward('layer3 splat 256→512 g2 @14', 'dW', 256, 512, 3, 14, 1, 2),
  convBackward('layer3 splat 256→512 g2 @14', 'dX', 256, 512, 3, 14, 1, 2),
  convBackward('stem 32→64 @112', 'dW', 32, 64, 3, 112),
  convBackward('stem 32→64 @112', 'dX', 32, 64, 3, 112),
  convBackward('stem 3→32 s2 @224', 'dW', 3, 32, 3, 224, 2),
  // Strided 3×3 (a split-attention conv without avd): dX through col2im.
  convBackward('splat 128→256 g2 s2 @56', 'dW', 128, 256, 3, 56, 2, 2),
  convBackward('splat 128→256 g2 s2 @56', 'dX', 128, 256, 3, 56, 2, 2),
  {
    name: 'maxpool 3×3 s2 [64,112,112]', kind: 'pool', flops: 64 * 56 * 56 * 9,
    setup: (b) => { const x = rand(b, [1, 64, 112, 112]); return () => F.maxPool2d(x, 3, { stride: 2, padding: 1 }); },
  },
  {
    name: 'avd avgpool 3×3 s2 [128,56,56]', kind: 'pool', flops: 128 * 28 * 28 * 9,
    setup: (b) => { const x = rand(b, [1, 128, 56, 56]); return () => F.avgPool2d(x, 3, { stride: 2, padding: 1 }); },
  },
  {
    name: 'avg_down 2×2 ceil [256,56,56]', kind: 'pool', flops: 256 * 28 * 28 * 4,
    setup: (b) => { const x = rand(b, [1, 256, 56, 56]); return () => F.avgPool2d(x, 2, { ceilMode: true, countIncludePad: false }); },
  },
  {
    name: 'radix gap [2×128,56,56]', kind: 'split attention', flops: 256 * 56 * 56,
    setup: (b) => { const x = rand(b, [1, 256, 56, 56]); return () => F.radixGap(x, 2); },
  },
  {
    name: 'r-softmax [1,2×512]', kind: 'split attention', flops: 1024 * 4,
    setup: (b) => { const x = rand(b, [1, 1024, 1, 1]); return () => F.rSoftmax(x, 2, 1); },
  },
  {
    name: 'radix attend [2×128,56,56]', kind: 'split attention', flops: 2 * 256 * 56 * 56,
    setup: (b) => { const x = rand(b, [1, 256, 56, 56]), a = rand(b, [1, 256]); return () => F.radixAttend(x, a, 2); },
  },
];

function measure(fn: () => void, quick: boolean): Promise<BenchmarkCase> {
  return new Promise((resolve) => {
    const bench = new Benchmark('case', fn, {
      minSamples: quick ? 5 : 20, maxTime: quick ? 0.5 : 2, initCount: 1,
      onComplete: () => resolve(bench),
    });
    bench.run({ async: false });
  });
}

export async function main(argv: string[]): Promise<void> {
  const opt = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined; };
  const threadList = (opt('threads') ?? '1,2').split(',').map(Number);
  const quick = argv.includes('--quick');
  const results: Record<string, unknown>[] = [];
  const wasm = (await initBackend('wasm')) as WasmBackend;
  for (const threads of threadList) {
    await initBackend('wasm', { threads });
    // Peak: the best of several runs of the multiply-add loop (a peak is what the machine can
    // do; a slower run was interrupted), per thread and on all threads.
    const best = (xs: number[]) => Math.max(...xs);
    const peak1 = bestPeak(wasm);
    // On a shared machine the all-thread measurement can land in a slow spell of one core; the
    // denominator is then threads × the per-thread peak, so that % of peak is never flattered.
    const peakN = threads > 1 ? Math.max(best([0, 1, 2, 3, 4].map(() => wasm.measurePeak(threads, 4_000_000))), threads * peak1) : peak1;
    console.log(`\nwasm (${wasm.variant}), ${threads} thread(s): SIMD peak ${peak1.toFixed(1)} GFLOP/s per thread, ${peakN.toFixed(1)} on ${threads}`);
    let sawWinograd = false;
    console.log(`${'kernel'.padEnd(34)} ${'kind'.padEnd(22)} ${'ms'.padStart(8)} ${'±%'.padStart(5)} ${'GFLOP/s'.padStart(8)} ${'% peak'.padStart(7)}`);
    const filter = opt('filter') ? new RegExp(opt('filter')!) : null;
    for (const c of CASES.filter((k) => !filter || filter.test(k.name))) {
      const run = c.setup(wasm);
      for (let i = 0; i < 5; i++) tidy(run)?.dispose(); // warm up (and let V8 settle)
      const b = await measure(() => tidy(run)?.dispose(), quick);
      const ms = 1000 / b.hz;
      const gflops = (c.flops * b.hz) / 1e9;
      // Winograd does 2.25× fewer multiplies than the GFLOP counted: its rate is effective, and a
      // percentage of the peak would read above 100.
      const winograd = c.geometry !== undefined && wasm.convAlgorithm?.(c.geometry, c.fixedWeight ?? true) === 'winograd';
      const pct = winograd ? null : (100 * gflops) / peakN;
      const kind = winograd ? `${c.kind} (W)` : c.kind;
      console.log(`${c.name.padEnd(34)} ${kind.padEnd(22)} ${ms.toFixed(3).padStart(8)} ${b.stats.rme.toFixed(1).padStart(5)} ${gflops.toFixed(1).padStart(8)} ${pct === null ? '      -' : `${pct.toFixed(0).padStart(6)}%`}`);
      results.push({ threads, name: c.name, kind: c.kind, ms, rme: b.stats.rme, gflops, pctPeak: pct, winograd, peakPerThread: peak1, peakAll: peakN, variant: wasm.variant });
      if (winograd) sawWinograd = true;
    }
    if (sawWinograd) console.log('(W): Winograd F(2×2, 3×3), 2.25× fewer multiplies than the GFLOP counted: an effective rate, so no % of peak');
    // Measured again after the cases: a peak that moved says the run was disturbed.
    const { warning } = peakAround(peak1, bestPeak(wasm));
    if (warning) console.log(`warning: ${warning}`);
    results.push({ threads, name: 'peak check', kind: 'peak', peakBefore: peak1, noisy: !!warning });
    if (!filter) {
      console.log(`\nrectify factor (RFConv2d), rectified / plain, median of interleaved rounds:`);
      for (const r of rectifyCost(wasm, quick)) {
        console.log(`${r.name.padEnd(34)} plain ${r.plainMs.toFixed(3).padStart(7)} ms  rectified ${r.rectMs.toFixed(3).padStart(7)} ms  ×${r.ratio.toFixed(3)}`);
        results.push({ threads, name: `${r.name} rectified`, kind: 'rectify factor cost', plainMs: r.plainMs, ms: r.rectMs, ratio: r.ratio });
      }
    }
  }
  const out = opt('json');
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), node: process.version, results }, null, 1));
    console.log(`wrote ${out}`);
  }
}
