// The parity fixtures under Deno, on Deno's own navigator.gpu (wgpu rather than Dawn):
// spawns test/deno/parity.ts from the build output. Skipped, with the reason printed,
// where the deno binary or a WebGPU adapter is missing, unless RESNEST_REQUIRE_BACKENDS
// names webgpu.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const DENO = join(process.cwd(), 'node_modules', 'deno', 'deno');
const SCRIPT = join(process.cwd(), 'build', 'test', 'deno', 'parity.js');
const required = process.env.RESNEST_REQUIRE_BACKENDS?.split(',').includes('webgpu') ?? false;

function run(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, ['run', '-A', SCRIPT], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('every parity fixture passes on Deno\'s WebGPU', async () => {
  if (!existsSync(DENO)) {
    assert.ok(!required, 'node_modules/deno/deno is missing');
    console.log('  (skipping Deno parity: node_modules/deno/deno is not installed)');
    return;
  }
  const { code, out } = await run();
  if (code === 3) {
    assert.ok(!required, out);
    console.log(`  (skipping Deno parity: ${out.trim().split('\n').pop()})`);
    return;
  }
  const report = out.split('\n').filter((l) => /^(ok|FAIL) |^deno parity/.test(l));
  console.log(`\n${report.join('\n')}`);
  assert.is(code, 0, out);
  assert.match(out, /deno parity: (\d+) of \1 fixtures within/);
});

test.run();
