// resnest list: the zoo with parameter counts, default crop and published weights.

import { parameterCount, resizeFor, weightsUrl, ZOO } from '../models/resnest/zoo.js';
import { parseArgs, flag } from './args.js';
import { SEG_DATASETS, SEG_ZOO, segParameterCount, segWeightsUrl } from '../models/segmentation/zoo.js';

export const LIST_USAGE = 'resnest list [--segmentation] [--json]';

export function list(argv: string[]): void {
  const p = parseArgs(argv, { json: { type: 'boolean' }, segmentation: { type: 'boolean' } });
  if (flag(p, 'segmentation')) return listSegmentation(flag(p, 'json'));
  const rows = [...ZOO.values()].map((e) => ({
    name: e.name,
    params: parameterCount(e.name),
    crop: e.crop,
    resize: resizeFor(e),
    radix: e.options.radix ?? 1,
    cardinality: e.options.groups ?? 1,
    width: e.options.bottleneckWidth ?? 64,
    weights: weightsUrl(e) ?? (e.hub ? `hf:${e.hub}` : ''),
    sameAs: e.sameAs ?? '',
  }));
  if (flag(p, 'json')) {
    console.log(JSON.stringify(rows, null, 1));
    return;
  }
  const head = ['name', 'params', 'crop', 'block', 'weights'];
  const table = rows.map((r) => [
    r.name + (r.sameAs ? ` (= ${r.sameAs})` : ''),
    `${(r.params / 1e6).toFixed(1)}M`,
    `${r.crop} (resize ${r.resize})`,
    r.radix === 0 ? `plain ${r.cardinality}x${r.width}d` : `${r.radix}s${r.cardinality}x${r.width}d`,
    r.weights,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  console.log(line(head));
  for (const r of table) console.log(line(r));
  console.log('');
  listSegmentation(false);
}

/** The segmentation models of the paper's results (FCN / DeepLabV3, the authors' toolkit) with their published figures. */
function listSegmentation(json: boolean): void {
  const rows = [...SEG_ZOO.values()].map((e) => ({
    name: e.name, head: e.head, backbone: e.backbone, dataset: SEG_DATASETS[e.dataset].title, classes: e.numClasses,
    params: segParameterCount(e.name), pixAcc: e.pixAcc, mIoU: e.mIoU, weights: segWeightsUrl(e), sha1: e.sha1,
  }));
  if (json) {
    console.log(JSON.stringify(rows, null, 1));
    return;
  }
  const head = ['segmentation', 'params', 'data set', 'pixAcc', 'mIoU', 'weights'];
  const table = rows.map((r) => [r.name, `${(r.params / 1e6).toFixed(1)}M`, `${r.dataset} (${r.classes})`, `${r.pixAcc.toFixed(2)} %`, `${r.mIoU.toFixed(2)} %`, r.weights]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  console.log(line(head));
  for (const r of table) console.log(line(r));
  console.log('(pixAcc / mIoU: single models on the validation set, as the toolkit reports them)');
}
