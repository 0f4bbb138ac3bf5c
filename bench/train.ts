// `npm run bench -- train [--arch resnest14d|cfg.json] [--configs 64/16,224/8] [--rounds 3] [--runs 5] [--warmup 2] [--threads 1,2] [--no-torch] [--out file.json]`:
// a whole training step (forward in train mode, label-smoothed cross-entropy, backward, Nesterov
// SGD with the recipe's groups) of resnest14d (or --arch) at 64×64 batch 16 and at 224×224 batch 8 (or --configs size/batch,…), ours
// (`resnest bench --train` on wasm) against PyTorch CPU (bench/torch_train_step.py, Debian's
// python3-torch) with the same threads, each in a fresh process, the two interleaved round
// by round; each row reports the median over rounds of each run's median step.

import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, int, flag, str } from '../src/cli/args.js';
import { configOf, type ZooEntry } from '../src/models/resnest/zoo.js';
import { resolveArch } from '../src/node.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(root, 'dist', 'cli.js');
const PY = '/usr/bin/python3';
const DEFAULT_CONFIGS = '64/16,224/8';

interface Step {
  median_ms: number;
  images_per_s: number;
  peak_rss_mb: number;
}

/** The seed's keyword arguments of an architecture (what the PyTorch side builds), without layers. */
function seedKwargs(e: ZooEntry): Record<string, unknown> {
  const { layers: _l, ...kw } = configOf(e, e.options.numClasses ?? 1000);
  return kw;
}

function run(cmd: string, args: string[]): Step | string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20 * 60_000, maxBuffer: 1 << 24 });
  if (r.status !== 0) return (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()!;
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Step;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export async function main(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    rounds: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' }, threads: { type: 'string' },
    'no-torch': { type: 'boolean' }, out: { type: 'string' }, arch: { type: 'string' }, configs: { type: 'string' },
  });
  const ARCH = str(p, 'arch') ?? 'resnest14d';
  const entry = await resolveArch(ARCH);
  const CONFIGS = (str(p, 'configs') ?? DEFAULT_CONFIGS).split(',').map((c) => {
    const [size, batch] = c.split('/').map(Number);
    if (!Number.isInteger(size) || !Number.isInteger(batch)) throw new Error(`--configs: size/batch pairs, got '${c}'`);
    return { size: size!, batch: batch! };
  });
  const rounds = int(p, 'rounds') ?? 3, runs = int(p, 'runs') ?? 5, warmup = int(p, 'warmup', 0) ?? 2;
  const threads = (str(p, 'threads') ?? '1,2').split(',').map(Number);
  const torch = !flag(p, 'no-torch') && existsSync(PY) && spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  if (!torch && !flag(p, 'no-torch')) console.log('PyTorch not found (apt-get install -y python3-torch): ours only');
  const kwargs = JSON.stringify(seedKwargs(entry));
  const layers = entry.layers.join(',');
  const rows: { size: number; batch: number; threads: number; ours: Step[]; torch: Step[] }[] = [];
  for (const c of CONFIGS) for (const t of threads) rows.push({ ...c, threads: t, ours: [], torch: [] });

  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round} of ${rounds}`);
    for (const row of rows) {
      const common = ['--size', String(row.size), '--batch', String(row.batch), '--threads', String(row.threads), '--runs', String(runs), '--warmup', String(warmup)];
      const ours = run(process.execPath, [CLI, 'bench', '--train', '--arch', ARCH, '--backend', 'wasm', ...common, '--json']);
      const theirs = torch ? run(PY, [join(root, 'bench', 'torch_train_step.py'), '--layers', layers, '--kwargs', kwargs, ...common]) : null;
      for (const [label, r, into] of [['ours', ours, row.ours], ['torch', theirs, row.torch]] as const) {
        if (r === null) continue;
        if (typeof r === 'string') console.log(`  ${label} ${row.size}/${row.batch}/${row.threads}t failed: ${r}`);
        else into.push(r);
      }
      const last = (xs: Step[]) => xs[xs.length - 1];
      console.log(`  ${ARCH} ${row.size}×${row.size} batch ${row.batch}, ${row.threads} thread(s): ours ${last(row.ours)?.median_ms ?? '—'} ms, torch ${last(row.torch)?.median_ms ?? '—'} ms`);
    }
  }

  console.log(`\n${ARCH} training step (forward + label-smoothed loss + backward + Nesterov SGD), median over ${rounds} rounds of ${runs} runs; ${cpus()[0]?.model ?? 'cpu'}`);
  console.log('| size | batch | threads | ours ms (rounds) | torch ms (rounds) | ours/torch | ours img/s | ours RSS MB | torch RSS MB |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const summary = rows.map((r) => {
    const o = median(r.ours.map((s) => s.median_ms)), q = r.torch.length ? median(r.torch.map((s) => s.median_ms)) : NaN;
    const line = {
      size: r.size, batch: r.batch, threads: r.threads, ours_ms: o, torch_ms: q, ratio: Number((o / q).toFixed(2)),
      ours_rounds: r.ours.map((s) => s.median_ms), torch_rounds: r.torch.map((s) => s.median_ms),
      ours_images_per_s: Number(((r.batch * 1000) / o).toFixed(2)),
      ours_rss_mb: median(r.ours.map((s) => s.peak_rss_mb)), torch_rss_mb: r.torch.length ? median(r.torch.map((s) => s.peak_rss_mb)) : NaN,
    };
    console.log(`| ${r.size} | ${r.batch} | ${r.threads} | ${o} (${line.ours_rounds.join(', ')}) | ${q} (${line.torch_rounds.join(', ')}) | ${line.ratio} | ${line.ours_images_per_s} | ${line.ours_rss_mb} | ${line.torch_rss_mb} |`);
    return line;
  });
  const out = str(p, 'out');
  if (out) writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), arch: ARCH, rounds, runs, warmup, rows: summary }, null, 1));
}
