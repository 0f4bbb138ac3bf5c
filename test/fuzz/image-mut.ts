// Format-aware mutations for images. PNG: chunk lengths, IHDR fields (CRC fixed up so the
// edit reaches the decoder), chunk order, compressed and decompressed image data
// (re-deflated), and decompression bombs. JPEG: segment lengths, frame header dimensions,
// components and sampling factors, Huffman / quantisation tables, scan headers, entropy-coded
// data, restart markers and missing end markers.

import { deflateSync, inflateSync } from 'node:zlib';
import type { Rng } from './prng.js';
import { concat, interestingNear, readUint, replaceRange, writeUint, type Mutation } from './bytes.js';
import { crc32 } from '../../src/util/crc32.js';

// ---------------------------------------------------------------- PNG

interface Chunk { at: number; type: string; len: number; end: number }

export function pngChunks(b: Uint8Array): Chunk[] {
  const out: Chunk[] = [];
  for (let p = 8; p + 12 <= b.length; ) {
    const len = readUint(b, p, 4, false);
    const end = p + 12 + len;
    if (end > b.length) break;
    out.push({ at: p, type: String.fromCharCode(...b.subarray(p + 4, p + 8)), len, end });
    p = end;
  }
  return out;
}

export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  writeUint(out, 0, data.length, 4, false);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i) & 0xff;
  out.set(data, 8);
  writeUint(out, 8 + data.length, crc32(out, 4, 8 + data.length), 4, false);
  return out;
}

function fixCrc(b: Uint8Array, c: Chunk): void {
  writeUint(b, c.at + 8 + c.len, crc32(b, c.at + 4, c.at + 8 + c.len), 4, false);
}

/** Replaces the IDAT chunks by one holding `z` (a zlib stream). */
function withImageData(b: Uint8Array, chunks: Chunk[], z: Uint8Array): Uint8Array {
  const idats = chunks.filter((c) => c.type === 'IDAT');
  if (!idats.length) return b.slice();
  const first = idats[0]!, last = idats[idats.length - 1]!;
  return replaceRange(b, first.at, last.end, pngChunk('IDAT', z));
}

function imageData(b: Uint8Array, chunks: Chunk[]): Uint8Array {
  return concat(...chunks.filter((c) => c.type === 'IDAT').map((c) => b.subarray(c.at + 8, c.at + 8 + c.len)));
}

export function pngMutation(rng: Rng, b: Uint8Array): Mutation {
  const chunks = pngChunks(b);
  if (!chunks.length) return { bytes: b.slice(), op: 'png: no chunks' };
  const c = rng.pick(chunks);
  const ihdr = chunks.find((x) => x.type === 'IHDR');
  switch (rng.int(9)) {
    case 0: {
      const out = b.slice();
      const v = interestingNear(rng, c.len, b.length - c.at, 32);
      writeUint(out, c.at, v, 4, false);
      return { bytes: out, op: `png: ${c.type}@${c.at} length ${c.len} → ${v}` };
    }
    case 1: case 2: {
      if (!ihdr) break;
      const out = b.slice();
      const d = ihdr.at + 8;
      const field = rng.int(6);
      let what: string;
      if (field < 2) {
        const old = readUint(b, d + 4 * field, 4, false);
        const v = rng.pick([0, 1, old + 1, old * 2, old * 100, 65535, 65536, 100_000, 1 << 20, 0x7fffffff, 0x80000000, 0xffffffff]);
        writeUint(out, d + 4 * field, v, 4, false);
        what = `${field ? 'height' : 'width'} ${old} → ${v}`;
      } else {
        const off = [8, 9, 10, 11, 12][field - 2 + (field === 5 ? rng.int(2) : 0)]!;
        const v = rng.pick([0, 1, 2, 3, 4, 6, 7, 8, 16, 32, 255]);
        out[d + off] = v;
        what = `IHDR byte ${off} → ${v}`;
      }
      fixCrc(out, ihdr);
      return { bytes: out, op: `png: ${what} (CRC fixed)` };
    }
    case 3: {
      // Corrupt the compressed data inside IDAT, CRC fixed so inflate sees it.
      const idat = chunks.filter((x) => x.type === 'IDAT');
      if (!idat.length) break;
      const t = rng.pick(idat);
      const out = b.slice();
      const n = rng.range(1, 4);
      for (let i = 0; i < n && t.len; i++) out[t.at + 8 + rng.int(t.len)] = rng.chance(0.5) ? rng.int(256) : out[t.at + 8 + rng.int(t.len)]! ^ (1 << rng.int(8));
      fixCrc(out, t);
      return { bytes: out, op: `png: ${n} bytes of IDAT@${t.at} changed (CRC fixed)` };
    }
    case 4: {
      // Corrupt the decompressed scanlines (filter types, samples), then re-deflate.
      let raw: Uint8Array;
      try {
        raw = new Uint8Array(inflateSync(imageData(b, chunks)));
      } catch {
        break;
      }
      const k = rng.int(3);
      if (k === 0) for (let i = 0; i < 3 && raw.length; i++) raw[rng.int(raw.length)] = rng.pick([0, 1, 2, 3, 4, 5, 255]);
      else if (k === 1) raw = raw.subarray(0, rng.int(raw.length + 1));
      else raw = concat(raw, rng.bytes(rng.smallLen(64)));
      return { bytes: withImageData(b, chunks, new Uint8Array(deflateSync(raw))), op: `png: scanlines ${['corrupted', 'truncated', 'extended'][k]}, re-deflated` };
    }
    case 5: {
      // Decompression bomb: a big IHDR and a stream of zeros that fills it (or does not).
      if (!ihdr) break;
      const out = b.slice();
      const w = rng.pick([4000, 10_000, 30_000, 65_535]), h = rng.pick([4000, 10_000, 30_000, 65_535]);
      writeUint(out, ihdr.at + 8, w, 4, false);
      writeUint(out, ihdr.at + 12, h, 4, false);
      fixCrc(out, ihdr);
      const zeros = new Uint8Array(rng.pick([1 << 16, 1 << 20, 1 << 22]));
      return { bytes: withImageData(out, pngChunks(out), new Uint8Array(deflateSync(zeros, { level: 9 }))), op: `png: bomb ${w}×${h} with ${zeros.length} zero bytes deflated` };
    }
    case 6:
      return { bytes: replaceRange(b, c.at, c.end, new Uint8Array(0)), op: `png: remove ${c.type}@${c.at}` };
    case 7: {
      const to = rng.pick(chunks).at;
      return { bytes: replaceRange(b, to, to, b.slice(c.at, c.end)), op: `png: copy ${c.type}@${c.at} to ${to}` };
    }
    default: {
      const type = rng.pick(['tEXt', 'PLTE', 'IEND', 'IDAT', 'IHDR', 'tRNS', 'XXXX', 'xxxx', 'acTL', 'gAMA']);
      const data = type === 'PLTE' ? rng.bytes(rng.pick([0, 3, 6, 768, 771])) : rng.bytes(rng.smallLen(32));
      const to = rng.pick(chunks).at;
      return { bytes: replaceRange(b, to, to, pngChunk(type, data)), op: `png: insert ${type}(${data.length}) at ${to}` };
    }
  }
  return { bytes: b.slice(), op: 'png: (no-op)' };
}

