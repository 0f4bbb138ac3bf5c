// The step-through page: a model (the embedded default, a dropped checkpoint with an
// architecture, or a URL), an image (the examples, a file, the camera), its top 5, one
// block's split attention step by step (the same sections and figures as `resnest explain
// --out`), training the network in the page, per-stage timings on any backend, and the
// image segmented by one of the paper's segmentation networks (web/segment-view.ts).

import {
  archFromConfig, backendNames, createModel, explainBlock, initBackend, loadCheckpoint, preprocess, splitAttentionBlocks,
  tensor, traceJson, trainArrays, ZOO, type Backend, type ResNet, type StateDict, type SplitAttentionTrace,
} from '../src/index.js';
import { decodeImage } from '../src/io/image/decode.js';
import { parseModelCard } from '../src/io/model-card.js';
import type { ZooEntry } from '../src/models/resnest/zoo.js';
import { toRgb8, type Image8 } from '../src/io/image/preprocess.js';
import { IMAGENET_CLASSES } from '../src/data/imagenet-classes.js';
import { readIdx } from '../src/data/idx.js';
import { zooPreprocessing, type Preprocessing } from '../src/train/evaluate.js';
import { curvesSvg } from '../src/viz/curves-svg.js';
import { groupProfile, profileModel } from '../src/nn/profile.js';
import { SegmentView } from './segment-view.js';
import { Explorer } from './explorer/explorer.js';
import { networkStages, recordShapes, type StripStage } from './explorer/network.js';

const EXAMPLES = ['ankle-boot', 'bag', 'dress', 'sneaker', 't-shirt', 'trouser'];
/** The bundled training subset (written by scripts/build-web.mjs from Fashion-MNIST). */
const SUBSET = { images: 'data/fmnist-subset-images.idx.gz', labels: 'data/fmnist-subset-labels.idx.gz' };

interface Weights { entry: ZooEntry; sd: StateDict; labels: readonly string[] | null; pre: Preprocessing; what: string }

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string) => { $('status').textContent = text; };

let backend: Backend;
let weights: Weights | null = null;
let model: ResNet | null = null;
let image: Image8 | null = null;
let imageName = '';
let trainingStop = false;
let segmentView: SegmentView | null = null;
/** The model's parts for the explorer's strip (one list per model). */
let stages: StripStage[] = [];

// ---- backends ----------------------------------------------------------------------------

async function useBackend(name: string): Promise<void> {
  segmentView?.drop();
  backend = await initBackend(name);
  const threads = (backend as { threads?: number }).threads;
  const isolated = globalThis.crossOriginIsolated === true;
  const note = name === 'wasm'
    ? `${threads ?? 1} thread${threads === 1 ? '' : 's'}${isolated ? ' (cross-origin isolated)' : ' — served without COOP/COEP headers, so one thread'}`
    : name === 'webgpu' ? 'inference and training on the GPU' : 'the reference kernels';
  $('backend').title = note;
  status(`backend ${name}: ${note}`);
  if (weights) await rebuild();
}

async function setUpBackends(): Promise<void> {
  const select = $<HTMLSelectElement>('backend');
  const names = backendNames().filter((n) => n !== 'meta' && (n !== 'webgpu' || 'gpu' in navigator));
  select.innerHTML = names.map((n) => `<option value="${n}"${n === 'wasm' ? ' selected' : ''}>${n}</option>`).join('');
  select.onchange = () => void guarded(() => useBackend(select.value));
  await useBackend(select.value);
}

// ---- models ------------------------------------------------------------------------------

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadDefault(): Promise<void> {
  status('loading the embedded default model…');
  const card = parseModelCard(await (await fetch('models/default.json')).text(), 'models/default.json');
  const sd = loadCheckpoint(await fetchBytes('models/default.pth'), 'models/default.pth');
  weights = { entry: archFromConfig(card.resnet, 'models/default.json'), sd, labels: card.labels, pre: card.preprocess, what: 'the embedded default model (Fashion-MNIST)' };
  await rebuild();
}

