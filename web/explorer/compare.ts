// Two images through the same block: the attention each gives every channel, side by side,
// and the channels where they disagree most. For radix 2 the two splits' weights are one
// number per channel (a and 1 − a), so the difference of the largest change over the splits
// is the same as the change of either; for radix 1 it is the change of the gate.

import type { SplitAttentionTrace } from '../../src/models/resnest/explain.js';
import { attentionBarsSvg, barsRowsSvg } from './bars.js';
import { esc, shown } from './numbers.js';

export interface Difference {
  channel: number;
  a: number[];
  b: number[];
  /** max over the splits of |a_r − b_r|. */
  diff: number;
}

/** Every channel's attention in both traces, the largest differences first. */
export function attentionDifferences(a: SplitAttentionTrace, b: SplitAttentionTrace): Difference[] {
  if (a.block !== b.block || a.channels !== b.channels || a.radix !== b.radix) throw new Error('compare: two traces of the same block');
  return Array.from({ length: a.channels }, (_, c) => {
    const wa = a.attention.map((s) => s[c]!), wb = b.attention.map((s) => s[c]!);
    return { channel: c, a: wa, b: wb, diff: Math.max(...wa.map((v, r) => Math.abs(v - wb[r]!))) };
  }).sort((x, y) => y.diff - x.diff || x.channel - y.channel);
}

export function compareHtml(a: SplitAttentionTrace, b: SplitAttentionTrace, names: [string, string], c: number, top = 5): string {
  const diffs = attentionDifferences(a, b);
  const byChannel = [...diffs].sort((x, y) => x.channel - y.channel).map((d) => d.diff);
  const what = a.radix > 1 ? 'weights' : 'gate';
  const chart = (t: SplitAttentionTrace, name: string) => `<figure class="cmp-chart"><figcaption>${esc(name)}</figcaption>`
    + `<div class="cmp-view" data-slider tabindex="0" role="slider" aria-label="${esc(`attention ${what} for ${name}: point or use the arrow keys to pick a channel`)}" aria-valuemin="0" aria-valuemax="${t.channels - 1}" aria-valuenow="${c}">`
    + `${attentionBarsSvg(t.attention, { groups: t.cardinality, mark: c, label: `${what} per channel for ${name}` })}</div></figure>`;
  // One cell per image, the splits' weights one under the other (narrow enough for a phone).
  const weights = (field: string, d: Difference, ws: number[]) => `<td>${ws.map((v, r) => `<span class="w">${a.radix > 1 ? `<span class="swatch s${r % 8}"></span>` : ''}${shown(field, v, { channel: d.channel, split: r })}</span>`).join('<br>')}</td>`;
  const rows = diffs.slice(0, top).map((d, i) => `<tr data-rank="${i}" data-channel="${d.channel}"${d.channel === c ? ' class="hl"' : ''}><th scope="row">${d.channel}</th>`
    + weights('cmp_a', d, d.a) + weights('cmp_b', d, d.b) + `<td>${shown('cmp_diff', d.diff, { channel: d.channel })}</td></tr>`).join('');
  return `<div class="cmp-charts">${chart(a, names[0])}${chart(b, names[1])}</div>`
    + `<figure class="cmp-chart"><figcaption>|difference| per channel (largest over the splits)</figcaption>${barsRowsSvg([byChannel], { groups: a.cardinality, mark: c, colour: '#d55e00', label: 'difference per channel' })}</figure>`
    + `<table class="cmp-top"><caption>Where they differ most</caption><thead><tr><th scope="col">channel</th><th scope="col">${esc(names[0])}</th><th scope="col">${esc(names[1])}</th><th scope="col">|Δ|</th></tr></thead><tbody>${rows}</tbody></table>`;
}
