// The pictures of a split-attention step-through (`resnest explain --out DIR`): feature-map
// grids of the block's input, each radix split, their sum and the output; bar charts of the
// squeeze path and of the attention per cardinal group; and an index.html that walks
// through them with each tensor's shape and formula. Pure functions of the trace.

import type { SplitAttentionTrace } from '../models/resnest/explain.js';
import { attentionSvg, barsSvg, esc, featureGridSvg, SPLIT_COLOURS, stackSvg } from './charts.js';
import { base64 } from './png.js';

/** Channels to draw: the most active ones in the output, at most `n`, in channel order. */
export function channelsToShow(t: SplitAttentionTrace, n = 8): number[] {
  const [c, h, w] = t.output.shape as [number, number, number];
  const mean = Array.from({ length: c }, (_, j) => {
    let s = 0;
    for (let i = 0; i < h * w; i++) s += t.output.data[j * h * w + i]!;
    return s / (h * w);
  });
  return [...mean.keys()].sort((a, b) => mean[b]! - mean[a]!).slice(0, Math.min(n, c)).sort((a, b) => a - b);
}

const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

/** The figures of a trace: file name → SVG text. */
export function explainFigures(t: SplitAttentionTrace): Map<string, string> {
  const { radix, cardinality: card, channels: c } = t;
  const [, h, w] = t.splits.shape as [number, number, number];
  const [, oh, ow] = t.output.shape as [number, number, number];
  const chans = channelsToShow(t);
  const plane = h * w;
  const files = new Map<string, string>();
  const [ic, ih, iw] = t.input.shape as [number, number, number];
  const inChans = channelsToShow({ ...t, output: t.input }, 8).filter((j) => j < ic);
  files.set('input.svg', featureGridSvg(`${t.block}.conv2 input ${shape(t.input.shape)}`, [{ label: 'input', data: t.input.data, h: ih, w: iw }], inChans));
  files.set('splits.svg', featureGridSvg(`radix splits: relu(bn0(conv(x))) ${shape(t.splits.shape)}`, Array.from({ length: radix }, (_, r) => ({
    label: `split ${r}`, data: t.splits.data.subarray(r * c * plane, (r + 1) * c * plane), h, w,
  })), chans));
  files.set('sum.svg', featureGridSvg(`sum of the splits ${shape(t.sum.shape)}`, [{ label: 'Σ splits', data: t.sum.data, h, w }], chans));
  files.set('output.svg', featureGridSvg(`output: Σ attention · split ${shape(t.output.shape)}`, [{ label: 'output', data: t.output.data, h: oh, w: ow }], chans));
  files.set('gap.svg', barsSvg(`GAP: mean of the sum over ${h}×${w} (${c} channels)`, t.gap));
  files.set('squeeze.svg', stackSvg('the squeeze path: fc1 → bn1 → relu → fc2', [
    barsSvg(`fc1 (1×1 conv, groups ${card}): ${t.inter} values`, t.fc1, { height: 110 }),
    barsSvg('bn1', t.bn1, { height: 110 }),
    barsSvg('relu', t.relu, { height: 110 }),
    barsSvg(`fc2 (1×1 conv, groups ${card}): ${radix * c} attention logits`, t.fc2, { height: 110, colour: '#d55e00' }),
  ]));
  files.set('attention.svg', attentionSvg(radix > 1 ? `r-softmax weights per cardinal group (${radix} splits)` : 'sigmoid gate per channel', t.attention, card));

  return files;
}

/**
 * The walk through a trace: one section per step with its formula, shape and figure.
 * `figure(name, alt)` places figure `name` (an <img> of a file, or the SVG inline).
 */
