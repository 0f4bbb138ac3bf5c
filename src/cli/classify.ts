// resnest classify: images → top-k ImageNet labels with probabilities.

import { ArgumentError } from '../errors.js';
import { decodeImage } from '../io/image/decode.js';
import { preprocess } from '../io/image/preprocess.js';
import { readBytes } from '../io/files.js';
import { softmax } from '../ops/index.js';
import { tidy } from '../tensor/scope.js';
import { tensor } from '../tensor/tensor.js';
import { checkNumel } from '../tensor/shape.js';
import { topIndices } from '../util/top.js';
import { flag, int, parseArgs } from './args.js';
import { MODEL_OPTIONS, resolveModel } from './model.js';

export const CLASSIFY_USAGE = 'resnest classify <image.png|jpg>… [--arch <name|cfg.json> (--weights <file> | --pretrained)] [--top 5] [--backend wasm|js|webgpu] [--threads N] [--json]'
  + ' (without a model: the embedded default, a ResNeSt trained on Fashion-MNIST)';

export async function classify(argv: string[]): Promise<void> {
  const p = parseArgs(argv, { ...MODEL_OPTIONS, top: { type: 'string' }, crop: { type: 'string' }, json: { type: 'boolean' } });
  const files = p.positionals;
  if (files.length === 0) throw new ArgumentError(`classify: no images given (usage: ${CLASSIFY_USAGE})`);
  const top = int(p, 'top') ?? 5;

  // Decode everything first so that a bad image fails before the model is loaded.
  const images = [];
  for (const f of files) images.push(decodeImage(await readBytes(f), f));
  const { model, pre, labels } = await resolveModel(p, 'classify');
  const crop = int(p, 'crop') ?? pre.size;
  const resize = int(p, 'crop') ? Math.floor((crop * pre.resize) / pre.size + 1e-9) : pre.resize;
  // A typed error (not a RangeError from the allocation) when --crop asks for too much.
  const batch = new Float32Array(checkNumel([files.length, 3, crop, crop], 'classify: input batch'));
  images.forEach((img, i) => batch.set(preprocess(img, { crop, resize, mean: pre.mean, std: pre.std }).data, i * 3 * crop * crop));

  const classes = model.options.numClasses;
  const x = tensor(batch, [files.length, 3, crop, crop], { backend: model.backend });
  const probs = tidy(() => softmax(model.call(x), 1));
  const all = (await probs.data()) as Float32Array;

  const results = files.map((file, i) => {
    const row = all.subarray(i * classes, (i + 1) * classes);
    const order = topIndices(row, top);
    return { file, top: order.map((c) => ({ index: c, label: labels ? labels[c]! : `class ${c}`, probability: row[c]! })) };
  });
  if (flag(p, 'json')) {
    console.log(JSON.stringify(results, null, 1));
    return;
  }
  for (const r of results) {
    console.log(r.file);
    r.top.forEach((t, k) => console.log(`  ${String(k + 1).padStart(2)}. ${(100 * t.probability).toFixed(2).padStart(6)}%  ${t.label}`));
  }
}
