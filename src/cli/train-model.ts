// The network `resnest train` trains: on the chosen backend, with the recipe's dropout, from
// the starting weights.

import type { Backend } from '../backend/backend.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import type { ResNet } from '../models/resnest/resnet.js';
import { createModel, type ZooEntry } from '../models/resnest/zoo.js';
import type { Module } from '../nn/module.js';
import { int, str, type Parsed } from './args.js';
import { dropOptions } from './train-options.js';
import type { StartWeights } from './train-weights.js';

export interface TrainedModel {
  model: ResNet;
  /** The architecture with --dropblock-prob and --final-drop, as the checkpoint and card record it. */
  entry: ZooEntry;
  backend: Backend;
  /** Where the schedule ramps DropBlock to. */
  dropBlockProb: number | undefined;
}

export async function buildModel(p: Parsed, arch: ZooEntry, start: StartWeights, seed: number): Promise<TrainedModel> {
  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  const { dropblockProb, finalDrop } = dropOptions(p);
  let entry = arch;
  if (dropblockProb) entry = { ...entry, options: { ...entry.options, dropblockProb } };
  if (finalDrop !== undefined) entry = { ...entry, options: { ...entry.options, finalDrop } };
  const { sd, newHead, numClasses } = start;
  const model = createModel(entry, { backend, init: !sd || newHead, numClasses, seed });
  if (sd) {
    const where = `${entry.name} from ${start.from}`;
    if (newHead) {
      const r = model.loadStateDict(sd, { strict: false, where });
      const missing = r.missing.filter((k) => k !== 'fc.weight' && k !== 'fc.bias');
      if (missing.length || r.unexpected.length) model.loadStateDict(sd, { where }); // the strict load names what is wrong
    } else model.loadStateDict(sd, { where });
  }
  return { model, entry, backend, dropBlockProb: dropblockProb || undefined };
}

/** Only the head trains: every other parameter stops requiring grad and every other module runs in eval mode. */
export function freezeBackbone(model: Module): void {
  for (const [name, t] of model.namedParameters()) if (!name.startsWith('fc.')) t.requiresGrad = false;
  for (const [name, m] of model.namedModules()) if (name !== '' && name !== 'fc') m.training = false;
}
