// Loading the model a CLI command asks for: architecture, weights (file or pretrained),
// backend and options, with one-line errors for every way that can go wrong.

import { ArgumentError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import type { ResNet } from '../models/resnest/resnet.js';
import { zooEntry } from '../models/resnest/zoo.js';
import { loadModel } from '../node.js';
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

export async function modelFromArgs(p: Parsed, command: string): Promise<ResNet> {
  const arch = str(p, 'arch');
  if (!arch) throw new ArgumentError(`${command}: --arch is required (see 'resnest list')`);
  zooEntry(arch); // unknown names fail here, before any file is read
  const weights = str(p, 'weights');
  const pretrained = flag(p, 'pretrained');
  if (!weights && !pretrained) throw new ArgumentError(`${command}: give --weights <file.pth|.safetensors> or --pretrained`);
  if (weights && pretrained) throw new ArgumentError(`${command}: give either --weights or --pretrained, not both`);
  const dilation = int(p, 'dilation');
  if (dilation !== undefined && ![1, 2, 4].includes(dilation)) throw new ArgumentError(`--dilation must be 1, 2 or 4, got ${dilation}`);
  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  return loadModel(arch, {
    ...(weights ? { weights } : { pretrained: true }),
    ...(dilation ? { dilation } : {}),
    backend,
    download: { progress: true },
  });
}
