// `resnest bench --json` prints one JSON line with the keys outside checks parse, with sane
// values (a tiny configuration: this checks the command, it times nothing). The default
// backend is the CLI's (this file imports no backend: uvu runs every test file in one process).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from '../src/cli/measure.js';
import { runCli } from './helpers/cli.js';
import { testBackends } from './helpers/backends.js';
import { resultsFile } from '../bench/results-file.js';

const KEYS = ['median_ms', 'p90_ms', 'peak_rss_mb', 'backend', 'threads'] as const;

function parse(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  assert.is(lines.length, 1, `one line expected, got:\n${stdout}`);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

function sane(r: Record<string, unknown>, backend: string, runs: number): void {
  for (const k of KEYS) assert.ok(k in r, `missing key ${k}`);
  const median = r.median_ms as number, p90 = r.p90_ms as number, rss = r.peak_rss_mb as number;
  assert.ok(Number.isFinite(median) && median > 0 && median < 60_000, `median_ms ${median}`);
  assert.ok(Number.isFinite(p90) && p90 >= median, `p90_ms ${p90} < median ${median}`);
  assert.ok(rss > 10 && rss < 16_000, `peak_rss_mb ${rss}`);
  assert.is(r.backend, backend);
  assert.ok(Number.isInteger(r.threads) && (r.threads as number) >= 1, `threads ${r.threads}`);
  assert.is(r.runs, runs);
  assert.ok((r.cold_start_ms as number) >= (r.first_run_ms as number));
}

test('bench --json on the js backend: the keys, one line, threads reported as 1', async () => {
  const r = await runCli(['bench', '--arch', 'resnest14d', '--size', '32', '--runs', '3', '--warmup', '0', '--backend', 'js', '--threads', '2', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = parse(r.stdout);
  sane(out, 'js', 3);
  assert.is(out.threads, 1);
  assert.is(out.batch, 1);
  assert.is(out.size, 32);
});

test('bench on the default backend, batch 2, readable line without --json', async () => {
  let r = await runCli(['bench', '--arch', 'resnest14d', '--size', '32', '--batch', '2', '--runs', '2', '--warmup', '1', '--threads', '1', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = parse(r.stdout);
  sane(out, String(out.backend), 2);
  assert.ok(typeof out.backend === 'string' && out.backend.length > 0);
  assert.is(out.threads, 1);
  assert.is(out.batch, 2);
  r = await runCli(['bench', '--arch', 'resnest14d', '--size', '32', '--runs', '1', '--warmup', '0', '--backend', 'js']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^resnest14d 32×32 batch 1 on js \(1 thread\): median [\d.]+ ms, p90 [\d.]+ ms over 1 runs; peak RSS [\d.]+ MB/);
});

test('bench --train --json: one line with the step time, images/s and peak RSS, on an architecture file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnest-bench-'));
  const cfg = join(dir, 'tiny.json');
  writeFileSync(cfg, JSON.stringify({ layers: [1, 1, 1, 1], radix: 2, bottleneck_width: 8, deep_stem: true, stem_width: 8, avg_down: true, avd: true, num_classes: 5 }));
  const r = await runCli(['bench', '--train', '--arch', cfg, '--size', '32', '--batch', '4', '--threads', '1', '--runs', '2', '--warmup', '1', '--json']);
  rmSync(dir, { recursive: true, force: true });
  assert.is(r.code, 0, r.stderr);
  const out = parse(r.stdout);
  sane(out, String(out.backend), 2);
  assert.is(out.mode, 'train');
  assert.ok(Math.abs((out.images_per_s as number) - (4 * 1000) / (out.median_ms as number)) < 0.02 * (out.images_per_s as number));
});

test('bench --train --backend webgpu --json: the step time, and what a step launches (kernels, submits, one read-back)', async () => {
  if (!(await testBackends()).some((b) => b.name === 'webgpu')) return void console.log('  (no webgpu adapter)');
  const dir = mkdtempSync(join(tmpdir(), 'resnest-bench-'));
  const cfg = join(dir, 'tiny.json');
  writeFileSync(cfg, JSON.stringify({ layers: [1, 1, 1, 1], radix: 2, bottleneck_width: 8, deep_stem: true, stem_width: 8, avg_down: true, avd: true, num_classes: 5 }));
  const r = await runCli(['bench', '--train', '--backend', 'webgpu', '--arch', cfg, '--size', '16', '--batch', '2', '--runs', '2', '--warmup', '1', '--json']);
  rmSync(dir, { recursive: true, force: true });
  assert.is(r.code, 0, r.stderr);
  const out = parse(r.stdout);
  assert.is(out.backend, 'webgpu');
  assert.is(out.mode, 'train');
  const per = out.per_run as { dispatches: number; submits: number; reads: number; writes: number };
  assert.is(per.reads, 1, 'one read-back a step: the loss');
  assert.is(per.writes, 2, 'two uploads a step: the images and the targets');
  assert.ok(per.dispatches > 100 && per.submits >= 1 && per.submits < per.dispatches / 8, JSON.stringify(per));
  console.log(`  webgpu training step (tiny network, 16², batch 2): ${out.median_ms} ms, ${JSON.stringify(per)}`);
});

test('bench --profile --json: one row per module whose self times add up to the total, conv GFLOP from the geometry, never above the peak', async () => {
  const r = await runCli(['bench', '--profile', '--arch', 'resnest14d', '--size', '32', '--runs', '2', '--threads', '1', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = parse(r.stdout) as { total_ms: number; rows: { module: string; kind: string; ms: number; share: number; gflop: number; gflops: number | null; pct_peak: number | null; winograd: boolean }[]; peak_gflops: number | null; noisy: boolean; backend: string; synchronous: boolean };
  assert.is(out.backend, 'wasm');
  assert.is(out.synchronous, true);
  const sum = out.rows.reduce((s, row) => s + row.ms, 0);
  assert.ok(Math.abs(sum - out.total_ms) < 1e-6 * out.total_ms + 1e-9, `rows ${sum} vs total ${out.total_ms}`);
  assert.ok(Math.abs(out.rows.reduce((s, row) => s + row.share, 0) - 1) < 1e-9);
  // The first stem conv: 3 → 32 channels, 3×3, stride 2 on 32×32: 16×16 outputs × 27 taps × 32 × 2 flops.
  const stem = out.rows.find((row) => row.module === 'conv1.0')!;
  assert.is(stem.kind, 'Conv2d');
  assert.ok(Math.abs(stem.gflop - (2 * 32 * 16 * 16 * 27) / 1e9) < 1e-12, `conv1.0 ${stem.gflop}`);
  assert.ok(out.rows.some((row) => row.kind === 'SplAtConv2d' && row.ms > 0), 'split attention\'s own ops timed');
  assert.ok(out.peak_gflops! > 0);
  for (const row of out.rows) {
    if (row.winograd) assert.is(row.pct_peak, null, `${row.module}: Winograd has no % of peak`);
    else if (!out.noisy && row.pct_peak !== null) assert.ok(row.pct_peak <= 100, `${row.module} at ${row.pct_peak.toFixed(0)} % of the peak`);
  }
  const table = await runCli(['bench', '--profile', '--arch', 'resnest14d', '--size', '32', '--runs', '1', '--threads', '1', '--depth', '2']);
  assert.is(table.code, 0, table.stderr);
  assert.match(table.stdout, /ms per forward pass \(median of 1\), self time per module; SIMD peak [\d.]+ GFLOP\/s on 1 thread/);
  assert.match(table.stdout, /\nlayer3\.0 +Bottleneck/);
});

test('bench --train --profile --json: forward and backward per module; a conv\'s backward is twice its forward\'s work (once for the stem\'s first)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnest-bench-'));
  const cfg = join(dir, 'tiny.json');
  writeFileSync(cfg, JSON.stringify({ layers: [1, 1, 1, 1], radix: 2, bottleneck_width: 8, deep_stem: true, stem_width: 8, avg_down: true, avd: true, num_classes: 5 }));
  const r = await runCli(['bench', '--train', '--profile', '--arch', cfg, '--size', '32', '--batch', '4', '--threads', '1', '--runs', '3', '--json']);
  rmSync(dir, { recursive: true, force: true });
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { step_ms: number; forward_ms: number; backward_ms: number; optimizer_ms: number; loss_ms: number; kernel_ms: number; outside_kernels_ms: number;
    rows: { module: string; kind: string; forward_ms: number; backward_ms: number; gflop_forward: number; gflop_backward: number }[] };
  const row = (m: string) => out.rows.find((x) => x.module === m)!;
  // 4 images of 3×32×32 into 8 channels of 16×16 by a 3×3 conv: 2·4·8·16·16·27 flops.
  assert.ok(Math.abs(row('conv1.0').gflop_forward - (2 * 4 * 8 * 16 * 16 * 27) / 1e9) < 1e-12);
  assert.ok(Math.abs(row('conv1.0').gflop_backward - row('conv1.0').gflop_forward) < 1e-12, 'the image needs no gradient: the weights\' only');
  for (const m of ['conv1.3', 'layer1.0.conv1', 'layer3.0.conv2.conv', 'layer4.0.conv3', 'fc']) {
    assert.ok(Math.abs(row(m).gflop_backward - 2 * row(m).gflop_forward) < 1e-12, `${m}: input and weight gradients`);
  }
  // Medians of separate runs do not add up; what holds run by run holds for the medians: a
  // phase within the step, a module's self time within its phase, the kernels within the step.
  for (const k of ['forward_ms', 'loss_ms', 'backward_ms', 'optimizer_ms', 'kernel_ms'] as const) assert.ok(out[k] >= 0 && out[k] <= out.step_ms, `${k} ${out[k]} of a ${out.step_ms} ms step`);
  for (const x of out.rows) assert.ok(x.forward_ms <= out.forward_ms && x.backward_ms <= out.backward_ms, `${x.module}: ${x.forward_ms} / ${x.backward_ms} ms`);
  assert.ok(out.kernel_ms > 0 && Math.abs(out.kernel_ms + out.outside_kernels_ms - out.step_ms) < 1e-6 * out.step_ms + 0.5);
  assert.ok(out.rows.some((x) => x.kind === 'SplAtConv2d' && x.backward_ms > 0));
});

test('bench errors are one line', async () => {
  for (const args of [['--runs', '0'], ['--backend', 'nope'], ['--arch', 'resnest51']]) {
    const r = await runCli(['bench', '--size', '32', ...args, '--json']);
    assert.ok(r.code === 1 || r.code === 2, `${args.join(' ')}: exit ${r.code}`);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.is(r.stdout, '');
  }
});

test('percentile is nearest-rank', () => {
  assert.is(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.5), 5);
  assert.is(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), 9);
  assert.is(percentile([4], 0.9), 4);
  assert.is(percentile([1, 2, 3], 0.5), 2);
});

test('a bench run never overwrites an earlier run of the same day: e2e-<date>.json, then b, c', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnest-results-'));
  try {
    const first = resultsFile(dir, 'e2e', '2026-12-06');
    assert.is(first, join(dir, 'e2e-2026-12-06.json'));
    writeFileSync(first, '{}');
    const second = resultsFile(dir, 'e2e', '2026-12-06');
    assert.is(second, join(dir, 'e2e-2026-12-06b.json'));
    writeFileSync(second, '{}');
    assert.is(resultsFile(dir, 'e2e', '2026-12-06'), join(dir, 'e2e-2026-12-06c.json'));
    assert.is(resultsFile(dir, 'e2e', '2026-12-07'), join(dir, 'e2e-2026-12-07.json'));
    assert.is(resultsFile(dir, 'webgpu', '2026-12-06'), join(dir, 'webgpu-2026-12-06.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
