// The recipe's per-iteration learning-rate schedule (recipe.lr_at): linear warm-up from 0,
// then cosine decay to 0; and the linear scaling of the base rate with the batch.

/** lr at a 0-based iteration of `total`, after `warmup` warm-up iterations. */
export function lrAt(step: number, total: number, warmup: number, baseLr: number): number {
  if (step < warmup) return (baseLr * step) / warmup;
  const t = (step - warmup) / Math.max(1, total - warmup);
  return 0.5 * baseLr * (1 + Math.cos(Math.PI * t));
}

/** The paper's rule: lr = base · batch / 256. */
export function scaledLr(base: number, batch: number): number {
  return (base * batch) / 256;
}

/** The recipe's DropBlock rate for a 0-based epoch: rising linearly to `end` at the last epoch. */
export function dropBlockProbAt(epoch: number, epochs: number, end = 0.1): number {
  return (end * (epoch + 1)) / epochs;
}

/** The toolkit's "poly" rate at a 0-based iteration of `total`: base·(1 − t/total)^0.9. */
export function polyLr(iteration: number, total: number, base: number, power = 0.9): number {
  return base * Math.pow(Math.max(0, 1 - iteration / Math.max(1, total)), power);
}
