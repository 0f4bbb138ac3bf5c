// The step-through as an explorer, driven as a learner drives it: in headless Chromium a
// block is picked in the network strip, a channel pointed at (mouse, then arrow keys), a node
// opened, r-softmax stepped through and back, and a second image compared; every number the
// page shows for it (read from the data-value beside the text) is checked against `resnest
// explain --json` for the same image and block. Then a phone-width window on the js backend
// picks a block by keyboard, and WebGPU (a software adapter, where this Chromium has one)
// shows the same channel. In Node, the explorer's pure modules on networks the default model
// is not: radix 1 (the sigmoid gate), radix 4 and cardinality 2 (groups drawn apart).
// Screenshots go to build/artifacts/ (not committed).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { explainBlock, type SplitAttentionTrace } from '../src/models/resnest/explain.js';
import { tensor } from '../src/tensor/tensor.js';
import { channelAt } from '../web/explorer/bars.js';
import { channelPanelHtml } from '../web/explorer/channel-panel.js';
import { attentionDifferences, compareHtml } from '../web/explorer/compare.js';
import { flowContext, flowNodes } from '../web/explorer/flow.js';
import { rSoftmaxSteps } from '../web/explorer/rsoftmax-steps.js';
import { CHROMIUM } from './helpers/browser.js';
import { runCli } from './helpers/cli.js';
import { ARTIFACTS, WEBGPU_ARGS, withSitePage } from './helpers/page.js';

const TOLERANCE = 1e-4;

interface Json {
  block: string; radix: number; cardinality: number; channels: number;
  gap: number[]; attention: number[][]; split_means: number[][]; fc2: number[]; fc2_per_split: number[][];
  shapes: { input: number[]; splits: number[] };
}

interface Shown { field: string; value: number; channel?: number; split?: number; index?: number; text: string; visible: boolean }

const explainJson = async (image: string, block: string) => {
  const r = await runCli(['explain', join('examples', image), '--block', block, '--json']);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Json;
};

/** |got − want| / max(|want|, 1e-3): relative, without blowing up near zero. */
const rel = (got: number, want: number) => Math.abs(got - want) / Math.max(Math.abs(want), 1e-3);

/** What the JSON says the page should show for `field` at (channel, split, index). */
function expectedValue(j: Json, s: Shown): number {
  const c = s.channel!, r = s.split ?? 0;
  switch (s.field) {
    case 'split_mean': return j.split_means[r]![c]!;
    case 'gap': return j.gap[c]!;
    case 'fc2': return j.fc2_per_split[r]![c]!;
    case 'attention': return j.attention[r]![c]!;
    case 'output_mean': return j.attention.reduce((acc, a, q) => acc + a[c]! * j.split_means[q]![c]!, 0);
    case 'logit': return j.fc2[s.index!]!;
    case 'attention_sum': return 1;
    case 'softmax': {
      const zs = j.fc2_per_split.map((l) => l[c]!), m = Math.max(...zs), e = zs.map((z) => Math.exp(z - m));
      return e[r]! / e.reduce((a, v) => a + v, 0);
    }
    default: return NaN;
  }
}

/** Every shown number under `root` against the JSON; returns the worst error per field. */
function checkShown(j: Json, shown: Shown[], where: string): Record<string, number> {
  const worst: Record<string, number> = {};
  for (const s of shown) {
    const want = expectedValue(j, s);
    if (Number.isNaN(want)) continue; // exp and Σ of the softmax step: checked through its result
    const e = rel(s.value, want);
    worst[s.field] = Math.max(worst[s.field] ?? 0, e);
    assert.ok(e <= TOLERANCE, `${where}: ${s.field} channel ${s.channel} split ${s.split ?? '-'}: shown ${s.value}, resnest explain ${want} (${e.toExponential(2)})`);
    assert.ok(s.visible, `${where}: ${s.field} ${s.channel} is on screen`);
  }
  return worst;
}

const readShown = (page: Page, selector: string) => page.$$eval(`${selector} [data-field]`, (els) => els.map((e) => {
  const d = (e as HTMLElement).dataset, n = (k: string | undefined) => (k === undefined ? undefined : Number(k));
  return { field: d.field!, value: Number(d.value), channel: n(d.channel), split: n(d.split), index: n(d.index), text: e.textContent ?? '', visible: (e as HTMLElement).checkVisibility() };
}));

