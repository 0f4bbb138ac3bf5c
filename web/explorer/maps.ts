// Thumbnails of one channel's feature map, for the explorer's nodes. Each tensor gets one
// colour scale over all its channels (not one per map), so that moving from a quiet channel to
// a loud one looks quieter and louder, as in `resnest explain`'s grids.

import type { Plane } from '../../src/models/resnest/explain.js';
import { mapPng } from '../../src/viz/charts.js';
import { esc } from './numbers.js';

export interface Scale { lo: number; hi: number }

export function scaleOf(p: Plane): Scale {
  let lo = Infinity, hi = -Infinity;
  for (const v of p.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return { lo, hi };
}

/** Map `index` of a [channels, h, w] plane as an <img> (pixelated by the style sheet). */
export function thumb(p: Plane, index: number, scale: Scale, alt: string, data: Record<string, number> = {}): string {
  const [, h, w] = p.shape as [number, number, number];
  const attrs = Object.entries(data).map(([k, v]) => ` data-${k}="${v}"`).join('');
  return `<img class="thumb" src="${mapPng(p.data, index * h * w, h, w, scale.lo, scale.hi)}" alt="${esc(alt)}" width="${w}" height="${h}"${attrs}>`;
}

/** The mean over channels of a plane, as a one-channel plane (the block's input at a glance). */
export function meanMap(p: Plane): Plane {
  const [c, h, w] = p.shape as [number, number, number];
  const out = new Float32Array(h * w);
  for (let j = 0; j < c; j++) for (let i = 0; i < h * w; i++) out[i] += p.data[j * h * w + i]! / c;
  return { shape: [1, h, w], data: out };
}
