// A small segmentation data set made of real images: Fashion-MNIST garments (Debian's
// dataset-fashion-mnist) placed at random on textured 64×64 scenes, each pixel labelled with
// the garment it shows or as background. The layout and mask convention are ADE20K's, which
// `resnest train/eval --arch fcn_…` read: images/{training,validation}/*.png with
// annotations/<split>/*.png, mask value v = class v − 1 (0 unlabelled: the garments' faint
// edges, where the class is ambiguous). Classes: 0 background, 1–10 the garments.
//
//   node scripts/make-seg-scenes.mjs OUT_DIR [--train 2000] [--val 200] [--size 64] [--seed 1]
//
// Needs `npm run build` (it reads build/src) and the data set (RESNEST_FMNIST or
// /usr/share/datasets/fashion-mnist). Deterministic for a seed.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { encodePng, encodeGreyPng } = await import(join(root, 'build', 'src', 'viz', 'png.js'));
const { hash32 } = await import(join(root, 'build', 'src', 'util', 'random.js'));

const args = process.argv.slice(2);
const out = args.find((a) => !a.startsWith('--'));
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (!out) throw new Error('usage: node scripts/make-seg-scenes.mjs OUT_DIR [--train 2000] [--val 200] [--size 64] [--seed 1]');
const FMNIST = process.env.RESNEST_FMNIST ?? '/usr/share/datasets/fashion-mnist';
if (!existsSync(join(FMNIST, 'train-images-idx3-ubyte.gz'))) throw new Error(`no Fashion-MNIST at ${FMNIST} (apt-get install dataset-fashion-mnist, or set RESNEST_FMNIST)`);
const SIZE = opt('size', 64), SEED = opt('seed', 1);

function idx(file) {
  const b = gunzipSync(readFileSync(join(FMNIST, file)));
  const rank = b[3];
  return { dims: Array.from({ length: rank }, (_, i) => b.readUInt32BE(4 + 4 * i)), data: b.subarray(4 + 4 * rank) };
}

let state = SEED >>> 0;
const rand = () => (state = hash32((state + 0x9e3779b9) >>> 0)) / 4294967296;

function scenes(images, labels, split, n) {
  mkdirSync(join(out, 'images', split), { recursive: true });
  mkdirSync(join(out, 'annotations', split), { recursive: true });
  const count = images.dims[0];
  for (let s = 0; s < n; s++) {
    const rgb = new Uint8Array(3 * SIZE * SIZE), mask = new Uint8Array(SIZE * SIZE).fill(1);
    // A background: a soft two-colour gradient with noise, different per scene.
    const a = [rand(), rand(), rand()].map((v) => 60 + 120 * v), b = [rand(), rand(), rand()].map((v) => 60 + 120 * v);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const t = (x + y) / (2 * SIZE);
        for (let c = 0; c < 3; c++) rgb[3 * (y * SIZE + x) + c] = Math.max(0, Math.min(255, a[c] * (1 - t) + b[c] * t + (rand() - 0.5) * 24));
      }
    }
    // Two or three garments, each tinted, at random places (later ones on top).
    const garments = 2 + Math.floor(rand() * 2);
    for (let g = 0; g < garments; g++) {
      const k = Math.floor(rand() * count), cls = labels.data[k];
      const tint = [rand(), rand(), rand()].map((v) => 0.5 + 0.5 * v);
      const x0 = Math.floor(rand() * (SIZE - 28)), y0 = Math.floor(rand() * (SIZE - 28));
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const v = images.data[k * 784 + y * 28 + x];
          if (v < 16) continue;
          const p = (y0 + y) * SIZE + x0 + x, alpha = Math.min(1, v / 96);
          for (let c = 0; c < 3; c++) rgb[3 * p + c] = Math.round((1 - alpha) * rgb[3 * p + c] + alpha * v * tint[c]);
          // Faint edges are left unlabelled; solid garment pixels take its class (1 + label, mask value + 1).
          mask[p] = v < 48 ? 0 : cls + 2;
        }
      }
    }
    const name = `scene${String(s).padStart(5, '0')}.png`;
    writeFileSync(join(out, 'images', split, name), encodePng(SIZE, SIZE, rgb));
    writeFileSync(join(out, 'annotations', split, name), encodeGreyPng(SIZE, SIZE, mask));
  }
}

const train = idx('train-images-idx3-ubyte.gz'), trainLabels = idx('train-labels-idx1-ubyte.gz');
const test = idx('t10k-images-idx3-ubyte.gz'), testLabels = idx('t10k-labels-idx1-ubyte.gz');
scenes(train, trainLabels, 'training', opt('train', 2000));
scenes(test, testLabels, 'validation', opt('val', 200));
console.log(`wrote ${opt('train', 2000)} training and ${opt('val', 200)} validation scenes (${SIZE}×${SIZE}, 11 classes: background and the 10 garments) to ${out}`);