/** Points the mouse at the middle of channel c's bar in a slider (cardinality 1: bars of equal width). */
async function pointAt(page: Page, slider: string, c: number, channels: number): Promise<void> {
  const loc = page.locator(slider);
  await loc.scrollIntoViewIfNeeded();
  const box = (await loc.boundingBox())!;
  await page.mouse.move(box.x + ((c + 0.5) / channels) * box.width, box.y + box.height / 2);
}

const channelOf = async (page: Page) => Number(await page.getAttribute('#explorer', 'data-channel'));

test('1280 px, wasm: pick layer3.0 in the strip, point at a channel, open nodes, step r-softmax and back, compare two images — every number = resnest explain --json', async () => {
  if (!existsSync(CHROMIUM)) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const [bag, boot] = await Promise.all([explainJson('bag.png', 'layer3.0'), explainJson('ankle-boot.png', 'layer3.0')]);
  const C = bag.channels;
  await withSitePage({}, async (page, errors) => {
    // The strip: every part of the network, the blocks with split attention as buttons.
    const parts = await page.$$eval('#net-strip .stage-name', (s) => s.map((e) => e.textContent));
    assert.equal(parts, ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head']);
    await page.click('#net-strip button[data-block="layer3.0"]');
    await page.waitForSelector('#explorer[data-block="layer3.0"][data-image="bag.png"]');
    assert.is(await page.getAttribute('#net-strip button[data-block="layer3.0"]', 'aria-pressed'), 'true');
    assert.is(await page.inputValue('#block'), 'layer3.0');
    const edges = await page.$$eval('#flow .edge .shape', (s) => s.map((e) => e.textContent));
    const shape = (s: number[]) => `[${s.join(', ')}]`;
    assert.equal(edges.slice(0, 4), [shape(bag.shapes.input), shape(bag.shapes.splits), shape(bag.shapes.splits), shape(bag.shapes.splits)], 'edges carry the shapes');

    // Point at channel 5 in GAP: every node, the readout and r-softmax follow it.
    const c = 5;
    await pointAt(page, '[data-node="gap"] .node-view', c, C);
    assert.is(await channelOf(page), c);
    const thumbs = await page.$$eval('#flow img[data-channel]', (is) => is.map((i) => Number((i as HTMLElement).dataset.channel)));
    assert.ok(thumbs.length >= 3 * 2 + 2 + 2 && thumbs.every((x) => x === c), `every map shows channel ${c}: ${thumbs}`);
    const sliders = await page.$$eval('#flow [role=slider]', (ss) => ss.map((s) => Number(s.getAttribute('aria-valuenow'))));
    assert.equal(sliders, [c, c, c]);
    const shownAt5 = (await readShown(page, '#flow')).concat(await readShown(page, '#channel-readout'));
    assert.ok(shownAt5.every((s) => s.channel === c), 'the graph and the readout show the pointed-at channel');
    const fields = new Set(shownAt5.map((s) => s.field));
    for (const f of ['split_mean', 'gap', 'fc2', 'attention', 'output_mean']) assert.ok(fields.has(f), f);
    const worst = checkShown(bag, shownAt5, `channel ${c}`);
    // The attention chart by mouse, then the arrow keys on it.
    await pointAt(page, '[data-node="rsoftmax"] .node-view', 40, C);
    assert.is(await channelOf(page), 40);
    await page.focus('[data-node="rsoftmax"] .node-view');
    await page.keyboard.press('ArrowRight');
    assert.is(await channelOf(page), 41);
    assert.match(await page.getAttribute('[data-node="rsoftmax"] .node-view', 'aria-valuetext') ?? '', /^channel 41: weights /);
    checkShown(bag, await readShown(page, '#channel-readout'), 'channel 41 by keyboard');

    // A node opened by click, another by keyboard: its figure and formula from the walk-through.
    await page.click('[data-node="gap"] .node-open');
    assert.match(await page.textContent('#node-detail h4') ?? '', /Global context/);
    await page.focus('[data-node="fc2"] .node-open');
    await page.keyboard.press('Enter');
    assert.is(await page.getAttribute('#node-detail', 'data-node'), 'fc2');
    assert.match(await page.textContent('#node-detail') ?? '', /fc1 → bn1 → relu → fc2/);
    assert.ok(await page.$('#node-detail svg title'), 'the figure, with its text alternative');
    assert.is(await page.getAttribute('[data-node="fc2"] .node-open', 'aria-expanded'), 'true');

    // r-softmax for channel 41's group, step by step: Next, then the arrow keys back.
    const stepShown: Record<number, Shown[]> = {};
    const titles: string[] = [];
    for (let i = 0; i < 5; i++) {
      assert.is(await page.getAttribute('#rsoftmax-stepper', 'data-step'), String(i));
      titles.push(await page.textContent('#rsoftmax-title') ?? '');
      stepShown[i] = await readShown(page, '#rsoftmax-body');
      if (i < 4) await page.click('#rsoftmax-next');
    }
    assert.ok(await page.isDisabled('#rsoftmax-next'), 'no step after the last');
    [/^fc2's logits/, /^view as \(batch, cardinality, radix, −1\)/, /^transpose\(1, 2\)/, /^softmax over the radix axis/, /^reshape\(batch, −1\)/].forEach((re, i) => assert.match(titles[i]!, re));
    const cols = [...new Set(stepShown[1]!.map((s) => s.channel))];
    assert.ok(cols.includes(41) && cols.length === 6, `a window of the group around channel 41: ${cols}`);
    for (const i of [0, 1, 2]) {
      // The view and the transpose move no number: each logit is fc2's [k·radix + r]·(C/k) + j, from the JSON's raw fc2.
      for (const s of stepShown[i]!) assert.is(s.index, (0 * bag.radix + s.split!) * C + s.channel!, 'cardinality 1: logit (r, j) at r·C + j');
    }
    const worstSteps = checkShown(bag, Object.values(stepShown).flat(), 'r-softmax steps');
    for (const f of ['logit', 'softmax', 'attention', 'attention_sum']) assert.ok(f in worstSteps, f);
    await page.focus('#rsoftmax-stepper');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    assert.is(await page.getAttribute('#rsoftmax-stepper', 'data-step'), '2');
    await page.keyboard.press('Home');
    assert.is(await page.getAttribute('#rsoftmax-stepper', 'data-step'), '0');
    assert.ok(await page.isDisabled('#rsoftmax-back'));

    // Compare with the ankle boot: the channels that differ most, in the order the JSONs give.
    await page.selectOption('#compare-with', 'ankle-boot.png');
    await page.click('#compare-run');
    await page.waitForSelector('#compare-out table tbody tr');
    const want = Array.from({ length: C }, (_, ch) => ({ ch, d: Math.max(...bag.attention.map((a, r) => Math.abs(a[ch]! - boot.attention[r]![ch]!))) }))
      .sort((x, y) => y.d - x.d || x.ch - y.ch).slice(0, 5);
    const rows = await page.$$eval('#compare-out tbody tr', (trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.channel)));
    assert.equal(rows, want.map((w) => w.ch), 'where they differ most');
    let worstCmp = 0;
    for (const s of await readShown(page, '#compare-out')) {
      const w = s.field === 'cmp_a' ? bag.attention[s.split!]![s.channel!]! : s.field === 'cmp_b' ? boot.attention[s.split!]![s.channel!]! : want.find((x) => x.ch === s.channel)!.d;
      const e = s.field === 'cmp_diff' ? Math.abs(s.value - w) : rel(s.value, w); // a difference of two weights: absolute
      worstCmp = Math.max(worstCmp, e);
      assert.ok(e <= TOLERANCE, `compare ${s.field} channel ${s.channel}: ${s.value} vs ${w}`);
    }
    // Pointing at a channel in the comparison moves everything else too.
    await pointAt(page, '#compare-out .cmp-view >> nth=1', want[0]!.ch, C);
    assert.is(await channelOf(page), want[0]!.ch);
    assert.is(await page.getAttribute('#compare-out tr.hl', 'data-channel'), String(want[0]!.ch));

    await page.locator('#step-section').screenshot({ path: join(ARTIFACTS, 'web-explorer-1280.png') });
    assert.equal(errors, [], `console errors: ${errors.join(' | ')}`);
    const fmt = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ');
    console.log(`  layer3.0 bag.png vs explain --json — channel ${c}: ${fmt(worst)}; r-softmax steps: ${fmt(worstSteps)}; compare with ankle-boot: worst ${worstCmp.toExponential(1)}`);
  });
});

test('390 px, js backend: a block chosen by keyboard, the channel readout = resnest explain --json, nothing wider than the screen', async () => {
  if (!existsSync(CHROMIUM)) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
  const want = await explainJson('bag.png', 'layer1.0');
  await withSitePage({ viewport: { width: 390, height: 844 } }, async (page, errors) => {
    await page.selectOption('#backend', 'js');
    await page.waitForFunction(() => /stepped through on js/.test(document.getElementById('status')!.textContent ?? ''));
    // Tab to the strip's layer2.0 (chosen), arrow left to layer1.0, Enter.
    await page.focus('#net-strip button[data-block="layer2.0"]');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#explorer[data-block="layer1.0"]');
    assert.is(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.block), 'layer1.0', 'focus stays on the chosen block');
    const c = await channelOf(page);
    const shown = await readShown(page, '#channel-readout');
    assert.ok(shown.length >= 3 * want.radix + 2 && shown.every((s) => s.channel === c));
    const worst = checkShown(want, shown, `js channel ${c}`);
    const r = await readShown(page, '#rsoftmax-body');
    assert.ok(r.length > 0 && new Set(r.map((s) => s.channel)).size === 4, 'four columns on a phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 390, `the page is ${overflow} px wide at 390`);
    await page.click('#compare-run');
    await page.waitForSelector('#compare-out table tbody tr');
    await page.locator('#step-section').screenshot({ path: join(ARTIFACTS, 'web-explorer-390.png') });
    assert.equal(errors, [], `console errors: ${errors.join(' | ')}`);
    console.log(`  390 px on js, layer1.0 channel ${c}: ${Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`);
  });
});

test('webgpu (software adapter): the explorer shows the channel as resnest explain does, to webgpu\'s 1e-3', async () => {
  if (!existsSync(CHROMIUM)) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
  const want = await explainJson('bag.png', 'layer2.0');
  await withSitePage({ args: WEBGPU_ARGS }, async (page, errors) => {
    const names = await page.$$eval('#backend option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    if (!names.includes('webgpu')) return void console.log('  (skipping: this Chromium has no navigator.gpu)');
    await page.selectOption('#backend', 'webgpu');
    await page.waitForFunction(() => /stepped through on webgpu|error/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 120_000 });
    const status = await page.textContent('#status');
    if (/no adapter|error/.test(status ?? '')) return void console.log(`  (skipping: ${status})`);
    await pointAt(page, '[data-node="fc2"] .node-view', 7, want.channels);
    assert.is(await channelOf(page), 7);
    let worst = 0;
    for (const s of await readShown(page, '#channel-readout')) {
      const e = rel(s.value, expectedValue(want, s));
      worst = Math.max(worst, e);
      assert.ok(e <= 1e-3, `webgpu ${s.field} split ${s.split}: ${s.value} vs ${expectedValue(want, s)}`);
    }
    assert.equal(errors, [], `console errors: ${errors.join(' | ')}`);
    console.log(`  webgpu layer2.0 channel 7: worst ${worst.toExponential(1)}`);
  });
});

// ---- the pure modules, on networks the embedded model is not ----------------------------------

const wasm = await initBackend('wasm');

async function traceOf(radix: number, groups: number, seed: number, image = 0): Promise<SplitAttentionTrace> {
  const model = new ResNet([1, 1, 1, 1], { radix, groups, bottleneckWidth: 32, numClasses: 3 }, wasm).resetParameters(seed).eval();
  const data = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * (0.37 + image) + seed));
  const x = tensor(data, [1, 3, 32, 32], { backend: wasm });
  try {
    return await explainBlock(model, x, 'layer2.0');
  } finally {
    x.dispose();
    model.dispose();
  }
}

