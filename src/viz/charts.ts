// SVG pictures of tensors, for `resnest explain` and the step-through page: grids of feature
// maps (each an embedded PNG, drawn with one colour scale per figure so that maps compare),
// bar charts of vectors, and stacked bars of attention weights. Every figure carries a
// <title> and <desc> as its text alternative. No DOM and no Node built-ins.

import { base64, encodePng } from './png.js';

/** Dark blue → teal → yellow (a perceptually ordered ramp, legible in grey). */
const RAMP: readonly [number, number, number][] = [[13, 8, 135], [84, 2, 163], [139, 10, 165], [185, 50, 137], [219, 92, 104], [244, 136, 73], [254, 188, 43], [240, 249, 33]];
/** Colours of the radix splits (distinct in common colour blindness). */
export const SPLIT_COLOURS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442', '#000000'];

function ramp(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x)), f = x - i;
  const a = RAMP[i]!, b = RAMP[i + 1]!;
  return [0, 1, 2].map((k) => Math.round(a[k]! + f * (b[k]! - a[k]!))) as [number, number, number];
}

/** Text for SVG / HTML content and attribute values. */
export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: number) => (Math.abs(v) >= 100 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : v.toFixed(2));

/** One map [h, w] as a data: URL PNG, values scaled from [lo, hi]. */
export function mapPng(data: Float32Array, offset: number, h: number, w: number, lo: number, hi: number): string {
  const rgb = new Uint8Array(h * w * 3);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < h * w; i++) rgb.set(ramp((data[offset + i]! - lo) / span), 3 * i);
  return `data:image/png;base64,${base64(encodePng(w, h, rgb))}`;
}

export interface GridRow {
  label: string;
  /** [channels, h, w] values; `channels` picks which to draw. */
  data: Float32Array;
  h: number;
  w: number;
}

/**
 * Rows of feature maps (e.g. one per radix split), the same channels in every row, one colour
 * scale for the whole figure (its range in the caption).
 */
