// Stopping a run before its last epoch, with a checkpoint to continue from: Ctrl-C or
// --until-epoch.

import { join } from 'node:path';
import { ArgumentError } from '../errors.js';
import { int, type Parsed } from './args.js';
import type { CheckpointWriter, RunPoint } from './train-checkpoint.js';
import type { Progress } from './progress.js';

export interface StopRequests {
  /** Whether the loop should stop at this step boundary. */
  requested(): boolean;
  epochEnded(epoch: number): void;
  /** Stopped by Ctrl-C rather than at the planned --until-epoch: exit code 130. */
  unplanned(): boolean;
  /** The run is over: Ctrl-C is Node's again. */
  release(): void;
}

export function stopRequests(p: Parsed, ckptDir: string | undefined, epochs: number, progress: Progress): StopRequests {
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
  if (until !== undefined && (until >= epochs || !ckptDir)) throw new ArgumentError(`--until-epoch must be below --epochs (${epochs}) and needs --checkpoint-dir`);
  let planned = false;
  return {
    requested: () => interrupted || planned,
    epochEnded: (epoch) => {
      if (until !== undefined && epoch + 1 >= until) planned = true;
    },
    unplanned: () => !planned || interrupted,
    release: () => process.off('SIGINT', onSigint),
  };
}

/** The checkpoint of a stopped run and how to continue it. */
export async function saveStopped(at: RunPoint, ckptDir: string | undefined, writeCheckpoint: CheckpointWriter): Promise<void> {
  // At an epoch's end the checkpoint is already written.
  if (at.step !== 0) await writeCheckpoint(at);
  console.log(`stopped at epoch ${at.epoch + 1}, step ${at.step + 1}${ckptDir ? `; continue with --resume ${join(ckptDir, 'last.pth')}` : ' (no --checkpoint-dir: nothing saved)'}`);
}
