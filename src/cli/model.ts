// Loading the model a CLI command asks for: architecture, weights (file or pretrained),
// backend and options, with one-line errors for every way that can go wrong.

import { ArgumentError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import type { ResNet } from '../models/resnest/resnet.js';
import type { ZooEntry } from '../models/resnest/zoo.js';
import { cardPathFor, defaultModelPaths, loadDefaultModel, loadModel, readModelCard, resolveArch } from '../node.js';
import { archFromConfig } from '../models/resnest/zoo.js';
import { IMAGENET_CLASSES } from '../data/imagenet-classes.js';
import { zooPreprocessing, type Preprocessing } from '../train/evaluate.js';
import { flag, int, str, type Parsed } from './args.js';

export const MODEL_OPTIONS = {
  arch: { type: 'string' },
  weights: { type: 'string' },
  pretrained: { type: 'boolean' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  dilation: { type: 'string' },
  verbose: { type: 'boolean' },
} as const;

/** --arch: a zoo name or a JSON file of the seed's ResNet keyword arguments. */
export async function archFromArgs(p: Parsed, command: string, fallback?: string): Promise<ZooEntry> {
  const arch = str(p, 'arch') ?? fallback;
  if (!arch) throw new ArgumentError(`${command}: --arch is required: a zoo name (see 'resnest list') or a .json file of ResNet arguments`);
  return resolveArch(arch);
}

export async function modelFromArgs(p: Parsed, command: string, entry?: ZooEntry, fuse = true): Promise<ResNet> {
  const arch = entry ?? (await archFromArgs(p, command)); // unknown names fail here, before any weights are read
  const weights = str(p, 'weights');
  const pretrained = flag(p, 'pretrained');
  if (!weights && !pretrained) throw new ArgumentError(`${command}: give --weights <file.pth|.safetensors> or --pretrained`);
  if (weights && pretrained) throw new ArgumentError(`${command}: give either --weights or --pretrained, not both`);
  if (pretrained && arch.name.endsWith('.json')) throw new ArgumentError(`${command}: --pretrained needs a zoo name; ${arch.name} has no published weights`);
  const dilation = int(p, 'dilation');
  if (dilation !== undefined && ![1, 2, 4].includes(dilation)) throw new ArgumentError(`--dilation must be 1, 2 or 4, got ${dilation}`);
  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  return loadModel(arch, {
    ...(weights ? { weights } : { pretrained: true }),
    ...(dilation ? { dilation } : {}),
    backend,
    download: { progress: true },
    fuse,
  });
}

export interface ResolvedModel {
  model: ResNet;
  /** Preprocessing the model expects (its card's, else the zoo's ImageNet evaluation). */
  pre: Preprocessing;
  labels: readonly string[] | null;
  /** What was loaded, for messages. */
  what: string;
}

/**
 * The model of classify / eval / explain: the embedded default when no model is named;
 * otherwise --arch and --weights/--pretrained, with the card beside the weights (if any)
 * supplying preprocessing and labels, and supplying the architecture when --arch is absent.
 */
export async function resolveModel(p: Parsed, command: string, opts: { fuse?: boolean } = {}): Promise<ResolvedModel> {
  const fuse = opts.fuse ?? true;
  const weights = str(p, 'weights');
  const threads = int(p, 'threads');
  if (!str(p, 'arch') && !weights && !flag(p, 'pretrained')) {
    const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
    const { model, card } = await loadDefaultModel({ backend, fuse });
    return { model, pre: card.preprocess, labels: card.labels, what: `the default model (${defaultModelPaths().weights})` };
  }
  const card = weights ? await readModelCard(weights) : null;
  const entry = str(p, 'arch') ? await archFromArgs(p, command) : card ? archFromConfig(card.resnet, cardPathFor(weights!)) : await archFromArgs(p, command);
  const model = await modelFromArgs(p, command, entry, fuse);
  const pre: Preprocessing = card?.preprocess ?? zooPreprocessing(entry);
  const labels = card?.labels ?? (model.options.numClasses === IMAGENET_CLASSES.length ? IMAGENET_CLASSES : null);
  return { model, pre, labels, what: `${entry.name}${weights ? ` from ${weights}` : ' (pretrained)'}` };
}
