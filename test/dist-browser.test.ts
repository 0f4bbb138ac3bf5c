// The published ESM build (dist/) unchanged in a browser: a page imports dist/index.js as a
// module, the wasm kernels are found beside it from import.meta.url, and with COOP/COEP the
// threaded build runs; the logits equal the js backend's in the same page. (Node runs the
// same files in pack.test.ts, Deno in deno-example.test.ts.)

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { CHROMIUM } from './helpers/browser.js';

const DIST = join(process.cwd(), 'dist');
const PAGE = `<!doctype html><script type="module">
import { initBackend, createModel, tensor, tidy, F } from './index.js';
try {
  const wasm = await initBackend('wasm'), js = await initBackend('js');
  const run = (backend) => {
    const m = createModel('resnest14d', { backend, numClasses: 10, seed: 3 }).eval();
    const x = tensor(Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i)), [1, 3, 32, 32], { backend });
    return tidy(() => F.softmax(m.call(x), 1)).dataSync();
  };
  const a = run(wasm), b = run(js);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  globalThis.result = { variant: wasm.variant, threads: wasm.threads, diff: d, isolated: globalThis.crossOriginIsolated };
} catch (e) { globalThis.result = { error: String(e) }; }
</script>`;

test('dist/index.js in Chromium: the threaded wasm build found from import.meta.url, the same probabilities as js', async () => {
  if (!existsSync(CHROMIUM)) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
  const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  const server = createServer((req, res) => {
    const path = normalize(req.url ?? '/');
    if (path === '/') return void res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end(PAGE);
    const file = join(DIST, path);
    if (!file.startsWith(DIST) || !existsSync(file)) return void res.writeHead(404, headers).end();
    res.writeHead(200, { ...headers, 'content-type': file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => 'result' in globalThis, null, { timeout: 60_000 });
    const r = await page.evaluate(() => (globalThis as unknown as { result: { variant?: string; threads?: number; diff?: number; isolated?: boolean; error?: string } }).result);
    assert.ok(!r.error, r.error);
    assert.is(r.isolated, true);
    assert.match(r.variant!, /-mt$/);
    assert.ok(r.threads! >= 2, `threads ${r.threads}`);
    assert.ok(r.diff! < 1e-5, `wasm vs js ${r.diff}`);
    assert.equal(errors, []);
    console.log(`  dist/index.js in chromium: ${r.variant}, ${r.threads} threads, max |wasm − js| ${r.diff!.toExponential(2)}`);
  } finally {
    await browser.close();
    server.close();
  }
});

test.run();
