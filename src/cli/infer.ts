// resnest infer: an NCHW float32 .npy in, logits (or feature maps) .npy out.

import { ShapeError } from '../errors.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { toFloat32 } from '../io/raw.js';
import { readBytes, writeFileAtomic } from '../io/files.js';
import { FEATURE_NAMES } from '../models/resnest/resnet.js';
import { tidy } from '../tensor/scope.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { ArgumentError } from '../errors.js';
import { flag, int, parseArgs, required, str, type Parsed } from './args.js';
import { isSegmentationArch } from '../models/segmentation/zoo.js';
import { loadSegmentationModel } from '../node.js';
import { defaultBackendName, initBackend } from '../backend/registry.js';
import { archFromArgs, MODEL_OPTIONS, modelFromArgs } from './model.js';

export const INFER_USAGE = 'resnest infer --arch <name> (--weights <file> | --pretrained) --input <x.npy> --output <y.npy> [--backend wasm|js|webgpu] [--threads N] [--dilation 1|2|4] [--features [stem,layer1,…]] (a segmentation --arch writes (N, classes, H, W) logits)';

async function writeTensor(path: string, t: Tensor): Promise<void> {
  await writeFileAtomic(path, writeNpy({ dtype: 'float32', shape: [...t.shape], data: (await t.data()) as Float32Array }));
}

export async function infer(argv: string[]): Promise<void> {
  const p = parseArgs(argv, { ...MODEL_OPTIONS, input: { type: 'string' }, output: { type: 'string' }, features: { type: 'optional' } });
  if (p.positionals.length) throw new ArgumentError(`infer: unexpected argument '${p.positionals[0]}' (usage: ${INFER_USAGE})`);
  const segmentation = isSegmentationArch(str(p, 'arch') ?? '');
  if (segmentation && (p.values.has('features') || p.values.has('dilation'))) {
    throw new ArgumentError(`infer: --features and --dilation are for classification networks; ${str(p, 'arch')} is a segmentation network (its backbone is dilated to stride 8)`);
  }
  const entry = segmentation ? null : await archFromArgs(p, 'infer'); // an unknown name fails first, with the closest names
  const inputPath = required(p, 'input', 'infer');
  const outputPath = required(p, 'output', 'infer');
  const features = p.values.get('features');
  const names = typeof features === 'string' ? features.split(',').map((s) => s.trim()) : [];
  for (const n of names) {
    if (!(FEATURE_NAMES as readonly string[]).includes(n)) throw new ArgumentError(`--features: unknown stage '${n}' (${FEATURE_NAMES.join(', ')})`);
  }

  const raw = readNpy(await readBytes(inputPath), inputPath);
  if (!raw.dtype.startsWith('float') && raw.dtype !== 'bfloat16') {
    throw new ShapeError(`${inputPath}: input must be a float32 array, got ${raw.dtype}`);
  }
  if (raw.shape.length !== 4 || raw.shape[1] !== 3) {
    throw new ShapeError(`${inputPath}: input must be NCHW with 3 channels, got shape [${raw.shape.join(', ')}]`);
  }
  // PyTorch cannot run the seed's network on an empty batch either (rSoftMax's view(batch, …, -1)
  // is ambiguous with 0 elements), so say so here rather than from deep inside a block.
  if (raw.shape[0] === 0) throw new ShapeError(`${inputPath}: a batch of 0 images (shape [${raw.shape.join(', ')}]): nothing to infer`);
  const data = toFloat32(raw, inputPath);
  let nonFinite = 0;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) nonFinite++;
  if (nonFinite) process.stderr.write(`warning: ${inputPath} holds ${nonFinite} NaN/Inf values; they propagate to the outputs\n`);

  if (segmentation) return inferSegmentation(p, str(p, 'arch')!, data, raw.shape, outputPath);
  const model = await modelFromArgs(p, 'infer', entry!);
  const x = tensor(data, raw.shape, { backend: model.backend });
  const t0 = performance.now();
  if (features === undefined) {
    const logits = tidy(() => model.call(x));
    await writeTensor(outputPath, logits);
    console.log(`wrote ${outputPath} [${logits.shape.join(', ')}] in ${(performance.now() - t0).toFixed(0)} ms`);
    return;
  }
  const feats = model.features(x);
  if (names.length === 0) {
    await writeTensor(outputPath, feats.layer4);
    console.log(`wrote ${outputPath} layer4 [${feats.layer4.shape.join(', ')}] in ${(performance.now() - t0).toFixed(0)} ms`);
    return;
  }
  const base = outputPath.replace(/\.npy$/, '');
  for (const n of names) {
    const f = feats[n as keyof typeof feats];
    await writeTensor(`${base}.${n}.npy`, f);
    console.log(`wrote ${base}.${n}.npy [${f.shape.join(', ')}]`);
  }
}

/** The main head's logits upsampled to the input, (N, classes, H, W) float32: this form is stable. */
async function inferSegmentation(p: Parsed, name: string, data: Float32Array, shape: readonly number[], outputPath: string): Promise<void> {
  const weights = str(p, 'weights'), pretrained = flag(p, 'pretrained');
  if (!weights === !pretrained) throw new ArgumentError('infer: give --weights <file> or --pretrained (one of them)');
  const threads = int(p, 'threads');
  const backend = await initBackend(str(p, 'backend') ?? defaultBackendName(), threads ? { threads } : {});
  const model = await loadSegmentationModel(name, { ...(weights ? { weights } : { pretrained: true }), backend, download: { progress: true } });
  const x = tensor(data, shape, { backend });
  const t0 = performance.now();
  const logits = tidy(() => model.call(x));
  await writeTensor(outputPath, logits);
  console.log(`wrote ${outputPath} [${logits.shape.join(', ')}] in ${(performance.now() - t0).toFixed(0)} ms`);
}
