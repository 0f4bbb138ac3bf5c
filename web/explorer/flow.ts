// The chosen block as a data-flow graph: conv → bn0 → relu → the radix splits → their sum →
// GAP → fc1 → bn1 → relu → fc2 → r-softmax (or the sigmoid) → the weighted sum. Each node
// draws its tensor for the channel being pointed at (maps as thumbnails, vectors as bars with
// that channel marked) and names the section of the walk-through that explains it; each
// edge carries the shape of the tensor it passes. Pure functions of the trace: HTML strings.

import type { Plane, SplitAttentionTrace } from '../../src/models/resnest/explain.js';
import { attentionBarsSvg, barsRowsSvg } from './bars.js';
import { channelFacts, perGroup } from './channels.js';
import { meanMap, scaleOf, thumb, type Scale } from './maps.js';
import { esc, fmt, shapeText, shown } from './numbers.js';

/** One colour scale per drawn tensor, worked out once per trace. */
export interface FlowContext {
  t: SplitAttentionTrace;
  inputMean: Plane;
  scales: Record<'input' | 'conv' | 'bn0' | 'splits' | 'sum' | 'output', Scale>;
}

export function flowContext(t: SplitAttentionTrace): FlowContext {
  const inputMean = meanMap(t.input);
  return {
    t, inputMean,
    scales: { input: scaleOf(inputMean), conv: scaleOf(t.conv), bn0: scaleOf(t.bn0), splits: scaleOf(t.splits), sum: scaleOf(t.sum), output: scaleOf(t.output) },
  };
}

export interface FlowNode {
  id: string;
  label: string;
  /** What the node computes, as a formula (HTML). */
  formula: string;
  /** Index of its section in explainSections' walk-through (0 = input … 6 = the weighted output). */
  section: number;
  /** The shape of what leaves the node (its outgoing edge). */
  out: string;
  /** Pointing along it picks a channel (a vector over the block's C channels). */
  channelled: boolean;
  /** The node's picture and numbers for channel c. */
  view: (ctx: FlowContext, c: number) => string;
}

/** Map c of each split of a [radix·C, h, w] plane, side by side. */
function perSplitThumbs(ctx: FlowContext, p: Plane, scale: Scale, what: string, c: number): string {
  const { radix, channels } = ctx.t;
  return `<div class="thumbs">${Array.from({ length: radix }, (_, r) => `<figure class="split s${r % 8}">${thumb(p, r * channels + c, scale, `${what}, split ${r}, channel ${c}`, { channel: c, split: r })}<figcaption>split ${r}</figcaption></figure>`).join('')}</div>`;
}

