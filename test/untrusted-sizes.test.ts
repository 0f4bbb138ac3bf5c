// Files whose numbers, not bytes, are hostile: an image of extreme aspect ratio, a model card
// or architecture asking for absurd sizes, an empty batch. Through the CLI as a user runs it:
// either a result in bounded time and memory, or one line naming the file and key, exit 1.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError, ResourceLimitError } from '../src/errors.js';
import { archFromConfig, configOf, ZOO } from '../src/models/resnest/zoo.js';
import { writeNpy } from '../src/io/npy.js';
import { encodePng } from '../src/viz/png.js';
import { runCli } from './helpers/cli.js';

const ROOT = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'resnest-untrusted-sizes-'));
const DEFAULT_CARD = JSON.parse(readFileSync(join(ROOT, 'models/default.json'), 'utf8')) as Record<string, unknown>;

/** The default model's weights under a new name, with its card changed by `edit`. */
function cardModel(name: string, edit: (card: Record<string, any>) => void): string {
  const weights = join(dir, `${name}.pth`);
  copyFileSync(join(ROOT, 'models/default.pth'), weights);
  const card = structuredClone(DEFAULT_CARD);
  edit(card);
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(card));
  return weights;
}

const lines = (s: string) => s.trimEnd().split('\n');

test('a 1×65535 PNG through classify at resize 256, crop 224: classified in bounded time and memory', async () => {
  const png = join(dir, 'tall.png');
  const rgb = new Uint8Array(65535 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) & 255;
  writeFileSync(png, encodePng(1, 65535, rgb));
  const weights = cardModel('big', (c) => (c.preprocess = { ...c.preprocess, size: 224, resize: 256 }));
  // Resizing the whole image first would need 256 × 16.7 M × 3 bytes; the crop needs 224².
  const t = performance.now();
  const r = await runCli(['classify', png, '--weights', weights, '--top', '1', '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(performance.now() - t < 30_000);
  const out = JSON.parse(r.stdout) as { file: string; top: { probability: number }[] }[];
  assert.is(out[0]!.file, png);
  assert.ok(out[0]!.top[0]!.probability > 0 && out[0]!.top[0]!.probability <= 1);
});

test('a card asking for an absurd resize, crop, mean or std: one line naming the card and key, exit 1', async () => {
  const png = join(ROOT, 'test/fixtures/images/rgb8_37x53.png');
  const cases: [string, (p: Record<string, unknown>) => void, string][] = [
    ['resize', (p) => (p.resize = 20000), "'preprocess.resize' must be an integer from 1 to 4096, got 20000"],
    ['size', (p) => (p.size = 1e6), "'preprocess.size' must be an integer from 1 to 4096, got 1000000"],
    ['std', (p) => (p.std = [0.3, 0, 0.3]), "'preprocess.std' must be 3 finite numbers above 0, got [0.3,0,0.3]"],
    ['mean', (p) => (p.mean = new Array(100_000).fill(0.5)), "'preprocess.mean' must be 3 finite numbers, got [0.5,0.5,"],
  ];
  for (const [name, edit, message] of cases) {
    const weights = cardModel(`card-${name}`, (c) => edit(c.preprocess));
    const t = performance.now();
    const r = await runCli(['classify', png, '--weights', weights]);
    assert.is(r.code, 1, `${name}: ${r.stderr}`);
    assert.is(lines(r.stderr).length, 1, r.stderr);
    assert.ok(r.stderr.startsWith(`resnest: ${join(dir, `card-${name}.json`)}: model card: ${message}`), r.stderr);
    assert.ok(r.stderr.length < 300, r.stderr);
    assert.ok(performance.now() - t < 10_000);
  }
});

test('architecture arguments: each key bounded, named with the file, refused before anything is allocated', () => {
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ layers: [3000, 1, 1, 1] }, /^a\.json: 'layers' must be four block counts from 1 to 64, got \[3000,1,1,1\]$/],
    [{ layers: new Array(1e6).fill(1) }, /^a\.json: 'layers' must be four block counts from 1 to 64, got \[1,1,1,.{0,60}$/],
    [{ layers: [1, 1, 1, 1], stem_width: 100000 }, /^a\.json: 'stem_width' must be an integer from 1 to 4096, got 100000$/],
    [{ layers: [1, 1, 1, 1], groups: 0 }, /^a\.json: 'groups' must be an integer from 1 to 1024, got 0$/],
    [{ layers: [1, 1, 1, 1], num_classes: 1e9 }, /^a\.json: 'num_classes' must be an integer from 1 to 100000, got 1000000000$/],
    [{ layers: [1, 1, 1, 1], dilation: 3 }, /^a\.json: 'dilation' must be 1, 2 or 4, got 3$/],
    [{ layers: [1, 1, 1, 1], final_drop: 2 }, /^a\.json: 'final_drop' must be a number from 0 to 1, got 2$/],
    // PyTorch refuses it too: the 3×3 conv's 64 channels in 3 groups per split.
    [{ layers: [1, 1, 1, 1], radix: 3 }, /^a\.json: these ResNet arguments make no valid network: Conv2d: .*divisible by groups \(3\)$/],
  ];
  for (const [cfg, message] of refused) {
    assert.throws(() => archFromConfig(cfg, 'a.json'), (e: unknown) => e instanceof ArgumentError && message.test(e.message), JSON.stringify(cfg).slice(0, 80));
  }
  // Every key in range, the product not: counted on the meta backend, nothing allocated.
  const before = process.memoryUsage().arrayBuffers;
  const t = performance.now();
  for (const cfg of [{ layers: [64, 64, 64, 64], bottleneck_width: 256 }, { layers: [1, 1, 1, 1], groups: 1024, bottleneck_width: 4096 },
    { layers: [1, 1, 1, 1], deep_stem: true, stem_width: 4096, num_classes: 100000 }]) {
    assert.throws(() => archFromConfig(cfg, 'a.json'), (e: unknown) => e instanceof ResourceLimitError && /^a\.json: these ResNet arguments make a network .*(above the 2 GiB limit|too large to build)/.test(e.message),
      JSON.stringify(cfg));
  }
  assert.ok(performance.now() - t < 1000, `${performance.now() - t} ms`);
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 << 20);
});

