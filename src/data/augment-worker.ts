// The augmentation worker's program (Node worker_threads): opens its own copy of the
// training data, then answers batch requests with augmented, normalised float32 batches,
// transferring the buffers back. Started by workerSource (worker-source.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { openTrainingData, type OpenOptions } from './dataset.js';
import { datasetSource, type AugmentOptions } from './loader.js';

export interface WorkerInit {
  dir: string;
  open: OpenOptions;
  augment: AugmentOptions;
}

export interface BatchRequest {
  id: number;
  idx: Int32Array;
  key: number;
}

const init = workerData as WorkerInit;
const port = parentPort!;
try {
  const { train } = await openTrainingData(init.dir, init.open);
  const source = datasetSource(train, init.augment);
  port.postMessage({ ready: train.length });
  port.on('message', (r: BatchRequest) => {
    try {
      const b = source.batch(r.idx, r.key) as { x: Float32Array; labels: Int32Array };
      port.postMessage({ id: r.id, x: b.x, labels: b.labels }, [b.x.buffer as ArrayBuffer, b.labels.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: r.id, error: (e as Error).message });
    }
  });
} catch (e) {
  port.postMessage({ error: (e as Error).message });
}
