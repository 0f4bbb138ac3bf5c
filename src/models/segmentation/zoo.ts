// The published segmentation models of the ResNeSt paper's results (the authors' toolkit,
// PyTorch-Encoding): name, head, backbone, data set, and the single-model figures the toolkit
// reports. Their checkpoints are zips named `{name}-{sha1[:8]}.zip` holding `{name}-{sha1[:8]}.pth`,
// whose full SHA-1 the toolkit lists (encoding/models/model_store.py).

import type { Backend } from '../../backend/backend.js';
import { metaBackend } from '../../backend/meta.js';
import { ArgumentError } from '../../errors.js';
import { ZOO } from '../resnest/zoo.js';
import { SegNet, type SegHead } from './segnet.js';

export type SegDataset = 'ade' | 'pcontext';

export interface SegZooEntry {
  name: string;
  head: SegHead;
  backbone: string;
  dataset: SegDataset;
  numClasses: number;
  /** The toolkit's single-model pixel accuracy and mIoU on the validation set, in %. */
  pixAcc: number;
  mIoU: number;
  /** SHA-1 of the published .pth. */
  sha1: string;
}

export const SEG_DATASETS: Record<SegDataset, { title: string; numClasses: number }> = {
  ade: { title: 'ADE20K', numClasses: 150 },
  pcontext: { title: 'PASCAL-Context', numClasses: 59 },
};

export const TOOLKIT_BASE_URL = 'https://s3.us-west-1.wasabisys.com/encoding/models';

const rows: [string, number, number, string][] = [
  ['fcn_resnest50_ade', 80.18, 42.94, '4aba491aaf8e4866a9c9981b210e3e3266ac1f2a'],
  ['deeplab_resnest50_ade', 81.17, 45.12, '2225f09d0f40b9a168d9091652194bc35ec2a5a9'],
  ['deeplab_resnest101_ade', 82.07, 46.91, '06ca799c8cc148fe0fafb5b6d052052935aa3cc8'],
  ['deeplab_resnest200_ade', 82.45, 48.36, '7b9e7d3e6f0e2c763c7d77cad14d306c0a31fe05'],
  ['deeplab_resnest269_ade', 82.62, 47.60, '0074dd10a6e6696f6f521653fb98224e75955496'],
  ['fcn_resnest50_pcontext', 79.19, 51.98, '77a2161deeb1564e8b9c41a4bb7a3f33998b00ad'],
  ['deeplab_resnest50_pcontext', 80.41, 53.19, '08dccbc4f4694baab631e037a374d76d8108c61f'],
  ['deeplab_resnest101_pcontext', 81.91, 56.49, 'faf5841853aae64bd965a7bdc2cdc6e7a2b5d898'],
  ['deeplab_resnest200_pcontext', 82.50, 58.37, 'fe76a26551dd5dcf2d474fd37cba99d43f6e984e'],
  ['deeplab_resnest269_pcontext', 83.06, 58.92, 'b661fd26c49656e01e9487cd9245babb12f37449'],
];

export const SEG_ZOO: ReadonlyMap<string, SegZooEntry> = new Map(rows.map(([name, pixAcc, mIoU, sha1]) => {
  const [head, backbone, dataset] = name.split('_') as [SegHead, string, SegDataset];
  return [name, { name, head, backbone, dataset, numClasses: SEG_DATASETS[dataset].numClasses, pixAcc, mIoU, sha1 }];
}));

/**
 * A segmentation network by name: a published one (`deeplab_resnest50_ade`), or a head on any
 * zoo backbone (`fcn_resnest14d`, `deeplab_resnest50`) with classes of the user's data set.
 */
export interface SegArch {
  name: string;
  head: SegHead;
  backbone: string;
  /** The published model's classes; null for a head on a backbone (the data set or weights say). */
  numClasses: number | null;
  published: SegZooEntry | null;
}

export function segArch(name: string): SegArch | null {
  const e = SEG_ZOO.get(name);
  if (e) return { name, head: e.head, backbone: e.backbone, numClasses: e.numClasses, published: e };
  const m = /^(fcn|deeplab)_(.+)$/.exec(name);
  return m && ZOO.has(m[2]!) ? { name, head: m[1] as SegHead, backbone: m[2]!, numClasses: null, published: null } : null;
}

export function isSegmentationArch(name: string): boolean {
  return segArch(name) !== null;
}

/** The classes a segmentation state dict's main head predicts (its last conv's outputs), or null. */
export function segClassesOf(sd: ReadonlyMap<string, { shape: readonly number[] }>): number | null {
  return (sd.get('head.conv5.4.weight') ?? sd.get('head.block.4.weight'))?.shape[0] ?? null;
}

export function segZooEntry(name: string): SegZooEntry {
  const e = SEG_ZOO.get(name);
  if (!e) throw new ArgumentError(`unknown segmentation model '${name}' (${[...SEG_ZOO.keys()].join(', ')})`);
  return e;
}

/** A toolkit checkpoint's zip: `${base}/${name}-${sha1[:8]}.zip` (its member: the same name with .pth). */
export function toolkitZipUrl(name: string, sha1: string, base = TOOLKIT_BASE_URL): string {
  return `${base.replace(/\/+$/, '')}/${name}-${sha1.slice(0, 8)}.zip`;
}

/** The published checkpoint's zip. */
export function segWeightsUrl(e: SegZooEntry, base = TOOLKIT_BASE_URL): string {
  return toolkitZipUrl(e.name, e.sha1, base);
}

export interface CreateSegOptions {
  backend?: Backend;
  /** Random initial weights (default true); false leaves them for a checkpoint. */
  init?: boolean;
  seed?: number;
  aux?: boolean;
  numClasses?: number;
}

export function createSegmentationModel(name: string, opts: CreateSegOptions = {}): SegNet {
  const e = segArch(name);
  if (!e) throw new ArgumentError(`unknown segmentation model '${name}' (${[...SEG_ZOO.keys()].join(', ')}, or fcn_/deeplab_ and a zoo backbone such as fcn_resnest14d)`);
  const numClasses = opts.numClasses ?? e.numClasses;
  if (numClasses === null) throw new ArgumentError(`${name}: give the number of classes (a head on a backbone has none of its own)`);
  const model = new SegNet(e.head, { backbone: e.backbone, numClasses, aux: opts.aux }, opts.backend);
  if (opts.init ?? true) model.resetParameters(opts.seed ?? 0);
  return model;
}

/** Parameter count without allocating the weights. */
export function segParameterCount(name: string): number {
  return createSegmentationModel(name, { backend: metaBackend, init: false }).parameterCount();
}