function zooWeights(sd: StateDict, arch: string, what: string): Weights {
  const entry = ZOO.get(arch)!;
  const classes = sd.get('fc.weight')?.shape[0] ?? 1000;
  return { entry, sd, what, labels: classes === IMAGENET_CLASSES.length ? IMAGENET_CLASSES : null, pre: zooPreprocessing(entry) };
}

/** The current weights as a model on the current backend, in eval mode, unfused (bn0 and bn1 stay visible). */
async function rebuild(): Promise<void> {
  const w = weights!;
  model?.dispose();
  model = null;
  const classes = w.sd.get('fc.weight')?.shape[0] ?? 1000;
  const m = createModel(w.entry, { backend, init: false, numClasses: classes });
  try {
    m.loadStateDict(w.sd, { where: w.what });
  } catch (e) {
    m.dispose();
    throw e;
  }
  model = m.eval();
  stages = networkStages(model);
  const blocks = splitAttentionBlocks(model);
  const select = $<HTMLSelectElement>('block');
  const keep = select.value;
  select.innerHTML = blocks.map((b) => `<option${b === keep || (!blocks.includes(keep) && b === 'layer2.0') ? ' selected' : ''}>${b}</option>`).join('');
  $('model-info').textContent = `${w.what}: ${w.entry.name}, ${classes} classes, input ${w.pre.size}×${w.pre.size}; ${blocks.length} split-attention blocks`;
  status(`model ready on ${backend.name}`);
  if (image) await run();
}

// ---- images ------------------------------------------------------------------------------

async function useImage(bytes: Uint8Array, name: string): Promise<void> {
  image = decodeImage(bytes, name);
  imageName = name;
  await run();
}

function showPreview(x: Float32Array, pre: Preprocessing): void {
  const c = $<HTMLCanvasElement>('preview'), rgb = toRgb8(x, pre.size, pre.size, pre.mean, pre.std);
  c.width = pre.size;
  c.height = pre.size;
  const ctx = c.getContext('2d')!, img = ctx.createImageData(pre.size, pre.size);
  for (let i = 0; i < pre.size * pre.size; i++) img.data.set([rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, 255], 4 * i);
  ctx.putImageData(img, 0, 0);
}

function input(of: Image8 = image!): Float32Array {
  const pre = weights!.pre;
  return preprocess(of, { crop: pre.size, resize: pre.resize, mean: pre.mean, std: pre.std }).data;
}

/** One block of the current model explained for an image (the current one, or another for the comparison). */
async function explain(of: Image8, block: string): Promise<SplitAttentionTrace> {
  const pre = weights!.pre;
  const x = tensor(input(of), [1, 3, pre.size, pre.size], { backend });
  try {
    return await explainBlock(model!, x, block, { labels: weights!.labels });
  } finally {
    x.dispose();
  }
}

/** Classify the current image and step through the chosen block. */
async function run(): Promise<void> {
  if (!model || !image) return;
  const pre = weights!.pre, data = input();
  showPreview(data, pre);
  const shapes = recordShapes(model, stages);
  let trace: SplitAttentionTrace;
  try {
    trace = await explain(image, $<HTMLSelectElement>('block').value);
  } finally {
    shapes.stop();
  }
  $('top5').innerHTML = trace.top.map((t) => `<li>${t.label}: <span class="p">${(100 * t.probability).toFixed(2)}</span> %</li>`).join('');
  await explorer.show(trace, stages, shapes.shapes, imageName);
  $('trace-json').textContent = JSON.stringify(traceJson(trace));
  // What the numbers are of (for scripts reading the page, e.g. its test).
  Object.assign($('trace-json').dataset, { image: imageName, block: trace.block, model: weights!.what });
  status(`${trace.top[0]!.label} (${(100 * trace.top[0]!.probability).toFixed(1)} %); ${trace.block} stepped through on ${backend.name}`);
}

// ---- training ----------------------------------------------------------------------------

