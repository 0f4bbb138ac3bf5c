// FCN and DeepLabV3 on a dilated ResNeSt against the reference's segmentation.py
// (scripts/make_seg_fixtures.py): the published networks at full size with synthetic weights,
// main and auxiliary logits at the input's size, on odd sizes and a batch of two; the
// state-dict keys are the toolkit's; fused inference gives the same logits.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSafetensors } from '../src/io/safetensors.js';
import { saveTorch } from '../src/io/torch-save.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { runCli } from './helpers/cli.js';
import { serveDuringSuite } from './helpers/http.js';
import { makeZip } from './helpers/io.js';
import { toFloat32 } from '../src/io/raw.js';
import { createSegmentationModel, SEG_ZOO, segParameterCount } from '../src/models/segmentation/zoo.js';
import { Dropout2d } from '../src/models/segmentation/heads.js';
import { argmaxClasses, segmentScores } from '../src/models/segmentation/multi-eval.js';
import { ADE20K_CLASSES, ADE20K_PALETTE } from '../src/models/segmentation/classes.js';
import { encodePng } from '../src/viz/png.js';
import { decodeImage } from '../src/io/image/decode.js';
import { writeNormalized, imagenetTables, IMAGENET_BLACK } from '../src/io/image/preprocess.js';
import { initBackend } from '../src/backend/registry.js';
import { tensor } from '../src/tensor/tensor.js';
import { metaBackend } from '../src/backend/meta.js';
import { tidy } from '../src/tensor/scope.js';
import { FIXTURES } from './helpers/fixtures.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';
import { testBackends } from './helpers/backends.js';

interface SegCase { case: string; model: string; input: number[]; seed: number; output: number[]; maxabs: number }

const dir = join(FIXTURES, 'seg');
const cases = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { cases: SegCase[] }).cases;
const expected = (name: string) => {
  const file = join(dir, `${name}.safetensors`);
  const sd = loadSafetensors(new Uint8Array(readFileSync(file)), file);
  const get = (k: string) => sd.get(k)!;
  return (head: 'main' | 'aux') => ({
    idx: Int32Array.from(get(`${head}.idx`).data as Int32Array), values: toFloat32(get(`${head}.values`), head), maxabs: toFloat32(get(`${head}.maxabs`), head)[0]!,
  });
};

/** max |ours[idx] − torch| / max |torch| over the sampled elements. */
function sampledErr(ours: Float32Array, want: { idx: Int32Array; values: Float32Array; maxabs: number }): number {
  let d = 0;
  want.idx.forEach((i, k) => { d = Math.max(d, Math.abs(ours[i]! - want.values[k]!)); });
  return d / want.maxabs;
}

test('the toolkit\'s state-dict keys and parameter counts', () => {
  const m = createSegmentationModel('deeplab_resnest50_ade', { backend: metaBackend, init: false });
  const keys = [...m.stateDict().keys()];
  for (const k of ['pretrained.conv1.0.weight', 'pretrained.layer4.2.conv2.fc2.bias', 'head.aspp.b1.0.weight', 'head.aspp.b4.gap.1.weight',
    'head.aspp.project.1.running_var', 'head.block.4.bias', 'auxlayer.conv5.4.weight']) assert.ok(keys.includes(k), k);
  assert.not.ok(keys.some((k) => k.startsWith('pretrained.fc')), 'the backbone has no classifier');
  assert.equal(m.stateDict().get('head.block.4.weight')!.shape, [150, 256, 1, 1]);
  assert.is(SEG_ZOO.size, 10);
  // PyTorch's sum(p.numel()) of segmentation_model(name) (1.13, measured with the reference).
  assert.is(segParameterCount('fcn_resnest50_ade'), 37347756);
  assert.is(segParameterCount('deeplab_resnest50_ade'), 43996588);
});

const jsBackend = await initBackend('js');

test('Dropout2d (ASPP\'s projection in training) drops whole channels, scaled by 1 / (1 − p); identity in eval mode', () => {
  const d = new Dropout2d(0.5, jsBackend).train();
  const x = tensor(new Float32Array(4 * 16 * 9).fill(1), [4, 16, 3, 3], { backend: jsBackend });
  const y = d.call(x).dataSync();
  let kept = 0;
  for (let plane = 0; plane < 64; plane++) {
    const v = y.slice(plane * 9, plane * 9 + 9);
    assert.ok(v.every((q) => q === v[0]) && (v[0] === 0 || v[0] === 2), `plane ${plane}: ${Array.from(v)}`);
    if (v[0] === 2) kept++;
  }
  assert.ok(kept > 16 && kept < 48, `${kept} of 64 channels kept`);
  d.eval();
  assert.equal(Array.from(d.call(x).dataSync()), Array.from(x.dataSync()));
});

