// resnest eval --arch <segmentation network>: pixel accuracy and mIoU on the validation split of
// a folder of images and masks (or the whole folder when it has no splits), each image at its
// own size — one pass at long side --base-size, or with --scales the toolkit's evaluation.

import { ArgumentError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { SegmentationFolder } from '../data/seg-folder.js';
import { ADE20K_CLASSES, PASCAL_CONTEXT_CLASSES } from '../models/segmentation/classes.js';
import { segArch } from '../models/segmentation/zoo.js';
import { loadSegmentationModel } from '../node.js';
import { evaluateSegmentation } from '../train/seg-evaluate.js';
import { flag, int, required, str, type Parsed } from './args.js';
import { parseScales } from './segment.js';

export async function evalSegmentation(p: Parsed): Promise<void> {
  const arch = segArch(required(p, 'arch', 'eval'))!;
  const weights = str(p, 'weights'), pretrained = flag(p, 'pretrained');
  if (!weights === !pretrained) throw new ArgumentError('eval: give --weights <file> or --pretrained (one of them)');
  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  const model = await loadSegmentationModel(arch.name, { ...(weights ? { weights } : { pretrained: true }), backend, download: { progress: true } });
  const numClasses = model.opts.numClasses;
  const dir = required(p, 'data', 'eval');
  const set = (await SegmentationFolder.open(dir, 'val', numClasses)) ?? (() => { throw new ArgumentError(`eval: ${dir} has training images but no validation split`); })();
  const scales = parseScales(str(p, 'scales')), flip = flag(p, 'flip');
  const base = int(p, 'base-size') ?? 520, crop = int(p, 'crop-size') ?? 480;
  const json = flag(p, 'json'), tty = process.stderr.isTTY && !json;
  const t0 = performance.now();
  const m = await evaluateSegmentation(model, set, numClasses, {
    scales, flip, base, crop,
    onImage: tty ? (done, n, r) => process.stderr.write(`\reval ${done}/${n}  pixAcc ${(100 * r.pixAcc).toFixed(2)} %  mIoU ${(100 * r.mIoU).toFixed(2)} %\x1b[K`) : undefined,
  });
  if (tty) process.stderr.write('\n');
  const seconds = (performance.now() - t0) / 1000;
  model.dispose();
  if (json) {
    console.log(JSON.stringify({ pixAcc: m.pixAcc, mIoU: m.mIoU, mIoUPresent: m.mIoUPresent, images: m.images, labelled: m.labelled, correct: m.correct, iou: m.iou, seconds: Math.round(seconds * 10) / 10 }));
    return;
  }
  const names = arch.published?.dataset === 'ade' ? ADE20K_CLASSES : arch.published?.dataset === 'pcontext' ? PASCAL_CONTEXT_CLASSES : null;
  const how = scales ? `scales ${scales.join(',')}${flip ? ' + flips' : ''}, crops ${crop}` : `one pass at ${base}${flip ? ' + flip' : ''}`;
  console.log(`${arch.name} on ${set.source} (${m.images} images, ${how}): pixAcc ${(100 * m.pixAcc).toFixed(2)} %, mIoU ${(100 * m.mIoU).toFixed(2)} % `
    + `(${(100 * m.mIoUPresent).toFixed(2)} % over the classes present) in ${seconds.toFixed(1)} s`);
  m.iou.map((v, k) => [v, k] as const).filter(([v]) => v > 0).sort((a, b) => b[0] - a[0]).slice(0, 10)
    .forEach(([v, k]) => console.log(`  ${(names?.[k] ?? `class ${k}`).padEnd(16)} IoU ${(100 * v).toFixed(1).padStart(5)} %`));
}