async function train(): Promise<void> {
  if (!weights) throw new Error('load a model first');
  const steps = Number($<HTMLInputElement>('train-steps').value), batch = Number($<HTMLInputElement>('train-batch').value);
  const lr = Number($<HTMLInputElement>('train-lr').value);
  status('loading the training subset…');
  const [imgs, labs] = await Promise.all([readIdx(await fetchBytes(SUBSET.images), SUBSET.images), readIdx(await fetchBytes(SUBSET.labels), SUBSET.labels)]);
  const [n, h, w] = imgs.shape as [number, number, number];
  const pre = weights.pre;
  if (h !== pre.size || w !== pre.size) throw new Error(`the subset is ${h}×${w}; this model expects ${pre.size}×${pre.size} (train the default architecture)`);
  // Grayscale replicated to RGB, normalised as the model expects.
  const x = new Float32Array(n * 3 * h * w);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) {
      for (let p = 0; p < h * w; p++) x[(i * 3 + k) * h * w + p] = (imgs.data[i * h * w + p]! / 255 - pre.mean[k]!) / pre.std[k]!;
    }
  }
  const labels = Array.from(labs.data, Number);
  const classes = weights.labels?.length ?? 10;
  // Every backend the page offers trains (js, wasm, webgpu); one without training kernels would hand over to wasm.
  const trainOn = backend.training ? backend : await initBackend('wasm');
  const net = createModel(weights.entry, { backend: trainOn, numClasses: classes, seed: 1 });
  const perEpoch = Math.ceil(n / batch), epochs = Math.ceil(steps / perEpoch);
  const losses: number[] = [], lrs: number[] = [];
  let done = 0;
  trainingStop = false;
  $<HTMLButtonElement>('train-start').disabled = true;
  $<HTMLButtonElement>('train-stop').disabled = false;
  const t0 = performance.now();
  try {
    await trainArrays(net, x, [n, 3, h, w], labels, {
      epochs, batchSize: batch, lr, momentum: 0.9, nesterov: true, weightDecay: 1e-4, noBiasDecay: true, labelSmoothing: 0.1,
      schedule: 'cosine', warmupEpochs: Math.min(1, epochs), augment: true, seed: 1,
      shouldStop: () => trainingStop || done >= steps,
      onStep: (s) => {
        done++;
        losses.push(s.loss);
        lrs.push(s.lr);
        const rate = (done * batch) / ((performance.now() - t0) / 1000);
        $('train-info').textContent = `step ${done}/${steps}: loss ${s.loss.toFixed(4)}, lr ${s.lr.toFixed(4)}, ${rate.toFixed(0)} images/s on ${trainOn.name}`;
        $('train-info').dataset.losses = JSON.stringify(losses);
        if (done % 5 === 0 || done === 1) $('loss-curve').innerHTML = curvesSvg({ losses, lrs, stepsPerEpoch: perEpoch, accuracies: [], title: `training in the page (${n} images)` });
      },
    });
    $('loss-curve').innerHTML = curvesSvg({ losses, lrs, stepsPerEpoch: perEpoch, accuracies: [], title: `training in the page (${n} images)` });
    net.eval();
    weights = { ...weights, sd: await net.exportStateDict(), what: `the network trained here (${done} steps)` };
    $('train-info').textContent += ` — done: the step-through now shows the trained network.`;
  } finally {
    net.dispose();
    $<HTMLButtonElement>('train-start').disabled = false;
    $<HTMLButtonElement>('train-stop').disabled = true;
  }
  await rebuild();
}

// ---- timings -----------------------------------------------------------------------------

async function timeStages(): Promise<void> {
  if (!model || !image) throw new Error('load a model and an image first');
  const pre = weights!.pre;
  const x = tensor(input(), [1, 3, pre.size, pre.size], { backend });
  let p;
  try {
    p = await profileModel(model, x, { runs: 3 });
  } finally {
    x.dispose();
  }
  // Per block (the profile of `resnest bench --profile --depth 2`).
  const rows = groupProfile(p, 2).filter((r) => r.ms > 0 || r.flops > 0);
  $('timings').querySelector('tbody')!.innerHTML = rows.map((r) => `<tr><td>${r.path}</td><td>${r.ms.toFixed(2)}</td><td>${(100 * r.share).toFixed(1)} %</td>`
    + `<td>${r.gflops === null ? '–' : `${r.gflops.toFixed(1)}${r.winograd ? ' (W)' : ''}`}</td></tr>`).join('')
    + `<tr><th scope="row">total</th><td>${p.totalMs.toFixed(2)}</td><td>100 %</td><td></td></tr>`;
  $('timings').querySelector('caption')!.textContent = `One forward pass on ${backend.name}, self time per block (median of ${p.runs})`
    + (p.synchronous ? '' : ' — asynchronous backend: times to record the kernels, not to run them');
}

