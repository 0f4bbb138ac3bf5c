// resnest explain: one image through one block's split attention, every tensor with its real
// values — as JSON (--json), as pictures and an index.html (--out DIR), or as a summary.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError } from '../errors.js';
import { decodeImage } from '../io/image/decode.js';
import { preprocess, toRgb8 } from '../io/image/preprocess.js';
import { readBytes, writeFileAtomic } from '../io/files.js';
import { explainBlock, splitAttentionBlocks, traceJson } from '../models/resnest/explain.js';
import { tensor } from '../tensor/tensor.js';
import { explainReport } from '../viz/explain-report.js';
import { encodePng } from '../viz/png.js';
import { flag, parseArgs, str } from './args.js';
import { MODEL_OPTIONS, resolveModel } from './model.js';

export const EXPLAIN_USAGE = 'resnest explain <image.png|jpg> [--block layer2.0] [--arch <name|cfg.json> (--weights W | --pretrained)] [--out DIR] [--json] [--backend B]'
  + ' (without a model: the embedded default)';

export async function explainCommand(argv: string[]): Promise<void> {
  const p = parseArgs(argv, { ...MODEL_OPTIONS, block: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } });
  if (p.positionals.length !== 1) throw new ArgumentError(`explain: give one image (usage: ${EXPLAIN_USAGE})`);
  const file = p.positionals[0]!;
  const img = decodeImage(await readBytes(file), file); // a bad image fails before the model loads
  const { model, pre, labels } = await resolveModel(p, 'explain', { fuse: false });
  const blocks = splitAttentionBlocks(model);
  const block = str(p, 'block') ?? (blocks.includes('layer2.0') ? 'layer2.0' : blocks[0] ?? 'layer2.0');
  const x = preprocess(img, { crop: pre.size, resize: pre.resize, mean: pre.mean, std: pre.std });
  const input = tensor(x.data, [1, 3, pre.size, pre.size], { backend: model.backend });
  const trace = await explainBlock(model, input, block, { labels });
  input.dispose();

  const out = str(p, 'out');
  if (out) {
    mkdirSync(out, { recursive: true });
    // The image as the network saw it, for the page.
    const files = explainReport(trace, encodePng(pre.size, pre.size, toRgb8(x.data, pre.size, pre.size, pre.mean, pre.std)));
    for (const [name, text] of files) await writeFileAtomic(join(out, name), new TextEncoder().encode(text));
    if (!flag(p, 'json')) console.log(`wrote ${files.size} files to ${out}: open ${join(out, 'index.html')}`);
  }
  if (flag(p, 'json')) {
    console.log(JSON.stringify(traceJson(trace)));
    return;
  }
  if (out) return;
  const c = trace.channels;
  console.log(`${file}: ${trace.top.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)} %`).join(', ')}`);
  console.log(`${block}.conv2: radix ${trace.radix}, cardinality ${trace.cardinality}, C = ${c}; splits ${JSON.stringify(trace.splits.shape)} → output ${JSON.stringify(trace.output.shape)}`);
  trace.attention.forEach((a, r) => {
    const mean = a.reduce((s, v) => s + v, 0) / c;
    console.log(`  split ${r}: mean attention ${mean.toFixed(3)}, first channels ${a.slice(0, 6).map((v) => v.toFixed(3)).join(' ')}`);
  });
  console.log(`(--json for every number, --out DIR for pictures; blocks: ${blocks.join(', ')})`);
}
