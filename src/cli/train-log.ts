// What a run reports as it goes: the progress line, the JSON-lines log (--log) and the curves
// (--plot, else curves.svg in the checkpoint directory), after every epoch.

import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/files.js';
import type { Module } from '../nn/module.js';
import { evaluate } from '../train/evaluate.js';
import type { EpochInfo, StepInfo } from '../train/trainer.js';
import { curvesSvg } from '../viz/curves-svg.js';
import { str, type Parsed } from './args.js';
import type { Progress } from './progress.js';
import type { RunPoint } from './train-checkpoint.js';
import type { DataSetRun } from './train-data.js';
import type { Recipe } from './train-options.js';

export interface RunLog {
  onStep(s: StepInfo): void;
  onEpochEnd(e: EpochInfo): Promise<void>;
  /** Writes the log lines not written yet. */
  flush(): Promise<void>;
  /** Images trained on in this run. */
  readonly seen: number;
  /** The test accuracy after the last epoch (data sets with a test split). */
  readonly accuracy: number | null;
}

export interface RunLogOptions {
  model: Module;
  name: string;
  set: DataSetRun | null;
  opts: Recipe;
  steps: number;
  start: RunPoint;
  resumed: boolean;
  ckptDir: string | undefined;
  progress: Progress;
  /** When the run began (performance.now()). */
  t0: number;
}

export async function runLog(p: Parsed, o: RunLogOptions): Promise<RunLog> {
  const { model, set, opts, steps, start, progress, t0 } = o;
  let seen = 0, accuracy: number | null = null;
  const logPath = str(p, 'log'), plotPath = str(p, 'plot') ?? (o.ckptDir ? join(o.ckptDir, 'curves.svg') : undefined);
  const logLines: string[] = [];
  const flushLog = async () => {
    if (logPath && logLines.length) await appendFile(logPath, logLines.splice(0).join(''));
  };
  if (logPath && !o.resumed) await writeFileAtomic(logPath, new Uint8Array(0));
  const curves = { losses: [] as number[], lrs: [] as number[], accuracies: [] as (number | null)[] };
  const remainingImages = () => (opts.epochs * steps - done) * opts.batchSize * opts.accumulate;
  let done = start.epoch * steps + start.step, runSteps = 0;
  return {
    get seen() {
      return seen;
    },
    get accuracy() {
      return accuracy;
    },
    flush: flushLog,
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
      let line = `epoch ${e.epoch + 1}/${opts.epochs}: mean loss ${e.meanLoss.toFixed(4)}`;
      let epochAcc: number | null = null;
      if (set?.test) {
        const te = performance.now();
        epochAcc = accuracy = (await evaluate(model, set.test, set.pre)).accuracy;
        line += `, test accuracy ${(100 * accuracy).toFixed(2)} % (${set.test.length} images, ${((performance.now() - te) / 1000).toFixed(1)} s)`;
      }
      progress.line(`${line}, ${((performance.now() - t0) / 1000).toFixed(0)} s so far`);
      curves.accuracies[e.epoch - start.epoch] = epochAcc;
      if (logPath) logLines.push(JSON.stringify({ type: 'epoch', epoch: e.epoch + 1, loss: e.meanLoss, accuracy: epochAcc, seconds: Math.round((performance.now() - t0) / 100) / 10 }) + '\n');
      await flushLog();
      if (plotPath) {
        const svg = curvesSvg({ ...curves, stepsPerEpoch: steps, title: `resnest train: ${o.name}${set ? ` on ${set.dir}` : ''}${start.epoch ? ` (from epoch ${start.epoch + 1})` : ''}` });
        await writeFileAtomic(plotPath, new TextEncoder().encode(svg));
      }
    },
  };
}