// ---------------------------------------------------------------- JPEG

interface Segment { at: number; marker: number; len: number; end: number; scanEnd?: number }

/** Marker segments from SOI; a scan's entropy-coded data runs to `scanEnd`. */
export function jpegSegments(b: Uint8Array): Segment[] {
  const out: Segment[] = [];
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) {
      p++;
      continue;
    }
    const marker = b[p + 1]!;
    if (marker === 0xff) {
      p++;
      continue;
    }
    if (marker === 0xd9 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x00) {
      out.push({ at: p, marker, len: 0, end: p + 2 });
      p += 2;
      continue;
    }
    const len = readUint(b, p + 2, 2, false);
    const end = p + 2 + len;
    if (end > b.length) break;
    const seg: Segment = { at: p, marker, len, end };
    out.push(seg);
    p = end;
    if (marker === 0xda) {
      let q = end;
      while (q + 1 < b.length && !(b[q] === 0xff && b[q + 1] !== 0 && !(b[q + 1]! >= 0xd0 && b[q + 1]! <= 0xd7))) q++;
      seg.scanEnd = q;
      p = q;
    }
  }
  return out;
}

export function jpegMutation(rng: Rng, b: Uint8Array): Mutation {
  const segs = jpegSegments(b).filter((s) => s.len > 0);
  if (!segs.length) return { bytes: b.slice(), op: 'jpeg: no segments' };
  const s = rng.pick(segs);
  const sof = segs.find((x) => x.marker >= 0xc0 && x.marker <= 0xc2);
  const scans = segs.filter((x) => x.marker === 0xda);
  switch (rng.int(10)) {
    case 0: {
      const out = b.slice();
      const v = interestingNear(rng, s.len, b.length - s.at, 16);
      writeUint(out, s.at + 2, v, 2, false);
      return { bytes: out, op: `jpeg: ${s.marker.toString(16)}@${s.at} length ${s.len} → ${v}` };
    }
    case 1: case 2: {
      if (!sof) break;
      const out = b.slice();
      if (rng.chance(0.3)) {
        // Both dimensions large: a frame of up to 4 gigapixels declared by a 1 KB file.
        const h = rng.pick([2000, 5000, 10_000, 20_000, 65_535]), w = rng.pick([2000, 5000, 10_000, 20_000, 65_535]);
        writeUint(out, sof.at + 5, h, 2, false);
        writeUint(out, sof.at + 7, w, 2, false);
        return { bytes: out, op: `jpeg: SOF ${w}×${h}` };
      }
      const field = rng.int(2);
      const old = readUint(b, sof.at + 5 + 2 * field, 2, false);
      const v = rng.pick([0, 1, 7, 8, 9, 16, 17, old + 1, old * 2, old * 10, 1000, 4096, 10_000, 30_000, 65_535]);
      writeUint(out, sof.at + 5 + 2 * field, v, 2, false);
      return { bytes: out, op: `jpeg: SOF ${field ? 'width' : 'height'} ${old} → ${v}` };
    }
    case 3: {
      if (!sof) break;
      const out = b.slice();
      const n = b[sof.at + 9]!;
      const k = rng.int(4);
      let what: string;
      if (k === 0) {
        out[sof.at + 9] = rng.pick([0, 1, 2, 3, 4, 5, 255]);
        what = `components ${n} → ${out[sof.at + 9]}`;
      } else if (k === 1) {
        out[sof.at + 4] = rng.pick([0, 1, 8, 12, 16]);
        what = `precision → ${out[sof.at + 4]}`;
      } else {
        const c = rng.int(Math.max(1, n));
        const off = sof.at + 10 + 3 * c + (k === 2 ? 1 : 2);
        out[off] = k === 2 ? rng.pick([0x11, 0x22, 0x44, 0x41, 0x14, 0x00, 0x55, 0xff, 0x12, 0x21]) : rng.pick([0, 1, 3, 4, 255]);
        what = `component ${c} ${k === 2 ? 'sampling' : 'quant table'} → 0x${out[off]!.toString(16)}`;
      }
      return { bytes: out, op: `jpeg: SOF ${what}` };
    }
    case 4: {
      // Huffman / quantisation tables and scan headers: bytes inside the segment.
      const tables = segs.filter((x) => x.marker === 0xc4 || x.marker === 0xdb || x.marker === 0xda || x.marker === 0xdd);
      const t = tables.length ? rng.pick(tables) : s;
      const out = b.slice();
      const n = rng.range(1, 3);
      for (let i = 0; i < n && t.len > 2; i++) out[t.at + 4 + rng.int(t.len - 2)] = rng.chance(0.5) ? rng.pick([0, 1, 0x10, 0x11, 0x3f, 0xff]) : rng.int(256);
      return { bytes: out, op: `jpeg: ${n} bytes of ${t.marker.toString(16)}@${t.at} changed` };
    }
    case 5: case 6: {
      // Entropy-coded data: flips, inserted markers, truncation inside the scan.
      if (!scans.length) break;
      const sc = rng.pick(scans);
      const start = sc.end, end = sc.scanEnd ?? b.length;
      if (end <= start) break;
      const k = rng.int(3);
      if (k === 0) {
        const out = b.slice();
        for (let i = 0; i < 4; i++) out[start + rng.int(end - start)]! ^= 1 << rng.int(8);
        return { bytes: out, op: `jpeg: scan@${start} bits flipped` };
      }
      const at = start + rng.int(end - start);
      if (k === 1) {
        const m = rng.pick([0xd0, 0xd3, 0xd7, 0xd9, 0xd8, 0xc4, 0xda, 0xff, 0x00, 0xdd]);
        return { bytes: replaceRange(b, at, at, Uint8Array.of(0xff, m)), op: `jpeg: marker ff${m.toString(16)} inserted in scan at ${at}` };
      }
      return { bytes: concat(b.subarray(0, at), Uint8Array.of(0xff, 0xd9)), op: `jpeg: scan cut at ${at}, EOI appended` };
    }
    case 7: {
      const out = replaceRange(b, s.at, s.end, new Uint8Array(0));
      return { bytes: out, op: `jpeg: remove segment ${s.marker.toString(16)}@${s.at}` };
    }
    case 8: {
      const to = rng.pick(segs).at;
      const copies = rng.chance(0.9) ? 1 : rng.pick([10, 200, 1000]);
      const piece = b.subarray(s.at, s.scanEnd ?? s.end);
      return { bytes: replaceRange(b, to, to, concat(...new Array<Uint8Array>(copies).fill(piece))), op: `jpeg: copy ${s.marker.toString(16)}@${s.at} ×${copies} to ${to}` };
    }
    default: {
      const to = rng.pick(segs).at;
      const dri = Uint8Array.of(0xff, 0xdd, 0, 4, rng.int(256), rng.int(256));
      const ins = rng.pick([dri, Uint8Array.of(0xff, 0xfe, 0, 2), Uint8Array.of(0xff, 0xd9), Uint8Array.of(0xff, 0xe1, 0, 2), Uint8Array.of(0xff, 0xc3, 0, 2)]);
      return { bytes: replaceRange(b, to, to, ins), op: `jpeg: insert ${Array.from(ins.subarray(0, 2), (x) => x.toString(16)).join('')} at ${to}` };
    }
  }
  return { bytes: b.slice(), op: 'jpeg: (no-op)' };
}
