// resnest train: train on arrays (--inputs/--labels .npy) or on a data set (--data: an IDX
// directory or an image folder, augmented), evaluating on its test split after each epoch,
// and write the model's state dict as torch.save does (the seed's keys, running stats,
// num_batches_tracked) with, for data sets, a JSON beside it that says how to use it.

import { makeOptimizer, stepsPerEpoch, trainLoop } from '../train/trainer.js';
import { flag, required, str } from './args.js';
import { archFromArgs } from './model.js';
import { Progress } from './progress.js';
import { checkpointWriter, resumeOptimizer, runArgsOf, startPoint } from './train-checkpoint.js';
import { checkLabels, dataDirOf, trainingData } from './train-data.js';
import { runLog } from './train-log.js';
import { buildModel, freezeBackbone } from './train-model.js';
import { freezeOption, parseTrainArgs, recipeOptions } from './train-options.js';
import { saveCard, saveWeights } from './train-save.js';
import { saveStopped, stopRequests } from './train-stop.js';
import { trainSegmentation } from './train-segmentation.js';
import { isSegmentationArch } from '../models/segmentation/zoo.js';
import { startWeights } from './train-weights.js';

export { TRAIN_USAGE } from './train-options.js';

export async function train(argv: string[]): Promise<void> {
  const p = parseTrainArgs(argv);
  if (isSegmentationArch(str(p, 'arch') ?? '')) return trainSegmentation(p);
  const quiet = flag(p, 'quiet');
  const arch = await archFromArgs(p, 'train');
  const dataDir = dataDirOf(p);
  const save = required(p, 'save', 'train');
  const opts = recipeOptions(p);

  // Data and weights are read and checked before anything is built.
  const data = await trainingData(p, dataDir, opts);
  const weights = await startWeights(p, arch, data.set?.classes ?? null, quiet);
  const { numClasses, resume } = weights;
  checkLabels(data, numClasses, weights.headOf);

  const { model, entry, backend, dropBlockProb } = await buildModel(p, arch, weights, opts.seed);
  opts.dropBlockProb = dropBlockProb;
  const freeze = freezeOption(p);
  const steps = stepsPerEpoch(data.source.length, opts);
  const runArgs = runArgsOf(entry, numClasses, data, opts, steps);
  const start = startPoint(resume, runArgs, steps, opts.epochs);

  const progress = new Progress(process.stderr, quiet);
  const t0 = performance.now();
  model.train();
  // --freeze backbone: only fc learns; the backbone's BatchNorms keep their running statistics.
  if (freeze) freezeBackbone(model);
  const opt = makeOptimizer(model, opts);
  if (resume) resumeOptimizer(opt, resume, start, steps, progress);
  const ckptDir = str(p, 'checkpoint-dir');
  const writeCheckpoint = await checkpointWriter(ckptDir, model, opt, runArgs, steps, opts.epochs, progress);
  const stop = stopRequests(p, ckptDir, opts.epochs, progress);
  const log = await runLog(p, { model, name: entry.name, set: data.set, opts, steps, start, resumed: !!resume, ckptDir, progress, t0 });
  const result = await trainLoop(model, opt, data.source, {
    ...opts,
    start,
    shouldStop: stop.requested,
    onStep: log.onStep,
    onEpochEnd: async (e) => {
      if (e.epoch + 1 < opts.epochs) await writeCheckpoint({ epoch: e.epoch + 1, step: 0 });
      stop.epochEnded(e.epoch);
      await log.onEpochEnd(e);
    },
  }).finally(() => data.source.close?.());
  await log.flush();
  stop.release();
  opt.zeroGrad();
  if (result.stoppedAt) {
    await saveStopped(result.stoppedAt, ckptDir, writeCheckpoint);
    model.dispose();
    if (stop.unplanned()) process.exitCode = 130;
    return;
  }

  await writeCheckpoint({ epoch: opts.epochs, step: 0 });
  const saved = await saveWeights(model, save, flag(p, 'half'));
  const accuracy = data.set ? await saveCard(save, saved, data.set, { entry, numClasses, backend, argv, accuracy: log.accuracy, seen: log.seen, t0 }) : log.accuracy;
  const last = result.epochLosses[result.epochLosses.length - 1]!;
  console.log(`wrote ${save}: ${entry.name} after ${opts.epochs} epoch${opts.epochs > 1 ? 's' : ''} of ${steps} steps on ${backend.name}, `
    + `mean loss of the last epoch ${last.toFixed(4)}${accuracy !== null ? `, test accuracy ${(100 * accuracy).toFixed(2)} %` : ''}, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  model.dispose();
}
