// WebGPU benchmark, meant to run unchanged on a real GPU: ResNeSt-50 (BN folded, fused
// epilogues) at 224 for batch 1/8/32 — median and p90 latency of a forward pass including
// the read-back of the logits, and images/s — then convolution-GEMM GFLOP/s at ResNeSt
// layer shapes. Prints a table and writes JSON (default bench/results/webgpu-<date>.json).
//
//   node scripts/build.mjs && node build/bench/webgpu.js [--batches 1,8,32] [--size 224]
//     [--arch resnest50] [--runs 10] [--warmup 2] [--gemm-runs 20] [--kernels auto|tiled|direct]
//     [--no-gemm] [--out file.json]
//
// On a software adapter (SwiftShader) the figures only show that it runs; use e.g.
// --batches 1 --runs 3 --warmup 1 there.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import type { WebGpuBackend } from '../src/backend/webgpu/index.js';
import { createModel } from '../src/models/resnest/zoo.js';
import { tensor, type Tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import * as F from '../src/ops/index.js';
import { resultsFile } from './results-file.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface E2e { batch: number; median_ms?: number; p90_ms?: number; images_per_s?: number; runs: number; error?: string }
interface Gemm { name: string; shape: string; gflop: number; mean_ms: number; gflops: number }

/** Conv layers of ResNeSt-50 (2s1x64d) at 224: [name, n, c, h, o, k, stride, pad, groups]. */
const LAYERS: [string, number, number, number, number, number, number, number, number][] = [
  ['stem conv1 3×3/2', 8, 3, 224, 32, 3, 2, 1, 1],
  ['layer1 splat 3×3 g2', 8, 64, 56, 128, 3, 1, 1, 2],
  ['layer2 conv1 1×1', 8, 256, 56, 128, 1, 1, 0, 1],
  ['layer3 conv3 1×1', 8, 256, 14, 1024, 1, 1, 0, 1],
  ['layer4 splat 3×3 g2', 8, 512, 7, 1024, 3, 1, 1, 2],
];

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(0.9 * xs.length) - 1)]!;

async function endToEnd(backend: WebGpuBackend, arch: string, size: number, batches: number[], runs: number, warmup: number): Promise<E2e[]> {
  const model = createModel(arch, { backend }).eval().fuse();
  const out: E2e[] = [];
  for (const batch of batches) {
    const x = tensor(random(batch * 3 * size * size, batch), [batch, 3, size, size], { backend });
    try {
      for (let i = 0; i < warmup; i++) await tidy(() => model.call(x)).data();
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const y = tidy(() => model.call(x));
        await y.data();
        times.push(performance.now() - t0);
        y.dispose();
      }
      const m = median(times);
      out.push({ batch, median_ms: m, p90_ms: p90(times), images_per_s: (batch * 1000) / m, runs });
    } catch (e) {
      out.push({ batch, runs, error: (e as Error).message });
    }
    x.dispose();
    console.log(`  batch ${batch}: ${out.at(-1)!.error ?? `${out.at(-1)!.median_ms!.toFixed(1)} ms`}`);
  }
  model.dispose();
  return out;
}

async function gemm(backend: WebGpuBackend, runs: number): Promise<Gemm[]> {
  const out: Gemm[] = [];
  for (const [name, n, c, h, o, k, stride, pad, groups] of LAYERS) {
    const x = tensor(random(n * c * h * h, 1), [n, c, h, h], { backend });
    const w = tensor(random((o * c * k * k) / groups, 2), [o, c / groups, k, k], { backend });
    const b = tensor(random(o, 3), [o], { backend });
    const run = (): Tensor => F.conv2d(x, w, b, { stride, padding: pad, groups, act: 'relu' });
    run().dispose();
    await backend.sync();
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) run().dispose();
    await backend.sync();
    const ms = (performance.now() - t0) / runs;
    const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
    const gflop = (2 * n * o * oh * oh * (c / groups) * k * k) / 1e9;
    out.push({ name, shape: `${n}×${c}×${h}² → ${o}, ${k}×${k}/${stride}, g${groups}`, gflop, mean_ms: ms, gflops: gflop / (ms / 1000) });
    for (const t of [x, w, b]) t.dispose();
  }
  return out;
}

export async function main(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      batches: { type: 'string', default: '1,8,32' }, size: { type: 'string', default: '224' }, arch: { type: 'string', default: 'resnest50' },
      runs: { type: 'string', default: '10' }, warmup: { type: 'string', default: '2' }, 'gemm-runs': { type: 'string', default: '20' },
      kernels: { type: 'string', default: 'auto' }, 'no-gemm': { type: 'boolean', default: false }, out: { type: 'string' },
    },
  });
  const kernels = v.kernels as 'auto' | 'tiled' | 'direct';
  const backend = (await initBackend('webgpu', { kernels })) as WebGpuBackend;
  const batches = v.batches!.split(',').map(Number);
  console.log(`webgpu bench on ${backend.adapterName} (kernels: ${kernels}), ${v.arch} at ${v.size}`);
  const e2e = Number(v.runs) > 0 ? await endToEnd(backend, v.arch!, Number(v.size), batches, Number(v.runs), Number(v.warmup)) : [];
  const gemms = v['no-gemm'] ? [] : await gemm(backend, Number(v['gemm-runs']));

  const rows = [`| ${v.arch} ${v.size}² | median ms | p90 ms | images/s |`, '|---|---|---|---|'];
  for (const r of e2e) rows.push(r.error ? `| batch ${r.batch} | ${r.error} | | |` : `| batch ${r.batch} | ${r.median_ms!.toFixed(1)} | ${r.p90_ms!.toFixed(1)} | ${r.images_per_s!.toFixed(2)} |`);
  if (gemms.length) {
    rows.push('', '| conv (+ bias + ReLU), back to back | shape | GFLOP | mean ms | GFLOP/s |', '|---|---|---|---|---|');
    for (const g of gemms) rows.push(`| ${g.name} | ${g.shape} | ${g.gflop.toFixed(2)} | ${g.mean_ms.toFixed(2)} | ${g.gflops.toFixed(1)} |`);
  }
  console.log(`\n${rows.join('\n')}\n`);
  const file = v.out ?? resultsFile(join(ROOT, 'bench', 'results'), 'webgpu');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({
    date: new Date().toISOString(), adapter: backend.adapterName, kernels, node: process.version, arch: v.arch, size: Number(v.size), e2e, gemm: gemms,
  }, null, 2)}\n`);
  console.log(`wrote ${file}`);
  backend.dispose?.();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main(process.argv.slice(2));