export function explainSections(t: SplitAttentionTrace, figure: (name: string, alt: string) => string,
  opts: { imagePng?: Uint8Array; embedded?: boolean } = {}): string {
  const imagePng = opts.imagePng;
  const { radix, cardinality: card, channels: c } = t;
  const chans = channelsToShow(t);
  const [ic, ih, iw] = t.input.shape as [number, number, number];
  const fig = (name: string, alt: string) => `<figure>${figure(name, alt)}<figcaption>${esc(alt)}</figcaption></figure>`;
  const means = t.attention.map((a) => a.reduce((s, v) => s + v, 0) / c);
  const legend = Array.from({ length: radix }, (_, r) => `<span style="color:${SPLIT_COLOURS[r % SPLIT_COLOURS.length]}">■</span> split ${r}`).join(' ');
  const top = t.top.map((p) => `<li>${esc(p.label)}: ${(100 * p.probability).toFixed(2)} %</li>`).join('');
  const html = `<h1>Split attention in <code>${esc(t.block)}.conv2</code></h1>
<p>One SplAtConv2d of a ResNeSt ("ResNeSt: Split-Attention Networks", §3) on one image, every tensor
computed with the model's real weights. Radix <b>${radix}</b>, cardinality <b>${card}</b>, <b>${c}</b> channels
per split (C), fc1 width ${t.inter}. Feature maps show channels ${chans.join(', ')} (the most active in the
output), with one colour scale per figure: dark blue is low, yellow high.</p>
${imagePng ? `<p><img src="data:image/png;base64,${base64(imagePng)}" alt="The image, as the network saw it (after resizing and cropping)" width="112" style="image-rendering:pixelated"></p>` : ''}
<section><h2>Prediction</h2><ol>${top}</ol></section>
<section><h2>1. Input</h2><p class="shape">x: ${shape(t.input.shape)}</p>${fig('input.svg', `The block's input: ${ic} channels of ${ih}×${iw}.`)}</section>
<section><h2>2. The radix splits</h2>
<p><code>x = relu(bn0(conv(x)))</code>, a 3×3 convolution with groups = cardinality × radix = ${card * radix},
giving <span class="shape">${shape(t.splits.shape)}</span> = radix × C channels. Split r is channels [r·C, (r+1)·C).
Per-split channel means (first 8): ${t.splitMeans.map((m, r) => `split ${r}: ${m.slice(0, 8).map((v) => v.toFixed(3)).join(', ')}`).join('; ')}.</p>
${fig('splits.svg', `Each of the ${radix} splits, the same ${chans.length} channels in every row.`)}</section>
<section><h2>3. Their sum</h2><p><code>sum = Σ<sub>r</sub> split<sub>r</sub></code> (the seed calls it <code>gap</code> already) <span class="shape">${shape(t.sum.shape)}</span></p>
${fig('sum.svg', 'The element-wise sum of the splits, the same channels.')}</section>
<section><h2>4. Global context</h2><p><code>gap = adaptive_avg_pool2d(sum, 1)</code>: one number per channel, <span class="shape">[${c}]</span>.</p>
${fig('gap.svg', `The ${c} channel means of the sum.`)}</section>
<section><h2>5. Squeeze: fc1 → bn1 → relu → fc2</h2>
<p><code>atten = fc2(relu(bn1(fc1(gap))))</code>: 1×1 convolutions with groups = ${card} (each cardinal group attends
within itself), ${c} → ${t.inter} → ${radix * c}.</p>
${fig('squeeze.svg', 'fc1, bn1, relu and fc2 outputs as bar charts.')}</section>
<section><h2>6. ${radix > 1 ? 'r-softmax' : 'Sigmoid gate'}</h2>
${radix > 1 ? `<p><code>rSoftMax</code> views fc2's ${radix * c} logits as (batch, cardinality ${card}, radix ${radix}, C/${card}),
<b>transposes</b> to (batch, radix, cardinality, C/${card}) and softmaxes over the radix axis. The transpose is
why the result is radix-major, matching the splits: weight r·C + j multiplies split r's channel j, and for
every channel the ${radix} weights sum to 1. Mean weight per split: ${means.map((m, r) => `split ${r} ${m.toFixed(3)}`).join(', ')}.</p>`
    : '<p>With radix 1 there is one split: <code>atten = sigmoid(fc2(…))</code> gates each channel between 0 and 1.</p>'}
<p>${legend}</p>
${fig('attention.svg', radix > 1 ? `For each cardinal group, every channel's bar stacks the weights of the ${radix} splits.` : 'The gate of each channel.')}</section>
<section><h2>7. The weighted output</h2><p><code>out = Σ<sub>r</sub> atten<sub>r</sub> · split<sub>r</sub></code> <span class="shape">${shape(t.output.shape)}</span></p>
${fig('output.svg', 'The attention-weighted sum of the splits, the same channels.')}</section>
`;
  // Inside a page with its own title and prediction: no h1, no prediction, headings one level down.
  if (!opts.embedded) return html;
  return html.replace(/<h1>[\s\S]*?<\/h1>\n/, '').replace(/<section><h2>Prediction<\/h2>.*?<\/section>\n/, '').replace(/<(\/?)h2>/g, '<$1h3>');
}

/** File name → contents of `resnest explain --out`: the figures and an index.html that shows them. */
export function explainReport(t: SplitAttentionTrace, imagePng?: Uint8Array): Map<string, string> {
  const files = explainFigures(t);
  const body = explainSections(t, (name, alt) => `<img src="${name}" alt="${esc(alt)}">`, { imagePng });
  files.set('index.html', `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Split attention in ${esc(t.block)}</title>
<style>${EXPLAIN_CSS}</style></head><body>
${body}</body></html>
`);
  return files;
}

/** The walk-through's styles (the CLI's index.html; the page has its own sheet). */
export const EXPLAIN_CSS = `body{font-family:system-ui,sans-serif;max-width:980px;margin:0 auto;padding:1rem;line-height:1.45;color:#222}
img{max-width:100%;height:auto;border:1px solid #ddd}
figure{margin:0.5rem 0 1.5rem}figcaption{font-size:0.9rem;color:#555}
code{background:#f4f4f4;padding:0 0.25em}.shape{color:#555;font-family:monospace}
section{border-top:1px solid #eee;padding-top:0.5rem}
`;
