// The split-attention step-through: explainBlock against PyTorch's SplAtConv2d intermediates
// (the parity fixtures that record them: radix 1, 2 and 4, cardinality 1–4, a rectified
// conv), and `resnest explain` as a user runs it on the embedded default model (JSON fields,
// the pictures and index.html, agreement with `classify`, a wrong block name).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { ResNet } from '../src/models/resnest/resnet.js';
import { explainBlock, splitAttentionBlocks } from '../src/models/resnest/explain.js';
import { tensor } from '../src/tensor/tensor.js';
import { decodePng } from '../src/io/image/png.js';
import { expected, manifest, relErr, resnetOptions, TOLERANCE } from './helpers/fixtures.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';
import { runCli } from './helpers/cli.js';

const wasm = await initBackend('wasm');
const withSplat = manifest().networks.filter((f) => f.splat_at && f.input[0] === 1);

test('explainBlock gives PyTorch\'s SplAtConv2d tensors: splits, fc1, bn1, fc2, r-softmax, output (and the logits\' softmax)', async () => {
  assert.ok(withSplat.length >= 3, 'fixtures with split-attention intermediates');
  const radixes = new Set<number>();
  for (const fx of withSplat) {
    const ref = expected(fx.name);
    const model = new ResNet(fx.layers, resnetOptions(fx.kwargs, fx.num_classes), wasm);
    model.loadStateDict(syntheticStateDict(model, fx.seed));
    model.eval();
    const x = tensor(syntheticInput(fx.input, fx.seed), fx.input, { backend: wasm });
    const block = fx.splat_at!.replace(/\.conv2$/, '');
    const t = await explainBlock(model, x, block, { top: fx.num_classes });
    radixes.add(t.radix);
    const errs: Record<string, number> = {
      conv: relErr(t.conv.data, ref.get('splat.conv')!),
      bn0: relErr(t.bn0.data, ref.get('splat.bn0')!),
      splits: relErr(t.splits.data, Array.from(ref.get('splat.bn0')!, (v) => Math.max(v, 0))),
      fc1: relErr(t.fc1, ref.get('splat.fc1')!),
      bn1: relErr(t.bn1, ref.get('splat.bn1')!),
      fc2: relErr(t.fc2, ref.get('splat.fc2')!),
      attention: relErr(t.attention.flat(), ref.get('splat.rsoftmax')!),
      output: relErr(t.output.data, ref.get('splat.out')!),
    };
    // fc2's logits regrouped per split: r-softmax (or the sigmoid) of them is the attention, channel by channel.
    const fromLogits = t.attention.map((a, r) => a.map((_, j) => {
      if (t.radix === 1) return 1 / (1 + Math.exp(-t.fc2PerSplit[0]![j]!));
      const zs = t.fc2PerSplit.map((l) => l[j]!), m = Math.max(...zs);
      return Math.exp(zs[r]! - m) / zs.reduce((s, z) => s + Math.exp(z - m), 0);
    }));
    errs.fc2PerSplit = relErr(fromLogits.flat(), ref.get('splat.rsoftmax')!);
    const logits = ref.get('logits')!;
    const m = Math.max(...logits), z = logits.reduce((s, v) => s + Math.exp(v - m), 0);
    errs.top = Math.max(...t.top.map((p) => Math.abs(p.probability - Math.exp(logits[p.index]! - m) / z)));
    for (const [k, e] of Object.entries(errs)) assert.ok(e <= TOLERANCE, `${fx.name} ${k}: ${e.toExponential(2)}`);
    assert.equal(t.splits.shape, [t.radix * t.channels, ...t.output.shape.slice(1)]);
    assert.is(t.gap.length, t.channels);
    assert.equal(t.fc2PerSplit.flat().sort((a, b) => a - b), [...t.fc2].sort((a, b) => a - b), 'the same logits, regrouped');
    console.log(`  ${fx.name.padEnd(22)} radix ${t.radix} card ${t.cardinality} C ${t.channels}: worst ${Math.max(...Object.values(errs)).toExponential(2)}`);
    model.dispose();
    x.dispose();
  }
  assert.ok(radixes.size >= 3, `radix 1, 2 and 4 covered (${[...radixes]})`);
});

