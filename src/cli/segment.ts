// resnest segment: the class of every pixel of an image with a segmentation network of the
// paper's results (FCN / DeepLabV3, ADE20K or PASCAL-Context), one pass at the toolkit's base
// size: the long side resized to --size (520), ImageNet-normalised. Prints the share of the
// image each class covers; --out writes the class map in the data set's palette and an
// overlay on the image as PNGs.

import { basename, extname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { ArgumentError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { readBytes, writeFileAtomic } from '../io/files.js';
import { decodeImage } from '../io/image/decode.js';
import { IMAGENET_MEAN, IMAGENET_STD, normalizeTable, resizeBilinear, writeNormalized, type Image8 } from '../io/image/preprocess.js';
import { ADE20K_CLASSES, ADE20K_PALETTE, PASCAL_CONTEXT_CLASSES, PASCAL_CONTEXT_PALETTE } from '../models/segmentation/classes.js';
import { isSegmentationArch, SEG_ZOO, segZooEntry } from '../models/segmentation/zoo.js';
import { loadSegmentationModel } from '../node.js';
import { tidy } from '../tensor/scope.js';
import { tensor } from '../tensor/tensor.js';
import { encodePng } from '../viz/png.js';
import { MAX_PREPROCESS_SIDE } from '../io/model-card.js';
import { flag, int, parseArgs, str } from './args.js';

export const SEGMENT_USAGE = 'resnest segment <image.png|jpg>… --arch <segmentation model> (--weights W | --pretrained) [--out DIR] [--size 520] [--json] [--backend B] [--threads N]';

/** The toolkit's resize for evaluation: the long side to `long`, the other in proportion (rounded). */
export function longSideSize(width: number, height: number, long: number): [number, number] {
  return height > width ? [Math.max(1, Math.trunc((width * long) / height + 0.5)), long] : [long, Math.max(1, Math.trunc((height * long) / width + 0.5))];
}

export interface SegmentResult {
  image: string;
  /** The size the network saw (and the PNGs have). */
  width: number;
  height: number;
  /** Classes covering any pixel, largest share first. */
  classes: { label: string; index: number; share: number }[];
  mask?: string;
  overlay?: string;
}

export async function segment(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    arch: { type: 'string' }, weights: { type: 'string' }, pretrained: { type: 'boolean' }, backend: { type: 'string' }, threads: { type: 'string' },
    out: { type: 'string' }, size: { type: 'string' }, json: { type: 'boolean' }, verbose: { type: 'boolean' },
  });
  if (!p.positionals.length) throw new ArgumentError(`segment: name at least one image (usage: ${SEGMENT_USAGE})`);
  const arch = str(p, 'arch');
  if (!arch || !isSegmentationArch(arch)) {
    throw new ArgumentError(`segment: --arch must be a segmentation model (${[...SEG_ZOO.keys()].join(', ')}), got ${arch ? `'${arch}'` : 'none'}`);
  }
  const weights = str(p, 'weights'), pretrained = flag(p, 'pretrained');
  if (!weights === !pretrained) throw new ArgumentError('segment: give --weights <file> or --pretrained (one of them)');
  const size = int(p, 'size') ?? 520;
  if (size < 32 || size > MAX_PREPROCESS_SIDE) throw new ArgumentError(`--size must be 32–${MAX_PREPROCESS_SIDE}, got ${size}`);
  const e = segZooEntry(arch);
  const [labels, palette] = e.dataset === 'ade' ? [ADE20K_CLASSES, ADE20K_PALETTE] : [PASCAL_CONTEXT_CLASSES, PASCAL_CONTEXT_PALETTE];
  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  const model = await loadSegmentationModel(arch, { ...(weights ? { weights } : { pretrained: true }), backend, download: { progress: true } });
  const out = str(p, 'out');
  if (out) await mkdir(out, { recursive: true });
  const tables = [0, 1, 2].map((k) => normalizeTable(IMAGENET_MEAN[k]!, IMAGENET_STD[k]!));
  const json = flag(p, 'json');
  const results: SegmentResult[] = [];
  for (const path of p.positionals) {
    const img = decodeImage(await readBytes(path), path);
    const [w, h] = longSideSize(img.width, img.height, size);
    const seen: Image8 = w === img.width && h === img.height ? img : resizeBilinear(img, w, h);
    const x = new Float32Array(3 * w * h);
    writeNormalized(seen, x, 0, tables);
    const t0 = performance.now();
    const logits = tidy(() => model.call(tensor(x, [1, 3, h, w], { backend })));
    const scores = (await logits.data()) as Float32Array;
    logits.dispose();
    const plane = w * h, classes = e.numClasses;
    const map = new Uint8Array(plane), counts = new Int32Array(classes);
    for (let i = 0; i < plane; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (scores[c * plane + i]! > scores[best * plane + i]!) best = c;
      map[i] = best;
      counts[best]!++;
    }
    const r: SegmentResult = {
      image: path, width: w, height: h,
      classes: [...counts].map((n, index) => ({ label: labels[index]!, index, share: n / plane })).filter((c) => c.share > 0).sort((a, b) => b.share - a.share),
    };
    if (out) {
      const mask = new Uint8Array(3 * plane), overlay = new Uint8Array(3 * plane);
      for (let i = 0; i < plane; i++) {
        for (let k = 0; k < 3; k++) {
          const colour = palette[3 * map[i]! + k]!;
          mask[3 * i + k] = colour;
          overlay[3 * i + k] = Math.round(0.5 * seen.data[3 * i + k]! + 0.5 * colour);
        }
      }
      const stem = basename(path, extname(path));
      r.mask = join(out, `${stem}.mask.png`);
      r.overlay = join(out, `${stem}.overlay.png`);
      await writeFileAtomic(r.mask, encodePng(w, h, mask));
      await writeFileAtomic(r.overlay, encodePng(w, h, overlay));
    }
    results.push(r);
    if (!json) {
      const top = r.classes.slice(0, 5).map((c) => `${c.label} ${(100 * c.share).toFixed(1)} %`).join(', ');
      console.log(`${path} (${w}×${h}, ${((performance.now() - t0) / 1000).toFixed(1)} s): ${top}${r.mask ? `; wrote ${r.mask}, ${r.overlay}` : ''}`);
    }
  }
  if (json) console.log(JSON.stringify(results));
  else if (!out) console.log('(--out DIR writes each class map in the data set\'s palette and an overlay on the image)');
  model.dispose();
}
