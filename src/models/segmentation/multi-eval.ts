// The class scores of an image at its own size, as the authors' toolkit evaluates
// (PyTorch-Encoding's MultiEvalModule): for each scale s the normalised image is resized
// (bilinear, corners aligned) so its long side is ⌈base·s⌉; a map no longer than the crop is
// padded to the crop with the mean colour (0 after normalisation is −mean/std) and run whole,
// a larger one runs as crops of `crop` at stride ⅔·crop, each padded likewise, overlapping
// scores averaged; with flip, each crop's scores gain those of its mirror image. Each scale's
// scores are resized back to the image and summed. Without scales: one pass at long side
// `base`, no crops — the quick form.

import { ArgumentError } from '../../errors.js';
import * as F from '../../ops/index.js';
import { tidy } from '../../tensor/scope.js';
import { tensor } from '../../tensor/tensor.js';
import type { SegNet } from './segnet.js';

export interface MultiEvalOptions {
  /** The toolkit's evaluation scales (0.5 … 1.75); absent or empty: one pass at `base`. */
  scales?: readonly number[] | null;
  flip?: boolean;
  /** Long side at scale 1 (the toolkit's base_size, 520). */
  base?: number;
  /** Sliding-window side (the toolkit's crop_size, 480). */
  crop?: number;
  /** The normalised value of a black pixel per channel (−mean/std), used to pad. */
  padValue: readonly number[];
  /** After each forward pass: passes done, passes in all. */
  onProgress?: (done: number, total: number) => void;
}

/** The toolkit's size for a long side: the short side in proportion, rounded half up. */
export function longSide(h: number, w: number, long: number): [number, number] {
  return h > w ? [long, Math.trunc((w * long) / h + 0.5)] : [Math.trunc((h * long) / w + 0.5), long];
}

interface Plan { scale: number; height: number; width: number; windows: [number, number][] | null }

/** Each scale's size and its crops' corners (null: the padded map runs whole). */
function plan(h: number, w: number, o: MultiEvalOptions): Plan[] {
  const base = o.base ?? 520, crop = o.crop ?? 480;
  if (!o.scales?.length) {
    const [height, width] = longSide(h, w, base);
    return [{ scale: 1, height, width, windows: null }];
  }
  const stride = Math.trunc(crop * (2 / 3));
  return o.scales.map((scale) => {
    if (!(scale > 0 && scale <= 8)) throw new ArgumentError(`segmentation scales must be in (0, 8], got ${scale}`);
    const long = Math.ceil(base * scale);
    const [height, width] = longSide(h, w, long);
    if (long <= crop) return { scale, height, width, windows: [[0, 0]] };
    const [ph, pw] = [Math.max(height, crop), Math.max(width, crop)];
    const windows: [number, number][] = [];
    for (let i = 0; i < Math.ceil((ph - crop) / stride) + 1; i++) for (let j = 0; j < Math.ceil((pw - crop) / stride) + 1; j++) windows.push([i * stride, j * stride]);
    return { scale, height, width, windows };
  });
}

/** Forward passes `segmentScores` will run for an image of h×w (for progress). */
export function passCount(h: number, w: number, o: MultiEvalOptions): number {
  return plan(h, w, o).reduce((n, p) => n + (p.windows?.length ?? 1), 0) * (o.flip ? 2 : 1);
}

/** Mirrors each row of a [C, h, w] map (in place). */
function mirror(v: Float32Array, w: number): Float32Array {
  for (let row = 0; row < v.length; row += w) v.subarray(row, row + w).reverse();
  return v;
}

/** The main head's logits [K, h, w] of x [3, h, w], plus those of its mirror image mirrored back. */
async function infer(model: SegNet, x: Float32Array, h: number, w: number, flip: boolean): Promise<Float32Array> {
  const run = async (v: Float32Array) => {
    const out = tidy(() => model.call(tensor(v, [1, 3, h, w], { backend: model.backend })));
    const s = (await out.data()) as Float32Array;
    out.dispose();
    return s;
  };
  const s = Float32Array.from(await run(x));
  if (flip) {
    const m = mirror(await run(mirror(Float32Array.from(x), w)), w);
    for (let i = 0; i < s.length; i++) s[i] += m[i]!;
  }
  return s;
}

