// resnest bench: end-to-end latency and peak memory of one configuration, as one JSON line
// ({"median_ms", "p90_ms", "peak_rss_mb", "backend", "threads", …}; bench/e2e.ts and outside
// checks parse it). Times are per forward pass: tidy(() => model.call(x)), then await data().

import '../index.js';
import { availableParallelism } from 'node:os';
import { ArgumentError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { createModel } from '../models/resnest/zoo.js';
import type { ResNet } from '../models/resnest/resnet.js';
import { tidy } from '../tensor/scope.js';
import { tensor } from '../tensor/tensor.js';
import { uniform } from '../util/random.js';
import { loadModel, resolveArch } from '../node.js';
import { flag, int, parseArgs, str } from './args.js';
import { RssSampler, summarize } from './measure.js';

export const BENCH_USAGE = 'resnest bench [--arch resnest50] [--size S] [--batch 1] [--threads N] [--backend B] [--runs 10] [--warmup 2] [--weights <file>] [--json]';

export async function bench(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    arch: { type: 'string' }, size: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' },
    backend: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' }, weights: { type: 'string' },
    json: { type: 'boolean' }, verbose: { type: 'boolean' },
  });
  if (p.positionals.length) throw new ArgumentError(`bench: unexpected argument '${p.positionals[0]}' (usage: ${BENCH_USAGE})`);
  const arch = str(p, 'arch') ?? 'resnest50';
  const entry = await resolveArch(arch);
  const size = int(p, 'size') ?? entry.crop;
  const batch = int(p, 'batch') ?? 1;
  const runs = int(p, 'runs') ?? 10;
  const warmup = int(p, 'warmup', 0) ?? 2;
  const threads = int(p, 'threads');
  const weights = str(p, 'weights');
  const backendName = str(p, 'backend') ?? defaultBackendName();

  const rss = new RssSampler();
  rss.start();
  const t0 = performance.now();
  const backend = await initBackend(backendName, threads !== undefined ? { threads } : {});
  let model: ResNet;
  if (weights) model = await loadModel(entry, { weights, backend });
  else model = createModel(entry, { backend }).eval().fuse({ inPlace: true });
  const tLoaded = performance.now();

  const x = tensor(uniform(batch * 3 * size * size, 1, -2, 2), [batch, 3, size, size], { backend });
  const once = async (): Promise<number> => {
    const start = performance.now();
    const out = tidy(() => model.call(x));
    await out.data();
    out.dispose();
    const ms = performance.now() - start;
    rss.sample();
    return ms;
  };
  const firstMs = await once();
  // performance.now() counts from process start: cold start = node start-up, imports, backend,
  // weights (read, build, fuse) and the first inference.
  const coldStart = performance.now();
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  rss.stop();
  x.dispose();
  model.dispose();

  const reported = backend.name === 'js' ? 1 : threads ?? (backend as { threads?: number }).threads ?? availableParallelism();
  const { headline, detail } = summarize(times, rss, { t0, loaded: tLoaded, coldStart, firstRunMs: firstMs });
  const result = {
    ...headline,
    backend: backend.name,
    threads: reported,
    arch, size, batch, runs, warmup,
    ...detail,
    weights: weights ? 'file' : 'random',
    node: process.version,
  };
  backend.dispose?.();
  if (flag(p, 'json')) {
    console.log(JSON.stringify(result));
    return;
  }
  const th = `${result.threads} thread${result.threads === 1 ? '' : 's'}`;
  console.log(`${arch} ${size}×${size} batch ${batch} on ${result.backend} (${th}): median ${result.median_ms} ms, `
    + `p90 ${result.p90_ms} ms over ${runs} runs; peak RSS ${result.peak_rss_mb} MB; cold start ${result.cold_start_ms} ms`);
}
