// resnest eval: accuracy on the test split of an IDX directory (only that split is read), or on
// an image folder (or its held-out part with --val-split), through the model's own
// preprocessing. Without model arguments it evaluates the embedded default model.

import { ArgumentError } from '../errors.js';
import { openEvalData } from '../data/dataset.js';
import { evaluate } from '../train/evaluate.js';
import { flag, int, num, parseArgs, required, str } from './args.js';
import { MODEL_OPTIONS, resolveModel } from './model.js';
import { evalSegmentation } from './eval-segmentation.js';
import { isSegmentationArch } from '../models/segmentation/zoo.js';

export const EVAL_USAGE = 'resnest eval --data <dir> [--arch <name|cfg.json> (--weights W | --pretrained)] [--val-split F] [--seed N] [--batch-size B] [--backend B] [--threads N] [--json]\n'
  + '       resnest eval --arch <segmentation model> (--weights W | --pretrained) --data DIR (images/ + masks/) [--scales 0.5,0.75,1,1.25,1.5,1.75] [--flip] [--base-size 520] [--crop-size 480] [--backend B] [--threads N] [--json]';

export async function evalCommand(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    ...MODEL_OPTIONS, data: { type: 'string' }, json: { type: 'boolean' }, 'val-split': { type: 'string' }, seed: { type: 'string' }, 'batch-size': { type: 'string' },
    scales: { type: 'string' }, flip: { type: 'boolean' }, 'base-size': { type: 'string' }, 'crop-size': { type: 'string' },
  });
  if (p.positionals.length) throw new ArgumentError(`eval: unexpected argument '${p.positionals[0]}' (usage: ${EVAL_USAGE})`);
  if (isSegmentationArch(str(p, 'arch') ?? '')) return evalSegmentation(p);
  const seg = ['scales', 'flip', 'base-size', 'crop-size'].find((k) => p.values.has(k));
  if (seg) throw new ArgumentError(`eval: --${seg} is for segmentation networks (--arch fcn_… / deeplab_…)`);
  const dir = required(p, 'data', 'eval');
  const val = num(p, 'val-split', 0), seed = int(p, 'seed', 0) ?? 0, bs = int(p, 'batch-size') ?? 100;
  if (val >= 1) throw new ArgumentError(`--val-split must be in [0, 1), got '${str(p, 'val-split')}'`);
  const ds = await openEvalData(dir, { valFraction: val, seed });
  const { model, pre, labels, what } = await resolveModel(p, 'eval');
  if (labels && ds.classes.length > labels.length) {
    throw new ArgumentError(`eval: ${dir} has ${ds.classes.length} classes, the model ${labels.length}`);
  }
  const json = flag(p, 'json');
  const tty = process.stderr.isTTY && !json;
  const t0 = performance.now();
  const r = await evaluate(model, ds, pre, {
    batchSize: bs,
    onProgress: tty ? (done, n) => process.stderr.write(`\reval ${done}/${n}`) : undefined,
  });
  if (tty) process.stderr.write('\n');
  const seconds = (performance.now() - t0) / 1000;
  if (json) {
    console.log(JSON.stringify({ accuracy: r.accuracy, n: r.n, correct: r.correct, seconds: Math.round(seconds * 10) / 10 }));
    return;
  }
  console.log(`${what} on ${ds.source}: accuracy ${(100 * r.accuracy).toFixed(2)} % (${r.correct}/${r.n}) in ${seconds.toFixed(1)} s`);
  r.perClass.forEach(([c, n], k) => console.log(`  ${(labels?.[k] ?? ds.classes[k] ?? `class ${k}`).padEnd(14)} ${n ? ((100 * c) / n).toFixed(1).padStart(5) : '    -'} %  (${c}/${n})`));
}
