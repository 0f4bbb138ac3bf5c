// The model zoo: the seed's names (resnest50 … resnest269, resnest50_fast_*), timm's names
// for the same networks, and plain ResNet-50/50-D from the same class. Each entry knows its
// architecture, evaluation preprocessing, and where published weights live.

import type { Backend } from '../../backend/backend.js';
import { metaBackend } from '../../backend/meta.js';
import { ArgumentError, ResourceLimitError, ShapeError } from '../../errors.js';
import { ResNet, type ResNetOptions } from './resnet.js';

export const WEIGHTS_BASE_URL = 'https://github.com/zhanghang1989/ResNeSt/releases/download/weights_step1';

export interface ZooEntry {
  name: string;
  layers: readonly number[];
  options: ResNetOptions;
  /** Evaluation crop; images are resized so that crop = cropPct · shorter side first. */
  crop: number;
  cropPct: number;
  /** The seed's published checkpoint: `${WEIGHTS_BASE_URL}/${name}-${sha256Prefix}.pth`. */
  sha256Prefix?: string;
  /**
   * The checkpoint's whole sha256, checked instead of the prefix where it is known. The seed
   * publishes only the 8-digit prefixes in its file names, so no entry has one yet; one is
   * added only from a published digest, never computed from a download here.
   */
  sha256?: string;
  /** Where timm publishes weights for the same architecture (safetensors, same keys). */
  hub?: string;
  /** Another name for the same network. */
  sameAs?: string;
}

// The seed's ResNeSt: deep stem, average-pool downsampling, avd after the 3×3 conv.
const resnest = (layers: number[], stemWidth: number): Pick<ZooEntry, 'layers' | 'options'> => ({
  layers,
  options: { radix: 2, groups: 1, bottleneckWidth: 64, deepStem: true, stemWidth, avgDown: true, avd: true, avdFirst: false },
});

// The ablation models resnest50_fast_{radix}s{cardinality}x{width}d: avd before the 3×3 conv.
const fast = (radix: number, groups: number, bottleneckWidth: number): Pick<ZooEntry, 'layers' | 'options'> => ({
  layers: [3, 4, 6, 3],
  options: { radix, groups, bottleneckWidth, deepStem: true, stemWidth: 32, avgDown: true, avd: true, avdFirst: true },
});

