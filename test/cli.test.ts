// The CLI spawned as a user runs it: parity through `resnest infer` with a safetensors file,
// features, classification, the zoo listing, the pretrained cache, and one-line errors.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/index.js';
import { initBackend } from '../src/backend/registry.js';
import { createModel } from '../src/models/resnest/zoo.js';
import { saveSafetensors } from '../src/io/safetensors.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import { softmax } from '../src/ops/index.js';
import { decodeImage } from '../src/io/image/decode.js';
import { preprocess } from '../src/io/image/preprocess.js';
import { IMAGENET_CLASSES } from '../src/data/imagenet-classes.js';
import { expected, FIXTURES, manifest, relErr, TOLERANCE } from './helpers/fixtures.js';
import { syntheticInput, syntheticStateDict } from './helpers/synthetic.js';
import { runCli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'resnest-cli-'));
const fx = manifest().zoo.find((z) => z.arch === 'resnest14d')!;
const weights = join(dir, 'resnest14d.safetensors');
const input = join(dir, 'x.npy');
const js = await initBackend('js');
const model = createModel('resnest14d', { init: false, backend: js });
const sd = syntheticStateDict(model, fx.seed);
model.loadStateDict(sd);
writeFileSync(weights, saveSafetensors(sd));
writeFileSync(input, writeNpy({ dtype: 'float32', shape: fx.input, data: syntheticInput(fx.input, fx.seed) }));

const npy = (path: string) => readNpy(new Uint8Array(readFileSync(path)), path);
const oneLine = (s: string) => s.trim().split('\n').length === 1;

test('infer reproduces PyTorch logits from a safetensors checkpoint', async () => {
  const out = join(dir, 'y.npy');
  const r = await runCli(['infer', '--arch', 'resnest14d', '--weights', weights, '--input', input, '--output', out, '--backend', 'js']);
  assert.is(r.code, 0, r.stderr);
  const y = npy(out);
  assert.is(y.dtype, 'float32');
  assert.equal(y.shape, [1, 1000]);
  const err = relErr(y.data as Float32Array, expected(fx.name).get('logits')!);
  assert.ok(err <= TOLERANCE, `relative error ${err}`);
});

test('infer --features writes layer4, or the named stages', async () => {
  const out = join(dir, 'f.npy');
  let r = await runCli(['infer', '--arch', 'resnest14d', '--weights', weights, '--input', input, '--output', out, '--features']);
  assert.is(r.code, 0, r.stderr);
  const f4 = npy(out);
  assert.equal(f4.shape, [1, 2048, 2, 2]);
  const ref = tidy(() => model.features(tensor(syntheticInput(fx.input, fx.seed), fx.input, { backend: js })));
  assert.ok(relErr(f4.data as Float32Array, ref.layer4.dataSync()) < 1e-5);

  r = await runCli(['infer', '--arch', 'resnest14d', '--weights', weights, '--input', input, '--output', out, '--features', 'stem,layer2', '--dilation', '4']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(npy(join(dir, 'f.stem.npy')).shape, [1, 64, 12, 10]);
  // dilation 4: output stride 8, so layer2 keeps 1/8 of the input: 48×40 → 6×5
  assert.equal(npy(join(dir, 'f.layer2.npy')).shape, [1, 512, 6, 5]);
});

test('classify prints the top-k labels of the model on the preprocessed image', async () => {
  const img = join(FIXTURES, 'images', readdirSync(join(FIXTURES, 'images')).find((f) => f.endsWith('.png'))!);
  const r = await runCli(['classify', img, '--arch', 'resnest14d', '--weights', weights, '--top', '3', '--json']);
  assert.is(r.code, 0, r.stderr);
  const [res] = JSON.parse(r.stdout) as { file: string; top: { index: number; label: string; probability: number }[] }[];
  assert.is(res!.top.length, 3);
  // The same pipeline in-process: decode, preprocess (224, resize 256), forward, softmax.
  const pre = preprocess(decodeImage(new Uint8Array(readFileSync(img)), img), { crop: 224, resize: 256 });
  const probs = tidy(() => softmax(model.call(tensor(pre.data, pre.shape, { backend: js })), 1)).dataSync();
  const best = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]!);
  assert.equal(res!.top.map((t) => t.index), best.slice(0, 3));
  assert.is(res!.top[0]!.label, IMAGENET_CLASSES[best[0]!]);
  assert.ok(Math.abs(res!.top[0]!.probability - probs[best[0]!]!) < 1e-5);

  const plain = await runCli(['classify', img, '--arch', 'resnest14d', '--weights', weights]);
  assert.is(plain.code, 0, plain.stderr);
  assert.ok(plain.stdout.includes(IMAGENET_CLASSES[best[0]!]!));
  assert.is(plain.stdout.trim().split('\n').length, 6); // file name + top 5
});

