// The page's segmentation view in Debian's Chromium, as a person uses it: choose a network and
// its weights (here an fcn_resnest14d of three classes, random init, as `resnest train` would
// write it), press Segment on the page's image, point at a pixel, move the cursor with the
// arrow keys; the class and probability shown equal segmentScores' for the same image in Node.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { saveTorch } from '../src/io/torch-save.js';
import { decodeImage } from '../src/io/image/decode.js';
import { writeNormalized, imagenetTables, IMAGENET_BLACK } from '../src/io/image/preprocess.js';
import { createSegmentationModel } from '../src/models/segmentation/zoo.js';
import { argmaxClasses, segmentScores } from '../src/models/segmentation/multi-eval.js';
import { ARTIFACTS, withSitePage } from './helpers/page.js';

const dir = mkdtempSync(join(tmpdir(), 'resnest-webseg-'));
const SIZE = 64;

test('segmentation view: a pixel\'s class and probability as segmentScores gives them, by pointer and by keyboard', async () => {
  const wasm = await initBackend('wasm');
  const net = createSegmentationModel('fcn_resnest14d', { backend: wasm, numClasses: 3, seed: 5 });
  const weights = join(dir, 'scenes-fcn.pth');
  writeFileSync(weights, saveTorch(await net.exportStateDict()));
  net.eval();
  const img = decodeImage(new Uint8Array(readFileSync(join('examples', 'bag.png'))), 'bag.png');
  const x = new Float32Array(3 * img.width * img.height);
  writeNormalized(img, x, 0, imagenetTables());
  const scores = await segmentScores(net, x, img.height, img.width, { base: SIZE, padValue: IMAGENET_BLACK });
  net.dispose();
  const map = argmaxClasses(scores, 3), plane = img.width * img.height;
  const want = (px: number, py: number) => {
    const i = py * img.width + px, z = [0, 1, 2].map((k) => scores[k * plane + i]!), m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
    return { cls: map[i]!, p: e[map[i]!]! / s };
  };

  await withSitePage({}, async (page, errors) => {
    await page.selectOption('#seg-arch', 'fcn_resnest14d');
    await page.setInputFiles('#seg-weights', weights);
    await page.waitForFunction(() => /3 classes/.test(document.getElementById('seg-info')!.textContent ?? ''));
    await page.fill('#seg-size', String(SIZE));
    await page.click('#seg-run');
    await page.waitForSelector('#seg-pixel[data-class]', { timeout: 120_000 });
    const shown = async () => page.$eval('#seg-pixel', (el) => ({ ...(el as HTMLElement).dataset, text: el.textContent ?? '' }) as Record<string, string>);

    // Point at pixel (5, 20) of the 28×28 image drawn 360 px wide.
    const canvas = page.locator('#seg-canvas');
    await canvas.scrollIntoViewIfNeeded();
    const box = (await canvas.boundingBox())!;
    const at = (px: number, py: number) => canvas.hover({ position: { x: ((px + 0.5) / img.width) * box.width, y: ((py + 0.5) / img.height) * box.height } });
    const checked: string[] = [];
    for (const [px, py] of [[5, 20], [14, 14], [27, 0]] as const) {
      await at(px, py);
      const s = await shown();
      const w = want(px, py);
      assert.equal([Number(s.x), Number(s.y)], [px, py]);
      assert.is(Number(s.class), w.cls, `class at (${px}, ${py})`);
      assert.ok(Math.abs(Number(s.probability) - w.p) < 1e-4, `probability at (${px}, ${py}): ${s.probability} vs ${w.p}`);
      assert.match(s.text, new RegExp(`class ${w.cls} — probability ${(100 * w.p).toFixed(1)} %`));
      checked.push(`(${px}, ${py}) class ${w.cls} p ${w.p.toFixed(4)}`);
    }
    // The keyboard: focus the picture, arrows move the cursor.
    await page.focus('#seg-canvas');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    const k = await shown(), w = want(26, 2);
    assert.equal([Number(k.x), Number(k.y), Number(k.class)], [26, 2, w.cls]);
    assert.ok(Math.abs(Number(k.probability) - w.p) < 1e-4);
    // The legend's shares are the class map's.
    const legend = await page.$$eval('#seg-legend li', (els) => els.map((e) => [Number((e as HTMLElement).dataset.class), Number((e as HTMLElement).dataset.share)]));
    for (const [c, share] of legend) assert.ok(Math.abs(share! - map.filter((v) => v === c).length / plane) < 1e-12, `share of class ${c}`);
    assert.ok(Math.abs(legend.reduce((a, [, v]) => a + v!, 0) - 1) < 1e-9);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.locator('#segment-section').screenshot({ path: join(ARTIFACTS, 'web-segment-1280.png') });
    assert.equal(errors, []);
    console.log(`  segmentation view: ${checked.join('; ')}; keyboard (26, 2) class ${w.cls}`);
  });
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
