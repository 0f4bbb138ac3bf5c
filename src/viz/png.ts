// A minimal PNG encoder (8-bit RGB, no filtering, zlib "stored" blocks): pictures of feature
// maps for `resnest explain` and the step-through page, with no dependencies and no Node
// built-ins. The maps are small, so compression would save little.

import { crc32 } from '../util/crc32.js';
import { adler32 } from '../io/image/inflate.js';

/** A zlib stream of `data` in stored (uncompressed) deflate blocks. */
function zlibStored(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(2 + data.length + 5 * blocks + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let at = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535, len = Math.min(65535, data.length - start);
    out[at++] = b === blocks - 1 ? 1 : 0;
    out[at++] = len & 0xff;
    out[at++] = len >>> 8;
    out[at++] = ~len & 0xff;
    out[at++] = (~len >>> 8) & 0xff;
    out.set(data.subarray(start, start + len), at);
    at += len;
  }
  new DataView(out.buffer).setUint32(at, adler32(data));
  return out;
}

/** PNG bytes of an RGB image (rgb: width·height·3 bytes, rows top to bottom). */
export function encodePng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  return encodePngChannels(width, height, rgb, 3);
}

/** An 8-bit greyscale PNG: a segmentation mask's class values as data sets store them. */
export function encodeGreyPng(width: number, height: number, values: Uint8Array): Uint8Array {
  return encodePngChannels(width, height, values, 1);
}

function encodePngChannels(width: number, height: number, pixels: Uint8Array, channels: 1 | 3): Uint8Array {
  const row = channels * width;
  const raw = new Uint8Array(height * (1 + row));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * row, (y + 1) * row), y * (1 + row) + 1);
  const idat = zlibStored(raw);
  const chunks: [string, Uint8Array][] = [['IHDR', new Uint8Array(13)], ['IDAT', idat], ['IEND', new Uint8Array(0)]];
  const ihdr = new DataView(chunks[0]![1].buffer);
  ihdr.setUint32(0, width);
  ihdr.setUint32(4, height);
  chunks[0]![1].set([8, channels === 3 ? 2 : 0, 0, 0, 0], 8); // 8-bit, RGB or grey, deflate, no filter, no interlace
  const out = new Uint8Array(8 + chunks.reduce((n, [, d]) => n + 12 + d.length, 0));
  out.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(out.buffer);
  let at = 8;
  for (const [type, data] of chunks) {
    view.setUint32(at, data.length);
    for (let i = 0; i < 4; i++) out[at + 4 + i] = type.charCodeAt(i);
    out.set(data, at + 8);
    view.setUint32(at + 8 + data.length, crc32(out, at + 4, at + 8 + data.length));
    at += 12 + data.length;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Base64 of bytes (for data: URLs). */
export function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    s += B64[n >>> 18]! + B64[(n >>> 12) & 63]! + (i + 1 < bytes.length ? B64[(n >>> 6) & 63]! : '=') + (i + 2 < bytes.length ? B64[n & 63]! : '=');
  }
  return s;
}
