// Writes a zoo network's (or a segmentation network's) random init (seed 0) as a torch.save .pth:
//   node build/bench/make-weights.js <arch> <out.pth>
// Run as its own process by bench/e2e.ts: Linux carries a process's peak RSS (ru_maxrss)
// into the children it spawns, so the harness itself must never hold a model.

import { writeFileSync } from 'node:fs';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { createModel } from '../src/models/resnest/zoo.js';
import { createSegmentationModel, isSegmentationArch } from '../src/models/segmentation/zoo.js';
import { saveTorch } from '../src/io/torch-save.js';
import type { RawTensor } from '../src/io/raw.js';

const [arch, out] = process.argv.slice(2);
if (!arch || !out) throw new Error('usage: make-weights <arch> <out.pth>');
const js = await initBackend('js');
const model = isSegmentationArch(arch) ? createSegmentationModel(arch, { backend: js }) : createModel(arch, { backend: js });
const sd = new Map<string, RawTensor>();
for (const [k, t] of model.stateDict()) sd.set(k, { dtype: 'float32', shape: [...t.shape], data: t.dataSync() as Float32Array });
writeFileSync(out, saveTorch(sd));