// ---- wiring ------------------------------------------------------------------------------

async function guarded(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    status(`error: ${(e as Error).message}`);
    console.warn(e);
  }
}

async function onFile(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (/\.(pth|pt|safetensors)$/i.test(file.name)) {
    weights = zooWeights(loadCheckpoint(bytes, file.name), $<HTMLSelectElement>('arch').value, file.name);
    await rebuild();
  } else {
    await useImage(bytes, file.name);
  }
}

async function startCamera(): Promise<void> {
  const video = $<HTMLVideoElement>('video');
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
  video.hidden = false;
  await video.play();
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(video, 0, 0);
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const rgb = new Uint8Array(canvas.width * canvas.height * 3);
  for (let i = 0; i < canvas.width * canvas.height; i++) rgb.set([d[4 * i]!, d[4 * i + 1]!, d[4 * i + 2]!], 3 * i);
  image = { width: canvas.width, height: canvas.height, channels: 3, data: rgb };
  imageName = 'camera';
  for (const t of (video.srcObject as MediaStream).getTracks()) t.stop();
  video.hidden = true;
  await run();
}

const explorer = new Explorer($('net-strip'), $('explorer'), $('steps'), {
  examples: EXAMPLES.map((e) => `${e}.png`),
  traceFor: async (name, block) => explain(decodeImage(await fetchBytes(`examples/${name}`), name), block),
  chooseBlock: (block) => {
    $<HTMLSelectElement>('block').value = block;
    void guarded(run);
  },
  report: (e) => {
    status(`error: ${(e as Error).message}`);
    console.warn(e);
  },
});

function wire(): void {
  $<HTMLSelectElement>('arch').innerHTML = [...ZOO.keys()].map((n) => `<option${n === 'resnest50' ? ' selected' : ''}>${n}</option>`).join('');
  $('examples').innerHTML = EXAMPLES.map((e) => `<button type="button" data-example="${e}"><img src="examples/${e}.png" alt=""><span>${e}</span></button>`).join('');
  $('examples').onclick = (ev) => {
    const b = (ev.target as HTMLElement).closest('button');
    if (b) void guarded(async () => useImage(await fetchBytes(`examples/${b.dataset.example}.png`), `${b.dataset.example}.png`));
  };
  $('use-default').onclick = () => void guarded(loadDefault);
  $<HTMLInputElement>('weights-file').onchange = (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) void guarded(() => onFile(f));
  };
  $('load-url').onclick = () => void guarded(async () => {
    const url = $<HTMLInputElement>('weights-url').value;
    status(`downloading ${url}…`);
    weights = zooWeights(loadCheckpoint(await fetchBytes(url), url), $<HTMLSelectElement>('arch').value, url);
    await rebuild();
  });
  $<HTMLInputElement>('image-file').onchange = (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) void guarded(() => onFile(f));
  };
  if (typeof navigator.mediaDevices?.getUserMedia === 'function') {
    $('camera').hidden = false;
    $('camera').onclick = () => void guarded(startCamera);
  }
  $('block').onchange = () => void guarded(run);
  $('train-start').onclick = () => void guarded(train);
  $('train-stop').onclick = () => { trainingStop = true; };
  $('time-layers').onclick = () => void guarded(timeStages);
  segmentView = new SegmentView({ backend: () => backend, image: () => (image ? { image, name: imageName } : null), status });
  const zone = $('drop-zone');
  document.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  document.addEventListener('dragleave', () => zone.classList.remove('over'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void guarded(() => onFile(f));
  });
}

wire();
await guarded(async () => {
  await setUpBackends();
  await loadDefault();
  await useImage(await fetchBytes('examples/bag.png'), 'bag.png');
});
document.body.dataset.ready = 'true';