test('explainBlock refuses a folded model and names the valid blocks', async () => {
  const model = new ResNet([1, 1, 1, 1], { radix: 2, numClasses: 3 }, wasm).resetParameters(1).eval();
  assert.equal(splitAttentionBlocks(model), ['layer1.0', 'layer2.0', 'layer3.0', 'layer4.0']);
  const x = tensor(new Float32Array(3 * 32 * 32).fill(0.1), [1, 3, 32, 32], { backend: wasm });
  await explainBlock(model, x, 'layer5.0').then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /no split-attention block 'layer5\.0' \(blocks: layer1\.0, layer2\.0, layer3\.0, layer4\.0\)/));
  model.fuse();
  await explainBlock(model, x, 'layer1.0').then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /folded/));
  const plain = new ResNet([1, 1, 1, 1], { radix: 0, numClasses: 3 }, wasm);
  await explainBlock(plain, x, 'layer1.0').then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /no split attention \(radix 0\)/));
  model.dispose();
  plain.dispose();
  x.dispose();
});

test('resnest explain --json on the embedded model: the fields, r-softmax sums to 1 per channel, the top-5 of classify', async () => {
  const img = join('examples', 'sneaker.png');
  const r = await runCli(['explain', img, '--block', 'layer3.0', '--json']);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { block: string; radix: number; cardinality: number; channels: number; gap: number[]; attention: number[][]; fc2: number[]; fc2_per_split: number[][]; top: { label: string; probability: number }[] };
  assert.is(j.block, 'layer3.0');
  assert.is(j.radix, 2);
  assert.is(j.cardinality, 1);
  assert.is(j.gap.length, j.channels);
  assert.is(j.attention.length, j.radix);
  assert.equal(j.fc2_per_split, [j.fc2.slice(0, j.channels), j.fc2.slice(j.channels)], 'cardinality 1: fc2 is radix-major already');
  for (let c = 0; c < j.channels; c++) assert.ok(Math.abs(j.attention[0]![c]! + j.attention[1]![c]! - 1) < 1e-5, `channel ${c}`);
  assert.ok(j.gap.every((v) => v >= 0), 'GAP of post-ReLU maps');
  const cls = await runCli(['classify', img, '--top', '5', '--json']);
  const want = (JSON.parse(cls.stdout) as { top: { label: string; probability: number }[] }[])[0]!.top;
  assert.equal(j.top.map((t) => t.label), want.map((t) => t.label));
  j.top.forEach((t, i) => assert.ok(Math.abs(t.probability - want[i]!.probability) < 1e-4, `${t.label}: ${t.probability} vs ${want[i]!.probability} (unfused vs fused)`));
  assert.is(j.top[0]!.label, 'Sneaker');
});

test('resnest explain --out: pictures (valid PNG maps inside SVG) and an index.html with every step; a wrong block lists the valid ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnest-explain-'));
  try {
    const r = await runCli(['explain', join('examples', 'bag.png'), '--out', dir]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote 8 files to .*index\.html/);
    assert.equal(readdirSync(dir).sort(), ['attention.svg', 'gap.svg', 'index.html', 'input.svg', 'output.svg', 'splits.svg', 'squeeze.svg', 'sum.svg']);
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    for (const s of ['radix splits', 'r-softmax', 'transposes', 'fc1 → bn1 → relu → fc2', 'weighted output', 'Bag']) assert.ok(html.includes(s), s);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.svg'))) {
      const svg = readFileSync(join(dir, f), 'utf8');
      assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>') && /<title>[^<]+<\/title>/.test(svg), f);
    }
    const splits = readFileSync(join(dir, 'splits.svg'), 'utf8');
    const pngs = [...splits.matchAll(/data:image\/png;base64,([A-Za-z0-9+/=]+)/g)].map((m) => new Uint8Array(Buffer.from(m[1]!, 'base64')));
    assert.is(pngs.length, 2 * 8, 'two splits × eight channels');
    const map = decodePng(pngs[0]!, 'splits.svg');
    assert.equal([map.width, map.height], [7, 7]); // layer2 of a 28×28 input
    const bad = await runCli(['explain', join('examples', 'bag.png'), '--block', 'layer2.1']);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /no split-attention block 'layer2\.1' \(blocks: layer1\.0, layer2\.0, layer3\.0, layer4\.0\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
