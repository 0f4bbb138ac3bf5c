// resnest list: the zoo with parameter counts, default crop and published weights.

import { parameterCount, resizeFor, weightsUrl, ZOO } from '../models/resnest/zoo.js';
import { parseArgs, flag } from './args.js';

export const LIST_USAGE = 'resnest list [--json]';

export function list(argv: string[]): void {
  const p = parseArgs(argv, { json: { type: 'boolean' } });
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
}
