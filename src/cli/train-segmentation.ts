// resnest train --arch <segmentation network>: the toolkit's training (PyTorch-Encoding's
// train.py) on a folder of images and masks — random scale, mirror and crop of each pair, the
// loss on both heads (aux 0.2, unlabelled pixels ignored), SGD with the heads at 10× the rate
// and the poly schedule — evaluating pixel accuracy and mIoU on the validation split after each
// epoch, and writing the state dict with the toolkit's keys (pretrained.*, head.*, auxlayer.*).

import { ArgumentError } from '../errors.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { SegmentationFolder } from '../data/seg-folder.js';
import { segBatchSource } from '../data/seg-augment.js';
import { createSegmentationModel, segArch, segClassesOf, SEG_ZOO } from '../models/segmentation/zoo.js';
import { loadWeightsFile } from '../node.js';
import { toolkitCheckpoint } from '../io/toolkit-download.js';
import { evaluateSegmentation } from '../train/seg-evaluate.js';
import { AUX_WEIGHT, segBackwardLoss, segParamGroups } from '../train/segmentation.js';
import { SGD } from '../train/optim.js';
import { stepsPerEpoch, trainLoop } from '../train/trainer.js';
import { writeFileAtomic } from '../io/files.js';
import { flag, int, num, required, str, type Parsed } from './args.js';
import { Progress } from './progress.js';
import { saveWeights } from './train-save.js';

/** Options of the classification recipe that have no meaning here: refused by name. */
const CLASSIFICATION_ONLY = ['inputs', 'labels', 'mixup', 'label-smoothing', 'nesterov', 'no-bias-decay', 'optimizer', 'warmup-epochs', 'auto-augment',
  'color-jitter', 'crop-scale', 'size', 'resize', 'mean', 'std', 'subset', 'val-split', 'workers', 'dropblock-prob', 'final-drop', 'freeze',
  'checkpoint-dir', 'resume', 'until-epoch', 'plot', 'base-lr'];

