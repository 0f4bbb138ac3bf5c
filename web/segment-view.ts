// The page's segmentation view: a segmentation network (the toolkit's published weights as
// their .zip or .pth, or one trained with `resnest train --arch fcn_…`) run on the page's
// current image, one pass with the long side at the chosen size and the scores resized back;
// the class map drawn over the image; pointing at a pixel (or moving a cursor with the arrow
// keys) names its class and the softmax probability of it.

import type { Backend } from '../src/backend/backend.js';
import { loadCheckpoint } from '../src/io/checkpoint.js';
import { unwrapCheckpointZip } from '../src/io/wrapped-checkpoint.js';
import { writeNormalized, type Image8, imagenetTables, IMAGENET_BLACK } from '../src/io/image/preprocess.js';
import { ADE20K_CLASSES, ADE20K_PALETTE, PASCAL_CONTEXT_CLASSES, PASCAL_CONTEXT_PALETTE } from '../src/models/segmentation/classes.js';
import { argmaxClasses, segmentScores } from '../src/models/segmentation/multi-eval.js';
import type { SegNet } from '../src/models/segmentation/segnet.js';
import { createSegmentationModel, segArch, segClassesOf, SEG_ZOO } from '../src/models/segmentation/zoo.js';
import type { StateDict } from '../src/io/raw.js';

export interface SegmentViewHost {
  backend(): Backend;
  image(): { image: Image8; name: string } | null;
  status(text: string): void;
}

/** Networks the picker offers: the published ones and the toolkit's heads on the small zoo backbones. */
const ARCHS = [...SEG_ZOO.keys(), 'fcn_resnest14d', 'deeplab_resnest14d', 'fcn_resnest26d', 'fcn_resnest50', 'deeplab_resnest50'];

