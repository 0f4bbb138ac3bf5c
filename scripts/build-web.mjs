// npm run build:web: the step-through page as a static site in build/site/ — the page bundle,
// the wasm kernels beside it, the embedded default model, the example images, and a
// Fashion-MNIST training subset taken from the local data set (Debian's dataset-fashion-mnist;
// nothing is downloaded, and nothing of it is committed). Any static file server works; with
// COOP/COEP headers (npm run demo) the wasm backend runs threads.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build', 'site');
const FMNIST = process.env.RESNEST_FMNIST ?? '/usr/share/datasets/fashion-mnist';
const SUBSET = 1024; // the first images of the training split (about 100 per class)

rmSync(out, { recursive: true, force: true });
for (const d of ['models', 'examples', 'data']) mkdirSync(join(out, d), { recursive: true });
await build({
  entryPoints: [join(root, 'web', 'main.ts')], outfile: join(out, 'main.js'), bundle: true, format: 'esm', platform: 'browser',
  target: 'es2022', external: ['node:*', 'webgpu'], sourcemap: true, logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'web', f), join(out, f));
for (const f of readdirSync(join(root, 'build', 'wasm')).filter((n) => n.endsWith('.wasm'))) copyFileSync(join(root, 'build', 'wasm', f), join(out, f));
for (const f of ['default.pth', 'default.json']) copyFileSync(join(root, 'models', f), join(out, 'models', f));
for (const f of readdirSync(join(root, 'examples')).filter((n) => n.endsWith('.png'))) copyFileSync(join(root, 'examples', f), join(out, 'examples', f));

let subset = 'no training subset (no Fashion-MNIST at ' + FMNIST + '; the train tab says so)';
const images = join(FMNIST, 'train-images-idx3-ubyte.gz'), labels = join(FMNIST, 'train-labels-idx1-ubyte.gz');
if (existsSync(images) && existsSync(labels)) {
  // IDX: a magic (type, rank), the dimensions big-endian, then the bytes.
  const img = gunzipSync(readFileSync(images)), lab = gunzipSync(readFileSync(labels));
  const rows = img.readUInt32BE(8), cols = img.readUInt32BE(12);
  const head = (magic, dims) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  writeFileSync(join(out, 'data', 'fmnist-subset-images.idx.gz'), gzipSync(Buffer.concat([head(0x803, [SUBSET, rows, cols]), img.subarray(16, 16 + SUBSET * rows * cols)])));
  writeFileSync(join(out, 'data', 'fmnist-subset-labels.idx.gz'), gzipSync(Buffer.concat([head(0x801, [SUBSET]), lab.subarray(8, 8 + SUBSET)])));
  subset = `training subset: the first ${SUBSET} Fashion-MNIST training images`;
}
console.log(`wrote the page to ${out} (${subset}); serve it with any static file server — one wasm thread without COOP/COEP headers — or run npm run demo`);
