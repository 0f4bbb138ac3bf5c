// The f16-storage tests (test/webgpu-f16.test.ts) on lavapipe, the software adapter with
// shader-f16, in a process of its own: the Vulkan loader reads its variables only at
// start, and this process already runs on SwiftShader. Runs where
// `scripts/setup-webgpu.sh --lavapipe` has been run (CI does); skipped with the reason
// otherwise, unless RESNEST_REQUIRE_LAVAPIPE=1.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ENV = join(process.cwd(), '.cache', 'webgpu', 'env-lavapipe.sh');
const UVU = join(process.cwd(), 'node_modules', 'uvu', 'bin.js');

test('f16 storage: every webgpu-f16 test passes on lavapipe', () => {
  if (!existsSync(ENV)) {
    assert.ok(process.env.RESNEST_REQUIRE_LAVAPIPE !== '1', `${ENV} is missing: run scripts/setup-webgpu.sh --lavapipe`);
    console.log('  (skipping f16 on lavapipe: run scripts/setup-webgpu.sh --lavapipe first)');
    return;
  }
  const r = spawnSync('bash', ['-c', `. "${ENV}" && exec "${process.execPath}" "${UVU}" build/test "webgpu-f16\\.test\\.js$"`], {
    encoding: 'utf8', env: { ...process.env, RESNEST_REQUIRE_F16: '1', NO_COLOR: '1', FORCE_COLOR: '0' }, timeout: 300_000,
  });
  const out = `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0), passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? -1);
  console.log(`    lavapipe f16: ${passed} of ${total} passed`);
  assert.is(r.status, 0, out.slice(-3000));
  assert.ok(total > 5 && passed === total, out.slice(-3000));
});

test.run();
