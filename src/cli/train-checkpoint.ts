// Training checkpoints (--checkpoint-dir D: D/last.pth): what one records of the run, what a
// resumed run must agree on with it, and the writer.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentError, FormatError } from '../errors.js';
import { writeFileAtomic } from '../io/files.js';
import { PyFloat, type PyValue } from '../io/torch-save.js';
import { configOf, type ZooEntry } from '../models/resnest/zoo.js';
import type { Module } from '../nn/module.js';
import { checkpointBytes } from '../train/checkpoint.js';
import { SGD, type AdamW } from '../train/optim.js';
import type { Progress } from './progress.js';
import type { TrainingData } from './train-data.js';
import type { Recipe } from './train-options.js';
import type { StartWeights } from './train-weights.js';

export type RunArgs = Record<string, PyValue>;

/** Where a run starts (or stopped): the epoch and the step within it. */
export interface RunPoint {
  epoch: number;
  step: number;
}

// What a checkpoint records of the run; a resumed run must agree on what fixes the schedule.
export function runArgsOf(entry: ZooEntry, numClasses: number, data: TrainingData, opts: Recipe, steps: number): RunArgs {
  const runArgs: RunArgs = {
    arch: configOf(entry, numClasses) as PyValue, data: data.set?.dir ?? null, epochs: opts.epochs, batch_size: opts.batchSize, accumulate: opts.accumulate,
    steps_per_epoch: steps, lr: new PyFloat(opts.lr), momentum: new PyFloat(opts.momentum ?? 0), nesterov: !!opts.nesterov,
    weight_decay: new PyFloat(opts.weightDecay ?? 0), no_bias_decay: !!opts.noBiasDecay, label_smoothing: new PyFloat(opts.labelSmoothing ?? 0),
    mixup: new PyFloat(opts.mixup ?? 0), lr_schedule: opts.schedule, warmup_epochs: new PyFloat(opts.warmupEpochs ?? 0), seed: opts.seed,
    augment: !!opts.augment,
  };
  const set = data.set;
  if (set) {
    Object.assign(runArgs, {
      size: set.pre.size, resize: set.pre.resize, mean: set.pre.mean.map((v) => new PyFloat(v)), std: set.pre.std.map((v) => new PyFloat(v)),
      crop_scale: new PyFloat(set.cropScale), subset: set.subset ?? null, auto_augment: set.autoAugment, color_jitter: new PyFloat(set.colorJitter),
    });
  }
  return runArgs;
}

/** Where the run starts: the checkpoint's epoch and step for --resume, else the beginning. */
export function startPoint(resume: StartWeights['resume'], runArgs: RunArgs, steps: number, epochs: number): RunPoint {
  if (!resume) return { epoch: 0, step: 0 };
  const { checkpoint: resumed, file: resumePath } = resume;
  for (const k of ['epochs', 'steps_per_epoch', 'batch_size', 'accumulate', 'seed'] as const) {
    const was = resumed.args[k];
    if (was !== undefined && was !== runArgs[k]) throw new ArgumentError(`train --resume: ${resumePath} was made with ${k} ${String(was)}, this run has ${String(runArgs[k])}; resume with the same settings`);
  }
  const start = { epoch: resumed.epoch, step: resumed.step - resumed.epoch * steps };
  if (resumed.epoch >= epochs) throw new ArgumentError(`train --resume: ${resumePath} finished all ${epochs} epochs already`);
  if (start.step < 0 || start.step >= steps) throw new FormatError(`training checkpoint: step ${resumed.step} is not in epoch ${resumed.epoch + 1} (${steps} steps per epoch)`, resumePath);
  return start;
}

export function resumeOptimizer(opt: SGD | AdamW, resume: NonNullable<StartWeights['resume']>, start: RunPoint, steps: number, progress: Progress): void {
  if (!(opt instanceof SGD)) throw new ArgumentError('train --resume: only SGD runs can be resumed (the checkpoint holds torch.optim.SGD state)');
  opt.loadStateDict(resume.checkpoint.optimizer, { file: resume.file });
  progress.line(`resuming ${resume.file}: epoch ${start.epoch + 1}, step ${start.step + 1} of ${steps}`);
}

export type CheckpointWriter = (at: RunPoint) => Promise<void>;

/** Writes D/last.pth at a point of the run; without --checkpoint-dir, nothing. */
export async function checkpointWriter(ckptDir: string | undefined, model: Module, opt: SGD | AdamW, runArgs: RunArgs, steps: number, epochs: number,
  progress: Progress): Promise<CheckpointWriter> {
  if (ckptDir) await mkdir(ckptDir, { recursive: true });
  return async (at) => {
    if (!ckptDir) return;
    const file = join(ckptDir, 'last.pth');
    await writeFileAtomic(file, await checkpointBytes(model, opt, { epoch: at.epoch, step: at.epoch * steps + at.step }, runArgs));
    progress.line(`checkpoint: ${file} (epoch ${Math.min(at.epoch + 1, epochs)}, step ${at.epoch < epochs ? at.step + 1 : steps})`);
  };
}
