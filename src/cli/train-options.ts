// The options of `resnest train` and the recipe they make, each checked with a message that
// names the option.

import { ArgumentError } from '../errors.js';
import { scaledLr } from '../train/schedule.js';
import type { TrainOptions } from '../train/trainer.js';
import { flag, int, num, parseArgs, required, str, type OptionSpec, type Parsed } from './args.js';

export const TRAIN_USAGE = 'resnest train --arch <name|cfg.json> [--weights W | --pretrained] [--num-classes N] [--freeze backbone] (--data DIR | --inputs X.npy --labels Y.npy) --epochs E --batch-size B (--lr L | --base-lr L) '
  + '[--momentum M] [--nesterov] [--weight-decay WD] [--no-bias-decay] [--label-smoothing S] [--optimizer sgd|adamw] '
  + '[--lr-schedule constant|cosine] [--warmup-epochs N] [--mixup ALPHA] [--accumulate K] [--no-augment] [--no-shuffle] [--seed N] '
  + '[--dropblock-prob P] [--final-drop P] [--size S] [--resize R] [--crop-scale LO] [--auto-augment] [--color-jitter J] [--mean M] [--std S] [--subset N] [--val-split F] [--workers 0|1] [--half] '
  + '[--checkpoint-dir D] [--resume D/last.pth] [--until-epoch E] [--log F.jsonl] [--plot F.svg] [--backend B] [--threads N] --save OUT.pth\n'
  + '       resnest train --arch <segmentation model> --data DIR (images/ + masks/) [--weights W | --backbone-weights W | --pretrained] [--num-classes N] --epochs E --batch-size B [--lr L] '
  + '[--momentum 0.9] [--weight-decay 1e-4] [--lr-schedule poly|constant] [--base-size 520] [--crop-size 480] [--aux-weight 0.2] [--accumulate K] [--no-augment] [--no-shuffle] [--no-eval] [--seed N] [--log F.jsonl] [--half] [--backend B] [--threads N] --save OUT.pth';

const TRAIN_OPTIONS: Record<string, OptionSpec> = {
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
  'backbone-weights': { type: 'string' }, 'base-size': { type: 'string' }, 'crop-size': { type: 'string' }, 'aux-weight': { type: 'string' }, 'no-eval': { type: 'boolean' },
};
/** Options only segmentation training reads (classification refuses them by name). */
const SEGMENTATION_ONLY = ['backbone-weights', 'base-size', 'crop-size', 'aux-weight', 'no-eval'];

export function parseTrainArgs(argv: string[]): Parsed {
  const p = parseArgs(argv, TRAIN_OPTIONS);
  if (p.positionals.length) throw new ArgumentError(`train: unexpected argument '${p.positionals[0]}' (usage: ${TRAIN_USAGE})`);
  return p;
}

/** The recipe, with what a checkpoint records of it always set. */
export type Recipe = TrainOptions & Required<Pick<TrainOptions, 'accumulate' | 'schedule' | 'seed'>>;

/** Classification's recipe: the segmentation-only options are refused by name. */
export function recipeOptions(p: Parsed): Recipe {
  const seg = SEGMENTATION_ONLY.find((k) => p.values.has(k));
  if (seg) throw new ArgumentError(`train: --${seg} is for segmentation networks (--arch fcn_… / deeplab_…)`);
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
  const opts: Recipe = {
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
  return opts;
}

/** --dropblock-prob (where the schedule ramps DropBlock to) and --final-drop (dropout before fc). */
export function dropOptions(p: Parsed): { dropblockProb: number | undefined; finalDrop: number | undefined } {
  const dropblockProb = str(p, 'dropblock-prob') !== undefined ? num(p, 'dropblock-prob', 0) : undefined;
  if (dropblockProb !== undefined && dropblockProb >= 1) throw new ArgumentError(`--dropblock-prob must be in [0, 1), got ${dropblockProb}`);
  const finalDrop = str(p, 'final-drop') !== undefined ? num(p, 'final-drop', 0) : undefined;
  if (finalDrop !== undefined && finalDrop >= 1) throw new ArgumentError(`--final-drop must be in [0, 1), got ${finalDrop}`);
  return { dropblockProb, finalDrop };
}

/** --freeze backbone: whether only the fc head trains. */
export function freezeOption(p: Parsed): boolean {
  const freeze = str(p, 'freeze');
  if (freeze !== undefined && freeze !== 'backbone') throw new ArgumentError(`--freeze takes 'backbone' (train only the fc head), got '${freeze}'`);
  return freeze !== undefined;
}