const entries: ZooEntry[] = [
  { name: 'resnest50', ...resnest([3, 4, 6, 3], 32), crop: 224, cropPct: 0.875, sha256Prefix: '528c19ca' },
  { name: 'resnest101', ...resnest([3, 4, 23, 3], 64), crop: 256, cropPct: 0.875, sha256Prefix: '22405ba7' },
  { name: 'resnest200', ...resnest([3, 24, 36, 3], 64), crop: 320, cropPct: 0.875, sha256Prefix: '75117900' },
  { name: 'resnest269', ...resnest([3, 30, 48, 8], 64), crop: 416, cropPct: 0.875, sha256Prefix: '0cc87c48' },
  { name: 'resnest50_fast_1s1x64d', ...fast(1, 1, 64), crop: 224, cropPct: 0.875, sha256Prefix: 'd8fbf808' },
  { name: 'resnest50_fast_2s1x64d', ...fast(2, 1, 64), crop: 224, cropPct: 0.875, sha256Prefix: '44938639' },
  { name: 'resnest50_fast_4s1x64d', ...fast(4, 1, 64), crop: 224, cropPct: 0.875, sha256Prefix: 'f74f3fc3' },
  { name: 'resnest50_fast_1s2x40d', ...fast(1, 2, 40), crop: 224, cropPct: 0.875, sha256Prefix: '32830b84' },
  { name: 'resnest50_fast_2s2x40d', ...fast(2, 2, 40), crop: 224, cropPct: 0.875, sha256Prefix: '9d126481' },
  { name: 'resnest50_fast_4s2x40d', ...fast(4, 2, 40), crop: 224, cropPct: 0.875, sha256Prefix: '41d14ed0' },
  { name: 'resnest50_fast_1s4x24d', ...fast(1, 4, 24), crop: 224, cropPct: 0.875, sha256Prefix: 'd4a4f76f' },
  // timm's names (weights on the Hugging Face hub as model.safetensors with the same keys).
  { name: 'resnest14d', ...resnest([1, 1, 1, 1], 32), crop: 224, cropPct: 0.875, hub: 'timm/resnest14d.gluon_in1k' },
  { name: 'resnest26d', ...resnest([2, 2, 2, 2], 32), crop: 224, cropPct: 0.875, hub: 'timm/resnest26d.gluon_in1k' },
  { name: 'resnest50d', ...resnest([3, 4, 6, 3], 32), crop: 224, cropPct: 0.875, hub: 'timm/resnest50d.in1k', sameAs: 'resnest50' },
  { name: 'resnest101e', ...resnest([3, 4, 23, 3], 64), crop: 256, cropPct: 0.875, hub: 'timm/resnest101e.in1k', sameAs: 'resnest101' },
  { name: 'resnest200e', ...resnest([3, 24, 36, 3], 64), crop: 320, cropPct: 0.909, hub: 'timm/resnest200e.in1k', sameAs: 'resnest200' },
  { name: 'resnest269e', ...resnest([3, 30, 48, 8], 64), crop: 416, cropPct: 0.928, hub: 'timm/resnest269e.in1k', sameAs: 'resnest269' },
  { name: 'resnest50d_4s2x40d', ...fast(4, 2, 40), crop: 224, cropPct: 0.875, hub: 'timm/resnest50d_4s2x40d.in1k', sameAs: 'resnest50_fast_4s2x40d' },
  { name: 'resnest50d_1s4x24d', ...fast(1, 4, 24), crop: 224, cropPct: 0.875, hub: 'timm/resnest50d_1s4x24d.in1k', sameAs: 'resnest50_fast_1s4x24d' },
  // Plain ResNet-50 (radix 0: grouped conv + bn2, torchvision's keys) and ResNet-50-D.
  { name: 'resnet50', layers: [3, 4, 6, 3], options: { radix: 0 }, crop: 224, cropPct: 0.875, hub: 'timm/resnet50.tv_in1k' },
  {
    name: 'resnet50d', layers: [3, 4, 6, 3], options: { radix: 0, deepStem: true, stemWidth: 32, avgDown: true },
    crop: 224, cropPct: 0.875, hub: 'timm/resnet50d.gluon_in1k',
  },
];

export const ZOO: ReadonlyMap<string, ZooEntry> = new Map(entries.map((e) => [e.name, e]));

/** The shorter side before the centre crop: int(crop / crop_pct), as the seed's and timm's eval transforms. */
export function resizeFor(entry: ZooEntry, crop = entry.crop): number {
  return Math.floor(crop / entry.cropPct + 1e-9);
}

