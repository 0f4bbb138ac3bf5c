// resnest segment: the class of every pixel of an image with a segmentation network of the
// paper's results (FCN / DeepLabV3, ADE20K or PASCAL-Context): ImageNet-normalised, one pass
// with the long side at --size (520), or with --scales the toolkit's evaluation (each scale's
// long side 520·s, sliding 480 crops at stride 320, --flip adds mirror images), the scores
// resized back to the image. Prints the share of the image each class covers; --out writes the
// class map in the data set's palette and an overlay on the image as PNGs, at the image's size.

import { basename, extname, join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { ArgumentError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { readBytes, writeFileAtomic } from '../io/files.js';
import { decodeImage } from '../io/image/decode.js';
import { resizeBilinear, writeNormalized, type Image8, imagenetTables, IMAGENET_BLACK } from '../io/image/preprocess.js';
import { ADE20K_CLASSES, ADE20K_PALETTE, PASCAL_CONTEXT_CLASSES, PASCAL_CONTEXT_PALETTE } from '../models/segmentation/classes.js';
import { isSegmentationArch, segArch, SEG_ZOO } from '../models/segmentation/zoo.js';
import { argmaxClasses, segmentScores } from '../models/segmentation/multi-eval.js';
import { loadSegmentationModel } from '../node.js';
import { encodePng } from '../viz/png.js';
import { MAX_PREPROCESS_SIDE } from '../io/model-card.js';
import { flag, int, parseArgs, str } from './args.js';

export const SEGMENT_USAGE = 'resnest segment <image.png|jpg>… --arch <segmentation model> (--weights W | --pretrained) [--out DIR] [--json] '
  + '[--scales 0.5,0.75,1,1.25,1.5,1.75] [--flip] [--size 520] [--crop 480] [--backend B] [--threads N]';

/** The class scores of an image are held whole ([classes, H, W] float32): larger images are first shrunk to fit. */
const MAX_SCORES = 2 ** 27;

/** --scales: a comma-separated list of positive numbers. */
export function parseScales(text: string | undefined): number[] | null {
  if (text === undefined) return null;
  const scales = text.split(',').map((t) => Number(t.trim()));
  if (!scales.length || scales.some((v) => !(v > 0 && v <= 8))) throw new ArgumentError(`--scales takes numbers in (0, 8] separated by commas, got '${text}'`);
  return scales;
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
    scales: { type: 'string' }, flip: { type: 'boolean' }, crop: { type: 'string' },
  });
  if (!p.positionals.length) throw new ArgumentError(`segment: name at least one image (usage: ${SEGMENT_USAGE})`);
  const arch = str(p, 'arch');
  if (!arch || !isSegmentationArch(arch)) {
    throw new ArgumentError(`segment: --arch must be a segmentation model (${[...SEG_ZOO.keys()].join(', ')}), got ${arch ? `'${arch}'` : 'none'}`);
  }
  const weights = str(p, 'weights'), pretrained = flag(p, 'pretrained');
  if (!weights === !pretrained) throw new ArgumentError('segment: give --weights <file> or --pretrained (one of them)');
  const size = int(p, 'size') ?? 520, crop = int(p, 'crop') ?? 480;
  if (size < 32 || size > MAX_PREPROCESS_SIDE) throw new ArgumentError(`--size must be 32–${MAX_PREPROCESS_SIDE}, got ${size}`);
  if (crop < 32 || crop > MAX_PREPROCESS_SIDE) throw new ArgumentError(`--crop must be 32–${MAX_PREPROCESS_SIDE}, got ${crop}`);
  const scales = parseScales(str(p, 'scales')), flip = flag(p, 'flip');
  const published = segArch(arch)!.published;
  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  const model = await loadSegmentationModel(arch, { ...(weights ? { weights } : { pretrained: true }), backend, download: { progress: true } });
  // A head trained here on the user's classes has no names: 'class k', drawn in ADE20K's colours.
  const numClasses = model.opts.numClasses;
  const [labels, palette] = published?.dataset === 'pcontext' ? [PASCAL_CONTEXT_CLASSES, PASCAL_CONTEXT_PALETTE]
    : [published ? ADE20K_CLASSES : Array.from({ length: numClasses }, (_, k) => `class ${k}`), ADE20K_PALETTE];
  const out = str(p, 'out');
  if (out) await mkdir(out, { recursive: true });
  model.eval();
  const json = flag(p, 'json');
  const results: SegmentResult[] = [];
  for (const path of p.positionals) {
    const img = decodeImage(await readBytes(path), path);
    // Scores are [classes, H, W] at the image's size: a huge image is shrunk so they fit.
    const fit = Math.min(1, Math.sqrt(MAX_SCORES / (numClasses * img.width * img.height)));
    const seen: Image8 = fit < 1 ? resizeBilinear(img, Math.max(1, Math.floor(img.width * fit)), Math.max(1, Math.floor(img.height * fit))) : img;
    const { width: w, height: h } = seen;
    const x = new Float32Array(3 * w * h);
    writeNormalized(seen, x, 0, imagenetTables());
    const t0 = performance.now();
    const tty = !json && process.stderr.isTTY;
    const scores = await segmentScores(model, x, h, w, {
      scales, flip, base: size, crop, padValue: IMAGENET_BLACK,
      onProgress: tty ? (done, total) => process.stderr.write(`\r${path}: forward pass ${done}/${total}\x1b[K`) : undefined,
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const plane = w * h, classes = numClasses;
    const map = argmaxClasses(scores, classes), counts = new Int32Array(classes);
    for (let i = 0; i < plane; i++) counts[map[i]!]!++;
    const r: SegmentResult = {
      image: path, width: w, height: h,
      classes: [...counts].map((n, index) => ({ label: labels[index]!, index, share: n / plane })).filter((c) => c.share > 0).sort((a, b) => b.share - a.share),
    };
    if (out) {
      const mask = new Uint8Array(3 * plane), overlay = new Uint8Array(3 * plane);
      for (let i = 0; i < plane; i++) {
        for (let k = 0; k < 3; k++) {
          const colour = palette[3 * (map[i]! % 150) + k]!;
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
      const how = scales ? `scales ${scales.join(',')}${flip ? ' + flips' : ''}` : `one pass at ${size}${flip ? ' + flip' : ''}`;
      console.log(`${path} (${w}×${h}${fit < 1 ? ` shrunk from ${img.width}×${img.height}` : ''}, ${how}, ${((performance.now() - t0) / 1000).toFixed(1)} s): ${top}${r.mask ? `; wrote ${r.mask}, ${r.overlay}` : ''}`);
    }
  }
  if (json) console.log(JSON.stringify(results));
  else if (!out) console.log('(--out DIR writes each class map in the data set\'s palette and an overlay on the image)');
  model.dispose();
}
