// resnest train: train on arrays (--inputs/--labels .npy) or on a data set (--data: an IDX
// directory or an image folder, augmented), evaluating on its test split after each epoch,
// and write the model's state dict as torch.save does (the seed's keys, running stats,
// num_batches_tracked) with, for data sets, a JSON beside it that says how to use it.

import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentError, FormatError, ShapeError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { openTrainingData, type Dataset } from '../data/dataset.js';
import { datasetSource, type AugmentOptions } from '../data/loader.js';
import { workerSource } from '../data/worker-source.js';
import { readNpy } from '../io/npy.js';
import { toFloat32, toHalf, type RawTensor, type StateDict } from '../io/raw.js';
import { PyFloat, saveTorch, type PyValue } from '../io/torch-save.js';
import { checkpointBytes, readCheckpoint } from '../train/checkpoint.js';
import { SGD } from '../train/optim.js';
import { readBytes, writeFileAtomic } from '../io/files.js';
import { configOf, createModel } from '../models/resnest/zoo.js';
import type { Module } from '../nn/module.js';
import { loadModel, loadWeightsFile, pretrainedStateDict } from '../node.js';
import { evaluate, type Preprocessing } from '../train/evaluate.js';
import { arraySource, makeOptimizer, stepsPerEpoch, trainLoop, type TrainOptions } from '../train/trainer.js';
import type { BatchSource } from '../data/batch-source.js';
import { scaledLr } from '../train/schedule.js';
import { flag, int, num, parseArgs, required, str } from './args.js';
import { archFromArgs } from './model.js';
import { curvesSvg } from '../viz/curves-svg.js';
import { Progress } from './progress.js';

export const TRAIN_USAGE = 'resnest train --arch <name|cfg.json> [--weights W | --pretrained] [--num-classes N] [--freeze backbone] (--data DIR | --inputs X.npy --labels Y.npy) --epochs E --batch-size B (--lr L | --base-lr L) '
  + '[--momentum M] [--nesterov] [--weight-decay WD] [--no-bias-decay] [--label-smoothing S] [--optimizer sgd|adamw] '
  + '[--lr-schedule constant|cosine] [--warmup-epochs N] [--mixup ALPHA] [--accumulate K] [--no-augment] [--no-shuffle] [--seed N] '
  + '[--dropblock-prob P] [--final-drop P] [--size S] [--resize R] [--crop-scale LO] [--auto-augment] [--color-jitter J] [--mean M] [--std S] [--subset N] [--val-split F] [--workers 0|1] [--half] '
  + '[--checkpoint-dir D] [--resume D/last.pth] [--until-epoch E] [--log F.jsonl] [--plot F.svg] [--backend B] [--threads N] --save OUT.pth';

/** --mean/--std: one number (every channel) or three, comma-separated. */
function triple(p: ReturnType<typeof parseArgs>, key: string): number[] | undefined {
  const v = str(p, key);
  if (v === undefined) return undefined;
  const xs = v.split(',').map(Number);
  if (!(xs.length === 1 || xs.length === 3) || xs.some((x) => !Number.isFinite(x))) throw new ArgumentError(`--${key} must be one number or three comma-separated, got '${v}'`);
  return xs.length === 1 ? [xs[0]!, xs[0]!, xs[0]!] : xs;
}