for (const { name: bk, backend, tolerance } of await testBackends()) {
  // wasm runs every case; the js reference the smallest, webgpu (a software adapter in CI) the batch of two.
  const mine = bk === 'js' ? ['fcn50_ade_48x40'] : bk === 'webgpu' ? ['deeplab50_ade_b2_33x47'] : cases.map((c) => c.case);
  for (const c of cases.filter((c) => mine.includes(c.case))) {
    test(`${bk}: ${c.case} (${c.model}, input [${c.input.join(', ')}]) matches PyTorch, fused and unfused`, async () => {
      const model = createSegmentationModel(c.model, { backend, init: false });
      model.loadStateDict(syntheticStateDict(model, c.seed));
      model.eval();
      const x = tensor(syntheticInput(c.input, c.seed), c.input, { backend });
      const want = expected(c.case);
      const { main, aux } = model.forwardAll(x);
      assert.equal([...main.shape], c.output);
      const eMain = sampledErr(await main.data() as Float32Array, want('main')), eAux = sampledErr(await aux!.data() as Float32Array, want('aux'));
      main.dispose();
      aux!.dispose();
      model.fuse();
      const fused = tidy(() => model.call(x));
      const eFused = sampledErr(await fused.data() as Float32Array, want('main'));
      fused.dispose();
      console.log(`    ${bk} ${c.case}: main ${eMain.toExponential(2)}, aux ${eAux.toExponential(2)}, fused ${eFused.toExponential(2)}`);
      for (const [what, e] of [['main', eMain], ['aux', eAux], ['fused', eFused]] as const) assert.ok(e <= tolerance, `${what}: ${e}`);
      x.dispose();
      model.dispose();
    });
  }
}

