#!/usr/bin/python3
"""Writes the image fixtures for test/image-*.test.ts into test/fixtures/images/.

Run with /usr/bin/python3 (numpy + PIL; torchvision is not needed).

* PNGs: a few saved by PIL (a real-world encoder), the rest by the small writer below,
  because PIL cannot write 2/4/16-bit grey, interlaced PNGs or chosen row filters.
  Expected pixels come from PIL *reading* each file back (<name>.rgb.npy, uint8 H×W×3),
  which also cross-checks the writer against the pixels it was given.
* JPEGs: saved by PIL (libjpeg); expected pixels are PIL's decode (compared with a tolerance).
* Preprocess references (<image>.r<resize>c<crop>.npy, float32 1×3×crop×crop): torchvision's
  Resize(resize) + CenterCrop(crop) + ToTensor + Normalize, implemented with PIL + numpy
  exactly as torchvision does it for PIL images (Image.resize(..., BILINEAR), int(round())
  crop offsets, zero padding when the crop is larger, float32 arithmetic).
"""
import os
import struct
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'images')
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
rng = np.random.default_rng(20240611)


def content(h, w, c, maxval=255, noise=60):
    """Gradients plus seeded noise: smooth enough to compress, busy enough to catch off-by-ones."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for k in range(c):
        base = (x / max(w - 1, 1) * (0.3 + 0.2 * k) + y / max(h - 1, 1) * (0.7 - 0.2 * k)) * maxval
        base += rng.normal(0, noise * maxval / 255, size=(h, w))
        chans.append(base)
    return np.clip(np.rint(np.stack(chans, -1)), 0, maxval).astype(np.uint16 if maxval > 255 else np.uint8)


# ---------------------------------------------------------------- minimal PNG writer

def chunk(kind, data):
    body = kind + data
    return struct.pack('>I', len(data)) + body + struct.pack('>I', zlib.crc32(body) & 0xFFFFFFFF)


def pack_rows(samples, depth):
    """samples: h×w×c integer array → list of raw (unfiltered) row bytes."""
    h, w, c = samples.shape
    rows = []
    for r in range(h):
        flat = samples[r].reshape(-1).astype(np.uint32)
        if depth == 16:
            rows.append(flat.astype('>u2').tobytes())
        elif depth == 8:
            rows.append(flat.astype(np.uint8).tobytes())
        else:
            per = 8 // depth
            padded = np.zeros(-(-len(flat) // per) * per, dtype=np.uint32)
            padded[:len(flat)] = flat
            groups = padded.reshape(-1, per)
            shifts = np.array([8 - depth * (i + 1) for i in range(per)], dtype=np.uint32)
            rows.append((groups << shifts).sum(axis=1).astype(np.uint8).tobytes())
    return rows


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_rows(rows, bpp, first_filter):
    """Applies filter types cycling 0..4 from first_filter, so every filter is exercised."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b''
    for i, row in enumerate(rows):
        ft = (first_filter + i) % 5
        f = bytearray(len(row))
        for j, v in enumerate(row):
            a = row[j - bpp] if j >= bpp else 0
            b = prev[j]
            c = prev[j - bpp] if j >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f[j] = (v - pred) & 0xFF
        out.append(ft)
        out += f
        prev = row
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(name, samples, color_type, depth, interlace=False, palette=None, trns=None,
              level=6, strategy=zlib.Z_DEFAULT_STRATEGY, idat_size=None, extra=(), first_filter=0):
    h, w, c = samples.shape
    bpp = max(1, c * depth // 8)
    if interlace:
        raw = b''
        for k, (x0, y0, dx, dy) in enumerate(ADAM7):
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += filter_rows(pack_rows(sub, depth), bpp, first_filter + k)
    else:
        raw = filter_rows(pack_rows(samples, depth), bpp, first_filter)
    comp = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    z = comp.compress(raw) + comp.flush()
    png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, color_type, 0, 0, int(interlace)))
    for kind, data in extra:
        png += chunk(kind, data)
    if palette is not None:
        png += chunk(b'PLTE', bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        png += chunk(b'tRNS', trns)
    step = idat_size or len(z)
    for i in range(0, len(z), step):
        png += chunk(b'IDAT', z[i:i + step])
    png += chunk(b'IEND', b'')
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(png)


# ---------------------------------------------------------------- expected pixels

def pil_rgb(path):
    """What torchvision-style loading sees: Image.open(f).convert('RGB'). For 16-bit grey PIL
    opens mode I and convert() would clip, so there we take the high byte like the decoder."""
    im = Image.open(path)
    im.load()
    if im.mode in ('I', 'I;16', 'I;16B'):
        g = (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    return np.asarray(im.convert('RGB'))


def save_expected(name, expect_from_source=None):
    arr = pil_rgb(os.path.join(OUT, name))
    if expect_from_source is not None:
        assert np.array_equal(arr, expect_from_source), f'{name}: PIL disagrees with the written pixels'
    np.save(os.path.join(OUT, name + '.rgb.npy'), np.ascontiguousarray(arr, dtype=np.uint8))


def to_rgb8(samples, color_type, depth, palette=None):
    """Reference conversion of written samples (used to check the writer against PIL)."""
    s = samples.astype(np.uint32)
    if color_type == 3:
        return np.asarray(palette, dtype=np.uint8)[s[:, :, 0]]
    if depth == 16:
        s = s >> 8
    elif depth < 8:
        s = s * (255 // ((1 << depth) - 1))
    if color_type in (0, 4):
        return np.repeat(s[:, :, :1], 3, axis=2).astype(np.uint8)
    return s[:, :, :3].astype(np.uint8)


def own_png(name, h, w, color_type, depth, noise=60, **kw):
    c = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    palette = None
    if color_type == 3:
        n = 1 << min(depth, 8)
        palette = rng.integers(0, 256, size=(n if depth < 8 else 200, 3))
        samples = rng.integers(0, len(palette), size=(h, w, 1))
    elif depth < 8:
        samples = rng.integers(0, 1 << depth, size=(h, w, c))
    else:
        samples = content(h, w, c, maxval=(1 << depth) - 1, noise=noise)
    write_png(name, samples, color_type, depth, palette=palette, **kw)
    save_expected(name, to_rgb8(samples, color_type, depth, palette))


def pil_png(name, img, **kw):
    img.save(os.path.join(OUT, name), **kw)
    save_expected(name)


# ---------------------------------------------------------------- preprocess reference

def py_round(x):
    return int(round(x))  # Python rounds halves to even, as torchvision's CenterCrop does


def reference_preprocess(rgb_u8, resize, crop):
    img = Image.fromarray(rgb_u8, 'RGB')
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = resize, int(resize * long / short)
    ow, oh = (new_short, new_long) if w <= h else (new_long, new_short)
    a = np.asarray(img.resize((ow, oh), Image.BILINEAR))
    if crop > ow or crop > oh:
        pl = (crop - ow) // 2 if crop > ow else 0
        pt = (crop - oh) // 2 if crop > oh else 0
        pr = (crop - ow + 1) // 2 if crop > ow else 0
        pb = (crop - oh + 1) // 2 if crop > oh else 0
        a = np.pad(a, ((pt, pb), (pl, pr), (0, 0)))
        oh, ow = a.shape[:2]
    top, left = py_round((oh - crop) / 2.0), py_round((ow - crop) / 2.0)
    a = a[top:top + crop, left:left + crop]
    x = a.astype(np.float32) / np.float32(255)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def save_preprocess(name, resize, crop):
    arr = np.load(os.path.join(OUT, name + '.rgb.npy'))
    ref = reference_preprocess(arr, resize, crop)
    assert ref.dtype == np.float32 and ref.shape == (1, 3, crop, crop)
    np.save(os.path.join(OUT, f'{name}.r{resize}c{crop}.npy'), ref)


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))

    # Saved by PIL (zlib + PIL's own filter choices).
    pil_png('rgb8_37x53.png', Image.fromarray(content(53, 37, 3), 'RGB'))
    pil_png('rgba8_40x30.png', Image.fromarray(content(30, 40, 4), 'RGBA'))
    pil_png('gray8_33x21.png', Image.fromarray(content(21, 33, 1)[:, :, 0], 'L'))
    pal = Image.fromarray(content(31, 29, 3), 'RGB').quantize(colors=50)
    pil_png('palette8_trns_29x31.png', pal, transparency=3)
    pil_png('gray1_pil_19x13.png', Image.fromarray(rng.integers(0, 2, size=(13, 19)).astype(bool)))

    # Written here: every colour type / depth, all five filters, Adam7, odd zlib settings.
    own_png('gray1_23x9.png', 9, 23, 0, 1)
    own_png('gray2_23x9.png', 9, 23, 0, 2, first_filter=1)
    own_png('gray4_17x11_adam7.png', 11, 17, 0, 4, interlace=True)
    own_png('gray16_18x14.png', 14, 18, 0, 16, first_filter=2)
    own_png('palette1_13x7.png', 7, 13, 3, 1)
    own_png('palette2_11x10_adam7.png', 10, 11, 3, 2, interlace=True)
    own_png('palette4_21x6.png', 6, 21, 3, 4, first_filter=3)
    own_png('palette8_short_plte_19x15.png', 15, 19, 3, 8)
    own_png('rgb16_21x17.png', 17, 21, 2, 16, first_filter=4)
    own_png('rgba16_15x19_adam7.png', 19, 15, 6, 16, interlace=True)
    own_png('graya8_25x12.png', 12, 25, 4, 8)
    own_png('graya16_9x10.png', 10, 9, 4, 16, first_filter=1)
    own_png('rgba8_22x18_adam7.png', 18, 22, 6, 8, interlace=True, first_filter=2)
    own_png('rgb8_37x53_adam7.png', 53, 37, 2, 8, interlace=True)
    own_png('rgb8_1x1_adam7.png', 1, 1, 2, 8, interlace=True)
    own_png('rgb8_3x2_adam7.png', 2, 3, 2, 8, interlace=True)
    # Low noise so zlib really uses Huffman blocks (it falls back to stored ones for noise).
    own_png('rgb8_31x20_stored.png', 20, 31, 2, 8, noise=3, level=0)
    own_png('rgb8_31x20_fixed.png', 20, 31, 2, 8, noise=3, strategy=zlib.Z_FIXED)
    own_png('rgb8_31x20_rle.png', 20, 31, 2, 8, noise=3, strategy=zlib.Z_RLE, level=9)
    own_png('rgb8_31x20_multi_idat.png', 20, 31, 2, 8, noise=3, idat_size=97,
            extra=[(b'gAMA', struct.pack('>I', 45455)), (b'tEXt', b'Comment\x00fixture')])

    # Preprocess sources: downscale, upscale, wider image (PIL-saved PNGs).
    pil_png('pre_down_96x80.png', Image.fromarray(content(80, 96, 3), 'RGB'))
    pil_png('pre_up_23x29.png', Image.fromarray(content(29, 23, 3), 'RGB'))
    pil_png('pre_wide_128x96.png', Image.fromarray(content(96, 128, 3, noise=25), 'RGB'))

    # JPEGs (libjpeg via PIL), smooth content so upsampling differences stay small.
    smooth = lambda h, w, c: content(h, w, c, noise=6)
    Image.fromarray(smooth(40, 48, 3), 'RGB').save(os.path.join(OUT, 'color420_48x40.jpg'), quality=90)
    Image.fromarray(smooth(32, 40, 3), 'RGB').save(os.path.join(OUT, 'color444_40x32.jpg'), quality=92, subsampling=0)
    Image.fromarray(smooth(53, 37, 3), 'RGB').save(os.path.join(OUT, 'color420_37x53.jpg'), quality=85)
    Image.fromarray(smooth(28, 36, 1)[:, :, 0], 'L').save(os.path.join(OUT, 'gray_36x28.jpg'), quality=90)
    Image.fromarray(smooth(48, 56, 3), 'RGB').save(os.path.join(OUT, 'progressive_56x48.jpg'), quality=90, progressive=True)
    for name in ['color420_48x40.jpg', 'color444_40x32.jpg', 'color420_37x53.jpg', 'gray_36x28.jpg', 'progressive_56x48.jpg']:
        save_expected(name)

    save_preprocess('pre_down_96x80.png', 37, 32)
    save_preprocess('pre_down_96x80.png', 20, 32)  # crop larger than the resized image: zero padding
    save_preprocess('pre_up_23x29.png', 37, 32)
    save_preprocess('pre_wide_128x96.png', 54, 48)  # 54 = the default int(48 / 0.875), as the seed's eval
    save_preprocess('rgb8_37x53.png', 37, 32)  # resize is a no-op
    save_preprocess('color420_48x40.jpg', 37, 32)  # from PIL's decode of the JPEG

    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f'wrote {len(os.listdir(OUT))} files, {total / 1024:.1f} KiB, to {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