export function weightsUrl(entry: ZooEntry, base = WEIGHTS_BASE_URL): string | undefined {
  return entry.sha256Prefix ? `${base.replace(/\/+$/, '')}/${entry.name}-${entry.sha256Prefix}.pth` : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

export function zooEntry(name: string): ZooEntry {
  const e = ZOO.get(name);
  if (e) return e;
  const close = [...ZOO.keys()].sort((a, b) => editDistance(name, a) - editDistance(name, b)).slice(0, 3);
  throw new ArgumentError(`unknown architecture '${name}'; closest: ${close.join(', ')} (see 'resnest list')`);
}

/** The seed's ResNet keyword arguments (snake_case) that an architecture file may set. */
const CONFIG_KEYS: Record<string, [keyof ResNetOptions | 'layers', 'bool' | 'int' | 'number' | 'layers']> = {
  layers: ['layers', 'layers'], radix: ['radix', 'int'], groups: ['groups', 'int'], bottleneck_width: ['bottleneckWidth', 'int'],
  num_classes: ['numClasses', 'int'], dilated: ['dilated', 'bool'], dilation: ['dilation', 'int'], deep_stem: ['deepStem', 'bool'],
  stem_width: ['stemWidth', 'int'], avg_down: ['avgDown', 'bool'], rectified_conv: ['rectifiedConv', 'bool'],
  rectify_avg: ['rectifyAvg', 'bool'], avd: ['avd', 'bool'], avd_first: ['avdFirst', 'bool'], final_drop: ['finalDrop', 'number'],
  dropblock_prob: ['dropblockProb', 'number'], last_gamma: ['lastGamma', 'bool'],
};

// Ranges for an architecture file's numbers. An architecture file is as untrusted as the
// weights beside it, and each number multiplies memory before any weight is read. The
// bounds are far above the seed's networks (resnest269: layers [3, 30, 48, 8], radix 2,
// widths ≤ 64; ResNeXt-style cardinality 64) and the total is checked separately below.
const MAX_BLOCKS = 64;
const CONFIG_RANGES: Record<string, [number, number]> = {
  radix: [0, 16], groups: [1, 1024], bottleneck_width: [1, 4096], stem_width: [1, 4096],
  num_classes: [1, 100_000], dilation: [1, 4], final_drop: [0, 1], dropblock_prob: [0, 1],
};
/** The most an architecture's parameters may take as float32 (resnest269's take 444 MB). */
export const MAX_ARCH_BYTES = 2 ** 31;

/** A value for a one-line message: a hostile file's million-entry array is cut short. */
const shown = (x: unknown) => {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** The seed's ResNet keyword arguments of an architecture (the inverse of archFromConfig), with layers and num_classes. */
export function configOf(entry: ZooEntry, numClasses: number): Record<string, unknown> {
  const out: Record<string, unknown> = { layers: [...entry.layers] };
  const opts = entry.options as Record<string, unknown>;
  for (const [key, [name]] of Object.entries(CONFIG_KEYS)) {
    if (key !== 'layers' && key !== 'num_classes' && opts[name] !== undefined) out[key] = opts[name];
  }
  out.num_classes = numClasses;
  return out;
}

/**
 * An architecture from the seed's ResNet keyword arguments, as a JSON object would give them:
 * `{"layers": [1,2,1,1], "radix": 2, "groups": 2, "bottleneck_width": 32, "deep_stem": true, …}`.
 * Every key is checked (unknown ones are named), evaluated at crop 224 like the zoo's 50s.
 */
export function archFromConfig(cfg: unknown, where: string): ZooEntry {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new ArgumentError(`${where}: an architecture must be a JSON object of ResNet keyword arguments`);
  const unknown = Object.keys(cfg).filter((k) => !(k in CONFIG_KEYS));
  if (unknown.length) {
    throw new ArgumentError(`${where}: unknown ResNet argument${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${Object.keys(CONFIG_KEYS).join(', ')})`);
  }
  const options: Record<string, unknown> = {};
  let layers: number[] | undefined;
  for (const [key, value] of Object.entries(cfg as Record<string, unknown>)) {
    const [name, kind] = CONFIG_KEYS[key]!;
    const bad = (what: string) => new ArgumentError(`${where}: '${key}' must be ${what}, got ${shown(value)}`);
    if (kind === 'layers') {
      if (!Array.isArray(value) || value.length !== 4 || value.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_BLOCKS)) {
        throw bad(`four block counts from 1 to ${MAX_BLOCKS}`);
      }
      layers = value as number[];
    } else if (kind === 'bool') {
      if (typeof value !== 'boolean') throw bad('true or false');
      options[name] = value;
    } else {
      const [lo, hi] = CONFIG_RANGES[key]!;
      if (key === 'dilation' && ![1, 2, 4].includes(value as number)) throw bad('1, 2 or 4');
      if (typeof value !== 'number' || !Number.isFinite(value) || (kind === 'int' && !Number.isInteger(value)) || value < lo || value > hi) {
        throw bad(`${kind === 'int' ? 'an integer' : 'a number'} from ${lo} to ${hi}`);
      }
      options[name] = value;
    }
  }
  if (!layers) throw new ArgumentError(`${where}: 'layers' (four block counts, e.g. [3, 4, 6, 3]) is required`);
  const entry: ZooEntry = { name: where, layers, options: options as ResNetOptions, crop: 224, cropPct: 0.875 };
  checkArchitectureSize(entry, where);
  return entry;
}

/**
 * Builds the network on the meta backend (shapes, no memory) to refuse, before anything is
 * allocated, arguments that PyTorch would refuse (channels not divisible by the groups) or
 * whose weights would not fit in MAX_ARCH_BYTES. Each key can be in range and the product
 * still absurd: groups 1024 × bottleneck_width 4096 is a 10¹¹-weight 1×1 conv.
 */
function checkArchitectureSize(entry: ZooEntry, where: string): void {
  let params: number;
  try {
    params = createModel(entry, { backend: metaBackend, init: false }).parameterCount();
  } catch (e) {
    // Shapes are whole numbers once the groups divide the channels, so a ShapeError here can
    // only be a single tensor past the element limit.
    if (e instanceof ShapeError) throw new ResourceLimitError(`${where}: these ResNet arguments make a network too large to build (${e.message})`);
    if (e instanceof ArgumentError) throw new ArgumentError(`${where}: these ResNet arguments make no valid network: ${e.message}`);
    throw e;
  }
  if (params * 4 > MAX_ARCH_BYTES) {
    throw new ResourceLimitError(`${where}: these ResNet arguments make a network of ${params} parameters (${(params * 4 / 2 ** 30).toFixed(1)} GiB as float32), above the ${MAX_ARCH_BYTES / 2 ** 30} GiB limit`);
  }
}

export interface CreateOptions {
  numClasses?: number;
  dilated?: boolean;
  dilation?: number;
  finalDrop?: number;
  lastGamma?: boolean;
  backend?: Backend;
  /** Initialise weights as the seed does (default), or leave zeros for a checkpoint to fill. */
  init?: boolean;
  seed?: number;
}

/** Builds a zoo network by name (or an entry, e.g. from archFromConfig), e.g. createModel('resnest50', { dilation: 4 }). */
export function createModel(name: string | ZooEntry, opts: CreateOptions = {}): ResNet {
  const e = typeof name === 'string' ? zooEntry(name) : name;
  const { backend, init, seed, ...over } = opts;
  const defined = Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined));
  const model = new ResNet(e.layers, { ...e.options, ...defined }, backend);
  if (init ?? true) model.resetParameters(seed ?? 0);
  return model;
}