/** Copies rows/cols [r0, r0+ch) × [c0, c0+cw) of a [C, H, W] map into a [C, side, side] one padded with `pad`. */
function window(src: Float32Array, h: number, w: number, r0: number, c0: number, side: number, pad: readonly number[]): Float32Array {
  const out = new Float32Array(3 * side * side);
  const ch = Math.min(side, h - r0), cw = Math.min(side, w - c0);
  for (let c = 0; c < 3; c++) {
    out.fill(pad[c]!, c * side * side, (c + 1) * side * side);
    for (let r = 0; r < ch; r++) out.set(src.subarray(c * h * w + (r0 + r) * w + c0, c * h * w + (r0 + r) * w + c0 + cw), c * side * side + r * side);
  }
  return out;
}

/**
 * The summed class scores [K, h, w] of a normalised image [3, h, w] (Float32Array). With scales
 * the toolkit's evaluation; without, one pass. The model must be in eval mode.
 */
export async function segmentScores(model: SegNet, image: Float32Array, h: number, w: number, o: MultiEvalOptions): Promise<Float32Array> {
  if (image.length !== 3 * h * w) throw new ArgumentError(`segmentScores: image has ${image.length} values, not 3×${h}×${w}`);
  const crop = o.crop ?? 480, flip = !!o.flip, backend = model.backend;
  const total = passCount(h, w, o);
  let done = 0;
  const tick = () => o.onProgress?.((done += flip ? 2 : 1), total);
  let scores: Float32Array | null = null;
  const full = tensor(image, [1, 3, h, w], { backend });
  try {
    for (const p of plan(h, w, o)) {
      const resized = tidy(() => F.interpolate(full, { size: [p.height, p.width], mode: 'bilinear', alignCorners: true }));
      const pixels = (await resized.data()) as Float32Array;
      resized.dispose();
      let logits: Float32Array, k: number;
      if (!p.windows) {
        logits = await infer(model, pixels, p.height, p.width, flip);
        k = logits.length / (p.height * p.width);
        tick();
      } else {
        const [ph, pw] = [Math.max(p.height, crop), Math.max(p.width, crop)];
        let sum: Float32Array | null = null;
        const count = new Uint16Array(ph * pw);
        k = 0;
        for (const [r0, c0] of p.windows) {
          const s = await infer(model, window(pixels, p.height, p.width, r0, c0, crop, o.padValue), crop, crop, flip);
          k = s.length / (crop * crop);
          sum ??= new Float32Array(k * ph * pw);
          const rh = Math.min(crop, ph - r0), rw = Math.min(crop, pw - c0);
          for (let r = 0; r < rh; r++) for (let c = 0; c < rw; c++) count[(r0 + r) * pw + c0 + c]!++;
          for (let cls = 0; cls < k; cls++) {
            for (let r = 0; r < rh; r++) {
              const from = cls * crop * crop + r * crop, to = cls * ph * pw + (r0 + r) * pw + c0;
              for (let c = 0; c < rw; c++) sum[to + c] += s[from + c]!;
            }
          }
          tick();
        }
        // The average of overlapping crops, cut back to the scaled image (the padding dropped).
        const avg = new Float32Array(k * p.height * p.width);
        for (let cls = 0; cls < k; cls++) {
          for (let r = 0; r < p.height; r++) {
            for (let c = 0; c < p.width; c++) avg[(cls * p.height + r) * p.width + c] = sum![cls * ph * pw + r * pw + c]! / count[r * pw + c]!;
          }
        }
        logits = avg;
      }
      const small = tensor(logits, [1, k, p.height, p.width], { backend });
      const back = tidy(() => F.interpolate(small, { size: [h, w], mode: 'bilinear', alignCorners: true }));
      small.dispose();
      const s = (await back.data()) as Float32Array;
      back.dispose();
      if (!scores) scores = Float32Array.from(s);
      else for (let i = 0; i < s.length; i++) scores[i] += s[i]!;
    }
  } finally {
    full.dispose();
  }
  return scores!;
}

/** The class of each pixel of scores [K, plane]: the first largest, as argmax. */
export function argmaxClasses(scores: Float32Array, classes: number): Uint8Array {
  const plane = scores.length / classes, map = new Uint8Array(plane);
  for (let i = 0; i < plane; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[c * plane + i]! > scores[best * plane + i]!) best = c;
    map[i] = best;
  }
  return map;
}
