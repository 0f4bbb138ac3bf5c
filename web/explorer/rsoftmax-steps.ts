// r-softmax for one cardinal group, one step at a time, with the block's real numbers: fc2's
// logits as they leave the conv, the view as (batch, cardinality, radix, −1), the transpose
// that makes the result radix-major, the softmax over the radix axis (exp, sum, divide), and
// the weights as the splits receive them. Radix 1 has no softmax: a sigmoid gate, in two
// steps. A window of a few channels of the group keeps the tables readable on a phone.

import type { SplitAttentionTrace } from '../../src/models/resnest/explain.js';
import { perGroup } from './channels.js';
import { esc, shown } from './numbers.js';

export interface RStep {
  title: string;
  /** The shape of the tensor after this step. */
  shape: string;
  html: string;
}

/** Up to `size` channels of c's cardinal group, c among them (near the middle where it can be). */
export function channelWindow(t: SplitAttentionTrace, c: number, size = 6): number[] {
  const per = perGroup(t), start = Math.floor(c / per) * per, n = Math.min(size, per);
  const first = Math.min(Math.max(c - Math.floor((n - 1) / 2), start), start + per - n);
  return Array.from({ length: n }, (_, i) => first + i);
}

/** Index of the logit for (group k, split r, channel-in-group j) in fc2's output, as it comes out. */
export const fc2Index = (t: SplitAttentionTrace, k: number, r: number, j: number) => (k * t.radix + r) * perGroup(t) + j;

