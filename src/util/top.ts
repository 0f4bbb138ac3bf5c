// The k largest of a list of scores (classification's top-k).

/** Indices of the k largest values, largest first (ties: the lower index first). */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b).slice(0, Math.min(k, values.length));
}
