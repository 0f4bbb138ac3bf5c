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

test.run();
