// The normalisation a data set gets when --mean/--std are not given: its own pixel statistics.

import type { Dataset } from '../data/dataset.js';

/** Mean and standard deviation of the pixels (/255) of up to 10 000 samples, per channel, rounded to 4 digits. */
export function pixelStats(ds: Dataset): { mean: number[]; std: number[] } {
  const sums = [0, 0, 0], sq = [0, 0, 0];
  let count = 0;
  const n = Math.min(ds.length, 10_000);
  for (let i = 0; i < n; i++) {
    const img = ds.image(Math.floor((i * ds.length) / n));
    const c = img.channels;
    for (let k = 0; k < img.width * img.height; k++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = img.data[k * c + (c === 1 ? 0 : ch)]! / 255;
        sums[ch]! += v;
        sq[ch]! += v * v;
      }
    }
    count += img.width * img.height;
  }
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  const mean = sums.map((s) => s / count);
  return { mean: mean.map(r4), std: sq.map((s, ch) => r4(Math.sqrt(s / count - mean[ch]! ** 2))) };
}