/** Parameter count without allocating the weights. */
export function parameterCount(name: string, numClasses = 1000): number {
  return createModel(name, { backend: metaBackend, init: false, numClasses }).parameterCount();
}

type Factory = (opts?: CreateOptions) => ResNet;
const factory = (name: string): Factory => (opts) => createModel(name, opts);

export const resnest50 = factory('resnest50');
export const resnest101 = factory('resnest101');
export const resnest200 = factory('resnest200');
export const resnest269 = factory('resnest269');
export const resnest50_fast_1s1x64d = factory('resnest50_fast_1s1x64d');
export const resnest50_fast_2s1x64d = factory('resnest50_fast_2s1x64d');
export const resnest50_fast_4s1x64d = factory('resnest50_fast_4s1x64d');
export const resnest50_fast_1s2x40d = factory('resnest50_fast_1s2x40d');
export const resnest50_fast_2s2x40d = factory('resnest50_fast_2s2x40d');
export const resnest50_fast_4s2x40d = factory('resnest50_fast_4s2x40d');
export const resnest50_fast_1s4x24d = factory('resnest50_fast_1s4x24d');
export const resnest14d = factory('resnest14d');
export const resnest26d = factory('resnest26d');
export const resnest50d = factory('resnest50d');
export const resnest101e = factory('resnest101e');
export const resnest200e = factory('resnest200e');
export const resnest269e = factory('resnest269e');
export const resnest50d_4s2x40d = factory('resnest50d_4s2x40d');
export const resnest50d_1s4x24d = factory('resnest50d_1s4x24d');
export const resnet50 = factory('resnet50');
export const resnet50d = factory('resnet50d');
