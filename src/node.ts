// resnest-ts for Node: everything in the universal entry, plus files, the pretrained-weights
// cache and model loading by name.

import { loadCheckpoint } from './io/checkpoint.js';
import { downloadToCache, type DownloadOptions } from './io/download.js';
import { toolkitCheckpoint } from './io/toolkit-download.js';
import { fileSource, readBytes, sha256File } from './io/files.js';
import { loadTorchLazy } from './io/torch.js';
import { isZip } from './io/zip.js';
import { memorySource } from './io/source.js';
import { findWrappedCheckpoint, readWrappedMember } from './io/wrapped-checkpoint.js';
import { checkSha1Arg, sha1File, sha1Hex } from './io/toolkit-download.js';
import type { StateDict } from './io/raw.js';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError, FileError } from './errors.js';
import { createSegmentationModel, segArch, segClassesOf, SEG_ZOO } from './models/segmentation/zoo.js';
import type { SegNet } from './models/segmentation/segnet.js';
import { cardPathFor, isModelCardText, parseModelCard, type ModelCard } from './io/model-card.js';
import { archFromConfig, createModel, weightsUrl, zooEntry, type CreateOptions, type ZooEntry } from './models/resnest/zoo.js';
import { FormatError } from './errors.js';
import type { ResNet } from './models/resnest/resnet.js';
import type { Backend } from './backend/backend.js';

export * from './index.js';
export { cacheDir, downloadToCache, pretrainedFileName, type DownloadOptions } from './io/download.js';
export { readBytes, writeFileAtomic, fileSource } from './io/files.js';
export { loadTorchLazy } from './io/torch.js';
export { cardPathFor, parseModelCard, type ModelCard } from './io/model-card.js';
export { findWrappedCheckpoint, readWrappedMember, unwrapCheckpointZip, MAX_WRAPPED_BYTES, type WrappedMember, type UnwrapOptions } from './io/wrapped-checkpoint.js';
export { toolkitCheckpoint, toolkitUrl, sha1Hex, sha1File, TOOLKIT_BASE_URL, type ToolkitOptions } from './io/toolkit-download.js';

export interface LoadWeightsOptions {
  /**
   * The expected SHA-1 (40 hex digits) of the checkpoint: of the file, or of the .pth inside
   * a wrapper zip, as the segmentation toolkit publishes it. A mismatch is a FormatError.
   */
  sha1?: string;
}

/**
 * Reads a .pth (zip or legacy) or .safetensors file into a state dict. Zip-format .pth files
 * (torch ≥ 1.6, the seed's weights) are read lazily: the structure is checked at once, and
 * each tensor's bytes are read when it is loaded into a model, so a 110 MB checkpoint is
 * never held in memory whole. The segmentation toolkit's `{name}-{sha1[:8]}.zip`, a zip
 * holding one .pth, is read through to that .pth (errors inside it name `zip:member`).
 */
export async function loadWeightsFile(path: string, opts: LoadWeightsOptions = {}): Promise<StateDict> {
  const want = opts.sha1 === undefined ? undefined : checkSha1Arg(opts.sha1);
  const checkSha1 = (got: string, what: string) => {
    if (want && got !== want) throw new FormatError(`sha1 mismatch: expected ${want}, got ${got}`, what);
  };
  const src = fileSource(path);
  if (src.size >= 4 && isZip(src.read(0, 4))) {
    const member = findWrappedCheckpoint(src, path);
    if (!member) {
      if (want) checkSha1(await sha1File(path), path);
      return loadTorchLazy(src, path);
    }
    const inner = `${path}:${member.name}`;
    const e = member.entry;
    // A stored torch.save member is read in place, lazily, like a plain .pth: its records'
    // own CRC-32s guard its bytes. Hashing needs the whole member anyway.
    if (e.method === 0 && !want && e.size >= 4 && isZip(src.read(e.offset, 4))) {
      return loadTorchLazy({ size: e.size, read: (offset, length) => src.read(e.offset + offset, length) }, inner);
    }
    const bytes = readWrappedMember(src, member, path);
    if (want) checkSha1(sha1Hex(bytes), inner);
    return isZip(bytes) ? loadTorchLazy(memorySource(bytes), inner) : loadCheckpoint(bytes, inner);
  }
  if (want) checkSha1(await sha1File(path), path);
  return loadCheckpoint(await readBytes(path), path);
}

