// AutoAugment's ops and ColorJitter's adjustments against torchvision 0.14 on PIL images
// (fixtures: scripts/make_augment_fixtures.py → test/fixtures/augment/): every case must agree
// exactly, byte for byte. Also the magnitude tables and the ImageNet policy against torch's,
// and the seeded draws of autoAugment / colorJitter.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Image8 } from '../src/io/image/preprocess.js';
import {
  IMAGENET_POLICY, OP_NAMES, adjustBrightness, adjustContrast, adjustHue, adjustSaturation, applyOp,
  augmentationSpace, autoAugment, colorJitter, type OpName,
} from '../src/data/autoaugment.js';
import { Rng } from '../src/util/random.js';
import { cropImage } from '../src/data/augment.js';
import { resizeBilinear } from '../src/io/image/preprocess.js';
import { FIXTURES } from './helpers/fixtures.js';

const dir = join(FIXTURES, 'augment');
const meta = JSON.parse(readFileSync(join(dir, 'augment.json'), 'utf8')) as {
  images: { name: string; width: number; height: number; channels: number; offset: number }[];
  /** [op, image, offset, value] or [op, image, offset, bin, sign] (magnitude from the torch table). */
  cases: [string, string, number, number, number?][];
  spaces: Record<string, Record<string, number[] | number>>;
  signed: string[];
  imagenet_policy: [string, number, number | null][][];
  /** [image, top, left, height, width, size, offset]: F.resized_crop's output. */
  resized_crops: [string, number, number, number, number, number, number][];
};
const blob = new Uint8Array(gunzipSync(readFileSync(join(dir, 'augment.bin.gz'))));
const images = new Map<string, Image8>(meta.images.map((m) => [m.name, {
  width: m.width, height: m.height, channels: m.channels,
  data: blob.subarray(m.offset, m.offset + m.width * m.height * m.channels),
}]));
const image = (name: string) => images.get(name)!;

const ADJUST: Record<string, (img: Image8, factor: number) => Image8> = {
  adjust_brightness: adjustBrightness, adjust_contrast: adjustContrast,
  adjust_saturation: adjustSaturation, adjust_hue: adjustHue,
};

test("RandomResizedCrop's pixels for a box equal torchvision's F.resized_crop (PIL bilinear)", () => {
  assert.ok(meta.resized_crops.length >= 8);
  for (const [name, top, left, height, width, size, offset] of meta.resized_crops) {
    const img = image(name);
    const out = resizeBilinear(cropImage(img, { top, left, height, width }), size, size);
    const want = blob.subarray(offset, offset + size * size * img.channels);
    assert.is(out.data.length, want.length);
    assert.ok(out.data.every((v, i) => v === want[i]), `${name} box ${width}×${height} at (${left}, ${top}) → ${size}`);
  }
});

test('every op matches torchvision _apply_op / F.adjust_* on PIL exactly', () => {
  const maxDiff = new Map<string, number>();
  const failures: string[] = [];
  for (const [op, name, offset, a, sign] of meta.cases) {
    const img = image(name);
    const frozen = img.data.slice();
    const magnitude = sign === undefined ? a : sign * (meta.spaces[`${img.width}x${img.height}`]![op] as number[])[a]!;
    const out = op in ADJUST ? ADJUST[op]!(img, magnitude) : applyOp(img, op as OpName, magnitude);
    const want = blob.subarray(offset, offset + img.data.length);
    assert.is(out.channels, img.channels, `${op} channels`);
    assert.is(out.data.length, want.length, `${op} size`);
    assert.equal(img.data, frozen, `${op} must not modify its input`);
    let d = 0, at = -1;
    for (let i = 0; i < want.length; i++) {
      const e = Math.abs(out.data[i]! - want[i]!);
      if (e > d) [d, at] = [e, i];
    }
    const key = `${op}/${name}`;
    maxDiff.set(key, Math.max(maxDiff.get(key) ?? 0, d));
    if (d > 0) failures.push(`${op}(${name}, ${magnitude}): max |diff| ${d} at byte ${at} (ours ${out.data[at]}, torchvision ${want[at]})`);
  }
  assert.ok(failures.length === 0, `${failures.length} of ${meta.cases.length} cases differ:\n${failures.slice(0, 20).join('\n')}`);
  // Every op was exercised, on both a grey and an RGB image.
  for (const op of [...OP_NAMES, ...Object.keys(ADJUST)]) {
    assert.ok(maxDiff.has(`${op}/rgb`) && maxDiff.has(`${op}/gray`), `${op} covered`);
  }
});