export function featureGridSvg(title: string, rows: readonly GridRow[], channels: readonly number[], opts: { tile?: number; desc?: string } = {}): string {
  const tile = opts.tile ?? 64, gap = 6, left = 90, top = 34;
  let lo = Infinity, hi = -Infinity;
  for (const r of rows) {
    for (const c of channels) {
      for (let i = 0; i < r.h * r.w; i++) {
        const v = r.data[c * r.h * r.w + i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  const width = left + channels.length * (tile + gap) + 10, height = top + rows.length * (tile + gap) + 34;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="sans-serif" font-size="12">`,
    `<title>${esc(title)}</title><desc>${esc(opts.desc ?? `${rows.length} rows of ${channels.length} feature maps (channels ${channels.join(', ')}); values from ${num(lo)} (dark blue) to ${num(hi)} (yellow)`)}</desc>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="4" y="18" font-weight="bold">${esc(title)}</text>`,
  ];
  channels.forEach((c, j) => parts.push(`<text x="${left + j * (tile + gap) + tile / 2}" y="${top - 4}" text-anchor="middle" fill="#444">ch ${c}</text>`));
  rows.forEach((r, i) => {
    const y = top + i * (tile + gap);
    parts.push(`<text x="4" y="${y + tile / 2 + 4}">${esc(r.label)}</text>`);
    channels.forEach((c, j) => {
      parts.push(`<image x="${left + j * (tile + gap)}" y="${y}" width="${tile}" height="${tile}" style="image-rendering:pixelated" preserveAspectRatio="none" href="${mapPng(r.data, c * r.h * r.w, r.h, r.w, lo, hi)}"/>`);
    });
  });
  // The colour scale.
  const sy = top + rows.length * (tile + gap) + 6, sw = 200;
  for (let k = 0; k < 20; k++) {
    const [cr, cg, cb] = ramp(k / 19);
    parts.push(`<rect x="${left + (k * sw) / 20}" y="${sy}" width="${sw / 20 + 0.5}" height="10" fill="rgb(${cr},${cg},${cb})"/>`);
  }
  parts.push(`<text x="${left - 4}" y="${sy + 9}" text-anchor="end">${num(lo)}</text><text x="${left + sw + 4}" y="${sy + 9}">${num(hi)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

/** A bar per value (negative bars below the zero line). */
export function barsSvg(title: string, values: readonly number[], opts: { width?: number; height?: number; colour?: string; desc?: string } = {}): string {
  const width = opts.width ?? 720, height = opts.height ?? 140, left = 50, top = 26, bottom = 16;
  const lo = Math.min(0, ...values), hi = Math.max(0, ...values);
  const span = hi - lo || 1, plot = height - top - bottom;
  const y = (v: number) => top + ((hi - v) / span) * plot;
  const bw = (width - left - 10) / Math.max(1, values.length);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title><desc>${esc(opts.desc ?? `${values.length} values from ${num(Math.min(...values))} to ${num(Math.max(...values))}`)}</desc>`,
    `<rect width="100%" height="100%" fill="#fff"/><text x="4" y="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${left - 4}" y="${y(hi) + 4}" text-anchor="end">${num(hi)}</text><text x="${left - 4}" y="${y(lo) + 4}" text-anchor="end">${num(lo)}</text>`,
    `<line x1="${left}" x2="${width - 10}" y1="${y(0)}" y2="${y(0)}" stroke="#888"/>`,
  ];
  values.forEach((v, i) => {
    const y0 = y(Math.max(v, 0)), h = Math.abs(y(v) - y(0));
    parts.push(`<rect x="${left + i * bw}" y="${y0}" width="${Math.max(bw - (bw > 3 ? 1 : 0), 0.5)}" height="${Math.max(h, 0.5)}" fill="${opts.colour ?? '#0072b2'}"/>`);
  });
  parts.push(`<text x="${left}" y="${height - 3}" fill="#444">0</text><text x="${width - 10}" y="${height - 3}" text-anchor="end" fill="#444">${values.length - 1}</text></svg>`);
  return parts.join('\n');
}

/**
 * Attention weights per cardinal group: for each channel, the radix splits' weights stacked
 * (they sum to 1 under r-softmax); one panel per group. A sigmoid gate (radix 1) is one bar.
 */
export function attentionSvg(title: string, attention: readonly (readonly number[])[], cardinality: number, opts: { width?: number } = {}): string {
  const radix = attention.length, c = attention[0]!.length, per = c / cardinality;
  const width = opts.width ?? 720, panel = 120, left = 50, top = 26, gapY = 28;
  const height = top + cardinality * (panel + gapY) + (radix > 1 ? 16 : 0);
  const bw = (width - left - 10) / per;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title><desc>${esc(`${cardinality} cardinal group(s) of ${per} channels; ${radix > 1 ? `each channel's bar stacks the weights of its ${radix} splits (they sum to 1)` : 'each bar is the sigmoid gate of a channel'}. Mean weight per split: ${attention.map((a, r) => `split ${r} ${num(a.reduce((s, v) => s + v, 0) / c)}`).join(', ')}.`)}</desc>`,
    `<rect width="100%" height="100%" fill="#fff"/><text x="4" y="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let k = 0; k < cardinality; k++) {
    const y0 = top + k * (panel + gapY) + 14;
    parts.push(`<text x="4" y="${y0 - 3}">group ${k} (channels ${k * per}–${(k + 1) * per - 1})</text>`);
    parts.push(`<text x="${left - 4}" y="${y0 + 8}" text-anchor="end">1</text><text x="${left - 4}" y="${y0 + panel}" text-anchor="end">0</text>`);
    for (let j = 0; j < per; j++) {
      let acc = 0;
      for (let r = 0; r < radix; r++) {
        const v = attention[r]![k * per + j]!;
        const h = v * panel;
        parts.push(`<rect x="${left + j * bw}" y="${y0 + panel - acc - h}" width="${Math.max(bw - (bw > 3 ? 1 : 0), 0.5)}" height="${h}" fill="${SPLIT_COLOURS[r % SPLIT_COLOURS.length]}"/>`);
        acc += h;
      }
    }
  }
  if (radix > 1) {
    const ly = height - 6;
    for (let r = 0; r < radix; r++) parts.push(`<rect x="${left + r * 80}" y="${ly - 9}" width="10" height="10" fill="${SPLIT_COLOURS[r % SPLIT_COLOURS.length]}"/><text x="${left + r * 80 + 14}" y="${ly}">split ${r}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Several SVG figures stacked into one (each nested at its own height), with one title. */
export function stackSvg(title: string, figures: readonly string[]): string {
  const size = (f: string, k: 'width' | 'height') => Number(new RegExp(`${k}="([\\d.]+)"`).exec(f)?.[1] ?? 0);
  const width = Math.max(...figures.map((f) => size(f, 'width')));
  let y = 0;
  const inner = figures.map((f) => {
    const at = y;
    y += size(f, 'height');
    return f.replace('<svg ', `<svg x="0" y="${at}" `);
  });
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" role="img">`, `<title>${esc(title)}</title>`, ...inner, '</svg>'].join('\n');
}
