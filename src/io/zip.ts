// Reader for ZIP archives of stored (uncompressed) entries, the container torch.save has used
// since PyTorch 1.6. The central directory is authoritative: torch writes local headers with
// zero sizes plus a data descriptor (flag bit 3), and pads the local extra field so that each
// entry's data starts at a multiple of 64. Entries are returned as views into the input.
// Deflated entries are indexed only on request (allowDeflate); inflating them is the caller's.

import { FormatError, NotSupportedError, ResourceLimitError } from '../errors.js';
import { crc32 } from '../util/crc32.js';
import { memorySource, type ByteSource } from './source.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_ENTRIES = 1_000_000;

export interface ZipOptions {
  /**
   * Also check every entry's CRC-32 (costs a pass over the data, about 1.5 ms per MB; off by
   * default). readZipIndex then reads each entry through the source in pieces of at most
   * 16 MiB, so a large archive is checked without holding it.
   */
  verifyCrc?: boolean;
  /**
   * Also accept deflated entries (method 8), for the zips people wrap a checkpoint in; their
   * ZipEntry has method 8 and the compressed span at offset/compressedSize. Left out by
   * torch.save readers, where a compressed record is not a torch.save file. verifyCrc skips
   * deflated entries: their CRC is of the inflated bytes, which the caller checks.
   */
  allowDeflate?: boolean;
}

const CRC_PIECE = 16 << 20;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** Parses the archive and returns entry name → data (a subarray of `bytes`, no copy). */
export function readZip(bytes: Uint8Array, file?: string, options: ZipOptions = {}): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, e] of readZipIndex(memorySource(bytes), file)) {
    const data = bytes.subarray(e.offset, e.offset + e.size);
    if (options.verifyCrc) checkCrc(name, e, crc32(data), file);
    out.set(name, data);
  }
  return out;
}

export interface ZipEntry {
  /** Where the entry's data starts in the archive, and its length once decompressed. */
  offset: number;
  size: number;
  crc: number;
  /** 0 stored, 8 deflated (only with allowDeflate). */
  method: number;
  /** The entry's length in the archive (equal to size when stored). */
  compressedSize: number;
}

/**
 * A record whose CRC-32 differs from the one its directory entry recorded: bytes damaged on
 * disk or in transfer (a flipped bit in a tensor loads silently otherwise).
 */
export function checkCrc(name: string, e: ZipEntry, actual: number, file?: string): void {
  if (actual === e.crc) return;
  const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;
  throw new FormatError(`zip: record '${name}' is damaged: CRC-32 ${hex(actual)}, the archive recorded ${hex(e.crc)}`, file);
}

/**
 * Reads the archive's directory through `src` — the end records, the central directory and
 * each local header, never the entries' data unless `verifyCrc` — and returns entry name →
 * where its data is. Every offset and size is checked against the archive before it is
 * returned.
 */
