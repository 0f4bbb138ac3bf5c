// resnest bench: end-to-end latency and peak memory of one configuration, as one JSON line
// ({"median_ms", "p90_ms", "peak_rss_mb", "backend", "threads", …}; bench/e2e.ts and outside
// checks parse it). Times are per forward pass, then await data(): an InferenceGraph's replay
// (recorded in the first run, which cold start includes), or with --eager tidy(() => model.call(x)).

import '../index.js';
import { availableParallelism } from 'node:os';
import { ArgumentError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { createModel } from '../models/resnest/zoo.js';
import type { ResNet } from '../models/resnest/resnet.js';
import { InferenceGraph } from '../nn/graph.js';
import { tidy } from '../tensor/scope.js';
import { tensor } from '../tensor/tensor.js';
import { uniform } from '../util/random.js';
import { loadModel, loadSegmentationModel, loadWeightsFile, resolveArch } from '../node.js';
import { createSegmentationModel, isSegmentationArch } from '../models/segmentation/zoo.js';
import type { SegNet } from '../models/segmentation/segnet.js';
import { SGD } from '../train/optim.js';
import { paramGroups } from '../train/param-groups.js';
import { backwardLoss } from '../train/trainer.js';
import { flag, int, parseArgs, str } from './args.js';
import { round, RssSampler, summarize } from './measure.js';
import { printProfile, printTrainProfile } from './profile.js';

export const BENCH_USAGE = 'resnest bench [--arch resnest50|cfg.json] [--size S] [--batch 1] [--threads N] [--backend B] [--runs 10] [--warmup 2] [--weights <file>] [--eager] [--train] [--profile [--depth D]] [--json]';

export async function bench(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    arch: { type: 'string' }, size: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' },
    backend: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' }, weights: { type: 'string' },
    json: { type: 'boolean' }, verbose: { type: 'boolean' }, train: { type: 'boolean' }, eager: { type: 'boolean' }, profile: { type: 'boolean' }, depth: { type: 'string' },
  });
  if (p.positionals.length) throw new ArgumentError(`bench: unexpected argument '${p.positionals[0]}' (usage: ${BENCH_USAGE})`);
  const arch = str(p, 'arch') ?? 'resnest50';
  const segmentation = isSegmentationArch(arch);
  if (segmentation && (flag(p, 'train') || flag(p, 'profile'))) throw new ArgumentError(`bench: --train and --profile are for classification networks; ${arch} benches inference`);
  const entry = segmentation ? null : await resolveArch(arch);
  const size = int(p, 'size') ?? entry?.crop ?? 512;
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
  const training = flag(p, 'train');
  let model: ResNet | SegNet;
  if (segmentation) {
    model = weights ? await loadSegmentationModel(arch, { weights, backend }) : createSegmentationModel(arch, { backend }).eval().fuse({ inPlace: true });
  } else if (training) {
    // A training step: forward in train mode, label-smoothed loss, backward, Nesterov SGD.
    model = createModel(entry!, { backend, init: !weights });
    if (weights) model.loadStateDict(await loadWeightsFile(weights), { where: `${arch} from ${weights}` });
    model.train();
  } else if (weights) model = await loadModel(entry!, { weights, backend });
  else model = createModel(entry!, { backend }).eval().fuse({ inPlace: true });
  const tLoaded = performance.now();

  const images = uniform(batch * 3 * size * size, 1, -2, 2);
  const x = training ? null : tensor(images, [batch, 3, size, size], { backend });
  const classes = 'options' in model ? model.options.numClasses : model.opts.numClasses;
  const labels = Array.from({ length: batch }, (_, i) => i % classes);
  const opt = training ? new SGD(paramGroups(model, 1e-4, true), { lr: 1e-3, momentum: 0.9, nesterov: true }) : null;
  // Inference replays the forward's kernels, recorded on the first run (--eager: op by op).
  const eager = flag(p, 'eager');
  let graph: InferenceGraph | null = null;
  const once = async (): Promise<number> => {
    const start = performance.now();
    if (opt) {
      // A step is done when its loss is read back: on webgpu, when the device has run it.
      opt.zeroGrad();
      const loss = backwardLoss(model, images, [batch, 3, size, size], labels, { labelSmoothing: 0.1 });
      opt.step();
      await loss.data();
      loss.dispose();
    } else {
      if (!eager) graph ??= new InferenceGraph(model, x!.shape);
      const out = graph ? graph.run(x!) : tidy(() => model.call(x!));
      await out.data();
      out.dispose();
    }
    const ms = performance.now() - start;
    rss.sample();
    return ms;
  };
  if (flag(p, 'profile') && opt) {
    await printTrainProfile(model, opt, { x: images, shape: [batch, 3, size, size], labels }, backend,
      { runs, depth: int(p, 'depth', 0) ?? 0, json: flag(p, 'json'), title: `${arch} ${size}×${size} batch ${batch} training on ${backend.name}` });
    model.dispose();
    backend.dispose?.();
    return;
  }
  if (flag(p, 'profile')) {
    await printProfile(model as ResNet, x!, backend, { runs, depth: int(p, 'depth', 0) ?? 0, json: flag(p, 'json'), title: `${arch} ${size}×${size} batch ${batch} on ${backend.name}` });
    x!.dispose();
    model.dispose();
    backend.dispose?.();
    return;
  }
  const firstMs = await once();
  // performance.now() counts from process start: cold start = node start-up, imports, backend,
  // weights (read, build, fuse) and the first inference.
  const coldStart = performance.now();
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  const counters = () => (backend as { stats?: () => Record<string, number> }).stats?.();
  const before = counters();
  for (let i = 0; i < runs; i++) times.push(await once());
  const after = counters();
  // What one run launches, where the backend counts it (webgpu: kernels, submits, transfers).
  const perRun = before && after ? Object.fromEntries(['dispatches', 'submits', 'reads', 'writes'].map((k) => [k, round((after[k]! - before[k]!) / runs, 1)])) : null;
  rss.stop();
  opt?.zeroGrad();
  const replayed = graph as InferenceGraph | null;
  const recorded = replayed?.recorded ?? false;
  replayed?.dispose();
  x?.dispose();
  model.dispose();

  const reported = backend.name === 'js' ? 1 : threads ?? (backend as { threads?: number }).threads ?? availableParallelism();
  const { headline, detail } = summarize(times, rss, { t0, loaded: tLoaded, coldStart, firstRunMs: firstMs });
  const result = {
    ...headline,
    ...(training ? { mode: 'train', images_per_s: round((batch * 1000) / headline.median_ms, 2) } : {}),
    backend: backend.name,
    threads: reported,
    arch, size, batch, runs, warmup,
    ...(training ? {} : { execution: recorded ? 'graph' : 'eager' }),
    ...(perRun ? { per_run: perRun } : {}),
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
  console.log(`${arch} ${size}×${size} batch ${batch}${training ? ' training step' : ''} on ${result.backend} (${th}): median ${result.median_ms} ms, `
    + `p90 ${result.p90_ms} ms over ${runs} runs; peak RSS ${result.peak_rss_mb} MB; cold start ${result.cold_start_ms} ms`
    + (perRun ? `; a run launches ${perRun.dispatches} kernels in ${perRun.submits} submits with ${perRun.writes} uploads and ${perRun.reads} read-backs` : ''));
}
