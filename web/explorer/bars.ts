// Small bar charts of per-channel vectors for the explorer's nodes: cardinal groups drawn
// apart (a gap between groups, since fc1 and fc2 never mix them), the pointed-at channel
// marked in every chart, and the inverse of the layout (channelAt) so that pointing at a bar
// picks its channel. The SVG stretches to its box (no text inside it), so a pointer's
// fraction of the width is a position in the layout.

import { esc, SPLIT_COLOURS } from '../../src/viz/charts.js';

const HIGHLIGHT = '#e69f00';
const BAND = '#fde7b0';

/** Bars per group, and the empty bars' worth left between two groups. */
function layout(n: number, groups: number): { per: number; gap: number; units: number } {
  const per = n / groups, gap = groups > 1 ? Math.max(2, Math.round(per * 0.15)) : 0;
  return { per, gap, units: n + (groups - 1) * gap };
}

/** Left edge of bar i, in bar widths. */
function slot(i: number, n: number, groups: number): number {
  const { per, gap } = layout(n, groups);
  return i + Math.floor(i / per) * gap;
}

/** The bar under a pointer at `fraction` (0–1) of the chart's width; a gap gives its nearer neighbour. */
export function channelAt(fraction: number, n: number, groups: number): number {
  const { per, gap, units } = layout(n, groups);
  const u = Math.min(Math.max(fraction, 0), 0.999999) * units;
  const k = Math.min(groups - 1, Math.floor(u / (per + gap)));
  const inside = u - k * (per + gap);
  const j = inside < per ? Math.floor(inside) : inside - per < gap / 2 ? per - 1 : per;
  return Math.min(n - 1, k * per + j);
}

export interface BarsOptions {
  groups: number;
  /** The channel to mark, or a range [start, end) to shade (fc1's units of one group). */
  mark?: number | [number, number];
  colour?: string;
  height?: number;
  label: string;
}

/** Rows of bars (one per series, e.g. per split) over the same channels, one scale for all rows. */
export function barsRowsSvg(rows: readonly (readonly number[])[], opts: BarsOptions): string {
  const n = rows[0]!.length, { units } = layout(n, opts.groups);
  const rowH = opts.height ?? 40, gapY = 4, height = rows.length * (rowH + gapY) - gapY;
  let lo = 0, hi = 0;
  for (const r of rows) for (const v of r) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const span = hi - lo || 1;
  const parts: string[] = [];
  const mark = opts.mark;
  if (Array.isArray(mark)) {
    const x0 = slot(mark[0], n, opts.groups), x1 = slot(mark[1] - 1, n, opts.groups) + 1;
    parts.push(`<rect x="${x0}" y="0" width="${x1 - x0}" height="${height}" fill="${BAND}"/>`);
  } else if (mark !== undefined) {
    parts.push(`<rect x="${slot(mark, n, opts.groups) - 0.5}" y="0" width="2" height="${height}" fill="${BAND}"/>`);
  }
  rows.forEach((row, r) => {
    const top = r * (rowH + gapY), y = (v: number) => top + ((hi - v) / span) * rowH;
    parts.push(`<line x1="0" x2="${units}" y1="${y(0)}" y2="${y(0)}" stroke="#999" stroke-width="0.5" vector-effect="non-scaling-stroke"/>`);
    const colour = opts.colour ?? (rows.length > 1 ? SPLIT_COLOURS[r % SPLIT_COLOURS.length]! : '#0072b2');
    row.forEach((v, i) => {
      const y0 = y(Math.max(v, 0)), h = Math.max(Math.abs(y(v) - y(0)), 0.4);
      parts.push(`<rect x="${slot(i, n, opts.groups) + 0.1}" y="${y0}" width="0.8" height="${h}" fill="${i === mark ? HIGHLIGHT : colour}"/>`);
    });
  });
  return `<svg class="bars" viewBox="0 0 ${units} ${height}" preserveAspectRatio="none" role="img" aria-label="${esc(opts.label)}">${parts.join('')}</svg>`;
}

/**
 * Attention per channel: the radix splits' weights stacked (they sum to 1), or one bar per
 * channel for the sigmoid gate of radix 1.
 */
export function attentionBarsSvg(attention: readonly (readonly number[])[], opts: BarsOptions): string {
  const n = attention[0]!.length, { units } = layout(n, opts.groups);
  const height = opts.height ?? 60;
  const parts: string[] = [];
  if (typeof opts.mark === 'number') parts.push(`<rect x="${slot(opts.mark, n, opts.groups) - 0.5}" y="0" width="2" height="${height}" fill="${BAND}"/>`);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    attention.forEach((a, r) => {
      const h = a[i]! * height;
      const fill = attention.length === 1 && i === opts.mark ? HIGHLIGHT : SPLIT_COLOURS[r % SPLIT_COLOURS.length]!;
      parts.push(`<rect x="${slot(i, n, opts.groups) + 0.1}" y="${height - acc - h}" width="0.8" height="${h}" fill="${fill}"/>`);
      acc += h;
    });
  }
  if (typeof opts.mark === 'number') {
    parts.push(`<rect x="${slot(opts.mark, n, opts.groups) + 0.1}" y="0" width="0.8" height="${height}" fill="none" stroke="${HIGHLIGHT}" stroke-width="2" vector-effect="non-scaling-stroke"/>`);
  }
  return `<svg class="bars" viewBox="0 0 ${units} ${height}" preserveAspectRatio="none" role="img" aria-label="${esc(opts.label)}">${parts.join('')}</svg>`;
}