/** The shown numbers of an HTML string, as the page's data-* attributes carry them. */
function numbersIn(html: string): Shown[] {
  return [...html.matchAll(/data-field="(\w+)" data-value="([^"]+)"((?: data-\w+="[^"]*")*)>([^<]*)</g)].map((m) => {
    const attr = (k: string) => { const a = new RegExp(`data-${k}="([^"]*)"`).exec(m[3]!); return a ? Number(a[1]) : undefined; };
    return { field: m[1]!, value: Number(m[2]), channel: attr('channel'), split: attr('split'), index: attr('index'), text: m[4]!, visible: true };
  });
}

test('radix 4, cardinality 2: groups drawn apart, fc2\'s logits regrouped per split, r-softmax steps through the right group', async () => {
  const t = await traceOf(4, 2, 3);
  const per = t.channels / 2, c = per + 3; // a channel of group 1
  // Pointing: every channel reachable left to right, group 1 starting after a gap.
  const seen = Array.from({ length: 1000 }, (_, i) => channelAt(i / 1000, t.channels, 2));
  assert.equal([...new Set(seen)], Array.from({ length: t.channels }, (_, i) => i));
  assert.ok(seen.filter((x) => x === per - 1).length > seen.filter((x) => x === per - 2).length, 'the gap between groups points at its neighbours');
  const ctx = flowContext(t);
  const html = flowNodes(t).map((n) => n.view(ctx, c)).join('') + channelPanelHtml(t, c);
  const shown = numbersIn(html);
  for (const s of shown) {
    const r = s.split ?? 0;
    const want = { split_mean: t.splitMeans[r]![c]!, gap: t.gap[c]!, fc2: t.fc2[(1 * 4 + r) * per + 3]!, attention: t.attention[r]![c]! }[s.field as 'gap'];
    if (want !== undefined) assert.ok(rel(s.value, want) <= 1e-6, `${s.field} ${r}: ${s.value} vs ${want}`);
  }
  assert.ok(shown.filter((s) => s.field === 'fc2').length === 2 * 4, 'four logits in the node and the readout');
  assert.match(channelPanelHtml(t, c), /cardinal group <b>1<\/b> of 2/);
  const steps = rSoftmaxSteps(t, c);
  assert.is(steps.length, 5);
  for (const s of numbersIn(steps[1]!.html)) {
    assert.is(s.index, (1 * 4 + s.split!) * per + (s.channel! - per), 'the view: logit (k, r, j) at (k·radix + r)·C/k + j');
    assert.is(s.value, t.fc2[s.index!]);
  }
  assert.ok(numbersIn(steps[1]!.html).every((s) => s.channel! >= per), 'only group 1');
  for (const s of numbersIn(steps[4]!.html).filter((x) => x.field === 'attention')) assert.is(s.value, t.attention[s.split!]![s.channel!]);
  for (const s of numbersIn(steps[3]!.html).filter((x) => x.field === 'softmax')) assert.ok(Math.abs(s.value - t.attention[s.split!]![s.channel!]!) < 1e-5, 'softmax of the regrouped logits = the block\'s attention');
  assert.match(steps[2]!.html, /g0·s0<\/span><span class="block s1">g0·s1/, 'before the transpose: group-major');
  assert.match(steps[2]!.html, /g0·s0<\/span><span class="block s0 mine">g1·s0/, 'after: split-major');
});