test('list shows the zoo with parameter counts, crops and weights', async () => {
  const r = await runCli(['list', '--json']);
  assert.is(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { name: string; params: number; crop: number; resize: number; weights: string }[];
  const byName = new Map(rows.map((x) => [x.name, x]));
  assert.is(byName.get('resnest50')!.params, 27483240);
  assert.is(byName.get('resnest269')!.params, 110929480);
  assert.is(byName.get('resnet50')!.params, 25557032);
  assert.is(byName.get('resnest101')!.crop, 256);
  assert.is(byName.get('resnest101')!.resize, 292);
  assert.is(byName.get('resnest269')!.crop, 416);
  assert.match(byName.get('resnest50_fast_2s2x40d')!.weights, /resnest50_fast_2s2x40d-9d126481\.pth$/);
  assert.is(rows.length, 21);
});

test('errors are one line with a non-zero exit', async () => {
  const cases: [string[], number, RegExp][] = [
    [['infer', '--arch', 'resnest5O', '--weights', weights, '--input', input, '--output', 'o.npy'], 2, /unknown architecture 'resnest5O'; closest: resnest50/],
    [['infer', '--arch', 'resnest26d', '--weights', weights, '--input', input, '--output', join(dir, 'o.npy')], 1, /missing keys: layer1\.1\./],
    [['infer', '--arch', 'resnest14d', '--weights', join(dir, 'nope.pth'), '--input', input, '--output', join(dir, 'o.npy')], 1, /nope\.pth: cannot read: no such file/],
    [['infer', '--arch', 'resnest14d', '--weights', input, '--input', input, '--output', join(dir, 'o.npy')], 1, /x\.npy: not a PyTorch checkpoint/],
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
    [['infer', '--arch', 'resnest14d', '--wieghts', weights], 2, /unknown option --wieghts/],
    [['classify', '--arch', 'resnest14d', '--weights', weights], 2, /no images given/],
    [['classify', input, '--arch', 'resnest14d', '--weights', weights], 1, /x\.npy: not a PNG or JPEG image/],
  ];
  for (const [args, code, pattern] of cases) {
    const r = await runCli(args);
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.ok(oneLine(r.stderr), `not one line: ${r.stderr}`);
  }
});

test('infer refuses inputs of the wrong rank or channels', async () => {
  const cases: [number[], RegExp][] = [[[1, 1, 8, 8], /3 channels, got shape \[1, 1, 8, 8\]/], [[3, 8, 8], /NCHW/]];
  for (const [shape, pattern] of cases) {
    const bad = join(dir, 'bad.npy');
    writeFileSync(bad, writeNpy({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }));
    const r = await runCli(['infer', '--arch', 'resnest14d', '--weights', weights, '--input', bad, '--output', join(dir, 'o.npy')]);
    assert.is(r.code, 1);
    assert.match(r.stderr, pattern);
    assert.ok(oneLine(r.stderr));
  }
  assert.not.ok(readdirSync(dir).includes('o.npy'), 'no output is written on failure');
});

test('--pretrained: a hash mismatch leaves the cache empty; a cached file is used offline', async () => {
  const home = mkdtempSync(join(tmpdir(), 'resnest-home-'));
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    if (req.url === '/resnest50-528c19ca.pth') {
      res.writeHead(200, { 'content-length': '4096' });
      res.end(Buffer.alloc(4096, 7));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const env = { RESNEST_HOME: home, RESNEST_WEIGHTS_URL: `http://127.0.0.1:${port}` };
  try {
    const r = await runCli(['infer', '--arch', 'resnest50', '--pretrained', '--input', input, '--output', join(dir, 'p.npy')], env);
    assert.is(r.code, 1);
    assert.match(r.stderr, /sha256 mismatch: expected prefix 528c19ca/);
    assert.ok(oneLine(r.stderr));
    assert.equal(readdirSync(home), []);
    assert.is(requests, 1);

    // A cached checkpoint is used without a request when its record (size, mtime, sha256)
    // vouches for it. The synthetic file cannot really hash to 528c19ca…, so its record says so.
    const r50 = createModel('resnest50', { init: false, backend: js });
    const sd50 = syntheticStateDict(r50, 5);
    const cached = join(home, 'resnest50-528c19ca.pth');
    writeFileSync(cached, saveSafetensors(sd50));
    const st = statSync(cached);
    writeFileSync(join(home, '.resnest50-528c19ca.pth.json'), JSON.stringify({ size: st.size, sha256: '528c19ca'.padEnd(64, '0'), mtimeMs: st.mtimeMs }));
    const ok = await runCli(['infer', '--arch', 'resnest50', '--pretrained', '--input', input, '--output', join(dir, 'p.npy')], env);
    assert.is(ok.code, 0, ok.stderr);
    assert.is(requests, 1);
    r50.loadStateDict(sd50);
    const ref = tidy(() => r50.call(tensor(syntheticInput(fx.input, fx.seed), fx.input, { backend: js }))).dataSync();
    assert.ok(relErr(npy(join(dir, 'p.npy')).data as Float32Array, ref) < 1e-5);
  } finally {
    server.close();
    rmSync(home, { recursive: true, force: true });
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