test('resnest infer --arch fcn_resnest50_ade --weights W.pth: (N, classes, H, W) logits as PyTorch computes them; segment draws their argmax; list --segmentation', async () => {
  const c = cases.find((k) => k.case === 'fcn50_ade_48x40')!;
  const dir = mkdtempSync(join(tmpdir(), 'resnest-seg-'));
  try {
    const model = createSegmentationModel(c.model, { backend: metaBackend, init: false });
    const weights = join(dir, 'fcn.pth'), input = join(dir, 'x.npy'), output = join(dir, 'y.npy');
    writeFileSync(weights, saveTorch(syntheticStateDict(model, c.seed)));
    writeFileSync(input, writeNpy({ dtype: 'float32', shape: c.input, data: syntheticInput(c.input, c.seed) }));
    const r = await runCli(['infer', '--arch', c.model, '--weights', weights, '--input', input, '--output', output]);
    assert.is(r.code, 0, r.stderr);
    const y = readNpy(new Uint8Array(readFileSync(output)), output);
    assert.equal(y.shape, c.output);
    const err = sampledErr(y.data as Float32Array, expected(c.case)('main'));
    assert.ok(err <= 1e-4, `infer: ${err}`);
    // resnest segment on a PNG of that size (no resize at --size 48): its class map is the argmax
    // of infer's logits for the same ImageNet-normalised pixels, drawn in ADE20K's palette.
    const [h, w] = [c.input[2]!, c.input[3]!];
    const rgb = Uint8Array.from({ length: 3 * w * h }, (_, i) => (i * 37 + (i >> 5) * 11) & 255);
    const png = join(dir, 'scene.png');
    writeFileSync(png, encodePng(w, h, rgb));
    const x = new Float32Array(3 * w * h);
    writeNormalized({ width: w, height: h, channels: 3, data: rgb }, x, 0, imagenetTables());
    const sceneX = join(dir, 'scene.npy'), sceneY = join(dir, 'scene-logits.npy');
    writeFileSync(sceneX, writeNpy({ dtype: 'float32', shape: [1, 3, h, w], data: x }));
    assert.is((await runCli(['infer', '--arch', c.model, '--weights', weights, '--input', sceneX, '--output', sceneY])).code, 0);
    const logits = readNpy(new Uint8Array(readFileSync(sceneY)), sceneY).data as Float32Array;
    const seg = await runCli(['segment', png, '--arch', c.model, '--weights', weights, '--size', String(Math.max(w, h)), '--out', join(dir, 'out'), '--json']);
    assert.is(seg.code, 0, seg.stderr);
    const [res] = JSON.parse(seg.stdout) as { width: number; height: number; classes: { label: string; index: number; share: number }[]; mask: string; overlay: string }[];
    assert.equal([res!.width, res!.height], [w, h]);
    const mask = decodeImage(new Uint8Array(readFileSync(res!.mask)), res!.mask);
    const counts = new Map<number, number>();
    for (let i = 0; i < w * h; i++) {
      let best = 0;
      for (let k = 1; k < 150; k++) if (logits[k * w * h + i]! > logits[best * w * h + i]!) best = k;
      counts.set(best, (counts.get(best) ?? 0) + 1);
      assert.equal([...mask.data.subarray(3 * i, 3 * i + 3)], [...ADE20K_PALETTE.subarray(3 * best, 3 * best + 3)], `pixel ${i}`);
    }
    assert.is(res!.classes.reduce((a, q) => a + q.share, 0).toFixed(6), '1.000000');
    assert.is(res!.classes[0]!.share, Math.max(...counts.values()) / (w * h));
    assert.is(res!.classes[0]!.label, ADE20K_CLASSES[res!.classes[0]!.index]);
    assert.is(decodeImage(new Uint8Array(readFileSync(res!.overlay)), res!.overlay).width, w);

    // --scales/--flip: the toolkit's evaluation; the mask is the argmax of segmentScores' sums at the image's size.
    const ms = await runCli(['segment', png, '--arch', c.model, '--weights', weights, '--size', '48', '--crop', '32', '--scales', '0.5,1', '--flip', '--out', join(dir, 'ms'), '--json']);
    assert.is(ms.code, 0, ms.stderr);
    const [mres] = JSON.parse(ms.stdout) as { width: number; height: number; mask: string }[];
    assert.equal([mres!.width, mres!.height], [w, h]);
    const net = createSegmentationModel(c.model, { backend: await initBackend('wasm'), init: false });
    net.loadStateDict(syntheticStateDict(net, c.seed));
    net.eval();
    const padValue = IMAGENET_BLACK;
    const want = argmaxClasses(await segmentScores(net, x, h, w, { scales: [0.5, 1], flip: true, base: 48, crop: 32, padValue }), 150);
    net.dispose();
    const msMask = decodeImage(new Uint8Array(readFileSync(mres!.mask)), mres!.mask);
    for (let i = 0; i < w * h; i++) assert.equal([...msMask.data.subarray(3 * i, 3 * i + 3)], [...ADE20K_PALETTE.subarray(3 * want[i]!, 3 * want[i]! + 3)], `multi-scale pixel ${i}`);
    assert.is((await runCli(['segment', png, '--arch', c.model, '--weights', weights, '--scales', '0.5,x'])).code, 2);

    const bad = await runCli(['infer', '--arch', c.model, '--weights', weights, '--input', input, '--output', output, '--features']);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /--features and --dilation are for classification networks/);
    const list = await runCli(['list', '--segmentation', '--json']);
    const rows = JSON.parse(list.stdout) as { name: string; mIoU: number; params: number; weights: string }[];
    assert.is(rows.length, 10);
    const dl = rows.find((x) => x.name === 'deeplab_resnest50_ade')!;
    assert.is(dl.mIoU, 45.12);
    assert.is(dl.params, 43996588);
    assert.match(dl.weights, /\/deeplab_resnest50_ade-2225f09d\.zip$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --pretrained: the published zip through a mirror ($RESNEST_SEGMENTATION_URL), its .pth checked against the toolkit's SHA-1.
const zipped = new Map<string, Uint8Array>();
let mirror = '';
serveDuringSuite(test, (req, res) => {
  const body = zipped.get(new URL(req.url ?? '/', 'http://x').pathname);
  if (!body) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-length': body.length }).end(body);
}, (b) => (mirror = b));

test('resnest infer --pretrained downloads the toolkit\'s zip and refuses a .pth whose SHA-1 is not the published one', async () => {
  const home = mkdtempSync(join(tmpdir(), 'resnest-seg-home-'));
  try {
    const pth = saveTorch(new Map([['x', { dtype: 'float32', shape: [1], data: Float32Array.of(1) }]]));
    zipped.set('/models/fcn_resnest50_ade-4aba491a.zip', makeZip([['fcn_resnest50_ade-4aba491a.pth', pth]]));
    const input = join(home, 'x.npy');
    writeFileSync(input, writeNpy({ dtype: 'float32', shape: [1, 3, 8, 8], data: new Float32Array(192) }));
    const r = await runCli(['infer', '--arch', 'fcn_resnest50_ade', '--pretrained', '--input', input, '--output', join(home, 'y.npy')],
      { RESNEST_HOME: join(home, 'cache'), RESNEST_SEGMENTATION_URL: `${mirror}/models` });
    assert.is(r.code, 1, r.stdout);
    assert.match(r.stderr, /^resnest: .*fcn_resnest50_ade.*sha1/i);
    assert.match(r.stderr, /4aba491aaf8e4866a9c9981b210e3e3266ac1f2a/);
    assert.is(r.stderr.trim().split('\n').length, 1);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test.run();
