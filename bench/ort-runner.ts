// One onnxruntime-web configuration, measured exactly as `resnest bench` measures ours (same
// input, same timing loop, same memory sampling) and printed as the same JSON line:
//
//   node build/bench/ort-runner.js --model m.onnx [--batch 1] [--size 224] [--threads 1]
//       [--runs 10] [--warmup 2] [--json]
//
// WASM execution provider, all graph optimisations, ort.env.wasm.numThreads = --threads. In
// Node, onnxruntime-web's 'node' export (dist/ort.node.min.mjs) finds its wasm next to itself;
// with numThreads > 1 it runs the threaded build (ort-wasm-simd-threaded) on worker_threads —
// no cross-origin isolation is involved outside browsers, so Node 20 needs no flags.

import { readFile } from 'node:fs/promises';
import { int, parseArgs, required, flag } from '../src/cli/args.js';
import { RssSampler, summarize } from '../src/cli/measure.js';
import { uniform } from '../src/util/random.js';

async function main(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    model: { type: 'string' }, batch: { type: 'string' }, size: { type: 'string' }, threads: { type: 'string' },
    runs: { type: 'string' }, warmup: { type: 'string' }, json: { type: 'boolean' },
  });
  const modelPath = required(p, 'model', 'ort-runner');
  const batch = int(p, 'batch') ?? 1, size = int(p, 'size') ?? 224, threads = int(p, 'threads') ?? 1;
  const runs = int(p, 'runs') ?? 10, warmup = int(p, 'warmup', 0) ?? 2;

  const rss = new RssSampler();
  rss.start();
  const t0 = performance.now();
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(await readFile(modelPath), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const tLoaded = performance.now();
  const input = session.inputNames[0]!, output = session.outputNames[0]!;
  const x = new ort.Tensor('float32', uniform(batch * 3 * size * size, 1, -2, 2), [batch, 3, size, size]);

  const once = async (): Promise<number> => {
    const start = performance.now();
    const result = await session.run({ [input]: x });
    void (result[output]!.data as Float32Array)[0];
    const ms = performance.now() - start;
    rss.sample();
    return ms;
  };
  const firstMs = await once();
  const coldStart = performance.now(); // from process start, as ours
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  rss.stop();
  await session.release();

  const { headline, detail } = summarize(times, rss, { t0, loaded: tLoaded, coldStart, firstRunMs: firstMs });
  const result = {
    ...headline,
    backend: 'ort-wasm',
    threads,
    size, batch, runs, warmup,
    ...detail,
    ort_version: ort.env.versions.web ?? ort.env.versions.common,
    node: process.version,
  };
  if (flag(p, 'json')) console.log(JSON.stringify(result));
  else console.log(`onnxruntime-web ${result.ort_version} wasm (${threads} thread${threads === 1 ? '' : 's'}) batch ${batch}: median ${result.median_ms} ms, p90 ${result.p90_ms} ms; peak RSS ${result.peak_rss_mb} MB; cold start ${result.cold_start_ms} ms`);
}

main(process.argv.slice(2)).then(
  // ONNX Runtime's pthread workers keep the event loop alive: exit explicitly.
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`ort-runner: ${(e as Error)?.message ?? String(e)}\n`);
    process.exit(1);
  },
);
