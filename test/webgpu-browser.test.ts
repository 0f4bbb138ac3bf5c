// WebGPU in a browser: the library bundled with esbuild, served on 127.0.0.1 (a secure
// context, which navigator.gpu requires) and run in headless Chromium with playwright-core
// on two parity fixtures. Uses the system Chromium (Debian's `chromium` package, or
// $CHROMIUM_PATH) and downloads nothing; skipped with the reason printed where there is none.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PageResult } from './browser/page.js';
import { CHROMIUM, withPage } from './helpers/browser.js';
const FIXTURES = ['tiny_odd', 'fast_r4c2w40'];
const TOLERANCE = 1e-3;

test('parity fixtures pass on WebGPU in headless Chromium', async () => {
  const parity = join(process.cwd(), 'test', 'fixtures', 'parity');
  const ran = await withPage({
    entry: join(process.cwd(), 'test', 'browser', 'page.ts'),
    args: ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader'],
    files: (url) => {
      const fixture = /^\/fixtures\/([\w.-]+)$/.exec(url);
      return fixture && existsSync(join(parity, fixture[1]!)) ? readFileSync(join(parity, fixture[1]!)) : undefined;
    },
  }, async (page, logs) => {
    await page.waitForFunction(() => typeof (globalThis as { runParity?: unknown }).runParity === 'function', null, { timeout: 30_000 })
      .catch((e: Error) => { throw new Error(`the page did not load: ${e.message}\n${logs.join('\n')}`); });
    const out = await page.evaluate((names) => (globalThis as unknown as { runParity(n: string[]): Promise<PageResult> }).runParity(names), FIXTURES);
    assert.ok(!out.error, `${out.error}\n${logs.join('\n')}`);
    for (const { name, errs } of out.results!) {
      const worst = Math.max(...Object.values(errs));
      console.log(`  chromium ${out.adapter}: ${name.padEnd(14)} logits ${errs.logits!.toExponential(2)}  fused ${errs.fused!.toExponential(2)}  worst of ${Object.keys(errs).length} ${worst.toExponential(2)}`);
      assert.ok(worst <= TOLERANCE, `${name}: relative error ${worst.toExponential(2)} > ${TOLERANCE}`);
    }
    return true;
  });
  if (ran === null) console.log(`  (skipping browser test: no Chromium at ${CHROMIUM}; apt-get install chromium)`);
});

test.run();