test('magnitude tables equal torch\'s _augmentation_space(10, (H, W)) bit for bit', () => {
  for (const [size, space] of Object.entries(meta.spaces)) {
    const [w, h] = size.split('x').map(Number) as [number, number];
    const ours = augmentationSpace(10, h, w);
    for (const op of OP_NAMES) {
      const want = space[op]!;
      assert.equal([...ours[op].magnitudes], typeof want === 'number' ? [want] : want, `${op} at ${size}`);
      assert.is(ours[op].signed, meta.signed.includes(op), `${op} signed`);
    }
    assert.equal(Object.keys(space).sort(), [...OP_NAMES].sort());
  }
});

test('IMAGENET_POLICY is torchvision\'s 25 sub-policies', () => {
  assert.is(IMAGENET_POLICY.length, 25);
  assert.equal(IMAGENET_POLICY.map((sub) => sub.map((p) => [p.op, p.probability, p.bin])), meta.imagenet_policy);
});

const same = (a: Image8, b: Image8) => a.width === b.width && a.height === b.height && a.channels === b.channels &&
  a.data.length === b.data.length && a.data.every((v, i) => v === b.data[i]);

test('autoAugment: seeded, one torchvision draw, grey stays grey', () => {
  const rgb = image('rgb'), gray = image('gray');
  const outs = [];
  for (let seed = 1; seed <= 24; seed++) {
    const out = autoAugment(rgb, new Rng(seed));
    assert.ok(same(out, autoAugment(rgb, new Rng(seed))), `seed ${seed} reproducible`);
    assert.ok(out.data !== rgb.data, 'a new image, even when no op fires');
    outs.push(out);
    // The draw, replayed: sub-policy, two probabilities, two signs; a signed op is negated on 0.
    const r = new Rng(seed);
    const sub = IMAGENET_POLICY[Math.floor(r.next() * 25)]!;
    const probs = [r.next(), r.next()], signs = [r.next() < 0.5 ? -1 : 1, r.next() < 0.5 ? -1 : 1];
    const space = augmentationSpace(10, rgb.height, rgb.width);
    let want: Image8 = rgb;
    sub.forEach((p, i) => {
      if (probs[i]! > p.probability) return;
      const m = p.bin === null ? 0 : space[p.op].magnitudes[p.bin]!;
      want = applyOp(want, p.op, space[p.op].signed ? signs[i]! * m : m);
    });
    assert.ok(same(out, want), `seed ${seed} is its replayed draw`);
    const g = autoAugment(gray, new Rng(seed));
    assert.is(g.channels, 1);
    assert.is(g.data.length, gray.data.length);
  }
  const distinct = new Set(outs.map((o) => Buffer.from(o.data).toString('base64')));
  assert.ok(distinct.size >= 8, `different seeds give different results (${distinct.size} distinct of 24)`);
});

test('colorJitter: ranges, draw order, reproducibility, grey stays grey', () => {
  const rgb = image('rgb'), gray = image('gray');
  // One adjustment on: three draws for the order, then its factor from [1 − b, 1 + b].
  for (let seed = 1; seed <= 5; seed++) {
    const r = new Rng(seed);
    r.next(); r.next(); r.next();
    const f = 0.6 + 0.8 * r.next();
    assert.ok(same(colorJitter(rgb, new Rng(seed), { brightness: 0.4 }), adjustBrightness(rgb, f)), `brightness seed ${seed}`);
  }
  const o = { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 };
  const a = colorJitter(rgb, new Rng(7), o);
  assert.ok(same(a, colorJitter(rgb, new Rng(7), o)));
  assert.not.ok(same(a, colorJitter(rgb, new Rng(8), o)));
  assert.ok(same(colorJitter(rgb, new Rng(7), {}), rgb), 'all off: unchanged');
  const g = colorJitter(gray, new Rng(3), o);
  assert.is(g.channels, 1);
  assert.is(g.data.length, gray.data.length);
  assert.throws(() => colorJitter(rgb, new Rng(1), { hue: 0.7 }), /hue values should be between/);
  assert.throws(() => adjustHue(rgb, -0.6), /not in \[-0.5, 0.5\]/);
  assert.throws(() => applyOp(rgb, 'Posterize', 9), /bits must be in \[0, 8\]/);
});

test.run();
