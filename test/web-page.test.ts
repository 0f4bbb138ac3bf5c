// The step-through page in Debian's Chromium, as a learner meets it: built with
// `npm run build:web`, served by `npm run demo` (with COOP/COEP, and again without), it
// classifies an example, steps through a block whose numbers match `resnest explain --json`
// in Node, trains in the page until the loss falls, and logs no errors. Screenshots go to
// build/artifacts/ (not committed).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { createModel } from '../src/models/resnest/zoo.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { CHROMIUM } from './helpers/browser.js';
import { relErr } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';
import { ARTIFACTS, buildSite, WEBGPU_ARGS, withSitePage } from './helpers/page.js';
import { barImages, idxBytes } from './helpers/idx.js';
import { gzipSync } from 'node:zlib';

const root = process.cwd();
const TOLERANCE = 1e-4;

interface Trace { block: string; radix: number; channels: number; gap: number[]; attention: number[][]; top: { label: string; probability: number }[] }

/** The Train tab's losses on wasm, for the webgpu run of the same seed to be held against. */
let wasmLosses: number[] = [];

const withPage = <T>(isolated: boolean, fn: (page: import('playwright-core').Page, errors: string[]) => Promise<T>, args: string[] = []) => withSitePage({ isolated, args }, fn);

const built = () => {
  const r = buildSite();
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
};

test('npm run build:web writes the page, its kernels, the default model, the examples (and a training subset where Fashion-MNIST is installed)', () => {
  const out = built();
  assert.match(out, /wrote the page to .*build\/site/);
  for (const f of ['index.html', 'main.js', 'style.css', 'kernels-simd.wasm', 'kernels-relaxed-mt.wasm', 'models/default.pth', 'models/default.json', 'examples/bag.png']) {
    assert.ok(existsSync(join(root, 'build', 'site', f)), f);
  }
});

