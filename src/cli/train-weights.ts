// Where training starts: --weights (a file), --pretrained (the zoo's), --resume (a training
// checkpoint, optimizer state included) or nothing (initialised); and how many classes the
// head has.

import { ArgumentError } from '../errors.js';
import { readBytes } from '../io/files.js';
import type { StateDict } from '../io/raw.js';
import type { ZooEntry } from '../models/resnest/zoo.js';
import { loadWeightsFile, pretrainedStateDict } from '../node.js';
import { readCheckpoint, type TrainingCheckpoint } from '../train/checkpoint.js';
import { flag, int, str, type Parsed } from './args.js';

export interface StartWeights {
  sd: StateDict | null;
  /** --resume: the run being continued. */
  resume: { checkpoint: TrainingCheckpoint; file: string } | null;
  /** Where sd comes from, for messages. */
  from: string;
  /** fc is initialised afresh: the weights' head has another size than --num-classes. */
  newHead: boolean;
  /** The classes of the weights' head, if they have one. */
  headOf: number | undefined;
  numClasses: number;
}

export async function startWeights(p: Parsed, entry: ZooEntry, classes: readonly string[] | null, quiet: boolean): Promise<StartWeights> {
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
  return {
    sd, resume: resumed && resumePath ? { checkpoint: resumed, file: resumePath } : null,
    from: resumePath ?? weights ?? 'pretrained weights', newHead, headOf, numClasses,
  };
}
