// The numbers of the channel being pointed at, in one place: its cardinal group, and for each
// split the mean of its map, its fc2 logit and its attention weight; the GAP value they all
// start from and the mean of the output they end in (Σ_r a_r · mean_r).

import type { SplitAttentionTrace } from '../../src/models/resnest/explain.js';
import { channelFacts } from './channels.js';
import { shown } from './numbers.js';

export function channelPanelHtml(t: SplitAttentionTrace, c: number): string {
  const f = channelFacts(t, c);
  const heads = f.attention.map((_, r) => `<th scope="col"><span class="swatch s${r % 8}"></span>split ${r}</th>`).join('');
  const row = (head: string, field: string, values: number[]) => `<tr><th scope="row">${head}</th>${values.map((v, r) => `<td>${shown(field, v, { channel: c, split: r })}</td>`).join('')}</tr>`;
  const group = t.cardinality > 1 ? `cardinal group <b>${f.group}</b> of ${t.cardinality}, its channel ${f.inGroup} of ${f.perGroup}` : `one cardinal group of ${f.perGroup} channels`;
  return `<p class="channel-where" data-channel="${c}" data-group="${f.group}">Channel <b>${c}</b> — ${group}</p>
<table class="channel-table"><thead><tr><th></th>${heads}</tr></thead><tbody>
${row('mean of the map', 'split_mean', f.splitMeans)}
${row('fc2 logit z', 'fc2', f.logits)}
${row(t.radix > 1 ? 'attention a' : 'sigmoid gate', 'attention', f.attention)}
</tbody></table>
<p>GAP (the mean of the sum of the splits): ${shown('gap', f.gap, { channel: c })}<br>
Output mean (Σ<sub>r</sub> a<sub>r</sub> · mean<sub>r</sub>): ${shown('output_mean', f.outputMean, { channel: c })}</p>`;
}
