// Small synthetic labelled images written as an IDX directory (the Fashion-MNIST layout,
// gzipped), for training and evaluation tests that must not need the real data set.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { hash32 } from '../../src/util/random.js';

export function idxBytes(dtype: 0x08, shape: number[], data: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * shape.length);
  head[2] = dtype;
  head[3] = shape.length;
  const v = new DataView(head.buffer);
  shape.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

/**
 * Four classes a small network learns in a few steps, and that a horizontal flip keeps: a
 * bright bar at the top, at the bottom, down the middle, or none, on a noisy size × size image.
 */
export function barImages(n: number, size: number, seed: number): { pixels: Uint8Array; labels: Uint8Array } {
  const pixels = new Uint8Array(n * size * size), labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    labels[i] = c;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const bar = c === 0 ? y < size / 4 : c === 1 ? y >= (3 * size) / 4 : c === 2 ? Math.abs(x - size / 2 + 0.5) < size / 8 : false;
        const noise = hash32((seed * 7919 + i * size * size + y * size + x) >>> 0) % 60;
        pixels[i * size * size + y * size + x] = (bar ? 180 : 20) + noise;
      }
    }
  }
  return { pixels, labels };
}

/** Writes train-* (nTrain) and t10k-* (nTest) files into dir. */
export function writeIdxDir(dir: string, nTrain: number, nTest: number, size: number): void {
  mkdirSync(dir, { recursive: true });
  for (const [prefix, n, seed] of [['train', nTrain, 1], ['t10k', nTest, 2]] as const) {
    const { pixels, labels } = barImages(n, size, seed);
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzipSync(idxBytes(0x08, [n, size, size], pixels)));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idxBytes(0x08, [n], labels)));
  }
}
