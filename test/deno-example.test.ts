// examples/deno.ts as a user runs it (Deno 2, read permission only): it classifies the six
// example images with the embedded default model and ends by itself — no process.exit, no
// kill; a script that hangs after its work (a worker keeping the runtime alive) fails here.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const DENO = join(process.cwd(), 'node_modules', 'deno', 'deno');

test('deno run --allow-read examples/deno.ts: the right class for each example, and the process exits by itself', () => {
  if (!existsSync(DENO)) {
    console.log('  (skipping: node_modules/deno/deno is not installed)');
    return;
  }
  const t0 = performance.now();
  const r = spawnSync(DENO, ['run', '--allow-read', join('examples', 'deno.ts')], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
  const seconds = (performance.now() - t0) / 1000;
  assert.is(r.signal, null, `killed after ${seconds.toFixed(0)} s: the script did not exit by itself\n${r.stdout}${r.stderr}`);
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 6, r.stdout);
  for (const line of lines) {
    const m = /^([a-z-]+)\.png: (.+) \((\d+\.\d) %\)$/.exec(line);
    assert.ok(m, line);
    // The file names are the Fashion-MNIST classes (examples/ holds test images the model gets right).
    assert.is(m![2]!.toLowerCase().replace(/[^a-z]+/g, '-').slice(0, m![1]!.length), m![1], line);
  }
  console.log(`  deno: ${lines.length} images in ${seconds.toFixed(1)} s, exited by itself`);
});

test.run();
