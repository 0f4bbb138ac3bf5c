// resnest export: a zoo network with its weights as an .onnx file (ONNX Runtime, TensorRT, …);
// a segmentation network's main head, logits upsampled to the input (Resize).

import { ArgumentError } from '../errors.js';
import { writeFileAtomic } from '../io/files.js';
import { createModel } from '../models/resnest/zoo.js';
import { DEFAULT_OPSET, checkOpset, encodeModel, traceOnnx } from '../export/onnx.js';
import { loadWeightsFile, pretrainedStateDict, resolveArch } from '../node.js';
import { flag, int, parseArgs, required, str, type Parsed } from './args.js';
import { createSegmentationModel, isSegmentationArch, segArch, segClassesOf } from '../models/segmentation/zoo.js';
import { toolkitCheckpoint } from '../io/toolkit-download.js';

export const EXPORT_USAGE = 'resnest export --onnx <out.onnx> --arch <name> [--weights <file> | --pretrained] [--opset 17] [--batch N|dynamic] [--size S] [--dilation 1|2|4] [--unfused]'
  + ' (a segmentation model: --size defaults to 512, the output is the logits at the input\'s size)';

export async function exportCommand(argv: string[]): Promise<void> {
  const p = parseArgs(argv, {
    onnx: { type: 'string' }, arch: { type: 'string' }, weights: { type: 'string' }, pretrained: { type: 'boolean' },
    opset: { type: 'string' }, batch: { type: 'string' }, size: { type: 'string' }, dilation: { type: 'string' },
    unfused: { type: 'boolean' }, verbose: { type: 'boolean' },
  });
  if (p.positionals.length) throw new ArgumentError(`export: unexpected argument '${p.positionals[0]}' (usage: ${EXPORT_USAGE})`);
  const out = required(p, 'onnx', 'export');
  const arch = required(p, 'arch', 'export');
  if (isSegmentationArch(arch)) return exportSegmentation(p, out, arch);
  const entry = await resolveArch(arch);
  const opset = checkOpset(int(p, 'opset') ?? DEFAULT_OPSET);
  const batchArg = str(p, 'batch') ?? '1';
  const batch = batchArg === 'dynamic' ? 'dynamic' as const : Number(batchArg);
  if (batch !== 'dynamic' && !(Number.isInteger(batch) && batch >= 1)) throw new ArgumentError(`--batch must be a positive integer or 'dynamic', got '${batchArg}'`);
  const size = int(p, 'size') ?? entry.crop;
  const dilation = int(p, 'dilation');
  if (dilation !== undefined && ![1, 2, 4].includes(dilation)) throw new ArgumentError(`--dilation must be 1, 2 or 4, got ${dilation}`);
  const weights = str(p, 'weights');
  const pretrained = flag(p, 'pretrained');
  if (weights && pretrained) throw new ArgumentError('export: give either --weights or --pretrained, not both');

  const t0 = performance.now();
  const sd = weights ? await loadWeightsFile(weights) : pretrained ? await pretrainedStateDict(entry.name, { progress: true }) : null;
  const numClasses = sd?.get('fc.weight')?.shape[0] ?? 1000;
  const fuse = !flag(p, 'unfused');
  const model = traceOnnx((backend) => {
    const m = createModel(entry, { backend, init: !sd, numClasses, ...(dilation ? { dilation } : {}) });
    if (sd) m.loadStateDict(sd, { where: `${arch} from ${weights ?? 'pretrained weights'}` });
    m.eval();
    return fuse ? m.fuse() : m;
  }, [batch === 'dynamic' ? 1 : batch, 3, size, size], {
    opset, batch,
    docString: `${arch} (ResNeSt) exported by resnest-ts${fuse ? '; BatchNorm folded into the convolutions' : ''}. Input: ImageNet-normalised NCHW float32.`,
    metadata: { arch, weights: weights ?? (pretrained ? 'pretrained' : 'random init (seed 0)') },
  });
  const bytes = encodeModel(model);
  await writeFileAtomic(out, bytes);
  const n = batch === 'dynamic' ? 'N' : String(batch);
  console.log(`wrote ${out}: ${arch} input [${n}, 3, ${size}, ${size}] → logits [${n}, ${numClasses}], opset ${opset}, `
    + `${model.nodes.length} nodes, ${model.initializers.length} initializers, ${(bytes.length / 1e6).toFixed(1)} MB `
    + `in ${(performance.now() - t0).toFixed(0)} ms${sd ? '' : ' (random weights: give --weights or --pretrained)'}`);
}

/** A segmentation network: input [N, 3, S, S] (default 512) → the main head's logits [N, classes, S, S]. */
async function exportSegmentation(p: Parsed, out: string, arch: string): Promise<void> {
  const weights = str(p, 'weights'), pretrained = flag(p, 'pretrained');
  if (weights && pretrained) throw new ArgumentError('export: give either --weights or --pretrained, not both');
  if (str(p, 'dilation') !== undefined) throw new ArgumentError(`export: --dilation is for classification networks; ${arch} is dilated to stride 8`);
  const opset = checkOpset(int(p, 'opset') ?? DEFAULT_OPSET);
  const batchArg = str(p, 'batch') ?? '1';
  const batch = batchArg === 'dynamic' ? 'dynamic' as const : Number(batchArg);
  if (batch !== 'dynamic' && !(Number.isInteger(batch) && batch >= 1)) throw new ArgumentError(`--batch must be a positive integer or 'dynamic', got '${batchArg}'`);
  const size = int(p, 'size') ?? 512;
  const t0 = performance.now();
  const e = segArch(arch)!;
  const sd = weights ? await loadWeightsFile(weights) : pretrained ? await loadWeightsFile(await toolkitCheckpoint(arch, e.published?.sha1 ?? '', { progress: true })) : null;
  const numClasses = (sd && segClassesOf(sd)) ?? e.numClasses ?? 150;
  const fuse = !flag(p, 'unfused');
  const model = traceOnnx((backend) => {
    const m = createSegmentationModel(arch, { backend, init: !sd, numClasses });
    if (sd) m.loadStateDict(sd, { where: `${arch} from ${weights ?? 'the published weights'}` });
    m.eval();
    return fuse ? m.fuse() : m;
  }, [batch === 'dynamic' ? 1 : batch, 3, size, size], {
    opset, batch,
    docString: `${arch} (ResNeSt segmentation, the toolkit's main head) exported by resnest-ts${fuse ? '; BatchNorm folded into the convolutions' : ''}. Input: ImageNet-normalised NCHW float32; output: class logits at the input's size.`,
    metadata: { arch, weights: weights ?? (pretrained ? 'pretrained' : 'random init (seed 0)') },
  });
  const bytes = encodeModel(model);
  await writeFileAtomic(out, bytes);
  const n = batch === 'dynamic' ? 'N' : String(batch);
  console.log(`wrote ${out}: ${arch} input [${n}, 3, ${size}, ${size}] → logits [${n}, ${numClasses}, ${size}, ${size}], opset ${opset}, `
    + `${model.nodes.length} nodes, ${model.initializers.length} initializers, ${(bytes.length / 1e6).toFixed(1)} MB in ${(performance.now() - t0).toFixed(0)} ms${sd ? '' : ' (random weights: give --weights or --pretrained)'}`);
}
