// How the explorer writes a number: a short form for people, and the exact value in a
// data-value attribute beside it, so that a test (or a curious reader with dev tools) reads
// what is shown without parsing rounded text.

import { esc } from '../../src/viz/charts.js';

export { esc };

/** Four significant decimals; exponent form for the very small or large. */
export function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : v.toFixed(4);
}

/**
 * A number as shown: `<span data-field=… data-value=…>short</span>`. `where` adds data-* keys
 * (channel, split, group, column) that say which element of which tensor it is.
 */
export function shown(field: string, v: number, where: Record<string, number | string> = {}, cls = 'num'): string {
  const attrs = Object.entries(where).map(([k, x]) => ` data-${k}="${esc(String(x))}"`).join('');
  return `<span class="${cls}" data-field="${esc(field)}" data-value="${v}"${attrs}>${fmt(v)}</span>`;
}

export const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;
