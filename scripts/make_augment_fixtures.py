#!/usr/bin/python3
"""Writes the AutoAugment / ColorJitter fixtures for test/augment-ops.test.ts into
test/fixtures/augment/.

Run with /usr/bin/python3 (Debian's torch 1.13 + torchvision 0.14 + PIL 9.4).

Every op of torchvision.transforms.autoaugment._apply_op is applied to PIL images at several
magnitudes (both signs of the signed ops, the ends of the ImageNet policy's magnitude table),
plus ColorJitter's functional adjustments at fixed factors, plus RandomResizedCrop's pixels for
given boxes (F.resized_crop). The test must reproduce each output exactly.

* augment.bin.gz: every input and output image as uint8 H×W×C, concatenated, gzipped.
  Outputs equal to an image already stored (identities, repeats) point at the earlier copy.
* augment.json: the images (name, shape, offset into the unzipped bytes); the cases, each
  [op, image, offset of the output, magnitude or factor] or, for a magnitude taken from the
  table, [op, image, offset, bin, sign] (magnitude = sign * spaces["WxH"][op][bin]); the torch
  magnitude tables (_augmentation_space(10, (H, W)) for each image size), the signed ops and
  the ImageNet policy as torchvision lists them, so that the TypeScript tables are checked too.

Images: "rgb" 14×11 and "gray" 13×9 (gradients plus a few shapes) take every op; "big"
32×24 RGB takes only Equalize and AutoContrast, because PIL's equalize is the identity below
256 pixels (its step is pixels // 255), and its channels exercise the other branches: a smooth
one, a four-level one ending at 255, and a constant one; "square" 5×5 grey takes the rotations
that PIL turns into transposes on square images.
"""
import gzip
import json
import os

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode, functional as F
from torchvision.transforms.autoaugment import AutoAugment, AutoAugmentPolicy, _apply_op

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'augment')


def disk(h, w, cy, cx, r):
    y, x = np.mgrid[0:h, 0:w]
    return (y - cy) ** 2 + (x - cx) ** 2 <= r * r


