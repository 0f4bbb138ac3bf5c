// resnest train: train on arrays (NCHW float32 images .npy, int labels .npy) and write the
// model's state dict as torch.save does (the seed's keys, running stats, num_batches_tracked).

import { ArgumentError, ShapeError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { readNpy } from '../io/npy.js';
import { toFloat32, type RawTensor } from '../io/raw.js';
import { saveTorch } from '../io/torch-save.js';
import { readBytes, writeFileAtomic } from '../io/files.js';
import { createModel } from '../models/resnest/zoo.js';
import { loadWeightsFile } from '../node.js';
import { trainArrays, type TrainOptions } from '../train/trainer.js';
import { scaledLr } from '../train/schedule.js';
import { flag, int, parseArgs, required, str } from './args.js';
import { archFromArgs } from './model.js';

export const TRAIN_USAGE = 'resnest train --arch <name|cfg.json> [--weights W] --inputs X.npy --labels Y.npy --epochs E --batch-size B --lr L '
  + '[--momentum M] [--nesterov] [--weight-decay WD] [--no-bias-decay] [--label-smoothing S] [--optimizer sgd|adamw] '
  + '[--lr-schedule constant|cosine] [--warmup-epochs N] [--mixup ALPHA] [--accumulate K] [--no-augment] [--no-shuffle] [--seed N] '
  + '[--backend B] [--threads N] --save OUT.pth';

function num(p: ReturnType<typeof parseArgs>, key: string, dflt: number, min = 0): number {
  const v = str(p, key);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new ArgumentError(`--${key} must be a number ≥ ${min}, got '${v}'`);
  return n;
}

function labelArray(raw: RawTensor, file: string, n: number): Int32Array {
  if (!['int64', 'int32', 'int16', 'int8', 'uint8'].includes(raw.dtype)) throw new ShapeError(`${file}: labels must be integers, got ${raw.dtype}`);
  if (raw.shape.length !== 1 || raw.shape[0] !== n) throw new ShapeError(`${file}: labels must have shape [${n}] (one per image), got [${raw.shape.join(', ')}]`);
  return Int32Array.from(raw.data as ArrayLike<number | bigint>, (v) => Number(v));
}

export async function train(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    arch: { type: 'string' }, weights: { type: 'string' }, inputs: { type: 'string' }, labels: { type: 'string' },
    epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, momentum: { type: 'string' },
    nesterov: { type: 'boolean' }, 'weight-decay': { type: 'string' }, 'no-bias-decay': { type: 'boolean' },
    'label-smoothing': { type: 'string' }, optimizer: { type: 'string' }, 'lr-schedule': { type: 'string' },
    'warmup-epochs': { type: 'string' }, 'no-augment': { type: 'boolean' }, 'no-shuffle': { type: 'boolean' },
    seed: { type: 'string' }, mixup: { type: 'string' }, accumulate: { type: 'string' }, 'base-lr': { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, save: { type: 'string' },
    quiet: { type: 'boolean' }, verbose: { type: 'boolean' },
  });
  if (p.positionals.length) throw new ArgumentError(`train: unexpected argument '${p.positionals[0]}' (usage: ${TRAIN_USAGE})`);
  const entry = await archFromArgs(p, 'train');
  const inputsPath = required(p, 'inputs', 'train'), labelsPath = required(p, 'labels', 'train');
  const save = required(p, 'save', 'train');
  const schedule = str(p, 'lr-schedule') ?? 'constant';
  if (schedule !== 'constant' && schedule !== 'cosine') throw new ArgumentError(`--lr-schedule must be constant or cosine, got '${schedule}'`);
  const optimizer = str(p, 'optimizer') ?? 'sgd';
  if (optimizer !== 'sgd' && optimizer !== 'adamw') throw new ArgumentError(`--optimizer must be sgd or adamw, got '${optimizer}'`);
  const batchSize = int(p, 'batch-size') ?? (() => { throw new ArgumentError('train: --batch-size is required'); })();
  const accumulate = int(p, 'accumulate') ?? 1;
  const baseLr = str(p, 'base-lr');
  if (baseLr !== undefined && str(p, 'lr') !== undefined) throw new ArgumentError('train: give --lr or --base-lr, not both');
  // --base-lr: the paper's linear scaling, lr = base · (effective batch) / 256.
  const lr = baseLr !== undefined ? scaledLr(num(p, 'base-lr', 0), batchSize * accumulate) : Number(required(p, 'lr', 'train'));
  const opts: TrainOptions = {
    epochs: int(p, 'epochs') ?? (() => { throw new ArgumentError('train: --epochs is required'); })(),
    batchSize, accumulate, lr, mixup: num(p, 'mixup', 0),
    optimizer, momentum: num(p, 'momentum', 0), nesterov: flag(p, 'nesterov'), weightDecay: num(p, 'weight-decay', 0),
    noBiasDecay: flag(p, 'no-bias-decay'), labelSmoothing: num(p, 'label-smoothing', 0), schedule,
    warmupEpochs: num(p, 'warmup-epochs', 0), shuffle: !flag(p, 'no-shuffle'), augment: !flag(p, 'no-augment'),
    seed: int(p, 'seed', 0) ?? 0,
  };
  if (!(opts.lr >= 0)) throw new ArgumentError(`--lr must be a number ≥ 0, got '${str(p, 'lr') ?? baseLr}'`);
  if ((opts.labelSmoothing ?? 0) >= 1) throw new ArgumentError(`--label-smoothing must be in [0, 1), got ${opts.labelSmoothing}`);
  if (opts.nesterov && !(opts.momentum! > 0)) throw new ArgumentError('--nesterov needs --momentum > 0');

  // Data and weights are read and checked before anything is built.
  const raw = readNpy(await readBytes(inputsPath), inputsPath);
  if (raw.shape.length !== 4 || raw.shape[1] !== 3 || !raw.dtype.startsWith('float')) {
    throw new ShapeError(`${inputsPath}: images must be float NCHW with 3 channels, got ${raw.dtype} [${raw.shape.join(', ')}]`);
  }
  const images = toFloat32(raw, inputsPath);
  if (images.some((v) => !Number.isFinite(v))) throw new ShapeError(`${inputsPath}: holds NaN or Inf values`);
  const labels = labelArray(readNpy(await readBytes(labelsPath), labelsPath), labelsPath, raw.shape[0]!);
  const weights = str(p, 'weights');
  const sd = weights ? await loadWeightsFile(weights) : null;
  const numClasses = sd?.get('fc.weight')?.shape[0] ?? entry.options.numClasses ?? 1000;
  const bad = labels.findIndex((l) => l < 0 || l >= numClasses);
  if (bad >= 0) throw new ShapeError(`${labelsPath}: label ${labels[bad]} at index ${bad} is outside [0, ${numClasses})`);

  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  const model = createModel(entry, { backend, init: !sd, numClasses, seed: opts.seed });
  if (sd) model.loadStateDict(sd, { where: `${entry.name} from ${weights}` });

  const quiet = flag(p, 'quiet');
  const t0 = performance.now();
  let seen = 0;
  const result = trainArrays(model, images, raw.shape, labels, {
    ...opts,
    onStep: (s) => {
      seen += Math.min(batchSize * accumulate, raw.shape[0]! - s.step * batchSize * accumulate);
      if (!quiet && (s.step === s.stepsPerEpoch - 1 || s.step % 10 === 0)) {
        const ips = (seen / (performance.now() - t0)) * 1000;
        process.stderr.write(`epoch ${s.epoch + 1}/${opts.epochs} step ${s.step + 1}/${s.stepsPerEpoch}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toPrecision(3)}  ${ips.toFixed(1)} img/s\n`);
      }
    },
  });
  await writeFileAtomic(save, saveTorch(await model.exportStateDict()));
  const last = result.epochLosses[result.epochLosses.length - 1]!;
  console.log(`wrote ${save}: ${entry.name} after ${opts.epochs} epoch${opts.epochs > 1 ? 's' : ''} of ${result.losses.length / opts.epochs} steps on ${backend.name}, `
    + `mean loss of the last epoch ${last.toFixed(4)}, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  model.dispose();
}
