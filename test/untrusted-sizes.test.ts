// Files whose numbers, not bytes, are hostile: an image of extreme aspect ratio, a model card
// or architecture asking for absurd sizes, an empty batch. Through the CLI as a user runs it:
// either a result in bounded time and memory, or one line naming the file and key, exit 1.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
