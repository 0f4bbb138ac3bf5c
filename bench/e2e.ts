// End-to-end benchmark: ResNeSt-50 at 224, batch 1 and 8, 1 and 2 threads, ours (each CPU
// backend asked for) against onnxruntime-web's WASM backend running the SAME network with
// the SAME weights (one random-init checkpoint, which ours loads and our exporter writes into
// the .onnx that ONNX Runtime loads). Every configuration runs in its own child process, so
// peak RSS and cold start are per configuration:
//   ours:  node dist/cli.js bench … --weights w.pth --json
//   ORT:   node build/bench/ort-runner.js --model m.onnx … --json
// Output: a terminal table (and a Markdown one for bench/RESULTS.md) and a JSON file,
// bench/results/e2e-<date>.json (<date>b, <date>c, … for later runs that day; a few KB, meant to be
// committed with RESULTS.md).
//
//   npm run bench -- e2e [--arch resnest50] [--size 224] [--batches 1,8] [--threads 1,2]
//     [--backends wasm,js,webgpu] [--runs 10] [--warmup 2] [--js-runs 3] [--gpu-runs N] [--gpu-warmup N]
//     [--rounds 1] [--no-ort] [--out file.json]
//
// --rounds N repeats the whole grid N times, the runtimes interleaved, and reports for each
// configuration the median over rounds (a shared VM has slow spells lasting minutes).
//
// The js reference backend is slow (seconds per image): it runs at batch 1, one thread, with
// --js-runs runs and no warm-up. webgpu runs each batch once (threads do not apply), with
// --gpu-runs / --gpu-warmup (default: --runs / --warmup); on a software adapter it is slow
// too, so give it few runs there. Never run as a test.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import '../src/index.js';
import { defaultBackendName } from '../src/backend/registry.js';
import { flag, int, parseArgs, str } from '../src/cli/args.js';
import { resultsFile } from './results-file.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const ORT_RUNNER = join(ROOT, 'build', 'bench', 'ort-runner.js');

export interface Measurement {
  median_ms: number;
  p90_ms: number;
  peak_rss_mb: number;
  backend: string;
  threads: number;
  cold_start_ms: number;
  [key: string]: unknown;
}