function labelArray(raw: RawTensor, file: string, n: number): Int32Array {
  if (!['int64', 'int32', 'int16', 'int8', 'uint8'].includes(raw.dtype)) throw new ShapeError(`${file}: labels must be integers, got ${raw.dtype}`);
  if (raw.shape.length !== 1 || raw.shape[0] !== n) throw new ShapeError(`${file}: labels must have shape [${n}] (one per image), got [${raw.shape.join(', ')}]`);
  return Int32Array.from(raw.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Mean and standard deviation of the pixels (/255) of up to 10 000 samples, per channel, rounded to 4 digits. */
function pixelStats(ds: Dataset): { mean: number[]; std: number[] } {
  const sums = [0, 0, 0], sq = [0, 0, 0];
  let count = 0;
  const n = Math.min(ds.length, 10_000);
  for (let i = 0; i < n; i++) {
    const img = ds.image(Math.floor((i * ds.length) / n));
    const c = img.channels;
    for (let k = 0; k < img.width * img.height; k++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = img.data[k * c + (c === 1 ? 0 : ch)]! / 255;
        sums[ch]! += v;
        sq[ch]! += v * v;
      }
    }
    count += img.width * img.height;
  }
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  const mean = sums.map((s) => s / count);
  return { mean: mean.map(r4), std: sq.map((s, ch) => r4(Math.sqrt(s / count - mean[ch]! ** 2))) };
}

/** Only the head trains: every other parameter stops requiring grad and every other module runs in eval mode. */
export function freezeBackbone(model: Module): void {
  for (const [name, t] of model.namedParameters()) if (!name.startsWith('fc.')) t.requiresGrad = false;
  for (const [name, m] of model.namedModules()) if (name !== '' && name !== 'fc') m.training = false;
}

export async function train(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    arch: { type: 'string' }, weights: { type: 'string' }, inputs: { type: 'string' }, labels: { type: 'string' }, data: { type: 'string' },
    epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, momentum: { type: 'string' },
    nesterov: { type: 'boolean' }, 'weight-decay': { type: 'string' }, 'no-bias-decay': { type: 'boolean' },
    'label-smoothing': { type: 'string' }, optimizer: { type: 'string' }, 'lr-schedule': { type: 'string' },
    'warmup-epochs': { type: 'string' }, 'no-augment': { type: 'boolean' }, 'no-shuffle': { type: 'boolean' },
    seed: { type: 'string' }, mixup: { type: 'string' }, accumulate: { type: 'string' }, 'base-lr': { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, save: { type: 'string' },
    size: { type: 'string' }, resize: { type: 'string' }, 'crop-scale': { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' },
    subset: { type: 'string' }, 'val-split': { type: 'string' }, half: { type: 'boolean' }, pretrained: { type: 'boolean' },
    'num-classes': { type: 'string' }, freeze: { type: 'string' }, 'dropblock-prob': { type: 'string' }, 'final-drop': { type: 'string' },
    'checkpoint-dir': { type: 'string' }, resume: { type: 'string' }, 'until-epoch': { type: 'string' }, 'auto-augment': { type: 'boolean' }, 'color-jitter': { type: 'string' }, workers: { type: 'string' }, log: { type: 'string' }, plot: { type: 'string' },
    quiet: { type: 'boolean' }, verbose: { type: 'boolean' },
  });
  if (p.positionals.length) throw new ArgumentError(`train: unexpected argument '${p.positionals[0]}' (usage: ${TRAIN_USAGE})`);
  const quiet = flag(p, 'quiet');
  let entry = await archFromArgs(p, 'train');
  const dataDir = str(p, 'data');
  if (dataDir && (str(p, 'inputs') || str(p, 'labels'))) throw new ArgumentError('train: give --data or --inputs/--labels, not both');
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
  let source: BatchSource, test: Dataset | null = null, classes: readonly string[] | null = null, pre: Preprocessing | null = null;
  let cropScale = 0.08, autoAug = false, colorJit = 0;
  let numLabels: number, arrayLabels: { labels: Int32Array; file: string } | null = null;
  if (dataDir) {
    const valSplit = str(p, 'val-split') !== undefined ? num(p, 'val-split', 0) : 0;
    if (valSplit >= 1) throw new ArgumentError(`--val-split must be in [0, 1), got ${valSplit}`);
    const openOpts = { valFraction: valSplit, seed: opts.seed, subset: int(p, 'subset') };
    const data = await openTrainingData(dataDir, openOpts);
    const trainSet = data.train;
    test = data.test;
    classes = trainSet.classes;
    numLabels = classes.length;
    const first = trainSet.image(0);
    const size = int(p, 'size') ?? Math.min(first.width, first.height);
    const resize = int(p, 'resize') ?? size;
    const stats = triple(p, 'mean') && triple(p, 'std') ? { mean: triple(p, 'mean')!, std: triple(p, 'std')! } : pixelStats(trainSet);
    const scaleLo = str(p, 'crop-scale') !== undefined ? num(p, 'crop-scale', 0.08) : 0.08;
    cropScale = scaleLo;
    if (!(scaleLo > 0 && scaleLo <= 1)) throw new ArgumentError(`--crop-scale must be in (0, 1], got ${scaleLo}`);
    pre = { size, resize, mean: stats.mean, std: stats.std };
    const jitter = str(p, 'color-jitter') !== undefined ? num(p, 'color-jitter', 0) : 0;
    const augment: AugmentOptions = {
      size, scale: opts.augment ? [scaleLo, 1] : null, hflip: opts.augment, mean: stats.mean, std: stats.std, seed: opts.seed,
      autoAugment: opts.augment && flag(p, 'auto-augment'), colorJitter: opts.augment ? jitter : 0,
    };
    autoAug = !!augment.autoAugment;
    colorJit = augment.colorJitter ?? 0;
    // The augmentation runs in a worker (the next batch is made while the kernels run) unless --workers 0.
    const workers = int(p, 'workers', 0) ?? 1;
    if (workers > 1) throw new ArgumentError('--workers is 0 (augment on the main thread) or 1 (one worker)');
    source = workers ? await workerSource(dataDir, openOpts, augment) : datasetSource(trainSet, augment);
    if (!flag(p, 'quiet')) {
      process.stderr.write(`data: ${trainSet.length} training images (${trainSet.source})${test ? `, ${test.length} test images` : ''}, ${numLabels} classes; `
        + `input ${size}×${size}, mean ${stats.mean.join('/')}, std ${stats.std.join('/')}\n`);
    }
  } else {
    const inputsPath = required(p, 'inputs', 'train'), labelsPath = required(p, 'labels', 'train');
    const raw = readNpy(await readBytes(inputsPath), inputsPath);
    if (raw.shape.length !== 4 || raw.shape[1] !== 3 || !raw.dtype.startsWith('float')) {
      throw new ShapeError(`${inputsPath}: images must be float NCHW with 3 channels, got ${raw.dtype} [${raw.shape.join(', ')}]`);
    }
    const images = toFloat32(raw, inputsPath);
    if (images.some((v) => !Number.isFinite(v))) throw new ShapeError(`${inputsPath}: holds NaN or Inf values`);
    const labels = labelArray(readNpy(await readBytes(labelsPath), labelsPath), labelsPath, raw.shape[0]!);
    numLabels = labels.reduce((a, b) => Math.max(a, b + 1), 0);
    source = arraySource(images, raw.shape, labels, opts);
    arrayLabels = { labels, file: labelsPath };
  }
  const weights = str(p, 'weights'), resumePath = str(p, 'resume'), pretrained = flag(p, 'pretrained');
  if ([weights, resumePath, pretrained].filter(Boolean).length > 1) throw new ArgumentError('train: give one of --weights / --pretrained (start from weights) or --resume (continue a run)');
  if (pretrained && !entry.sha256Prefix) throw new ArgumentError(`train --pretrained: '${entry.name}' has no published weights (see 'resnest list')`);
  const resumed = resumePath ? readCheckpoint(await readBytes(resumePath), resumePath) : null;
  let sd = resumed ? resumed.model : weights ? await loadWeightsFile(weights) : pretrained ? await pretrainedStateDict(entry.name, { progress: !quiet }) : null;
  // --num-classes: fine-tuning with a new head (fc re-initialised) when the weights' head has another size.
  const wanted = int(p, 'num-classes');
  const headOf = sd?.get('fc.weight')?.shape[0];
  const newHead = wanted !== undefined && headOf !== undefined && headOf !== wanted;
  if (newHead && resumed) throw new ArgumentError(`train --resume: the checkpoint has ${headOf} classes; --num-classes ${wanted} cannot change them`);
  if (newHead) sd = new Map([...sd!].filter(([k]) => k !== 'fc.weight' && k !== 'fc.bias'));
  const numClasses = wanted ?? headOf ?? entry.options.numClasses ?? (classes ? classes.length : 1000);
  if (arrayLabels) {
    const bad = arrayLabels.labels.findIndex((l) => l < 0 || l >= numClasses);
    if (bad >= 0) throw new ShapeError(`${arrayLabels.file}: label ${arrayLabels.labels[bad]} at index ${bad} is outside [0, ${numClasses})`);
  }
  if (numLabels > numClasses) throw new ShapeError(`${dataDir ?? str(p, 'labels')}: labels reach ${numLabels - 1}, outside the model's ${numClasses} classes${headOf ? ' (a new head: --num-classes N)' : ''}`);

  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  const dropblockEnd = str(p, 'dropblock-prob') !== undefined ? num(p, 'dropblock-prob', 0) : undefined;
  if (dropblockEnd !== undefined && dropblockEnd >= 1) throw new ArgumentError(`--dropblock-prob must be in [0, 1), got ${dropblockEnd}`);
  const finalDrop = str(p, 'final-drop') !== undefined ? num(p, 'final-drop', 0) : undefined;
  if (finalDrop !== undefined && finalDrop >= 1) throw new ArgumentError(`--final-drop must be in [0, 1), got ${finalDrop}`);
  if (dropblockEnd) entry = { ...entry, options: { ...entry.options, dropblockProb: dropblockEnd } };
  if (finalDrop !== undefined) entry = { ...entry, options: { ...entry.options, finalDrop } };
  opts.dropBlockProb = dropblockEnd || undefined;
  const model = createModel(entry, { backend, init: !sd || newHead, numClasses, seed: opts.seed });
  if (sd) {
    const where = `${entry.name} from ${resumePath ?? weights ?? 'pretrained weights'}`;
    if (newHead) {
      const r = model.loadStateDict(sd, { strict: false, where });
      const missing = r.missing.filter((k) => k !== 'fc.weight' && k !== 'fc.bias');
      if (missing.length || r.unexpected.length) model.loadStateDict(sd, { where }); // the strict load names what is wrong
    } else model.loadStateDict(sd, { where });
  }
  const freeze = str(p, 'freeze');
  if (freeze !== undefined && freeze !== 'backbone') throw new ArgumentError(`--freeze takes 'backbone' (train only the fc head), got '${freeze}'`);
  const steps = stepsPerEpoch(source.length, opts);
  // What a checkpoint records of the run; a resumed run must agree on what fixes the schedule.
  const runArgs: Record<string, PyValue> = {
    arch: configOf(entry, numClasses) as PyValue, data: dataDir ?? null, epochs: opts.epochs, batch_size: batchSize, accumulate,
    steps_per_epoch: steps, lr: new PyFloat(lr), momentum: new PyFloat(opts.momentum ?? 0), nesterov: !!opts.nesterov,
    weight_decay: new PyFloat(opts.weightDecay ?? 0), no_bias_decay: !!opts.noBiasDecay, label_smoothing: new PyFloat(opts.labelSmoothing ?? 0),
    mixup: new PyFloat(opts.mixup ?? 0), lr_schedule: schedule, warmup_epochs: new PyFloat(opts.warmupEpochs ?? 0), seed: opts.seed ?? 0,
    augment: !!opts.augment,
  };
  if (pre) {
    Object.assign(runArgs, {
      size: pre.size, resize: pre.resize, mean: pre.mean.map((v) => new PyFloat(v)), std: pre.std.map((v) => new PyFloat(v)),
      crop_scale: new PyFloat(cropScale), subset: int(p, 'subset') ?? null, auto_augment: autoAug, color_jitter: new PyFloat(colorJit),
    });
  }
  let start = { epoch: 0, step: 0 };
  if (resumed) {
    for (const k of ['epochs', 'steps_per_epoch', 'batch_size', 'accumulate', 'seed'] as const) {
      const was = resumed.args[k];
      if (was !== undefined && was !== runArgs[k]) throw new ArgumentError(`train --resume: ${resumePath} was made with ${k} ${String(was)}, this run has ${String(runArgs[k])}; resume with the same settings`);
    }
    start = { epoch: resumed.epoch, step: resumed.step - resumed.epoch * steps };
    if (resumed.epoch >= opts.epochs) throw new ArgumentError(`train --resume: ${resumePath} finished all ${opts.epochs} epochs already`);
    if (start.step < 0 || start.step >= steps) throw new FormatError(`training checkpoint: step ${resumed.step} is not in epoch ${resumed.epoch + 1} (${steps} steps per epoch)`, resumePath);
  }

  const progress = new Progress(process.stderr, quiet);
  const t0 = performance.now();
  let seen = 0, accuracy: number | null = null;
  model.train();
  // --freeze backbone: only fc learns; the backbone's BatchNorms keep their running statistics.
  if (freeze) freezeBackbone(model);
  const opt = makeOptimizer(model, opts);
  if (resumed) {
    if (!(opt instanceof SGD)) throw new ArgumentError('train --resume: only SGD runs can be resumed (the checkpoint holds torch.optim.SGD state)');
    opt.loadStateDict(resumed.optimizer, { file: resumePath });
    progress.line(`resuming ${resumePath}: epoch ${start.epoch + 1}, step ${start.step + 1} of ${steps}`);
  }
  const ckptDir = str(p, 'checkpoint-dir');
  if (ckptDir) await mkdir(ckptDir, { recursive: true });
  const writeCheckpoint = async (at: { epoch: number; step: number }) => {
    if (!ckptDir) return;
    const file = join(ckptDir, 'last.pth');
    await writeFileAtomic(file, await checkpointBytes(model, opt, { epoch: at.epoch, step: at.epoch * steps + at.step }, runArgs));
    progress.line(`checkpoint: ${file} (epoch ${Math.min(at.epoch + 1, opts.epochs)}, step ${at.epoch < opts.epochs ? at.step + 1 : steps})`);
  };
  // Ctrl-C: stop at the next step boundary, write the checkpoint, exit cleanly.
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress.line(`interrupted: finishing this step${ckptDir ? ' and writing a checkpoint' : ''} (Ctrl-C again to quit now)`);
  };
  process.on('SIGINT', onSigint);
  // --until-epoch: a planned stop (to move the run to scripts/train_ddp.py, say) with a checkpoint.
  const until = int(p, 'until-epoch');
  if (until !== undefined && (until >= opts.epochs || !ckptDir)) throw new ArgumentError(`--until-epoch must be below --epochs (${opts.epochs}) and needs --checkpoint-dir`);
  let planned = false;
  // Progress, the JSON-lines log and the curves (after every epoch).
  const logPath = str(p, 'log'), plotPath = str(p, 'plot') ?? (ckptDir ? join(ckptDir, 'curves.svg') : undefined);
  const logLines: string[] = [];
  const flushLog = async () => {
    if (logPath && logLines.length) await appendFile(logPath, logLines.splice(0).join(''));
  };
  if (logPath && !resumed) await writeFileAtomic(logPath, new Uint8Array(0));
  const curves = { losses: [] as number[], lrs: [] as number[], accuracies: [] as (number | null)[] };
  const remainingImages = () => (opts.epochs * steps - done) * batchSize * accumulate;
  let done = start.epoch * steps + start.step, runSteps = 0;
  const result = await trainLoop(model, opt, source, {
    ...opts,
    start,
    shouldStop: () => interrupted || planned,
    onStep: (s) => {
      seen += s.images;
      done++;
      runSteps++;
      curves.losses.push(s.loss);
      curves.lrs.push(s.lr);
      const ips = (seen / (performance.now() - t0)) * 1000;
      progress.step({ epoch: s.epoch + 1, epochs: opts.epochs, step: s.step + 1, steps: s.stepsPerEpoch, loss: s.loss, lr: s.lr, accuracy,
        imagesPerS: ips, dataMs: s.dataMs, etaS: runSteps > 2 ? remainingImages() / ips : NaN });
      if (logPath) logLines.push(JSON.stringify({ type: 'step', epoch: s.epoch + 1, step: s.step + 1, loss: s.loss, lr: s.lr, ms: Math.round(s.ms * 10) / 10, data_ms: Math.round(s.dataMs * 10) / 10, images: s.images }) + '\n');
    },
    onEpochEnd: async (e) => {
      if (e.epoch + 1 < opts.epochs) await writeCheckpoint({ epoch: e.epoch + 1, step: 0 });
      if (until !== undefined && e.epoch + 1 >= until) planned = true;
      let line = `epoch ${e.epoch + 1}/${opts.epochs}: mean loss ${e.meanLoss.toFixed(4)}`;
      let epochAcc: number | null = null;
      if (test && pre) {
        const te = performance.now();
        epochAcc = accuracy = evaluate(model, test, pre).accuracy;
        line += `, test accuracy ${(100 * accuracy).toFixed(2)} % (${test.length} images, ${((performance.now() - te) / 1000).toFixed(1)} s)`;
      }
      progress.line(`${line}, ${((performance.now() - t0) / 1000).toFixed(0)} s so far`);
      curves.accuracies[e.epoch - start.epoch] = epochAcc;
      if (logPath) logLines.push(JSON.stringify({ type: 'epoch', epoch: e.epoch + 1, loss: e.meanLoss, accuracy: epochAcc, seconds: Math.round((performance.now() - t0) / 100) / 10 }) + '\n');
      await flushLog();
      if (plotPath) {
        const svg = curvesSvg({ ...curves, stepsPerEpoch: steps, title: `resnest train: ${entry.name}${dataDir ? ` on ${dataDir}` : ''}${start.epoch ? ` (from epoch ${start.epoch + 1})` : ''}` });
        await writeFileAtomic(plotPath, new TextEncoder().encode(svg));
      }
    },
  }).finally(() => source.close?.());
  await flushLog();
  process.off('SIGINT', onSigint);
  opt.zeroGrad();
  if (result.stoppedAt) {
    // At an epoch's end the checkpoint is already written.
    if (result.stoppedAt.step !== 0) await writeCheckpoint(result.stoppedAt);
    console.log(`stopped at epoch ${result.stoppedAt.epoch + 1}, step ${result.stoppedAt.step + 1}${ckptDir ? `; continue with --resume ${join(ckptDir, 'last.pth')}` : ' (no --checkpoint-dir: nothing saved)'}`);
    model.dispose();
    if (!planned || interrupted) process.exitCode = 130;
    return;
  }
  await writeCheckpoint({ epoch: opts.epochs, step: 0 });
  let out: StateDict = await model.exportStateDict();
  if (flag(p, 'half')) out = new Map([...out].map(([k, t]) => [k, toHalf(t)]));
  const saved = saveTorch(out);
  await writeFileAtomic(save, saved);
  if (dataDir && pre && classes) {
    // The card's accuracy is that of the file as written (half precision, BatchNorm folded), as classify and eval will load it.
    if (test) {
      const shipped = await loadModel(entry, { weights: save, backend });
      accuracy = evaluate(shipped, test, pre).accuracy;
      shipped.dispose();
    }
    const meta = {
      resnet: configOf(entry, numClasses),
      // After the .pth is in place, before the card: see model-card.ts for why the card names its weights.
      weights: { size: saved.length, sha256: createHash('sha256').update(saved).digest('hex') },
      preprocess: { size: pre.size, resize: pre.resize, mean: pre.mean, std: pre.std },
      labels: classes,
      accuracy,
      command: ['resnest', 'train', ...argv].map((a) => (/^[\w./:=,-]+$/.test(a) ? a : `'${a}'`)).join(' '),
      seconds: Math.round((performance.now() - t0) / 1000),
      images_per_s: Math.round((seen / (performance.now() - t0)) * 1000 * 10) / 10,
    };
    await writeFileAtomic(save.replace(/\.pth$/, '') + '.json', new TextEncoder().encode(JSON.stringify(meta, null, 2) + '\n'));
  }
  const last = result.epochLosses[result.epochLosses.length - 1]!;
  console.log(`wrote ${save}: ${entry.name} after ${opts.epochs} epoch${opts.epochs > 1 ? 's' : ''} of ${steps} steps on ${backend.name}, `
    + `mean loss of the last epoch ${last.toFixed(4)}${accuracy !== null ? `, test accuracy ${(100 * (accuracy as number)).toFixed(2)} %` : ''}, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  model.dispose();
}