export function flowNodes(t: SplitAttentionTrace): FlowNode[] {
  const { radix, cardinality: card, channels: C, inter } = t;
  const [, h, w] = t.splits.shape as [number, number, number];
  const per = perGroup(t);
  const interPer = inter / card;
  const band = (c: number): [number, number] => {
    const k = Math.floor(c / per);
    return [k * interPer, (k + 1) * interPer];
  };
  const squeeze = (id: string, label: string, formula: string, values: (tt: SplitAttentionTrace) => number[]): FlowNode => ({
    id, label, formula, section: 4, out: shapeText([inter]), channelled: false,
    view: (ctx, c) => barsRowsSvg([values(ctx.t)], { groups: card, ...(card > 1 ? { mark: band(c) } : {}), label: `${label}: ${inter} values${card > 1 ? `, shaded: group ${Math.floor(c / per)}'s` : ''}` })
      + `<p class="note">${card > 1 ? `group ${Math.floor(c / per)}: units ${band(c)[0]}–${band(c)[1] - 1}` : `${inter} units, all feeding every channel`}</p>`,
  });
  return [
    {
      id: 'input', label: 'input x', formula: 'x: the Bottleneck\'s conv1 → bn1 → relu', section: 0, out: shapeText(t.input.shape), channelled: false,
      view: (ctx) => `<div class="thumbs"><figure>${thumb(ctx.inputMean, 0, ctx.scales.input, 'the block input, averaged over its channels')}<figcaption>mean of ${t.input.shape[0]} channels</figcaption></figure></div>`,
    },
    {
      id: 'conv', label: 'conv', formula: `conv(x): 3×3, groups = cardinality × radix = ${card * radix}`, section: 1, out: shapeText(t.conv.shape), channelled: false,
      view: (ctx, c) => perSplitThumbs(ctx, ctx.t.conv, ctx.scales.conv, 'conv output', c),
    },
    {
      id: 'bn0', label: 'bn0', formula: 'bn0(·): each channel normalised with its running mean and variance, then scaled and shifted', section: 1, out: shapeText(t.bn0.shape), channelled: false,
      view: (ctx, c) => perSplitThumbs(ctx, ctx.t.bn0, ctx.scales.bn0, 'bn0 output', c),
    },
    {
      id: 'relu', label: 'relu', formula: 'relu(·) = max(·, 0)', section: 1, out: shapeText(t.splits.shape), channelled: false,
      view: (ctx, c) => perSplitThumbs(ctx, ctx.t.splits, ctx.scales.splits, 'relu output', c),
    },
    {
      id: 'splits', label: `${radix} radix split${radix > 1 ? 's' : ''}`, formula: `split<sub>r</sub> = channels [r·C, (r+1)·C) with C = ${C}`, section: 1,
      out: `${radix} × ${shapeText([C, h, w])}`, channelled: false,
      view: (ctx, c) => {
        const f = channelFacts(ctx.t, c);
        return `<div class="thumbs">${f.splitMeans.map((m, r) => `<figure class="split s${r % 8}">${thumb(ctx.t.splits, r * C + c, ctx.scales.splits, `split ${r}, channel ${c}`, { channel: c, split: r })}<figcaption>split ${r}<br>mean ${shown('split_mean', m, { channel: c, split: r })}</figcaption></figure>`).join('')}</div>`;
      },
    },
    {
      id: 'sum', label: 'sum', formula: 'Σ<sub>r</sub> split<sub>r</sub>', section: 2, out: shapeText(t.sum.shape), channelled: false,
      view: (ctx, c) => `<div class="thumbs"><figure>${thumb(ctx.t.sum, c, ctx.scales.sum, `sum of the splits, channel ${c}`, { channel: c })}<figcaption>channel ${c}</figcaption></figure></div>`,
    },
    {
      id: 'gap', label: 'GAP', formula: `adaptive_avg_pool2d(sum, 1): the mean of each ${h}×${w} map`, section: 3, out: shapeText([C]), channelled: true,
      view: (ctx, c) => barsRowsSvg([ctx.t.gap], { groups: card, mark: c, label: `GAP of ${C} channels` }) + `<p class="note">channel ${c}: ${shown('gap', ctx.t.gap[c]!, { channel: c })}</p>`,
    },
    squeeze('fc1', 'fc1', `1×1 conv, groups ${card}: ${C} → ${inter}`, (tt) => tt.fc1),
    squeeze('bn1', 'bn1', 'bn1(·) per unit', (tt) => tt.bn1),
    squeeze('relu1', 'relu', 'relu(·)', (tt) => tt.relu),
    {
      id: 'fc2', label: 'fc2', formula: `1×1 conv, groups ${card}: ${inter} → radix × C = ${radix * C} logits`, section: 4, out: shapeText([radix * C]), channelled: true,
      view: (ctx, c) => barsRowsSvg(ctx.t.fc2PerSplit, { groups: card, mark: c, height: radix > 1 ? 28 : 40, label: `fc2 logits, one row per split` })
        + `<p class="note">channel ${c}: ${ctx.t.fc2PerSplit.map((l, r) => `z<sub>${r}</sub> ${shown('fc2', l[c]!, { channel: c, split: r })}`).join(', ')}</p>`,
    },
    {
      id: 'rsoftmax', label: radix > 1 ? 'r-softmax' : 'sigmoid', section: 5, out: `${radix} × ${shapeText([C])}`, channelled: true,
      formula: radix > 1 ? `view (1, ${card}, ${radix}, ${per}) → transpose → softmax over the radix axis` : 'σ(z) = 1 / (1 + e<sup>−z</sup>), a gate per channel',
      view: (ctx, c) => attentionBarsSvg(ctx.t.attention, { groups: card, mark: c, label: radix > 1 ? 'attention: the splits\' weights stacked per channel' : 'sigmoid gate per channel' })
        + `<p class="note">channel ${c}: ${ctx.t.attention.map((a, r) => `${radix > 1 ? `a<sub>${r}</sub>` : 'gate'} ${shown('attention', a[c]!, { channel: c, split: r })}`).join(', ')}</p>`,
    },
    {
      id: 'output', label: 'weighted sum', formula: 'Σ<sub>r</sub> a<sub>r</sub> · split<sub>r</sub> (the splits come in again from above)', section: 6, out: shapeText(t.output.shape), channelled: false,
      view: (ctx, c) => {
        const f = channelFacts(ctx.t, c);
        return `<div class="thumbs"><figure>${thumb(ctx.t.output, c, ctx.scales.output, `output, channel ${c}`, { channel: c })}<figcaption>channel ${c}<br>mean ${shown('output_mean', f.outputMean, { channel: c })}</figcaption></figure></div>`;
      },
    },
  ];
}

/** The graph's frame: every node with its open button and an empty view, edges with shapes. */
export function flowHtml(nodes: readonly FlowNode[], t: SplitAttentionTrace): string {
  return nodes.map((n, i) => {
    const view = n.channelled
      ? `<div class="node-view" data-slider tabindex="0" role="slider" aria-label="${esc(`${n.label} per channel: point at a bar or use the arrow keys to pick a channel`)}" aria-valuemin="0" aria-valuemax="${t.channels - 1}"></div>`
      : '<div class="node-view"></div>';
    const edge = i < nodes.length - 1 ? `<div class="edge" data-edge="${n.id}"><span aria-hidden="true" class="arrow"></span><span class="shape">${esc(n.out)}</span></div>` : '';
    return `<li><div class="node" data-node="${n.id}"><button type="button" class="node-open" aria-expanded="false" aria-controls="node-detail">${esc(n.label)}</button>${view}<p class="formula">${n.formula}</p></div>${edge}</li>`;
  }).join('');
}

/** A slider's spoken value for channel c. */
export function sliderText(n: FlowNode, t: SplitAttentionTrace, c: number): string {
  const f = channelFacts(t, c);
  const group = t.cardinality > 1 ? `, group ${f.group}` : '';
  if (n.id === 'gap') return `channel ${c}${group}: GAP ${fmt(f.gap)}`;
  if (n.id === 'fc2') return `channel ${c}${group}: logits ${f.logits.map(fmt).join(', ')}`;
  return `channel ${c}${group}: ${t.radix > 1 ? 'weights' : 'gate'} ${f.attention.map(fmt).join(', ')}`;
}