function table(caption: string, cols: readonly number[], c: number, rows: { head: string; cells: (col: number) => string }[]): string {
  const th = cols.map((col) => `<th scope="col"${col === c ? ' class="hl"' : ''}>ch ${col}</th>`).join('');
  const body = rows.map((r) => `<tr><th scope="row">${r.head}</th>${cols.map((col) => `<td${col === c ? ' class="hl"' : ''}>${r.cells(col)}</td>`).join('')}</tr>`).join('');
  return `<table class="steps-table"><caption>${caption}</caption><thead><tr><th></th>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

/** The order of (group, split) blocks of C/cardinality logits in memory, group k marked. */
function blockOrder(card: number, radix: number, k: number, splitMajor: boolean): string {
  const blocks: string[] = [];
  const outer = splitMajor ? radix : card, inner = splitMajor ? card : radix;
  for (let a = 0; a < outer; a++) {
    for (let b = 0; b < inner; b++) {
      const g = splitMajor ? b : a, r = splitMajor ? a : b;
      blocks.push(`<span class="block s${r % 8}${g === k ? ' mine' : ''}">g${g}·s${r}</span>`);
    }
  }
  return `<p class="order" aria-label="memory order of the blocks">${blocks.join('')}</p>`;
}

/** The steps for channel c's group, showing `columns` channels of it around c. */
export function rSoftmaxSteps(t: SplitAttentionTrace, c: number, columns = 6): RStep[] {
  const { radix, cardinality: card, channels: C } = t;
  const per = perGroup(t), k = Math.floor(c / per), cols = channelWindow(t, c, columns);
  const logit = (r: number, col: number) => t.fc2[fc2Index(t, k, r, col - k * per)]!;
  const groupNote = card > 1 ? ` group ${k} (channels ${k * per}–${(k + 1) * per - 1})` : '';
  const splitsHead = (r: number) => `<span class="swatch s${r % 8}"></span>s${r}`;

  if (radix === 1) {
    return [
      {
        title: 'fc2\'s logits', shape: `[1, ${C}, 1, 1]`,
        html: `<p>One logit per channel; radix 1 has nothing to share out between splits.</p>`
          + table(`z = fc2(…)${esc(groupNote)}`, cols, c, [{ head: 'z', cells: (col) => shown('logit', t.fc2[col]!, { channel: col, split: 0 }) }]),
      },
      {
        title: 'the sigmoid gate', shape: `[1, ${C}]`,
        html: `<p>σ(z) = 1 / (1 + e<sup>−z</sup>) gates each channel between 0 and 1; the output is σ(z) · split<sub>0</sub>.</p>`
          + table('σ(z)', cols, c, [
            { head: 'e<sup>−z</sup>', cells: (col) => shown('expneg', Math.exp(-t.fc2[col]!), { channel: col }) },
            { head: 'σ(z)', cells: (col) => shown('attention', t.attention[0]![col]!, { channel: col, split: 0 }) },
          ]),
      },
    ];
  }

  const exps = (col: number) => {
    const zs = Array.from({ length: radix }, (_, r) => logit(r, col)), m = Math.max(...zs);
    const e = zs.map((z) => Math.exp(z - m));
    return { m, e, sum: e.reduce((s, v) => s + v, 0) };
  };
  const rows = (field: string, value: (r: number, col: number) => number) => Array.from({ length: radix }, (_, r) => ({
    head: splitsHead(r), cells: (col: number) => shown(field, value(r, col), { channel: col, split: r, index: fc2Index(t, k, r, col - k * per) }),
  }));
  const flat = Array.from({ length: radix }, (_, r) => ({
    head: `${splitsHead(r)} <small>@${(k * radix + r) * per}+j</small>`,
    cells: (col: number) => shown('logit', logit(r, col), { channel: col, split: r, index: fc2Index(t, k, r, col - k * per) }),
  }));
  return [
    {
      title: 'fc2\'s logits, as they come out', shape: `[1, ${radix * C}, 1, 1]`,
      html: `<p>fc2 is a grouped 1×1 conv: its output is ${card} block${card > 1 ? 's' : ''} (one per cardinal group), each holding ${radix} runs of ${per} logits, one run per split.
Here is${esc(groupNote) || ' the group'}: its logits sit at indices ${k * radix * per}–${(k + 1) * radix * per - 1}.</p>`
        + blockOrder(card, radix, k, false) + table(`fc2's output, a few channels of${esc(groupNote) || ' the group'}`, cols, c, flat),
    },
    {
      title: 'view as (batch, cardinality, radix, −1)', shape: `[1, ${card}, ${radix}, ${per}]`,
      html: `<p>A view moves no number: the same logits, now addressed as [batch, group, split, channel-in-group]. Row s<sub>r</sub> is split r's logits for${esc(groupNote) || ' the group'}.</p>`
        + table(`[0, ${k}, r, j]`, cols, c, rows('logit', (r, col) => logit(r, col))),
    },
    {
      title: 'transpose(1, 2)', shape: `[1, ${radix}, ${card}, ${per}]`,
      html: `<p>Swapping the group and split axes puts every split's logits together: split r, group ${k}, channel j lands at index r·C + ${k}·${per} + j, the same place as channel ${k}·${per} + j of split r. ${card === 1 ? 'With one group the order does not change; with several it does.' : 'Before and after:'}</p>`
        + blockOrder(card, radix, k, false) + blockOrder(card, radix, k, true)
        + table(`[0, r, ${k}, j]`, cols, c, rows('logit', (r, col) => logit(r, col))),
    },
    {
      title: 'softmax over the radix axis', shape: `[1, ${radix}, ${card}, ${per}]`,
      html: `<p>For each channel, the ${radix} logits compete: a<sub>r</sub> = e<sup>z<sub>r</sub> − m</sup> / Σ<sub>s</sub> e<sup>z<sub>s</sub> − m</sup>, with m the largest (subtracting it changes nothing but keeps e<sup>z</sup> finite).</p>`
        + table('exp, sum, divide', cols, c, [
          ...rows('exp', (r, col) => exps(col).e[r]!).map((row, r) => ({ ...row, head: `e<sup>z<sub>${r}</sub> − m</sup>` })),
          { head: 'Σ', cells: (col) => shown('expsum', exps(col).sum, { channel: col }) },
          ...rows('softmax', (r, col) => exps(col).e[r]! / exps(col).sum).map((row, r) => ({ ...row, head: `a<sub>${r}</sub>` })),
        ]),
    },
    {
      title: 'reshape(batch, −1): the weights of the splits', shape: `[1, ${radix * C}] = ${radix} × [${C}]`,
      html: `<p>Flattened radix-major, weight r·C + j multiplies split r's channel j. These are the block's own numbers (what the model computed); for every channel they sum to 1.</p>`
        + table('attention', cols, c, [
          ...Array.from({ length: radix }, (_, r) => ({ head: splitsHead(r), cells: (col: number) => shown('attention', t.attention[r]![col]!, { channel: col, split: r }) })),
          { head: 'Σ', cells: (col) => shown('attention_sum', t.attention.reduce((s, a) => s + a[col]!, 0), { channel: col }) },
        ]),
    },
  ];
}
