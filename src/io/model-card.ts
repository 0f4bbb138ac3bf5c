// The JSON that travels beside a trained .pth (`model.pth` → `model.json`): the seed's ResNet
// keyword arguments, the preprocessing the model was trained for (which classify and eval
// apply exactly), the class names, the test accuracy and the command that trained it.
//
// Two files cannot be replaced in one atomic step, so a card also names its weights by size
// and sha256 ("weights": {"size", "sha256"}). `resnest train` renames the .pth into place
// first and the card second (the card's accuracy is measured on the written .pth); a crash
// between the two leaves new weights beside the previous run's card, and the loader
// (readModelCard in node.ts) refuses that pair instead of classifying with the wrong labels
// or preprocessing. Cards without the field (older ones, hand-written ones) are taken as
// they are.

import { FormatError } from '../errors.js';

export interface ModelCard {
  resnet: Record<string, unknown> & { layers: number[]; num_classes: number };
  preprocess: { size: number; resize: number; mean: number[]; std: number[] };
  labels: string[];
  accuracy: number | null;
  command: string;
  /** The weights file this card was written for (absent from older cards). */
  weights?: { size: number; sha256: string };
  [extra: string]: unknown;
}

/** The card's file for a weights file: the same name with .json. */
export function cardPathFor(weights: string): string {
  return weights.replace(/\.(pth|pt|safetensors)$/i, '') + '.json';
}

/** Whether a JSON file beside the weights is meant as a model card (it has "resnet"); invalid JSON counts, to be reported. */
export function isModelCardText(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) && 'resnet' in v;
  } catch {
    return true;
  }
}

/**
 * The largest preprocess size or resize a card may ask for. The zoo's largest crop is 416
 * (resnest269); 4096 leaves room for any real model while keeping one input under
 * 3 × 4096² floats (200 MB) and the resized image's short side bounded. torchvision accepts
 * a crop larger than the resize (it zero-pads), so the two are bounded separately.
 */
export const MAX_PREPROCESS_SIDE = 4096;

/** A value for a one-line message: a hostile card's million-entry array is cut short. */
const shown = (x: unknown) => {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

export function parseModelCard(text: string, file: string): ModelCard {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, file);
  }
  const fail = (m: string): never => {
    throw new FormatError(`model card: ${m}`, file);
  };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail('must be a JSON object');
  const c = v as Record<string, unknown>;
  const r = c.resnet as Record<string, unknown> | undefined;
  if (!r || typeof r !== 'object' || !Array.isArray(r.layers) || !Number.isInteger(r.num_classes)) fail("'resnet' must hold the ResNet arguments with 'layers' and 'num_classes'");
  const p = c.preprocess as Record<string, unknown> | undefined;
  if (!p || typeof p !== 'object' || Array.isArray(p)) fail("'preprocess' must be {size, resize, mean: [3], std: [3] > 0}");
  for (const key of ['size', 'resize'] as const) {
    const x = p![key];
    if (!Number.isInteger(x) || (x as number) < 1 || (x as number) > MAX_PREPROCESS_SIDE) {
      fail(`'preprocess.${key}' must be an integer from 1 to ${MAX_PREPROCESS_SIDE}, got ${shown(x)}`);
    }
  }
  for (const key of ['mean', 'std'] as const) {
    const x = p![key];
    const ok = (y: unknown) => typeof y === 'number' && Number.isFinite(y) && (key === 'mean' || y > 0);
    if (!Array.isArray(x) || x.length !== 3 || !x.every(ok)) {
      fail(`'preprocess.${key}' must be 3 finite numbers${key === 'std' ? ' above 0' : ''}, got ${shown(x)}`);
    }
  }
  const labels = c.labels;
  if (!Array.isArray(labels) || labels.length !== r!.num_classes || labels.some((l) => typeof l !== 'string')) {
    fail(`'labels' must be ${String(r!.num_classes)} strings (one per class)`);
  }
  const w = c.weights as Record<string, unknown> | undefined;
  if (w !== undefined && (w === null || typeof w !== 'object' || !Number.isSafeInteger(w.size) || (w.size as number) < 0
    || typeof w.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(w.sha256))) {
    fail("'weights' must be {size: bytes, sha256: 64 lowercase hex digits}");
  }
  return c as ModelCard;
}
