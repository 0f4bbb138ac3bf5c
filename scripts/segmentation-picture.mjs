// The picture of scripts/segmentation-demo.sh: for each segmented validation scene, the
// image, the true classes and the predicted ones (in ADE20K's palette, the colours `resnest
// segment` draws with), enlarged 3× without smoothing, with the classes named beside them.
//   node scripts/segmentation-picture.mjs WORK_DIR OUT.svg
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { decodeImage } = await import(join(root, 'build', 'src', 'io', 'image', 'decode.js'));
const { decodeLabelPng } = await import(join(root, 'build', 'src', 'io', 'image', 'png.js'));
const { ADE20K_PALETTE } = await import(join(root, 'build', 'src', 'models', 'segmentation', 'classes.js'));
const { crc32 } = await import(join(root, 'build', 'src', 'util', 'crc32.js'));

const [dir, out] = process.argv.slice(2);
if (!dir || !out) throw new Error('usage: node scripts/segmentation-picture.mjs WORK_DIR OUT.svg');
const NAMES = ['background', 'T-shirt/top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];
const SCALE = 3;
const results = JSON.parse(readFileSync(join(dir, 'segmented.json'), 'utf8'));
const evaluation = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));

/** A compressed RGB PNG (node:zlib; the library's own encoder stores, which is fine for tests). */
function png(w, h, rgb) {
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) Buffer.from(rgb.subarray(y * 3 * w, (y + 1) * 3 * w)).copy(raw, y * (1 + 3 * w) + 1);
  const chunk = (type, data) => {
    const b = Buffer.alloc(12 + data.length);
    b.writeUInt32BE(data.length, 0);
    b.write(type, 4, 'ascii');
    data.copy(b, 8);
    b.writeUInt32BE(crc32(b, 4, 8 + data.length) >>> 0, 8 + data.length);
    return b;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const enlarge = (w, h, rgb) => {
  const o = new Uint8Array(3 * w * h * SCALE * SCALE);
  for (let y = 0; y < h * SCALE; y++) for (let x = 0; x < w * SCALE; x++) {
    const s = 3 * (Math.floor(y / SCALE) * w + Math.floor(x / SCALE)), d = 3 * (y * w * SCALE + x);
    o[d] = rgb[s]; o[d + 1] = rgb[s + 1]; o[d + 2] = rgb[s + 2];
  }
  return o;
};
const paint = (classes) => {
  const rgb = new Uint8Array(3 * classes.length);
  classes.forEach((c, i) => { if (c >= 0) rgb.set(ADE20K_PALETTE.subarray(3 * c, 3 * c + 3), 3 * i); else rgb.set([0, 0, 0], 3 * i); });
  return rgb;
};

const cell = 64 * SCALE, gap = 12, top = 56;
let body = '';
const used = new Set();
results.forEach((r, row) => {
  const img = decodeImage(readFileSync(r.image), r.image);
  const maskFile = r.image.replace(`${join('images', 'validation')}`, join('annotations', 'validation'));
  const truth = Array.from(decodeLabelPng(readFileSync(maskFile), maskFile).data, (v) => (v === 0 || v === 255 ? -1 : v - 1));
  const mask = decodeImage(readFileSync(r.mask), r.mask);
  const pred = [];
  for (let i = 0; i < img.width * img.height; i++) {
    // The mask PNG holds palette colours: find each pixel's class back.
    let c = 0;
    for (let k = 0; k < 11; k++) if (ADE20K_PALETTE[3 * k] === mask.data[3 * i] && ADE20K_PALETTE[3 * k + 1] === mask.data[3 * i + 1] && ADE20K_PALETTE[3 * k + 2] === mask.data[3 * i + 2]) c = k;
    pred.push(c);
  }
  truth.forEach((c) => c >= 0 && used.add(c));
  pred.forEach((c) => used.add(c));
  const y = top + row * (cell + gap);
  [img.data, paint(truth), paint(pred)].forEach((rgb, col) => {
    const data = png(img.width * SCALE, img.height * SCALE, enlarge(img.width, img.height, rgb)).toString('base64');
    body += `<image x="${col * (cell + gap)}" y="${y}" width="${cell}" height="${cell}" href="data:image/png;base64,${data}"/>\n`;
  });
  const named = r.classes.filter((c) => c.index > 0).slice(0, 3).map((c) => `${NAMES[c.index]} ${(100 * c.share).toFixed(0)} %`).join(', ');
  body += `<text x="${3 * (cell + gap)}" y="${y + 20}">${basename(r.image)}</text><text x="${3 * (cell + gap)}" y="${y + 40}" class="small">predicted: ${named}</text>\n`;
});
const legendY = top + results.length * (cell + gap) + 10;
const legend = [...used].sort((a, b) => a - b).map((c, i) => {
  const [r, g, b] = ADE20K_PALETTE.subarray(3 * c, 3 * c + 3);
  return `<rect x="${(i % 4) * 170}" y="${legendY + Math.floor(i / 4) * 22}" width="14" height="14" fill="rgb(${r},${g},${b})"/><text x="${(i % 4) * 170 + 20}" y="${legendY + Math.floor(i / 4) * 22 + 12}" class="small">${NAMES[c]}</text>`;
}).join('\n');
const width = 3 * (cell + gap) + 330, height = legendY + Math.ceil(used.size / 4) * 22 + 10;
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="15">
<style>.small { font-size: 13px; } image { image-rendering: pixelated; }</style>
<rect width="100%" height="100%" fill="white"/>
<text x="0" y="20">FCN on ResNeSt-14d trained by resnest train on Fashion-MNIST scenes: image, true classes, predicted classes</text>
<text x="0" y="40" class="small">validation (${evaluation.images} scenes, one pass): pixel accuracy ${(100 * evaluation.pixAcc).toFixed(1)} %, mIoU ${(100 * evaluation.mIoU).toFixed(1)} %; black: unlabelled edges</text>
${body}${legend}
</svg>
`;
writeFileSync(out, svg);
console.log(`wrote ${out} (${(svg.length / 1024).toFixed(0)} KB)`);