export function readZipIndex(src: ByteSource, file?: string, options: ZipOptions = {}): Map<string, ZipEntry> {
  const fail = (msg: string): never => {
    throw new FormatError(`zip: ${msg}`, file);
  };
  const len = src.size;
  // The EOCD record is the last 22 bytes plus an optional comment of up to 65535 bytes; the
  // zip64 locator and record sit just before it.
  const tailStart = Math.max(0, len - EOCD_SIZE - 0xffff - 20 - 56);
  const tail = src.read(tailStart, len - tailStart);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const t16 = (p: number) => tv.getUint16(p - tailStart, true);
  const t32 = (p: number) => tv.getUint32(p - tailStart, true);
  const t64 = (p: number, what: string): number => {
    const v = tv.getBigUint64(p - tailStart, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is out of range`);
    return Number(v);
  };

  let eocd = -1;
  for (let p = len - EOCD_SIZE; p >= tailStart && p >= len - EOCD_SIZE - 0xffff; p--) {
    if (t32(p) === SIG_EOCD && p + EOCD_SIZE + t16(p + 20) <= len) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail('end-of-central-directory record not found (truncated or not a zip archive)');

  let count = t16(eocd + 10);
  let cdSize = t32(eocd + 12);
  let cdOffset = t32(eocd + 16);
  let cdLimit = eocd; // the central directory must end before the record that describes it
  if (t16(eocd + 4) !== 0 || t16(eocd + 6) !== 0 || t16(eocd + 8) !== count) fail('multi-disk archives are not supported');

  const locator = eocd - 20;
  if (locator >= tailStart && t32(locator) === SIG_LOCATOR64) {
    const at = t64(locator + 8, 'zip64 end-of-central-directory offset');
    if (at + 56 > locator || at < tailStart) fail(`zip64 end-of-central-directory offset ${at} is outside the file`);
    if (t32(at) !== SIG_EOCD64) fail('zip64 end-of-central-directory record has a bad signature');
    count = t64(at + 32, 'entry count');
    cdSize = t64(at + 40, 'central directory size');
    cdOffset = t64(at + 48, 'central directory offset');
    cdLimit = at;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    fail('zip64 end-of-central-directory locator is missing');
  }
  if (cdOffset + cdSize > cdLimit) fail(`central directory (offset ${cdOffset}, ${cdSize} bytes) runs past the end of the file`);
  if (count > MAX_ENTRIES) throw new ResourceLimitError(`${file ? `${file}: ` : ''}zip: ${count} entries exceeds the limit of ${MAX_ENTRIES}`);
  if (count * CENTRAL_SIZE > cdSize) fail(`${count} entries cannot fit in a ${cdSize}-byte central directory`);

  const cd = src.read(cdOffset, cdSize);
  const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const u16 = (p: number) => cv.getUint16(p - cdOffset, true);
  const u32 = (p: number) => cv.getUint32(p - cdOffset, true);
  const u64 = (p: number, what: string): number => {
    const v = cv.getBigUint64(p - cdOffset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} is out of range`);
    return Number(v);
  };

  const decoder = new TextDecoder('utf-8');
  const entries = new Map<string, ZipEntry>();
  const spans: [number, number, string][] = []; // [local header offset, end of data, name]
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_SIZE > cdEnd) fail(`central directory entry ${i} is truncated`);
    if (u32(p) !== SIG_CENTRAL) fail(`central directory entry ${i} has a bad signature`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let compSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let localOffset = u32(p + 42);
    const next = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (next > cdEnd) fail(`central directory entry ${i} is truncated`);
    const nameBytes = cd.subarray(p - cdOffset + CENTRAL_SIZE, p - cdOffset + CENTRAL_SIZE + nameLen);
    const name = decoder.decode(nameBytes);

    // Zip64 extra field (id 1): 8-byte values for exactly those fields saturated above, in order.
    const needSize = size === 0xffffffff, needComp = compSize === 0xffffffff, needOffset = localOffset === 0xffffffff;
    if (needSize || needComp || needOffset) {
      let found = false;
      for (let e = p + CENTRAL_SIZE + nameLen, end = e + extraLen; e + 4 <= end; ) {
        const id = u16(e), sz = u16(e + 2);
        if (e + 4 + sz > end) fail(`entry '${name}': extra field overruns its record`);
        if (id === 1) {
          let q = e + 4;
          const take = (what: string) => {
            if (q + 8 > e + 4 + sz) fail(`entry '${name}': zip64 extra field is too short`);
            const v = u64(q, what);
            q += 8;
            return v;
          };
          if (needSize) size = take('entry size');
          if (needComp) compSize = take('entry compressed size');
          if (needOffset) localOffset = take('entry offset');
          found = true;
          break;
        }
        e += 4 + sz;
      }
      if (!found) fail(`entry '${name}': zip64 extra field is missing`);
    }

    if (flags & 1) throw new NotSupportedError(`${file ? `${file}: ` : ''}zip entry '${name}' is encrypted`);
    if (method !== 0 && !(method === 8 && options.allowDeflate)) {
      throw new NotSupportedError(`${file ? `${file}: ` : ''}zip entry '${name}' is compressed (method ${method}); only stored entries, as torch.save writes them, are supported`);
    }
    if (method === 0 && compSize !== size) fail(`entry '${name}': stored entry has compressed size ${compSize} != size ${size}`);

    // Local header: same name, same method; sizes equal unless deferred to a data descriptor.
    if (localOffset + LOCAL_SIZE > cdOffset) fail(`entry '${name}': local header offset ${localOffset} is outside the file`);
    const lh = src.read(localOffset, LOCAL_SIZE);
    const lv = new DataView(lh.buffer, lh.byteOffset, lh.byteLength);
    if (lv.getUint32(0, true) !== SIG_LOCAL) fail(`entry '${name}': local header has a bad signature`);
    const lFlags = lv.getUint16(6, true);
    const lMethod = lv.getUint16(8, true);
    const lComp = lv.getUint32(18, true);
    const lSize = lv.getUint32(22, true);
    const lNameLen = lv.getUint16(26, true);
    const lExtraLen = lv.getUint16(28, true);
    const start = localOffset + LOCAL_SIZE + lNameLen + lExtraLen;
    if (start > cdOffset) fail(`entry '${name}': local header runs past the central directory`);
    if (lNameLen !== nameLen || !sameBytes(src.read(localOffset + LOCAL_SIZE, lNameLen), nameBytes)) {
      fail(`entry '${name}': local header names a different entry`);
    }
    if (lMethod !== method) fail(`entry '${name}': local and central headers disagree on the compression method`);
    const deferred = (lFlags & 8) !== 0 && lComp === 0 && lSize === 0;
    const saturated = lComp === 0xffffffff || lSize === 0xffffffff; // real sizes live in the local zip64 extra
    if (!deferred && !saturated && (lComp !== compSize || lSize !== size)) {
      fail(`entry '${name}': local header size ${lSize} disagrees with the central directory's ${size}`);
    }
    if (start + compSize > cdOffset) fail(`entry '${name}': data (offset ${start}, ${compSize} bytes) runs past the end of the entries`);
    if (entries.has(name)) fail(`duplicate entry '${name}'`);
    entries.set(name, { offset: start, size, crc, method, compressedSize: compSize });
    spans.push([localOffset, start + compSize, name]);
    p = next;
  }
  // Entries that share bytes (two directory records pointing into one entry) are how
  // overlapping-file zip bombs work; no writer produces them.
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) fail(`entries '${spans[i - 1]![2]}' and '${spans[i]![2]}' overlap (inconsistent central directory)`);
  }
  if (options.verifyCrc) {
    for (const [name, e] of entries) {
      if (e.method !== 0) continue;
      let crc = 0;
      for (let at = 0; at < e.size; at += CRC_PIECE) {
        const piece = src.read(e.offset + at, Math.min(CRC_PIECE, e.size - at));
        crc = crc32(piece, 0, piece.length, crc);
      }
      checkCrc(name, e, crc, file);
    }
  }
  return entries;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export { crc32 };
