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
  const positive = (x: unknown) => Number.isInteger(x) && (x as number) > 0;
  const triple = (x: unknown) => Array.isArray(x) && x.length === 3 && x.every((y) => typeof y === 'number' && Number.isFinite(y));
  if (!p || !positive(p.size) || !positive(p.resize) || !triple(p.mean) || !triple(p.std) || (p.std as number[]).some((s) => s <= 0)) {
    fail("'preprocess' must be {size, resize, mean: [3], std: [3] > 0}");
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