test('radix 1: the sigmoid gate instead of r-softmax, in the node, the readout and the steps; compare ranks the gates\' changes', async () => {
  const t = await traceOf(1, 2, 4), u = await traceOf(1, 2, 4, 1);
  const nodes = flowNodes(t);
  assert.is(nodes.find((n) => n.id === 'rsoftmax')!.label, 'sigmoid');
  assert.match(channelPanelHtml(t, 2), /sigmoid gate/);
  const steps = rSoftmaxSteps(t, 2);
  assert.equal(steps.map((s) => s.title), ['fc2\'s logits', 'the sigmoid gate']);
  for (const s of numbersIn(steps[1]!.html).filter((x) => x.field === 'attention')) {
    assert.ok(Math.abs(s.value - 1 / (1 + Math.exp(-t.fc2[s.channel!]!))) < 1e-6, 'σ(z)');
  }
  const diffs = attentionDifferences(t, u);
  assert.ok(diffs.every((d, i) => i === 0 || d.diff <= diffs[i - 1]!.diff));
  assert.is(diffs[0]!.diff, Math.max(...t.attention[0]!.map((a, j) => Math.abs(a - u.attention[0]![j]!))));
  const rows = [...compareHtml(t, u, ['a', 'b'], 0).matchAll(/<tr data-rank="\d" data-channel="(\d+)"/g)].map((m) => Number(m[1]));
  assert.equal(rows, diffs.slice(0, 5).map((d) => d.channel));
});

test.run();