for (const isolated of [true, false]) {
  test(`page ${isolated ? 'with' : 'without'} COOP/COEP: classify an example, step through layer3.0 (= resnest explain --json), train until the loss falls, no console errors`, async () => {
    if (!existsSync(CHROMIUM)) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const want = JSON.parse((await runCli(['explain', join('examples', 'sneaker.png'), '--block', 'layer3.0', '--json'])).stdout) as Trace;
    const hasSubset = existsSync(join(root, 'build', 'site', 'data', 'fmnist-subset-images.idx.gz'));
    await withPage(isolated, async (page, errors) => {
      const state = await page.evaluate(() => ({ isolated: globalThis.crossOriginIsolated, status: document.getElementById('status')!.textContent }));
      assert.is(state.isolated, isolated);
      assert.match(await page.getAttribute('#backend', 'title') ?? '', isolated ? /threads? \(cross-origin isolated\)/ : /one thread/);
      // An example by keyboard: focus its button and press Enter.
      await page.focus('#examples button[data-example="sneaker"]');
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => /^Sneaker/.test(document.getElementById('status')!.textContent ?? ''));
      await page.selectOption('#block', 'layer3.0');
      await page.waitForFunction(() => /layer3\.0 stepped through/.test(document.getElementById('status')!.textContent ?? ''));
      const got = JSON.parse(await page.textContent('#trace-json') ?? '{}') as Trace;
      assert.is(got.block, 'layer3.0');
      assert.is(got.channels, want.channels);
      const errs = { gap: relErr(got.gap, want.gap), attention: relErr(got.attention.flat(), want.attention.flat()), top: relErr(got.top.map((t) => t.probability), want.top.map((t) => t.probability)) };
      for (const [k, e] of Object.entries(errs)) assert.ok(e <= TOLERANCE, `${k}: page vs resnest explain ${e.toExponential(2)}`);
      assert.equal(got.top.map((t) => t.label), want.top.map((t) => t.label));
      const sections = await page.$$eval('#steps h3', (hs) => hs.map((h) => h.textContent));
      assert.ok(sections.length >= 7 && sections.some((s) => /r-softmax/.test(s ?? '')), sections.join(' | '));
      const alts = await page.$$eval('#steps svg', (ss) => ss.map((s) => s.querySelector('title')?.textContent ?? ''));
      assert.ok(alts.length >= 7 && alts.every((a) => a.length > 0), 'every chart has a text alternative');
      await page.screenshot({ path: join(ARTIFACTS, `web-step-through-${isolated ? 'isolated' : 'plain'}.png`), fullPage: true });
      console.log(`  ${isolated ? 'isolated' : 'plain'}: ${state.status}; layer3.0 vs explain --json: gap ${errs.gap.toExponential(2)}, attention ${errs.attention.toExponential(2)}`);

      if (hasSubset) {
        await page.fill('#train-steps', '24');
        await page.fill('#train-batch', '16');
        await page.click('#train-start');
        await page.waitForFunction(() => /done/.test(document.getElementById('train-info')!.textContent ?? ''), null, { timeout: 240_000 });
        const losses = JSON.parse(await page.getAttribute('#train-info', 'data-losses') ?? '[]') as number[];
        assert.is(losses.length, 24);
        wasmLosses = losses;
        const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
        assert.ok(mean(losses.slice(-6)) < mean(losses.slice(0, 6)), `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
        await page.waitForFunction(() => /network trained here/.test(document.getElementById('model-info')!.textContent ?? ''));
        assert.ok(await page.$('#loss-curve svg'), 'a loss curve');
        await page.screenshot({ path: join(ARTIFACTS, `web-trained-${isolated ? 'isolated' : 'plain'}.png`), fullPage: true });
        console.log(`  trained 24 steps in the page: loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)}`);
      } else {
        console.log('  (train tab not run: no Fashion-MNIST subset in the build)');
      }
      await page.click('#time-layers');
      await page.waitForFunction(() => document.querySelectorAll('#timings tbody tr').length >= 6);
      const timed = await page.$$eval('#timings tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
      assert.ok(['layer1.0', 'layer2.0', 'layer3.0', 'layer4.0', 'fc'].every((m) => timed.includes(m)), timed.join(' '));
      assert.equal(errors, [], `console errors: ${errors.join(' | ')}`);
    });
  });
}

test('weights by URL and by file with the architecture picker: resnest14d\'s checkpoint classifies as resnest classify does', async () => {
  if (!existsSync(CHROMIUM)) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
  const dir = join(root, 'build', 'site', 'test-weights');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'resnest14d.safetensors');
  const model = createModel('resnest14d', { backend: await initBackend('js'), numClasses: 10, seed: 5 });
  writeFileSync(file, saveSafetensors(new Map([...model.stateDict()].map(([k, t]) => [k, { dtype: 'float32' as const, shape: [...t.shape], data: t.dataSync() as Float32Array }]))));
  model.dispose();
  try {
    const cli = JSON.parse((await runCli(['classify', join('examples', 'dress.png'), '--arch', 'resnest14d', '--weights', file, '--json'])).stdout) as { top: { label: string; probability: number }[] }[];
    await withPage(true, async (page, errors) => {
      await page.selectOption('#arch', 'resnest14d');
      await page.fill('#weights-url', new URL('test-weights/resnest14d.safetensors', page.url()).href);
      await page.click('#load-url');
      await page.waitForFunction(() => /resnest14d/.test(document.getElementById('model-info')!.textContent ?? ''), null, { timeout: 60_000 });
      await page.click('#examples button[data-example="dress"]');
      // The numbers of this image on this model (not those of the previous image, shown while loading).
      await page.waitForSelector('#trace-json[data-image="dress.png"][data-model*="resnest14d"]', { state: 'attached', timeout: 60_000 });
      const got = (JSON.parse(await page.textContent('#trace-json') ?? '{}') as Trace).top;
      assert.equal(got.map((t) => t.label), cli[0]!.top.map((t) => t.label));
      assert.ok(relErr(got.map((t) => t.probability), cli[0]!.top.map((t) => t.probability)) <= TOLERANCE);
      // The same file picked from disk.
      await page.click('#use-default');
      await page.waitForFunction(() => /Fashion-MNIST/.test(document.getElementById('model-info')!.textContent ?? ''));
      await page.setInputFiles('#weights-file', file);
      await page.waitForFunction(() => /resnest14d\.safetensors: resnest14d/.test(document.getElementById('model-info')!.textContent ?? ''), null, { timeout: 60_000 });
      assert.equal(errors, [], `console errors: ${errors.join(' | ')}`);
      console.log(`  weights by URL and by file: resnest14d, top-1 ${got[0]!.label} ${got[0]!.probability.toFixed(4)} (classify: ${cli[0]!.top[0]!.probability.toFixed(4)})`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the backend switch: webgpu in the page (SwiftShader) steps through layer2.0 as resnest explain does, to webgpu\'s 1e-3, and trains on the GPU (the loss falls)', async () => {
  if (!existsSync(CHROMIUM)) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
  const want = JSON.parse((await runCli(['explain', join('examples', 'bag.png'), '--json'])).stdout) as Trace;
  // The Train tab needs a subset: Fashion-MNIST's where the build found it, else synthetic bars of the same size.
  const data = join(root, 'build', 'site', 'data'), images = join(data, 'fmnist-subset-images.idx.gz');
  const subsetKind = existsSync(images) ? 'Fashion-MNIST subset' : 'synthetic bars';
  if (!existsSync(images)) {
    const { pixels, labels } = barImages(256, 28, 9);
    mkdirSync(data, { recursive: true });
    writeFileSync(images, gzipSync(idxBytes(0x08, [256, 28, 28], pixels)));
    writeFileSync(join(data, 'fmnist-subset-labels.idx.gz'), gzipSync(idxBytes(0x08, [256], labels)));
  }
  await withPage(true, async (page, errors) => {
    const names = await page.$$eval('#backend option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    if (!names.includes('webgpu')) return void console.log('  (skipping: this Chromium has no navigator.gpu)');
    await page.selectOption('#backend', 'webgpu');
    await page.waitForFunction(() => /stepped through on webgpu|error/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 120_000 });
    const status = await page.textContent('#status');
    if (/no adapter|error/.test(status ?? '')) return void console.log(`  (skipping: ${status})`);
    const got = JSON.parse(await page.textContent('#trace-json') ?? '{}') as Trace;
    const errs = { gap: relErr(got.gap, want.gap), attention: relErr(got.attention.flat(), want.attention.flat()) };
    for (const [k, e] of Object.entries(errs)) assert.ok(e <= 1e-3, `${k}: webgpu page vs resnest explain ${e.toExponential(2)}`);
    await page.click('#time-layers');
    await page.waitForFunction(() => document.querySelectorAll('#timings tbody tr').length >= 6);
    console.log(`  webgpu: ${status}; gap ${errs.gap.toExponential(2)}, attention ${errs.attention.toExponential(2)}`);

    // The Train tab on webgpu: the network learns on the GPU with its live curve.
    await page.fill('#train-steps', '24');
    await page.fill('#train-batch', '16');
    await page.click('#train-start');
    await page.waitForFunction(() => /done|rror/.test(document.getElementById('train-info')!.textContent ?? '') || /rror/.test(document.getElementById('status')!.textContent ?? ''), null, { timeout: 400_000 });
    const info = await page.textContent('#train-info');
    assert.match(info ?? '', /on webgpu — done/, `${info} / ${await page.textContent('#status')}`);
    const losses = JSON.parse(await page.getAttribute('#train-info', 'data-losses') ?? '[]') as number[];
    assert.is(losses.length, 24);
    const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / xs.length;
    assert.ok(mean(losses.slice(-6)) < mean(losses.slice(0, 6)), `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    // The same seed and subset on wasm (the page tests above): the same first step, to float32 rounding.
    if (wasmLosses.length && subsetKind === 'Fashion-MNIST subset') {
      assert.ok(Math.abs(losses[0]! - wasmLosses[0]!) < 1e-4 * wasmLosses[0]!, `first loss: webgpu ${losses[0]} vs wasm ${wasmLosses[0]}`);
    }
    assert.ok(await page.$('#loss-curve svg'), 'a loss curve');
    await page.screenshot({ path: join(ARTIFACTS, 'web-webgpu.png'), fullPage: true });
    assert.equal(errors, [], `console errors: ${errors.join(' | ')}`);
    console.log(`  webgpu: trained 24 steps in the page (${subsetKind}): loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)}; ${info}`);
  }, WEBGPU_ARGS);
});

test.run();
