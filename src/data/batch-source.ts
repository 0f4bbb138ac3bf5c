// What a training loop reads samples through: the contract between the data sets and
// loaders of src/data (arrays, image folders, the augmenting worker) and src/train.

/** One micro-batch: images [n, C, H, W] and labels [n]. */
export interface Batch {
  x: Float32Array;
  labels: Int32Array;
}

/**
 * Samples for training. `batch(indices, key)` returns the samples at `indices`, augmented with
 * randomness seeded by `key` (unique per micro-batch of the run), so the result does not
 * depend on the order batches are asked for.
 */
export interface BatchSource {
  readonly length: number;
  /** [C, H, W] of one sample as the model receives it. */
  readonly sampleShape: readonly [number, number, number];
  batch(indices: Int32Array, key: number): Batch | Promise<Batch>;
  /** Releases what the source holds (a worker). */
  close?(): Promise<void>;
}