test('every zoo network and the default model pass the architecture checks', () => {
  for (const e of ZOO.values()) {
    const back = archFromConfig(configOf(e, 1000), e.name);
    assert.equal(back.layers, e.layers, e.name);
  }
  archFromConfig(DEFAULT_CARD.resnet, 'models/default.json');
  archFromConfig(JSON.parse(readFileSync(join(ROOT, 'scripts/default-arch.json'), 'utf8')), 'scripts/default-arch.json');
});

test('--arch with layers [3000, 1, 1, 1]: one line naming the file and key, before the weights are read', async () => {
  const arch = join(dir, 'huge.json');
  writeFileSync(arch, JSON.stringify({ layers: [3000, 1, 1, 1], num_classes: 10 }));
  const png = join(ROOT, 'test/fixtures/images/rgb8_37x53.png');
  const r = await runCli(['classify', png, '--arch', arch, '--weights', join(ROOT, 'models/default.pth')]);
  assert.is(r.code, 2, r.stderr);
  assert.equal(lines(r.stderr), [`resnest: ${arch}: 'layers' must be four block counts from 1 to 64, got [3000,1,1,1]`]);
  const ok = await runCli(['classify', png, '--arch', join(ROOT, 'scripts/default-arch.json'), '--weights', join(ROOT, 'models/default.pth'), '--top', '1']);
  assert.is(ok.code, 0, ok.stderr);
});

test('infer on a batch of 0 images: one line naming the file, exit 1, no output', async () => {
  const input = join(dir, 'empty.npy'), output = join(dir, 'empty-out.npy');
  writeFileSync(input, writeNpy({ dtype: 'float32', shape: [0, 3, 32, 32], data: new Float32Array(0) }));
  const r = await runCli(['infer', '--arch', join(ROOT, 'scripts/default-arch.json'), '--weights', join(ROOT, 'models/default.pth'), '--input', input, '--output', output]);
  assert.is(r.code, 1, r.stderr);
  assert.equal(lines(r.stderr), [`resnest: ${input}: a batch of 0 images (shape [0, 3, 32, 32]): nothing to infer`]);
  assert.not.ok(existsSync(output));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