def rgb_image():
    h, w = 11, 14
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 20 + x * (215 / (w - 1))
    g = 35 + y * (190 / (h - 1))
    b = 128 + 70 * np.sin(x / 3.0) * np.cos(y / 2.5)
    img = np.stack([r, g, b], axis=-1)
    img[2:6, 3:8] = (230, 40, 60)
    img[disk(h, w, 7, 10, 2.5)] = (20, 200, 220)
    img[8, 1:5] = (250, 250, 5)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def gray_image():
    h, w = 9, 13
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 30 + (x + y) * (170 / (h + w - 2))
    img[1:4, 7:11] = 220
    img[disk(h, w, 6, 3, 1.8)] = 12
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def big_image():
    h, w = 24, 32
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 60 + 2.5 * x + 2 * y + 18 * np.sin(x * 0.9) * np.sin(y * 0.7)
    g = np.choose(((x // 8 + y // 6) % 4).astype(int), [40, 90, 160, 255])
    b = np.full((h, w), 128.0)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def to_pil(a):
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a, 'L' if a.shape[2] == 1 else 'RGB')


def from_pil(im):
    a = np.asarray(im, dtype=np.uint8)
    return a[:, :, None] if a.ndim == 2 else a


def main():
    os.makedirs(OUT, exist_ok=True)
    square = (np.arange(25, dtype=np.uint8).reshape(5, 5, 1) * 9 + 20)
    images = {'rgb': rgb_image(), 'gray': gray_image()[:, :, None], 'big': big_image(), 'square': square}
    blob = bytearray()
    stored = {}  # bytes -> offset: an output equal to an earlier image is stored once

    def store(a):
        key = a.tobytes()
        if key not in stored:
            stored[key] = len(blob)
            blob.extend(key)
        return stored[key]

    meta_images = [{'name': name, 'height': a.shape[0], 'width': a.shape[1], 'channels': a.shape[2],
                    'offset': store(a)} for name, a in images.items()]

    aa = AutoAugment(AutoAugmentPolicy.IMAGENET)
    spaces = {}
    cases = []

    def add(op, image, out, value=None, bin=None, sign=1):
        a = from_pil(out)
        assert a.shape == images[image].shape, (op, a.shape)
        # [op, image, offset of the output, value] or, for a magnitude from the table,
        # [op, image, offset, bin, sign] (magnitude = sign * spaces[WxH][op][bin], exactly).
        cases.append([op, image, store(a)] + ([value] if bin is None else [bin, sign]))

    # The bins the ImageNet policy uses, the table's end, and a small one for the shears.
    signed_bins = {
        'ShearX': [1, 5, 9], 'ShearY': [1, 5, 9], 'TranslateX': [3, 9], 'TranslateY': [3, 9],
        'Rotate': [3, 8, 9], 'Brightness': [4, 9], 'Color': [2, 8, 9], 'Contrast': [1, 8, 9],
        'Sharpness': [3, 7, 9],
    }
    for image in ('rgb', 'gray'):
        a = images[image]
        h, w = a.shape[:2]
        space = aa._augmentation_space(10, (h, w))
        # The ten float32 magnitudes of a table (as doubles), the bare number for a 0-d entry.
        spaces[f'{w}x{h}'] = {op: ([float(v) for v in mags.tolist()] if mags.dim() else float(mags))
                              for op, (mags, _) in space.items()}
        pil = to_pil(a)

        def run(op, magnitude, bin=None, sign=1):
            out = _apply_op(pil.copy(), op, magnitude, interpolation=InterpolationMode.NEAREST, fill=None)
            add(op, image, out, magnitude, bin, sign)

        for op, bins in signed_bins.items():
            mags = space[op][0]
            run(op, 0.0)
            for b in bins:
                m = float(mags[b].item())
                run(op, m, b)
                run(op, -m, b, -1)
        # Rotations off the table: the right angles take PIL's other paths (180° is a transpose;
        # 90° on a non-square image goes through the affine sampler at exact pixel edges).
        for m in (90.0, 180.0, -90.0, 45.0):
            run('Rotate', m)
        for bits in range(9):
            run('Posterize', float(bits))
        for b in range(10):
            run('Solarize', float(space['Solarize'][0][b].item()), b)
        for op in ('AutoContrast', 'Equalize', 'Invert'):
            run(op, 0.0)

        # ColorJitter's four adjustments, as ColorJitter.forward calls them (value = the factor).
        for f in (0.0, 0.6, 1.4):
            add('adjust_brightness', image, F.adjust_brightness(pil.copy(), f), f)
            add('adjust_contrast', image, F.adjust_contrast(pil.copy(), f), f)
            add('adjust_saturation', image, F.adjust_saturation(pil.copy(), f), f)
        for f in (-0.5, -0.3, -0.1, -0.004, 0.0, 0.05, 0.25, 0.5):
            add('adjust_hue', image, F.adjust_hue(pil.copy(), f), f)

    big = to_pil(images['big'])
    for op in ('AutoContrast', 'Equalize'):
        add(op, 'big', _apply_op(big.copy(), op, 0.0, interpolation=InterpolationMode.NEAREST, fill=None), 0.0)

    # PIL rotates square images by right angles with a transpose.
    sq = to_pil(images['square'])
    for m in (90.0, -90.0, 180.0, 30.0):
        add('Rotate', 'square', _apply_op(sq.copy(), 'Rotate', m, interpolation=InterpolationMode.NEAREST, fill=None), m)

    # RandomResizedCrop's pixels for given boxes: F.resized_crop (crop, then PIL's bilinear
    # resize to size × size); the box sampling itself draws from torch's generator, not compared.
    resized_crops = []
    for image in ('rgb', 'gray'):
        pil = to_pil(images[image])
        h, w = images[image].shape[:2]
        for (top, left, bh, bw, size) in ((1, 2, 7, 9, 16), (0, 0, h, w, 8), (3, 4, 5, 6, 28), (2, 1, 6, 6, 5)):
            out = from_pil(F.resized_crop(pil.copy(), top, left, bh, bw, [size, size], InterpolationMode.BILINEAR))
            resized_crops.append([image, top, left, bh, bw, size, store(out)])

    signed = sorted(op for op, (_, sg) in aa._augmentation_space(10, (1, 1)).items() if sg)
    policy = [[[op, p, m] for (op, p, m) in sub] for sub in aa.policies]
    meta = {'images': meta_images, 'cases': cases, 'resized_crops': resized_crops, 'spaces': spaces, 'signed': signed, 'imagenet_policy': policy,
            'versions': {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'PIL': Image.__version__}}
    with open(os.path.join(OUT, 'augment.json'), 'w') as f:
        json.dump(meta, f, separators=(',', ':'))
        f.write('\n')
    with open(os.path.join(OUT, 'augment.bin.gz'), 'wb') as f:
        f.write(gzip.compress(bytes(blob), compresslevel=9, mtime=0))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f'{len(cases)} cases, {len(blob)} bytes raw, {total} bytes on disk')


if __name__ == '__main__':
    main()
