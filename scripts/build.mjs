// Build: (1) transpile every .ts under src/, test/, bench/, web/ into build/ one file each, so the
// tests and benches import exactly the modules the library ships; (2) bundle the library
// entry and the CLI into dist/. esbuild only strips types; `npm run typecheck` runs tsc.
import { build } from 'esbuild';
import { readdirSync, statSync, existsSync, rmSync, mkdirSync, copyFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// web/ too: the tests run the page's pure modules (web/explorer/) in Node.
const transpiled = ['src', 'test', 'bench', 'web'];
// Start clean so that a deleted source never leaves a stale module behind in build/.
for (const d of transpiled) rmSync(join(root, 'build', d), { recursive: true, force: true });
for (const f of existsSync(join(root, 'dist')) ? readdirSync(join(root, 'dist')) : []) if (f.startsWith('chunk-')) rmSync(join(root, 'dist', f));
const entryPoints = transpiled.flatMap((d) => tsFiles(join(root, d)));
await build({
  entryPoints,
  outdir: join(root, 'build'),
  outbase: root,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});

await build({
  entryPoints: {
    index: join(root, 'src/index.ts'),
    node: join(root, 'src/node.ts'),
    cli: join(root, 'src/cli/main.ts'),
    // Started by the CLI (src/data/worker-source.ts) beside it: new URL('./augment-worker.js', import.meta.url).
    'augment-worker': join(root, 'src/data/augment-worker.ts'),
  },
  outdir: join(root, 'dist'),
  bundle: true,
  // Shared code in shared chunks: 'resnest-ts' and 'resnest-ts/node' then use one registry
  // (one active backend), not a copy each.
  splitting: true,
  chunkNames: '[name]-[hash]', // beside the wasm files, which the loader finds from import.meta.url
  format: 'esm',
  platform: 'neutral',
  mainFields: ['module', 'main'],
  target: 'es2022',
  // node: builtins are only reached from Node-only modules (CLI, file cache, threads).
  external: ['node:*', 'webgpu'],
  sourcemap: true,
  logLevel: 'warning',
});


// The AssemblyScript kernels: four builds (SIMD / relaxed SIMD × single / shared memory),
// compiled only when a kernel source or asconfig.json changed, then placed next to the JS
// that loads them (build/src/backend/wasm/ for tests, dist/ for the bundle).
const targets = ['simd', 'simd-mt', 'relaxed', 'relaxed-mt'];
const wasmOut = join(root, 'build', 'wasm');
// assembly/ also compiles src/backend/wasm/ids.ts, the kernel ids and constants both sides share.
const newest = Math.max(statSync(join(root, 'asconfig.json')).mtimeMs,
  statSync(join(root, 'src', 'backend', 'wasm', 'ids.ts')).mtimeMs,
  ...tsFiles(join(root, 'assembly')).map((f) => statSync(f).mtimeMs));
const stale = targets.filter((t) => {
  const f = join(wasmOut, `kernels-${t}.wasm`);
  return !existsSync(f) || statSync(f).mtimeMs < newest;
});
if (stale.length) {
  const { default: asc } = await import('assemblyscript/asc');
  for (const target of stale) {
    const { error, stderr } = await asc.main(['--config', join(root, 'asconfig.json'), '--target', target], {});
    if (error) {
      console.error(stderr.toString());
      throw error;
    }
  }
}
for (const dir of [join(root, 'build', 'src', 'backend', 'wasm'), join(root, 'dist')]) {
  mkdirSync(dir, { recursive: true });
  for (const t of targets) copyFileSync(join(wasmOut, `kernels-${t}.wasm`), join(dir, `kernels-${t}.wasm`));
}

// The size budget of what a browser loads: the library entry with the chunks it imports
// statically (minified here only to measure; dist/ keeps readable code with source maps), and
// one wasm kernel build. The build fails above it, so growth is a decision, not an accident.
const BUDGET = { jsGzip: 90_000, wasmGzip: 40_000 };
{
  const { transform } = await import('esbuild');
  const { gzipSync } = await import('node:zlib');
  const { readFileSync } = await import('node:fs');
  const seen = new Set();
  const visit = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    const text = readFileSync(join(root, 'dist', f), 'utf8');
    const node = text.match(/from\s*"node:[^"]+"/);
    if (node) throw new Error(`dist/index.js reaches a Node built-in statically (${f}: ${node[0]}); the browser entry must not`);
    for (const m of text.matchAll(/(?:^|[;\n}])\s*(?:import|export)\s*(?:[^"';]*?\sfrom\s*)?"\.\/([^"]+)"/g)) visit(m[1]);
  };
  visit('index.js');
  let min = '';
  for (const f of seen) min += (await transform(readFileSync(join(root, 'dist', f), 'utf8'), { minify: true, format: 'esm', target: 'es2022' })).code;
  const js = gzipSync(min).length;
  const wasm = gzipSync(readFileSync(join(root, 'dist', 'kernels-relaxed-mt.wasm'))).length;
  const kb = (n) => `${(n / 1000).toFixed(1)} kB`;
  const line = `size budget: browser entry ${seen.size} files, JS ${kb(Buffer.byteLength(min))} min / ${kb(js)} min+gzip (budget ${kb(BUDGET.jsGzip)}); wasm ${kb(wasm)} gzip per build (budget ${kb(BUDGET.wasmGzip)})`;
  if (js > BUDGET.jsGzip || wasm > BUDGET.wasmGzip) throw new Error(`over the ${line}`);
  if (process.env.RESNEST_BUILD_QUIET !== '1') console.log(line);
}

// npm pack (prepack): the library's type declarations, dist/types/, from src/index.ts and src/node.ts.
if (process.argv.includes('--types')) {
  const { execFileSync } = await import('node:child_process');
  rmSync(join(root, 'dist', 'types'), { recursive: true, force: true });
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.types.json')], { stdio: 'inherit' });
}
