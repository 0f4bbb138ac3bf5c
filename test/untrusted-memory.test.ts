// Memory over many inferences: 1 000 consecutive forward passes of a small ResNeSt on the
// default backend (the one a user gets without choosing), each in tidy(), must leave the
// backend's own memory exactly where it was after warm-up (wasm: its linear memory and live
// bytes, when the backend reports them) and the process's RSS, ArrayBuffer and heap memory
// flat within a stated bound. It runs in a child process so nothing else shares the figures.
// $RESNEST_MEMORY_BACKEND runs it on another backend (e.g. js).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const INDEX = new URL('../src/index.js', import.meta.url).href;
const RUNS = 1000;
const WARMUP = 100;
const SAMPLE_EVERY = 100;
// Bounds on growth from the end of warm-up to the end of the run.
const RSS_BOUND = 32 << 20;
const ARRAY_BUFFERS_BOUND = 1 << 20;
const HEAP_BOUND = 8 << 20;

const CHILD = `
import * as m from ${JSON.stringify(INDEX)};
const name = process.env.RESNEST_MEMORY_BACKEND || m.defaultBackendName();
const backend = await m.initBackend(name);
const model = new m.ResNet([1, 1, 1, 1], { radix: 2, bottleneckWidth: 8, numClasses: 10 }, backend);
model.resetParameters(7);
model.eval();
const x = m.tensor(Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i)), [1, 3, 32, 32], { backend });
// ArrayBuffer memory is released by a background sweeper after a GC: settle before reading.
const stats = async () => {
  for (let k = 0; k < 3; k++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 5));
  }
  const u = process.memoryUsage();
  const own = backend.memoryStats?.() ?? (backend.memoryBytes ? { memoryBytes: backend.memoryBytes() } : null);
  return { rss: u.rss, arrayBuffers: u.arrayBuffers, heapUsed: u.heapUsed, backend: own };
};
let first;
const infer = async () => {
  const y = m.tidy(() => model.call(x));
  const v = await y.data();
  y.dispose();
  return v;
};
for (let i = 0; i < ${WARMUP}; i++) first = await infer();
const samples = [await stats()];
const t0 = performance.now();
let same = true;
for (let i = 1; i <= ${RUNS}; i++) {
  const v = await infer();
  for (let k = 0; k < v.length; k++) if (v[k] !== first[k]) same = false;
  if (i % ${SAMPLE_EVERY} === 0) samples.push(await stats());
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ backend: name, ms, same, samples }));
backend.dispose?.();
process.exit(0);
`;

test(`${RUNS} inferences of a small model in tidy(): memory stays flat`, () => {
  // A script file, not \`-e\`: backends that start worker threads must not inherit --input-type.
  const dir = mkdtempSync(join(tmpdir(), 'resnest-mem-'));
  const script = join(dir, 'memory.mjs');
  writeFileSync(script, CHILD);
  const r = spawnSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8', timeout: 60_000 });
  rmSync(dir, { recursive: true, force: true });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    backend: string; ms: number; same: boolean;
    samples: { rss: number; arrayBuffers: number; heapUsed: number; backend: { liveBytes?: number; memoryBytes?: number } | null }[];
  };
  const [base, ...rest] = out.samples;
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(2)} MB`;
  const growth = (k: 'rss' | 'arrayBuffers' | 'heapUsed') => Math.max(...rest.map((s) => s[k] - base![k]));
  console.log(`    backend ${out.backend}: ${RUNS} inferences in ${(out.ms / 1000).toFixed(1)} s (${(out.ms / RUNS).toFixed(1)} ms each); ` +
    `growth after warm-up: RSS ${mb(growth('rss'))}, ArrayBuffers ${mb(growth('arrayBuffers'))}, heap ${mb(growth('heapUsed'))}` +
    (base!.backend ? `; backend memory ${JSON.stringify(base!.backend)} → ${JSON.stringify(rest[rest.length - 1]!.backend)}` : ''));
  assert.ok(out.same, 'every inference gives the same logits');
  assert.is(rest.length, RUNS / SAMPLE_EVERY);
  if (base!.backend) {
    // The backend's own accounting must not move at all: every tensor of a pass is freed.
    for (const s of rest) {
      if (base!.backend.liveBytes !== undefined) assert.is(s.backend!.liveBytes, base!.backend.liveBytes, 'live bytes');
      assert.is(s.backend!.memoryBytes, base!.backend.memoryBytes, 'backend memory size');
    }
  }
  assert.ok(growth('rss') <= RSS_BOUND, `RSS grew by ${mb(growth('rss'))}`);
  assert.ok(growth('arrayBuffers') <= ARRAY_BUFFERS_BOUND, `ArrayBuffers grew by ${mb(growth('arrayBuffers'))}`);
  assert.ok(growth('heapUsed') <= HEAP_BOUND, `heap grew by ${mb(growth('heapUsed'))}`);
});

test.run();
