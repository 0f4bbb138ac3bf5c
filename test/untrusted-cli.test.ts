// Untrusted files through the CLI, spawned as a user runs it: a hostile checkpoint and
// corrupt or oversized images give one line on stderr and exit 1 (and the payload never
// runs: a marker file would appear in the working directory); --verbose adds the stack; NaN
// input is a warning, not an error, and reaches the output.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/backend/js/index.js';
import { initBackend } from '../src/backend/registry.js';
import { createModel } from '../src/models/resnest/zoo.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { syntheticStateDict } from './helpers/synthetic.js';

const ROOT = process.cwd();
const CLI = join(ROOT, 'dist', 'cli.js');
const IO = join(ROOT, 'test/fixtures/io');
const IMAGES = join(ROOT, 'test/fixtures/images');
const MARKER = 'resnest-hostile-marker';
const dir = mkdtempSync(join(tmpdir(), 'resnest-untrusted-cli-'));
const input = join(dir, 'x.npy');
const weights = join(dir, 'w.safetensors');

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // cwd = the temp dir: a payload that ran would leave its marker there.
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lines = (s: string) => s.trimEnd().split('\n');

test.before(async () => {
  const model = createModel('resnest14d', { init: false, backend: await initBackend('js') });
  writeFileSync(weights, saveSafetensors(syntheticStateDict(model, 11)));
  writeFileSync(input, writeNpy({ dtype: 'float32', shape: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32).fill(0.1) }));
});

test('a hostile checkpoint through infer and classify: one line, exit 1, the payload never runs', async () => {
  const png = join(IMAGES, 'rgb8_37x53.png');
  const cases: [string, string][] = [
    ['hostile/reduce_system_zip.pth', 'posix.system'], ['hostile/reduce_p4_popen_legacy.pth', 'subprocess.Popen'],
    ['hostile/newobj_build_exec_zip.pth', 'builtins.exec'],
  ];
  for (const [file, global] of cases) {
    const path = join(IO, file);
    for (const args of [
      ['infer', '--arch', 'resnest14d', '--weights', path, '--input', input, '--output', join(dir, 'o.npy')],
      ['classify', png, '--arch', 'resnest14d', '--weights', path],
    ]) {
      const r = await cli(args);
      assert.is(r.code, 1, `${args[0]} ${file}: ${r.stderr}`);
      assert.is(lines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^resnest: .*${file.replace(/[./]/g, '\\$&')}: refusing to load: pickle references '${global.replace('.', '\\.')}'`));
      assert.not.match(r.stderr, /\n\s+at /);
      assert.is(r.stdout, '');
    }
  }
  assert.not.ok(existsSync(join(dir, MARKER)), 'no payload ran');
  assert.not.ok(existsSync(join(dir, 'o.npy')), 'no output written');
});

test('corrupt, truncated and oversized images through classify: one line naming the file, exit 1', async () => {
  const good = new Uint8Array(readFileSync(join(IMAGES, 'rgb8_37x53.png')));
  const jpg = new Uint8Array(readFileSync(join(IMAGES, 'color420_48x40.jpg')));
  const bomb = good.slice();
  bomb.set([0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10], 16); // IHDR 10000×10000, CRC now wrong
  const bigJpg = jpg.slice();
  const sof = (() => {
    for (let p = 2; ; p += 2 + ((jpg[p + 2]! << 8) | jpg[p + 3]!)) if (jpg[p + 1]! >= 0xc0 && jpg[p + 1]! <= 0xc2) return p;
  })();
  bigJpg.set([0x23, 0x28, 0x23, 0x28], sof + 5); // 9000×9000 from ~1 KB
  const files: [string, Uint8Array, RegExp][] = [
    ['cut.png', good.subarray(0, 200), /cut\.png: truncated PNG/],
    ['crc.png', bomb, /crc\.png: corrupt PNG \(CRC mismatch in IHDR/],
    ['cut.jpg', jpg.subarray(0, 400), /cut\.jpg: truncated JPEG/],
    ['big.jpg', bigJpg, /big\.jpg: truncated JPEG \(\d+ bytes of scan data cannot hold/],
    ['text.png', new TextEncoder().encode('hello'), /text\.png: not a PNG or JPEG image/],
    ['empty.jpg', new Uint8Array(0), /empty\.jpg: not a PNG or JPEG image/],
  ];
  for (const [name, bytes, pattern] of files) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    const r = await cli(['classify', path, '--arch', 'resnest14d', '--weights', weights]);
    assert.is(r.code, 1, `${name}: ${r.stderr}`);
    assert.is(lines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }
  // A batch with one bad image fails as a whole, before the model is loaded.
  const r = await cli(['classify', join(IMAGES, 'rgb8_37x53.png'), join(dir, 'cut.png'), '--arch', 'resnest14d', '--weights', join(dir, 'missing.pth')]);
  assert.match(r.stderr, /cut\.png/);
  // An absurd --crop is a typed error, not an allocation failure.
  const crop = await cli(['classify', join(IMAGES, 'rgb8_37x53.png'), '--arch', 'resnest14d', '--weights', weights, '--crop', '100000']);
  assert.is(crop.code, 1);
  assert.match(crop.stderr, /input batch: shape \[1, 3, 100000, 100000\]/);
});

test('--verbose adds the stack trace after the same first line', async () => {
  const path = join(IO, 'hostile/obj_system_zip.pth');
  const args = ['infer', '--arch', 'resnest14d', '--weights', path, '--input', input, '--output', join(dir, 'o.npy')];
  const quiet = await cli(args);
  const loud = await cli([...args, '--verbose']);
  assert.is(loud.code, 1);
  const l = lines(loud.stderr);
  assert.is(l[0], lines(quiet.stderr)[0]);
  assert.ok(l.length > 3, loud.stderr);
  assert.match(l[1]!, /UnsafeCheckpointError/);
  assert.ok(l.slice(2).some((x) => /^\s+at .*pickle/.test(x)), loud.stderr);
});

test('NaN / Inf input: a one-line warning, exit 0, and NaN in the logits', async () => {
  const x = new Float32Array(3 * 32 * 32).fill(0.1);
  x[7] = NaN;
  x[8] = Infinity;
  const nan = join(dir, 'nan.npy');
  writeFileSync(nan, writeNpy({ dtype: 'float32', shape: [1, 3, 32, 32], data: x }));
  const out = join(dir, 'nan-out.npy');
  const r = await cli(['infer', '--arch', 'resnest14d', '--weights', weights, '--input', nan, '--output', out, '--backend', 'js']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(lines(r.stderr), [`warning: ${nan} holds 2 NaN/Inf values; they propagate to the outputs`]);
  const y = readNpy(new Uint8Array(readFileSync(out)));
  assert.equal(y.shape, [1, 1000]);
  assert.ok(Array.from(y.data as Float32Array).every((v) => Number.isNaN(v)));
  // Clean input: no warning, finite logits.
  const ok = await cli(['infer', '--arch', 'resnest14d', '--weights', weights, '--input', input, '--output', out, '--backend', 'js']);
  assert.is(ok.stderr, '');
  assert.ok(Array.from(readNpy(new Uint8Array(readFileSync(out))).data as Float32Array).every(Number.isFinite));
  assert.equal(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
