// The published package as a user gets it: `npm pack` holds what a user needs and nothing
// else; installed from the tarball into an empty directory (no network, no dev or optional
// dependencies: it has no others), the README's library example runs and prints the right
// class, and so does the installed `resnest` command, also as `npx resnest`.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = process.cwd();
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** What the package may contain: the bundle and its kernels, the default model, the README. */
// gradients-*: the webgpu backend's training kernels, a chunk it loads with itself.
const ALLOWED = [/^dist\/(index|node|cli|augment-worker|(chunk|gradients)-[A-Z0-9]+)\.js(\.map)?$/, /^dist\/kernels-(simd|relaxed)(-mt)?\.wasm$/, /^dist\/types\/[\w/.-]+\.d\.ts$/,
  /^models\/default\.(pth|json)$/, /^models\/default-curves\.svg$/, /^README\.md$/, /^LICENSE$/, /^package\.json$/, /^bin\/resnest\.js$/];
const REQUIRED = ['dist/index.js', 'dist/node.js', 'dist/types/index.d.ts', 'dist/types/node.d.ts', 'dist/cli.js', 'dist/augment-worker.js', 'dist/kernels-simd.wasm', 'dist/kernels-simd-mt.wasm',
  'dist/kernels-relaxed.wasm', 'dist/kernels-relaxed-mt.wasm', 'models/default.pth', 'models/default.json', 'README.md', 'LICENSE', 'package.json', 'bin/resnest.js'];

test('npm pack: exactly the bundle, its wasm kernels, the default model and the README; no runtime dependencies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnest-pack-'));
  try {
    const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, RESNEST_BUILD_QUIET: '1' } });
    // prepack (the build with type declarations) may print before npm's JSON.
    const files = (JSON.parse(out.slice(out.search(/^\[/m))) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of files) assert.ok(ALLOWED.some((re) => re.test(f)), `unexpected file in the package: ${f}`);
    for (const f of REQUIRED) assert.ok(files.includes(f), `missing from the package: ${f}`);
    assert.ok(files.some((f) => /^dist\/gradients-[A-Z0-9]+\.js$/.test(f)), 'missing from the package: the webgpu training kernels\' chunk');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    assert.equal(Object.keys(pkg.dependencies ?? {}), [], 'runtime dependencies');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the packed tarball installed into an empty directory runs the README\'s library example and the resnest command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resnest-install-'));
  try {
    execFileSync(npm, ['pack', '--pack-destination', dir], { cwd: root, stdio: 'ignore' });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    const app = join(dir, 'app');
    mkdirSync(join(app, 'examples'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync(npm, ['install', '--offline', '--omit=optional', '--no-audit', '--no-fund', join('..', tgz)], { cwd: app, stdio: 'ignore' });
    assert.equal(readdirSync(join(app, 'node_modules')).filter((f) => !f.startsWith('.')), ['resnest-ts'], 'nothing else installed');
    copyFileSync(join(root, 'examples', 'bag.png'), join(app, 'examples', 'bag.png'));

    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const code = /```js\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('## Library')))![1]!;
    writeFileSync(join(app, 'example.mjs'), code);
    const r = spawnSync(process.execPath, ['example.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.signal, null, 'the example did not exit by itself');
    assert.is(r.status, 0, r.stderr);
    const [label, p] = r.stdout.trim().split(' ');
    assert.is(label, 'Bag');
    assert.ok(Number(p) > 0.5 && Number(p) <= 1, r.stdout);
    // The example's own comment states what it prints.
    assert.ok(code.includes(`// ${r.stdout.trim()}`), `README comment vs output '${r.stdout.trim()}'`);

    // TypeScript users get the types: the example, as TypeScript, type-checks against the installed package.
    writeFileSync(join(app, 'example.ts'), code);
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--module', 'nodenext',
      '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), 'example.ts'], { cwd: app, encoding: 'utf8' });
    assert.is(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`);

    const cli = spawnSync(process.execPath, [join(app, 'node_modules', '.bin', 'resnest'), 'classify', 'examples/bag.png', '--top', '1', '--json'], { cwd: app, encoding: 'utf8' });
    assert.is(cli.status, 0, cli.stderr);
    assert.is((JSON.parse(cli.stdout) as { top: { label: string }[] }[])[0]!.top[0]!.label, 'Bag');
    // And as the README writes it: npx finds the installed command (offline: it must not look elsewhere).
    const npx = spawnSync('npx', ['resnest', 'classify', 'examples/bag.png', '--top', '1'], { cwd: app, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true' } });
    assert.is(npx.status, 0, npx.stderr);
    assert.match(npx.stdout, /^examples\/bag\.png\n +1\. +[\d.]+% +Bag$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
