// A batch source whose augmentation runs in a worker thread (Node), so the next batch is made
// while the kernels run on this one: the training loop asks for batch k + 1 before it runs
// batch k. The worker opens the data itself and draws the same per-sample randomness, so a
// run gives the same batches with or without it.

import { Worker } from 'node:worker_threads';
import { WorkerError as BaseWorkerError } from '../errors.js';
import type { Batch, BatchSource } from './batch-source.js';
import type { OpenOptions } from './dataset.js';
import type { AugmentOptions } from './loader.js';

class WorkerError extends BaseWorkerError {
  constructor(message: string) {
    super(`augmentation worker: ${message}`);
  }
}

export async function workerSource(dir: string, open: OpenOptions, augment: AugmentOptions): Promise<BatchSource> {
  const pending = new Map<number, { resolve: (b: Batch) => void; reject: (e: Error) => void }>();
  const worker = new Worker(new URL('./augment-worker.js', import.meta.url), { workerData: { dir, open, augment } });
  // Referenced only while a batch is awaited: an idle worker never keeps the process alive (an error exit, say).
  const track = () => (pending.size ? worker.ref() : worker.unref());
  let failed: Error | null = null;
  const length = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m: { ready?: number; error?: string }) => (m.error ? reject(new WorkerError(m.error)) : resolve(m.ready!)));
    worker.once('error', (e) => reject(new WorkerError(e.message)));
  });
  worker.on('message', (m: { id: number; x?: Float32Array; labels?: Int32Array; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    track();
    if (m.error) p.reject(new WorkerError(m.error));
    else p.resolve({ x: m.x!, labels: m.labels! });
  });
  worker.on('error', (e) => {
    failed = new WorkerError(e.message);
    for (const p of pending.values()) p.reject(failed);
    pending.clear();
    track();
  });
  track();
  let next = 0;
  return {
    length,
    sampleShape: [3, augment.size, augment.size],
    batch(idx, key) {
      if (failed) return Promise.reject(failed);
      const id = next++;
      return new Promise<Batch>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        track();
        worker.postMessage({ id, idx, key });
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}