export async function trainSegmentation(p: Parsed): Promise<void> {
  const arch = segArch(required(p, 'arch', 'train'))!;
  const used = CLASSIFICATION_ONLY.filter((k) => p.values.has(k));
  if (used.length) throw new ArgumentError(`train: --${used[0]} is for classification; ${arch.name} trains as the segmentation toolkit does (see resnest train --help)`);
  const dir = required(p, 'data', 'train'), save = required(p, 'save', 'train');
  const quiet = flag(p, 'quiet');
  const epochs = int(p, 'epochs') ?? (() => { throw new ArgumentError('train: --epochs is required'); })();
  const batchSize = int(p, 'batch-size') ?? (() => { throw new ArgumentError('train: --batch-size is required'); })();
  const accumulate = int(p, 'accumulate') ?? 1;
  // The toolkit's ADE20K rate, 0.004 for a batch of 16, scaled with the batch.
  const lr = str(p, 'lr') !== undefined ? num(p, 'lr', 0) : (0.004 * batchSize * accumulate) / 16;
  const base = int(p, 'base-size') ?? 520, crop = int(p, 'crop-size') ?? 480;
  if (crop > 4096 || base > 4096) throw new ArgumentError(`--base-size and --crop-size must be at most 4096, got ${base} and ${crop}`);
  const schedule = str(p, 'lr-schedule') ?? 'poly';
  if (schedule !== 'poly' && schedule !== 'constant') throw new ArgumentError(`--lr-schedule for segmentation is poly (the toolkit's) or constant, got '${schedule}'`);
  const auxWeight = num(p, 'aux-weight', AUX_WEIGHT), seed = int(p, 'seed', 0) ?? 0;

  // Weights and data are read and checked before anything trains.
  const weights = str(p, 'weights'), backboneWeights = str(p, 'backbone-weights'), pretrained = flag(p, 'pretrained');
  if ([weights, backboneWeights, pretrained || undefined].filter((v) => v !== undefined).length > 1) {
    throw new ArgumentError('train: give one of --weights (a segmentation checkpoint), --backbone-weights (an ImageNet .pth for pretrained.*) or --pretrained');
  }
  if (pretrained && !arch.published) throw new ArgumentError(`train: --pretrained needs a published model (${[...SEG_ZOO.keys()].join(', ')}); ${arch.name} has none`);
  const sd = weights ? await loadWeightsFile(weights) : pretrained ? await loadWeightsFile(await toolkitCheckpoint(arch.name, arch.published!.sha1, { progress: !quiet })) : null;
  const fromWeights = sd ? segClassesOf(sd) : null;
  const numClasses = int(p, 'num-classes') ?? fromWeights ?? arch.numClasses;
  if (numClasses === null) throw new ArgumentError(`train: ${arch.name} is a head on a backbone: give --num-classes (the classes of your masks)`);
  if (numClasses > 255) throw new ArgumentError(`train: masks hold at most 255 classes, got --num-classes ${numClasses}`);
  const trainSet = (await SegmentationFolder.open(dir, 'train', numClasses))!;
  // Without split folders the one set trains; nothing is held out to report on.
  const held = await SegmentationFolder.open(dir, 'val', numClasses);
  const valSet = held && held.source !== trainSet.source ? held : null;

  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  const model = createSegmentationModel(arch.name, { backend, numClasses, seed });
  if (sd) {
    // A new number of classes: everything but the two classifier convs (head's and auxlayer's last) loads.
    const newHead = fromWeights !== numClasses;
    const r = model.loadStateDict(sd, { strict: !newHead, where: `${arch.name} from ${weights ?? 'the published weights'}` });
    const lastConv = /^(head\.(conv5|block)\.4|auxlayer\.conv5\.4)\.(weight|bias)$/;
    if (newHead && (r.missing.some((k) => !lastConv.test(k)) || r.unexpected.some((k) => !lastConv.test(k)))) model.loadStateDict(sd, { where: arch.name });
  } else if (backboneWeights) {
    const bsd = await loadWeightsFile(backboneWeights);
    const prefixed = new Map([...bsd].filter(([k]) => !k.startsWith('fc.')).map(([k, t]) => [`pretrained.${k}`, t]));
    const r = model.loadStateDict(prefixed, { strict: false, where: `${arch.name}'s backbone from ${backboneWeights}` });
    const missing = r.missing.filter((k) => k.startsWith('pretrained.'));
    if (missing.length || r.unexpected.length) {
      throw new ArgumentError(`${backboneWeights}: not a ${arch.backbone} checkpoint (${missing.length ? `missing ${missing[0]}` : `unexpected ${r.unexpected[0]}`})`);
    }
  }

  const source = segBatchSource(trainSet, { base, crop, augment: !flag(p, 'no-augment'), seed });
  const o = { epochs, batchSize, accumulate, lr, schedule: schedule as 'poly' | 'constant', seed, shuffle: !flag(p, 'no-shuffle') };
  const steps = stepsPerEpoch(source.length, o);
  model.train();
  const opt = new SGD(segParamGroups(model, num(p, 'weight-decay', 1e-4)), { lr, momentum: num(p, 'momentum', 0.9) });
  const progress = new Progress(process.stderr, quiet);
  const log: string[] = [];
  const logFile = str(p, 'log');
  const t0 = performance.now();
  let done = 0, last = { pixAcc: NaN, mIoU: NaN };
  progress.line(`training ${arch.name} (${numClasses} classes, ${(model.parameterCount() / 1e6).toFixed(1)} M parameters) on ${trainSet.length} images of ${trainSet.source}, `
    + `${crop}×${crop} crops, ${epochs} epoch${epochs > 1 ? 's' : ''} × ${steps} steps, lr ${lr.toPrecision(3)} (heads 10×, ${schedule}) on ${backend.name}`);
  const result = await trainLoop(model, opt, source, {
    ...o,
    objective: (x, shape, labels, scale) => segBackwardLoss(model, x, shape, labels, { auxWeight, scale }),
    onStep: (s) => {
      done++;
      const elapsed = (performance.now() - t0) / 1000;
      progress.step({ epoch: s.epoch + 1, epochs, step: s.step + 1, steps, loss: s.loss, lr: s.lr, accuracy: null, imagesPerS: s.images / (s.ms / 1000), dataMs: s.dataMs, etaS: (elapsed / done) * (epochs * steps - done) });
      log.push(JSON.stringify({ epoch: s.epoch + 1, step: s.step + 1, loss: s.loss, lr: s.lr, ms: Math.round(s.ms) }));
    },
    onEpochEnd: async (e) => {
      let line = `epoch ${e.epoch + 1}/${epochs}: mean loss ${e.meanLoss.toFixed(4)}`;
      if (valSet && !flag(p, 'no-eval')) {
        const m = await evaluateSegmentation(model, valSet, numClasses, { base });
        last = m;
        line += `, validation pixAcc ${(100 * m.pixAcc).toFixed(2)} %, mIoU ${(100 * m.mIoU).toFixed(2)} % (${(100 * m.mIoUPresent).toFixed(2)} % over classes present) on ${m.images} images`;
        log.push(JSON.stringify({ epoch: e.epoch + 1, pixAcc: m.pixAcc, mIoU: m.mIoU, mIoUPresent: m.mIoUPresent }));
      }
      progress.line(line);
      if (logFile) await writeFileAtomic(logFile, new TextEncoder().encode(log.join('\n') + '\n'));
    },
  });
  opt.zeroGrad();
  await saveWeights(model, save, flag(p, 'half'));
  const final = result.epochLosses[result.epochLosses.length - 1]!;
  console.log(`wrote ${save}: ${arch.name} (${numClasses} classes) after ${epochs} epoch${epochs > 1 ? 's' : ''} of ${steps} steps on ${backend.name}, mean loss of the last epoch ${final.toFixed(4)}`
    + `${Number.isNaN(last.mIoU) ? '' : `, validation pixAcc ${(100 * last.pixAcc).toFixed(2)} %, mIoU ${(100 * last.mIoU).toFixed(2)} %`}, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  model.dispose();
}
