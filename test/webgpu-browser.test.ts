// WebGPU in a browser: the library bundled with esbuild, served on 127.0.0.1 (a secure
// context, which navigator.gpu requires) and run in headless Chromium with playwright-core
// on two parity fixtures. Uses the system Chromium (Debian's `chromium` package, or
// $CHROMIUM_PATH) and downloads nothing; skipped with the reason printed where there is none.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import type { PageResult } from './browser/page.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FIXTURES = ['tiny_odd', 'fast_r4c2w40'];
const TOLERANCE = 1e-3;

test('parity fixtures pass on WebGPU in headless Chromium', async () => {
  if (!existsSync(CHROMIUM)) {
    console.log(`  (skipping browser test: no Chromium at ${CHROMIUM}; apt-get install chromium)`);
    return;
  }
  const bundle = await build({
    entryPoints: [join(process.cwd(), 'test', 'browser', 'page.ts')],
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'warning',
    external: ['node:*', 'webgpu'],
  });
  const script = bundle.outputFiles[0]!.text;
  const parity = join(process.cwd(), 'test', 'fixtures', 'parity');
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const fixture = /^\/fixtures\/([\w.-]+)$/.exec(url);
    if (url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/page.js"></script>');
    else if (url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (fixture && existsSync(join(parity, fixture[1]!))) res.writeHead(200).end(readFileSync(join(parity, fixture[1]!)));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--disable-background-networking',
      '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
  });
  const logs: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => typeof (globalThis as { runParity?: unknown }).runParity === 'function', null, { timeout: 30_000 })
      .catch((e: Error) => { throw new Error(`the page did not load: ${e.message}\n${logs.join('\n')}`); });
    const out = await page.evaluate((names) => (globalThis as unknown as { runParity(n: string[]): Promise<PageResult> }).runParity(names), FIXTURES);
    assert.ok(!out.error, `${out.error}\n${logs.join('\n')}`);
    for (const { name, errs } of out.results!) {
      const worst = Math.max(...Object.values(errs));
      console.log(`  chromium ${out.adapter}: ${name.padEnd(14)} logits ${errs.logits!.toExponential(2)}  fused ${errs.fused!.toExponential(2)}  worst of ${Object.keys(errs).length} ${worst.toExponential(2)}`);
      assert.ok(worst <= TOLERANCE, `${name}: relative error ${worst.toExponential(2)} > ${TOLERANCE}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
});

test.run();