/**
 * Downloads (once, into the cache) and reads the seed's published checkpoint for `name`.
 * $RESNEST_WEIGHTS_URL replaces the release URL's folder (a mirror, or a local server in tests).
 */
export async function pretrainedStateDict(name: string, opts: Omit<DownloadOptions, 'sha256Prefix' | 'sha256'> = {}): Promise<StateDict> {
  const entry = zooEntry(name);
  const url = weightsUrl(entry, process.env.RESNEST_WEIGHTS_URL || undefined);
  if (!url) {
    const alt = entry.sameAs && weightsUrl(zooEntry(entry.sameAs)) ? `; '${entry.sameAs}' is the same network with published weights` : '';
    throw new ArgumentError(`no published weights for '${name}'${entry.hub ? ` here (timm publishes them as ${entry.hub})` : ''}${alt}`);
  }
  const path = await downloadToCache(url, { ...opts, sha256Prefix: entry.sha256Prefix, sha256: entry.sha256 });
  return loadWeightsFile(path);
}

/**
 * What `--arch` names: a zoo network, or a JSON file of the seed's ResNet keyword arguments
 * (any argument ending in .json, or a path that exists as a file).
 */
export async function resolveArch(arch: string): Promise<ZooEntry> {
  if (!arch.endsWith('.json')) return zooEntry(arch);
  const bytes = await readBytes(arch);
  let cfg: unknown;
  try {
    cfg = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, arch);
  }
  // A model card (the JSON beside a trained .pth) names its architecture under "resnet".
  const inner = cfg && typeof cfg === 'object' && 'resnet' in cfg ? (cfg as { resnet: unknown }).resnet : cfg;
  return archFromConfig(inner, arch);
}

/** The embedded default model: models/default.pth and its card, shipped in the package. */
export function defaultModelPaths(): { weights: string; card: string } {
  // dist/*.js sit one folder below the package root, the tests' build/src/*.js two.
  const here = dirname(fileURLToPath(import.meta.url));
  const found = [join(here, '..', 'models'), join(here, '..', '..', 'models')].find((d) => existsSync(join(d, 'default.pth')));
  const weights = join(found ?? join(here, '..', 'models'), 'default.pth');
  return { weights, card: cardPathFor(weights) };
}

/**
 * The card beside a weights file, or null when there is none. A card that names its weights
 * (size and sha256, see model-card.ts) must name these: a pair left by an interrupted
 * `resnest train`, or a card copied beside other weights, is a FormatError naming both files.
 */
export async function readModelCard(weights: string): Promise<ModelCard | null> {
  const file = cardPathFor(weights);
  if (!existsSync(file)) return null;
  const text = new TextDecoder().decode(await readBytes(file));
  if (!isModelCardText(text)) return null; // e.g. the --arch file of ResNet arguments, named like the weights
  const card = parseModelCard(text, file);
  if (card.weights) {
    let size: number;
    try {
      size = statSync(weights).size;
    } catch {
      throw new FileError('cannot read: no such file', weights);
    }
    // The size first: it settles a truncated or different file without reading it.
    const sha256 = size === card.weights.size ? await sha256File(weights) : undefined;
    if (sha256 !== card.weights.sha256) {
      throw new FormatError(
        `model card was written for other weights than ${weights} (card: ${card.weights.size} bytes, sha256 ${card.weights.sha256.slice(0, 16)}…; ` +
          `file: ${size} bytes${sha256 ? `, sha256 ${sha256.slice(0, 16)}…` : ''}): an interrupted or different run; retrain, or move the card away to use the weights without it`,
        file,
      );
    }
  }
  return card;
}

