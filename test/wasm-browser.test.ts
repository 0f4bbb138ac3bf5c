// The wasm backend in headless Chromium: with cross-origin isolation (COOP + COEP headers)
// it runs the threaded build on Workers; without, one thread and a hint in the console.
// Either way its logits match the js reference.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WasmPageResult } from './browser/wasm-page.js';
import { CHROMIUM, withPage } from './helpers/browser.js';

const WASM = join(process.cwd(), 'build', 'wasm');
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

async function run(headers: Record<string, string>): Promise<{ out: WasmPageResult; logs: string[] } | null> {
  return withPage({
    entry: join(process.cwd(), 'test', 'browser', 'wasm-page.ts'),
    headers,
    files: (url) => (/^\/kernels-[\w-]+\.wasm$/.test(url) ? readFileSync(join(WASM, url.slice(1))) : undefined),
  }, async (page, logs) => {
    await page.waitForFunction(() => typeof (globalThis as { runWasm?: unknown }).runWasm === 'function', null, { timeout: 30_000 });
    const out = await page.evaluate(() => (globalThis as unknown as { runWasm(t: number): Promise<WasmPageResult> }).runWasm(2));
    return { out, logs };
  });
}

test('cross-origin isolated page: threaded build, 2 threads, same logits as js', async () => {
  const r = await run(ISOLATION);
  if (!r) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
  assert.ok(!r.out.error, `${r.out.error}\n${r.logs.join('\n')}`);
  assert.is(r.out.isolated, true);
  assert.match(r.out.variant!, /-mt$/);
  assert.is(r.out.threads, 2);
  assert.ok(r.out.err! <= 1e-5, `relative error ${r.out.err}`);
  console.log(`    chromium isolated: ${r.out.variant}, ${r.out.threads} threads, vs js ${r.out.err!.toExponential(2)}`);
});

test('page without isolation: one thread, single-memory build, and a hint', async () => {
  const r = await run({});
  if (!r) return void console.log(`  (skipping: no Chromium at ${CHROMIUM})`);
  assert.ok(!r.out.error, `${r.out.error}\n${r.logs.join('\n')}`);
  assert.is(r.out.isolated, false);
  assert.not.match(r.out.variant!, /-mt$/);
  assert.is(r.out.threads, 1);
  assert.ok(r.out.err! <= 1e-5, `relative error ${r.out.err}`);
  assert.ok(r.logs.some((l) => /cross-origin-isolated/.test(l)), `no hint in: ${r.logs.join(' | ')}`);
  console.log(`    chromium not isolated: ${r.out.variant}, 1 thread, vs js ${r.out.err!.toExponential(2)}`);
});

test.run();