interface Result { width: number; height: number; classes: number; scores: Float32Array; map: Uint8Array; labels: readonly string[]; palette: Uint8Array }

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export class SegmentView {
  private sd: StateDict | null = null;
  private weightsName = '';
  private model: SegNet | null = null;
  private result: Result | null = null;
  private cursor = { x: 0, y: 0 };
  private drawn: ImageData | null = null;

  constructor(private readonly host: SegmentViewHost) {
    $<HTMLSelectElement>('seg-arch').innerHTML = ARCHS.map((n) => `<option${n === 'deeplab_resnest50_ade' ? ' selected' : ''}>${n}</option>`).join('');
    $<HTMLInputElement>('seg-weights').onchange = (ev) => {
      const f = (ev.target as HTMLInputElement).files?.[0];
      if (f) void this.guard(async () => this.useWeights(new Uint8Array(await f.arrayBuffer()), f.name));
    };
    $('seg-run').onclick = () => void this.guard(() => this.run());
    $<HTMLSelectElement>('seg-arch').onchange = () => this.drop();
    const canvas = $<HTMLCanvasElement>('seg-canvas');
    canvas.onpointermove = (ev) => {
      const r = canvas.getBoundingClientRect();
      this.point(Math.floor(((ev.clientX - r.left) / r.width) * canvas.width), Math.floor(((ev.clientY - r.top) / r.height) * canvas.height));
    };
    canvas.onkeydown = (ev) => {
      const step: Record<string, [number, number]> = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      const d = step[ev.key];
      if (!d || !this.result) return;
      ev.preventDefault();
      this.point(this.cursor.x + d[0] * (ev.shiftKey ? 10 : 1), this.cursor.y + d[1] * (ev.shiftKey ? 10 : 1));
    };
  }

  private async guard(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.host.status(`error: ${(e as Error).message}`);
      $('seg-info').textContent = `error: ${(e as Error).message}`;
      console.warn(e);
    }
  }

  /** The network must be rebuilt (another architecture or backend). */
  drop(): void {
    this.model?.dispose();
    this.model = null;
  }

  private useWeights(bytes: Uint8Array, name: string): void {
    // The toolkit publishes its .pth inside a zip: take the member.
    const inner = unwrapCheckpointZip(bytes, name);
    this.sd = loadCheckpoint(inner?.bytes ?? bytes, inner ? `${name}:${inner.name}` : name);
    this.weightsName = name;
    const published = [...SEG_ZOO.keys()].find((n) => name.startsWith(n));
    if (published) $<HTMLSelectElement>('seg-arch').value = published;
    this.drop();
    $('seg-info').textContent = `${name}: ${segClassesOf(this.sd) ?? '?'} classes — press Segment`;
  }

  private build(): SegNet {
    if (this.model && this.model.backend === this.host.backend()) return this.model;
    this.drop();
    if (!this.sd) throw new Error('choose segmentation weights first (a toolkit .zip or .pth, or one trained with resnest train --arch fcn_…)');
    const arch = $<HTMLSelectElement>('seg-arch').value;
    const m = createSegmentationModel(arch, { backend: this.host.backend(), init: false, numClasses: segClassesOf(this.sd) ?? undefined });
    try {
      m.loadStateDict(this.sd, { where: `${arch} from ${this.weightsName}` });
    } catch (e) {
      m.dispose();
      throw e;
    }
    this.model = m.eval().fuse({ inPlace: true });
    return this.model;
  }

  async run(): Promise<void> {
    const current = this.host.image();
    if (!current) throw new Error('choose an image first (section 2)');
    const model = this.build();
    const { image } = current;
    const size = Math.max(32, Math.min(1024, Number($<HTMLInputElement>('seg-size').value) || 520));
    const x = new Float32Array(3 * image.width * image.height);
    writeNormalized(image, x, 0, imagenetTables());
    this.host.status(`segmenting ${current.name} on ${model.backend.name}…`);
    const t0 = performance.now();
    const scores = await segmentScores(model, x, image.height, image.width, { base: size, padValue: IMAGENET_BLACK });
    const classes = model.opts.numClasses;
    const published = segArch($<HTMLSelectElement>('seg-arch').value)?.published;
    const [labels, palette] = published?.dataset === 'pcontext' ? [PASCAL_CONTEXT_CLASSES, PASCAL_CONTEXT_PALETTE]
      : [published ? ADE20K_CLASSES : Array.from({ length: classes }, (_, k) => `class ${k}`), ADE20K_PALETTE];
    this.result = { width: image.width, height: image.height, classes, scores, map: argmaxClasses(scores, classes), labels, palette };
    this.draw(image);
    const ms = performance.now() - t0;
    const counts = new Map<number, number>();
    for (const c of this.result.map) counts.set(c, (counts.get(c) ?? 0) + 1);
    const plane = image.width * image.height;
    $('seg-legend').innerHTML = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([c, n]) => {
      const rgb = `rgb(${palette[3 * (c % 150)]},${palette[3 * (c % 150) + 1]},${palette[3 * (c % 150) + 2]})`;
      return `<li data-class="${c}" data-share="${n / plane}"><span class="swatch" style="background:${rgb}"></span>${labels[c]} ${(100 * n / plane).toFixed(1)} %</li>`;
    }).join('');
    $('seg-info').textContent = `${current.name} (${image.width}×${image.height}) through ${$<HTMLSelectElement>('seg-arch').value} on ${model.backend.name}, long side ${size}: ${ms.toFixed(0)} ms`;
    this.host.status(`segmented ${current.name}`);
    this.point(Math.floor(image.width / 2), Math.floor(image.height / 2));
  }

  /** The class map in the data set's palette over the image, half and half. */
  private draw(image: Image8): void {
    const r = this.result!, canvas = $<HTMLCanvasElement>('seg-canvas');
    canvas.width = r.width;
    canvas.height = r.height;
    const ctx = canvas.getContext('2d')!, out = ctx.createImageData(r.width, r.height);
    for (let i = 0; i < r.map.length; i++) {
      const c = r.map[i]! % 150;
      for (let k = 0; k < 3; k++) out.data[4 * i + k] = Math.round(0.5 * image.data[3 * i + k]! + 0.5 * r.palette[3 * c + k]!);
      out.data[4 * i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    this.drawn = out;
  }

  /** Names the class of pixel (x, y) and its softmax probability. */
  private point(x: number, y: number): void {
    const r = this.result;
    if (!r) return;
    x = Math.max(0, Math.min(r.width - 1, x));
    y = Math.max(0, Math.min(r.height - 1, y));
    this.cursor = { x, y };
    // The pixel read out, ringed (for keyboard users, whose cursor is not the pointer).
    const ctx = $<HTMLCanvasElement>('seg-canvas').getContext('2d')!;
    if (this.drawn) ctx.putImageData(this.drawn, 0, 0);
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 0.5;
    ctx.strokeRect(x - 0.75, y - 0.75, 2.5, 2.5);
    const plane = r.width * r.height, i = y * r.width + x, c = r.map[i]!;
    let max = -Infinity, sum = 0;
    for (let k = 0; k < r.classes; k++) max = Math.max(max, r.scores[k * plane + i]!);
    for (let k = 0; k < r.classes; k++) sum += Math.exp(r.scores[k * plane + i]! - max);
    const p = Math.exp(r.scores[c * plane + i]! - max) / sum;
    const el = $('seg-pixel');
    el.dataset.x = String(x);
    el.dataset.y = String(y);
    el.dataset.class = String(c);
    el.dataset.probability = String(p);
    el.textContent = `pixel (${x}, ${y}): ${r.labels[c]} — probability ${(100 * p).toFixed(1)} %`;
  }
}