/**
 * The embedded default model (a ResNeSt trained on Fashion-MNIST by `resnest train`, see its
 * card), in eval mode, with its card (preprocessing and labels).
 */
export async function loadDefaultModel(opts: Omit<LoadModelOptions, 'weights' | 'pretrained'> = {}): Promise<{ model: ResNet; card: ModelCard }> {
  const { weights, card: cardFile } = defaultModelPaths();
  if (!existsSync(weights)) throw new FileError('the default model is missing from this installation', weights);
  const card = await readModelCard(weights);
  if (!card) throw new FileError('the default model has no card', cardFile);
  const model = await loadModel(archFromConfig(card.resnet, cardFile), { ...opts, weights });
  return { model, card };
}

export interface LoadModelOptions extends Omit<CreateOptions, 'init'> {
  /** A checkpoint file (.pth or .safetensors). */
  weights?: string;
  /** Use the seed's published weights (downloaded into the cache). */
  pretrained?: boolean;
  download?: Omit<DownloadOptions, 'sha256Prefix' | 'sha256'>;
  /** Fold BatchNorm into the convs in place (default true); false keeps every module, e.g. to watch bn0 / bn1 run. */
  fuse?: boolean;
}

/** A zoo network with its weights loaded (strictly), in eval mode, BatchNorm folded in place (an inference model). */
export async function loadModel(arch: string | ZooEntry, opts: LoadModelOptions = {}): Promise<ResNet> {
  const { weights, pretrained, download, fuse = true, ...create } = opts;
  const name = typeof arch === 'string' ? arch : arch.name;
  if (!weights && !pretrained) throw new ArgumentError('loadModel: give weights (a file) or pretrained: true');
  const sd = weights ? await loadWeightsFile(weights) : await pretrainedStateDict(name, download);
  const fc = sd.get('fc.weight');
  const model = createModel(arch, { ...create, init: false, numClasses: create.numClasses ?? fc?.shape[0] ?? 1000 });
  model.loadStateDict(sd, { where: `${name} from ${weights ?? 'pretrained weights'}` });
  return fuse ? model.eval().fuse({ inPlace: true }) : model.eval();
}

export interface LoadSegmentationOptions {
  backend?: Backend;
  /** A checkpoint file: the toolkit's .pth (or the .zip it is published in), or .safetensors. */
  weights?: string;
  /** The toolkit's published weights (downloaded into the cache, SHA-1 checked). */
  pretrained?: boolean;
  download?: Omit<DownloadOptions, 'sha256Prefix' | 'sha256'>;
  /** Fold BatchNorm into the convs in place (default true). */
  fuse?: boolean;
}

/**
 * A segmentation network with its weights loaded strictly, in eval mode: one of the paper's
 * results (FCN / DeepLabV3; weights or the published ones), or a head on a zoo backbone
 * (`fcn_resnest14d`) with weights, whose classes they give.
 */
export async function loadSegmentationModel(name: string, opts: LoadSegmentationOptions = {}): Promise<SegNet> {
  const e = segArch(name);
  if (!e) throw new ArgumentError(`unknown segmentation model '${name}' (${[...SEG_ZOO.keys()].join(', ')}, or fcn_/deeplab_ and a zoo backbone such as fcn_resnest14d)`);
  const { weights, pretrained, backend, fuse = true } = opts;
  if (!weights && !pretrained) throw new ArgumentError('loadSegmentationModel: give weights (a file) or pretrained: true');
  if (!weights && !e.published) throw new ArgumentError(`${name} has no published weights: give a weights file`);
  // The published .pth is checked against its full SHA-1 when downloaded (and when reused from the cache).
  const sd = await loadWeightsFile(weights ?? (await toolkitCheckpoint(e.name, e.published!.sha1, opts.download)));
  const model = createSegmentationModel(name, { backend, init: false, numClasses: e.published ? undefined : segClassesOf(sd) ?? undefined });
  model.loadStateDict(sd, { where: `${name} from ${weights ?? 'the published weights'}` });
  return fuse ? model.eval().fuse({ inPlace: true }) : model.eval();
}
