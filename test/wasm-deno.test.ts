// The wasm backend under Deno: its relaxed-SIMD build with threads passes every parity
// fixture in a second engine (Node 20 runs the relaxed build too, behind a V8 flag the
// loader sets).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const DENO = join(process.cwd(), 'node_modules', 'deno', 'deno');
const SCRIPT = join(process.cwd(), 'build', 'test', 'deno', 'wasm-parity.js');

test('relaxed-SIMD wasm kernels with 2 threads pass every parity fixture in Deno', () => {
  if (!existsSync(DENO)) {
    console.log('  (skipping: node_modules/deno/deno is not installed)');
    return;
  }
  const r = spawnSync(DENO, ['run', '-A', SCRIPT], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 300_000 });
  const out = `${r.stdout}${r.stderr}`;
  console.log(out.split('\n').filter((l) => /^(FAIL|deno wasm parity)/.test(l)).map((l) => `    ${l}`).join('\n'));
  assert.is(r.status, 0, out.slice(-2000));
  assert.match(out, /build relaxed-mt, 2 threads/);
  assert.match(out, /deno wasm parity: (\d+) of \1 fixtures within 0\.0001/);
});

test.run();