export interface Row {
  runtime: string;
  batch: number;
  threads: number;
  result?: Measurement;
  error?: string;
  /** 1-minute load average when the run ended (other work on the machine distorts timings). */
  load?: number;
  /** ours / ORT at the same batch and threads. */
  latency_ratio?: number;
  /** ours / ORT in each round (the runtimes run back to back within a round). */
  latency_ratio_rounds?: number[];
  rss_ratio?: number;
  cold_start_ratio?: number;
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const ints = (s: string) => list(s).map(Number);

function run(label: string, cmd: string[], timeoutMs: number): Measurement | string {
  process.stdout.write(`  ${label} … `);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, cmd, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 24 });
  const line = r.stdout?.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    const why = r.error ? r.error.message : (r.stderr?.trim().split('\n').pop() ?? `exit ${r.status}`);
    console.log(`failed (${why})`);
    return why;
  }
  const m = JSON.parse(line) as Measurement;
  console.log(`median ${m.median_ms} ms, p90 ${m.p90_ms} ms, peak RSS ${m.peak_rss_mb} MB (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  return m;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One row from several rounds: the median of each figure, and every round's median latency. */
function combine(ms: Measurement[]): Measurement {
  if (ms.length === 1) return ms[0]!;
  const of = (k: 'median_ms' | 'p90_ms' | 'peak_rss_mb' | 'cold_start_ms') => median(ms.map((m) => m[k]));
  return {
    ...ms[0]!,
    median_ms: of('median_ms'), p90_ms: of('p90_ms'), peak_rss_mb: of('peak_rss_mb'), cold_start_ms: of('cold_start_ms'),
    rounds_median_ms: ms.map((m) => m.median_ms),
  };
}

/** Rounds whose medians differ by more than this (max / min − 1) are marked: the machine moved under the run. */
const NOISY_SPREAD = 0.1;

const roundsOf = (m: Measurement | undefined): number[] => (Array.isArray(m?.rounds_median_ms) ? (m.rounds_median_ms as number[]) : []);

const noisy = (m: Measurement | undefined): boolean => {
  const xs = roundsOf(m);
  return xs.length > 1 && Math.max(...xs) / Math.min(...xs) - 1 > NOISY_SPREAD;
};

/** The range of the rounds' medians, e.g. "1102–1187" (with " noisy" past NOISY_SPREAD); empty for a single round. */
function spread(m: Measurement): string {
  const xs = roundsOf(m);
  if (xs.length < 2) return '';
  return `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}${noisy(m) ? ' noisy' : ''}`;
}

/** a / b round by round (both ran in each round); empty unless both have the same rounds. */
function perRound(a: Measurement, b: Measurement): number[] {
  const x = roundsOf(a), y = roundsOf(b);
  return x.length && x.length === y.length ? x.map((v, i) => v / y[i]!) : [];
}

const ratios = (xs: readonly number[]) => xs.map((x) => x.toFixed(2)).join(', ');

/**
 * Each runtime's speed-up on N threads over 1 at the same batch: the ratio of the medians, and
 * per round (one and N threads ran minutes apart within a round, so a drifting machine shows).
 */
function threadScaling(rows: Row[]): { runtime: string; batch: number; threads: number; speedup: number; rounds: number[]; line: string }[] {
  const out = [];
  for (const r of rows) {
    if (r.threads === 1 || !r.result) continue;
    const one = rows.find((q) => q.runtime === r.runtime && q.batch === r.batch && q.threads === 1)?.result;
    if (!one) continue;
    const speedup = one.median_ms / r.result.median_ms;
    const rounds = perRound(one, r.result);
    const per = rounds.length ? ` (rounds ${ratios(rounds)})` : '';
    out.push({ runtime: r.runtime, batch: r.batch, threads: r.threads, speedup, rounds,
      line: `${r.runtime}, batch ${r.batch}: ${r.threads} threads over 1 ${speedup.toFixed(2)}×${per}` });
  }
  return out;
}

function table(rows: Row[], markdown: boolean): string {
  const head = ['batch', 'threads', 'runtime', 'median ms', 'rounds ms', 'p90 ms', 'peak RSS MB', 'cold start ms', 'latency ours/ORT', 'per round', 'RSS ours/ORT', 'cold ours/ORT', 'load'];
  const ratio = (x: number | undefined) => (x === undefined ? '' : `${x.toFixed(2)}×`);
  const body = rows.map((r) => [
    String(r.batch), String(r.threads), r.runtime,
    ...(r.result
      ? [r.result.median_ms.toFixed(1), spread(r.result), r.result.p90_ms.toFixed(1), r.result.peak_rss_mb.toFixed(0), r.result.cold_start_ms.toFixed(0)]
      : [`failed: ${r.error}`, '', '', '', '']),
    ratio(r.latency_ratio), ratios(r.latency_ratio_rounds ?? []), ratio(r.rss_ratio), ratio(r.cold_start_ratio), r.load?.toFixed(2) ?? '',
  ]);
  if (markdown) {
    return [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cells) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    arch: { type: 'string' }, size: { type: 'string' }, batches: { type: 'string' }, threads: { type: 'string' },
    backends: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' }, 'js-runs': { type: 'string' }, 'gpu-runs': { type: 'string' }, 'gpu-warmup': { type: 'string' },
    'no-ort': { type: 'boolean' }, out: { type: 'string' }, timeout: { type: 'string' }, rounds: { type: 'string' },
  });
  const arch = str(p, 'arch') ?? 'resnest50';
  const size = int(p, 'size') ?? 224;
  const batches = ints(str(p, 'batches') ?? '1,8');
  const threadCounts = ints(str(p, 'threads') ?? '1,2');
  const backends = list(str(p, 'backends') ?? defaultBackendName());
  const runs = int(p, 'runs') ?? 10, warmup = int(p, 'warmup', 0) ?? 2, jsRuns = int(p, 'js-runs') ?? 3;
  const gpuRuns = int(p, 'gpu-runs') ?? runs, gpuWarmup = int(p, 'gpu-warmup', 0) ?? warmup;
  const rounds = int(p, 'rounds') ?? 1;
  if (rounds < 1) throw new Error('--rounds must be at least 1');
  const timeoutMs = (int(p, 'timeout') ?? 1800) * 1000;
  const withOrt = !flag(p, 'no-ort');
  if (!existsSync(CLI) || !existsSync(ORT_RUNNER)) throw new Error('build first: npm run build (dist/cli.js, build/bench/ort-runner.js)');

  const date = new Date().toISOString().slice(0, 10);
  const machine = {
    cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}`,
    ort: (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8')) as { version: string }).version,
  };
  console.log(`e2e: ${arch} ${size}×${size}, batches ${batches.join(',')}, threads ${threadCounts.join(',')}, ours on ${backends.join(', ')}${withOrt ? ' vs onnxruntime-web (wasm)' : ''}`);
  console.log(`     ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, onnxruntime-web ${machine.ort}`);
  const loadBefore = loadavg()[0]!;
  if (loadBefore > 0.25 * machine.cores) {
    console.log(`     warning: load average ${loadBefore.toFixed(2)} on ${machine.cores} cores: other work will distort the timings (multi-threaded ones most)`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'resnest-e2e-'));
  const rows: Row[] = [];
  try {
    // One checkpoint for both runtimes: the zoo's random init (seed 0), as a torch.save .pth
    // (zip format, like the seed's published weights), so cold start includes parsing a .pth.
    // Written by a child process: Linux hands a parent's peak RSS to the processes it spawns,
    // so a harness that had held the model would inflate every configuration's peak RSS.
    const weights = join(dir, `${arch}.pth`);
    {
      const r = spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'make-weights.js'), arch, weights], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`writing the weights failed: ${r.stderr.trim().split('\n').pop()}`);
    }
    const onnx = new Map<number, string>();
    if (withOrt) {
      for (const b of batches) {
        const file = join(dir, `${arch}-b${b}.onnx`);
        const r = spawnSync(process.execPath, [CLI, 'export', '--onnx', file, '--arch', arch, '--weights', weights, '--batch', String(b), '--size', String(size)], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`export failed: ${r.stderr.trim()}`);
        console.log(`  ${r.stdout.trim()}`);
        onnx.set(b, file);
      }
    }

    // Rounds repeat the whole grid, interleaving the runtimes, so that a slow spell of a shared
    // machine hits both sides; each row reports the median over rounds of each round's median.
    const seen = new Map<string, { row: Omit<Row, 'result' | 'error'>; ms: Measurement[]; errors: string[]; loads: number[] }>();
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) console.log(`round ${round} of ${rounds}`);
      for (const b of batches) {
        for (const t of threadCounts) {
          const common = ['--batch', String(b), '--size', String(size), '--threads', String(t)];
          const record = (runtime: string, m: Measurement | string) => {
            const key = `${runtime}|${b}|${t}`;
            const e = seen.get(key) ?? { row: { runtime, batch: b, threads: t }, ms: [], errors: [], loads: [] };
            seen.set(key, e);
            if (typeof m === 'string') e.errors.push(m);
            else e.ms.push(m);
            e.loads.push(loadavg()[0]!);
          };
          if (withOrt) {
            record('onnxruntime-web wasm', run(`ORT wasm  batch ${b}, ${t} thread(s)`, [ORT_RUNNER, '--model', onnx.get(b)!, ...common, '--runs', String(runs), '--warmup', String(warmup), '--json'], timeoutMs));
          }
          for (const backend of backends) {
            // The js reference is single-threaded and slow: batch 1, one thread, a few runs, one round.
            if (backend === 'js' && (b !== Math.min(...batches) || t !== Math.min(...threadCounts) || round > 1)) continue;
            // webgpu has no CPU threads: it runs once per batch, with its own run count (a
            // software adapter takes seconds a pass).
            if (backend === 'webgpu' && t !== Math.min(...threadCounts)) continue;
            const [r, w] = backend === 'js' ? [jsRuns, 0] : backend === 'webgpu' ? [gpuRuns, gpuWarmup] : [runs, warmup];
            record(`resnest-ts ${backend}`, run(`ours ${backend.padEnd(5)} batch ${b}, ${t} thread(s)`,
              [CLI, 'bench', '--arch', arch, ...common, '--backend', backend, '--weights', weights, '--runs', String(r), '--warmup', String(w), '--json'], timeoutMs));
          }
        }
      }
    }
    for (const b of batches) {
      for (const t of threadCounts) {
        const group: Row[] = [];
        for (const { row, ms, errors, loads } of seen.values()) {
          if (row.batch !== b || row.threads !== t) continue;
          const load = median(loads);
          if (!ms.length) group.push({ ...row, load, error: errors[0] ?? 'no result' });
          else group.push({ ...row, load, result: combine(ms) });
        }
        const ref = group.find((g) => g.runtime.startsWith('onnxruntime'))?.result;
        for (const g of group) {
          if (!ref || !g.result || g.runtime.startsWith('onnxruntime')) continue;
          g.latency_ratio = g.result.median_ms / ref.median_ms;
          const rounds = perRound(g.result, ref);
          if (rounds.length) g.latency_ratio_rounds = rounds;
          g.rss_ratio = g.result.peak_rss_mb / ref.peak_rss_mb;
          g.cold_start_ratio = g.result.cold_start_ms / ref.cold_start_ms;
        }
        rows.push(...group);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`\n${table(rows, false)}\n`);
  console.log(`Markdown:\n\n${table(rows, true)}\n`);
  const scaling = threadScaling(rows);
  for (const l of scaling) console.log(l.line);
  if (rows.some((r) => noisy(r.result))) {
    console.log(`noisy: a configuration's rounds differ by more than ${100 * NOISY_SPREAD} %; rerun on a quieter machine before trusting its ratio`);
  }
  const out = str(p, 'out') ?? resultsFile(join(ROOT, 'bench', 'results'), 'e2e', date);
  mkdirSync(dirname(out), { recursive: true });
  const weightsNote = 'random init (createModel seed 0), one torch.save .pth for ours, the same weights exported to .onnx for ORT';
  const load = { before: loadBefore, after: loadavg()[0]! };
  writeFileSync(out, `${JSON.stringify({ date, machine, load, arch, size, runs, warmup, jsRuns, rounds, weights: weightsNote, rows, scaling: scaling.map(({ line: _, ...v }) => v) }, null, 1)}\n`);
  console.log(`wrote ${out}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`e2e: ${(e as Error)?.message ?? String(e)}`);
    process.exitCode = 1;
  });
}
