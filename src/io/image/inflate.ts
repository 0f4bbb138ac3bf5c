// DEFLATE (RFC 1951) and zlib (RFC 1950) decoding for PNG image data (and any other zlib
// payload). Written for untrusted input: every read is bounds-checked, every loop consumes
// input or produces bounded output, and the output can never grow past `maxOutput`.
// No node: imports, so it runs unchanged in browsers.

import { ArgumentError, FormatError, NotSupportedError, ResourceLimitError } from '../../errors.js';

export interface InflateOptions {
  /** Hard upper bound on the decompressed size in bytes; exceeding it throws ResourceLimitError. */
  maxOutput: number;
  /** Exact size when the caller knows it (PNG does): allocates once instead of growing. */
  expectedSize?: number;
  /** Named in error messages. */
  file?: string;
}

// Length codes 257..285 and distance codes 0..29: base values and extra-bit counts (RFC 1951 §3.2.5).
/** The most bytes one byte of a DEFLATE stream can decode to (a 258-byte match in two 1-bit codes). */
export const MAX_DEFLATE_RATIO = 1032;

const LEN_BASE = new Uint16Array([
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163,
  195, 227, 258,
]);
const LEN_EXTRA = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]);
const DIST_BASE = new Uint16Array([
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
  4097, 6145, 8193, 12289, 16385, 24577,
]);
const DIST_EXTRA = new Uint8Array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]);
// Order in which code-length code lengths are transmitted in a dynamic block header.
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** Bits resolved by one table lookup; longer (rare) codes take the canonical slow path. */
const FAST_BITS = 10;

/**
 * A Huffman code for decoding. `table` is indexed by the next `bits` input bits (LSB first);
 * each entry is (symbol << 4) | codeLength, and 0 means "code longer than `bits`, or unused".
 * `count`/`symbols` are the canonical description (per-length counts, symbols in code order).
 */
interface Huffman {
  table: Int32Array;
  bits: number;
  maxLen: number;
  count: Uint16Array;
  symbols: Uint16Array;
}

function buildHuffman(lengths: Uint8Array, file: string | undefined): Huffman {
  const count = new Uint16Array(16);
  let maxLen = 0;
  for (let i = 0; i < lengths.length; i++) {
    const l = lengths[i]!;
    count[l]!++;
    if (l > maxLen) maxLen = l;
  }
  count[0] = 0;
  // An over-subscribed code is ambiguous; an incomplete one is tolerated (its unused patterns
  // decode as errors), which also covers the legal one-distance-code case.
  let left = 1;
  for (let len = 1; len <= 15; len++) {
    left = (left << 1) - count[len]!;
    if (left < 0) throw new FormatError('corrupt deflate stream (over-subscribed Huffman code)', file);
  }
  const offs = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offs[len + 1] = offs[len]! + count[len]!;
  const symbols = new Uint16Array(lengths.length);
  for (let sym = 0; sym < lengths.length; sym++) if (lengths[sym]) symbols[offs[lengths[sym]!]!++] = sym;

  const bits = Math.min(Math.max(maxLen, 1), FAST_BITS);
  const table = new Int32Array(1 << bits);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= bits; len++, code <<= 1) {
    for (let n = 0; n < count[len]!; n++, code++) {
      // Codes are sent most-significant bit first into an LSB-first stream: reverse them.
      let rev = 0;
      for (let i = 0; i < len; i++) rev |= ((code >>> i) & 1) << (len - 1 - i);
      const entry = (symbols[k++]! << 4) | len;
      for (let i = rev; i < table.length; i += 1 << len) table[i] = entry;
    }
  }
  return { table, bits, maxLen, count, symbols };
}

let fixedLit: Huffman | undefined;
let fixedDist: Huffman | undefined;
function fixedTables(): [Huffman, Huffman] {
  if (!fixedLit || !fixedDist) {
    const l = new Uint8Array(288);
    l.fill(8, 0, 144);
    l.fill(9, 144, 256);
    l.fill(7, 256, 280);
    l.fill(8, 280, 288);
    fixedLit = buildHuffman(l, undefined);
    fixedDist = buildHuffman(new Uint8Array(30).fill(5), undefined);
  }
  return [fixedLit, fixedDist];
}

function limitError(maxOutput: number, file: string | undefined): ResourceLimitError {
  return new ResourceLimitError(
    `${file ? `${file}: ` : ''}decompressed data exceeds the limit of ${maxOutput} bytes (possible decompression bomb)`,
  );
}

/**
 * Decodes a raw DEFLATE stream starting at `start`. Returns the data and the offset of the
 * first byte after the final block (where a zlib trailer would start).
 */
function inflateAt(src: Uint8Array, start: number, opts: InflateOptions): { data: Uint8Array; end: number } {
  const file = opts.file;
  const maxOutput = opts.maxOutput;
  if (!(maxOutput >= 0)) throw new ArgumentError('inflate: maxOutput must be a non-negative number');
  // Output buffer, grown by doubling but never past maxOutput.
  let buf = new Uint8Array(Math.max(0, Math.min(opts.expectedSize ?? Math.max(1024, src.length * 4), maxOutput)));
  let olen = 0;
  const reserve = (n: number) => {
    const want = olen + n;
    if (want <= buf.length) return;
    if (want > maxOutput) throw limitError(maxOutput, file);
    const grown = new Uint8Array(Math.min(maxOutput, Math.max(want, buf.length * 2, 1024)));
    grown.set(buf.subarray(0, olen));
    buf = grown;
  };
  const truncated = () => new FormatError('truncated deflate stream (compressed data ends early)', file);
  const corrupt = (what: string) => new FormatError(`corrupt deflate stream (${what})`, file);

  // Bit reader state, kept in locals for speed. Past the end of input we feed zero bytes
  // (`pad` counts them) so table lookups may peek ahead; consuming any of them is truncation.
  let pos = start;
  let bitBuf = 0;
  let bitCnt = 0;
  let pad = 0;
  const srcLen = src.length;
  const need = (n: number) => {
    while (bitCnt < n) {
      if (pos < srcLen) bitBuf |= src[pos++]! << bitCnt;
      else pad++;
      bitCnt += 8;
    }
  };
  const bits = (n: number): number => {
    need(n);
    const v = bitBuf & ((1 << n) - 1);
    bitBuf >>>= n;
    bitCnt -= n;
    if (bitCnt < pad * 8) throw truncated();
    return v;
  };
  /** Canonical bit-by-bit decode for codes longer than the table (at most 15 bits). */
  const slowSym = (h: Huffman): number => {
    need(h.maxLen);
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= h.maxLen; len++) {
      code |= (bitBuf >>> (len - 1)) & 1;
      const n = h.count[len]!;
      if (code - first < n) {
        bitBuf >>>= len;
        bitCnt -= len;
        if (bitCnt < pad * 8) throw truncated();
        return h.symbols[index + code - first]!;
      }
      index += n;
      first = (first + n) << 1;
      code <<= 1;
    }
    throw corrupt('invalid Huffman code');
  };
  const decodeSym = (h: Huffman): number => {
    need(h.bits);
    const e = h.table[bitBuf & ((1 << h.bits) - 1)]!;
    if (e === 0) return slowSym(h);
    const len = e & 15;
    bitBuf >>>= len;
    bitCnt -= len;
    if (bitCnt < pad * 8) throw truncated();
    return e >>> 4;
  };

  let final = 0;
  do {
    final = bits(1);
    const type = bits(2);
    if (type === 0) {
      // Stored block: drop to a byte boundary and hand the buffered whole bytes back.
      bitBuf >>>= bitCnt & 7;
      bitCnt -= bitCnt & 7;
      pos -= (bitCnt >>> 3) - pad;
      bitBuf = 0;
      bitCnt = 0;
      pad = 0;
      if (pos + 4 > srcLen) throw truncated();
      const len = src[pos]! | (src[pos + 1]! << 8);
      const nlen = src[pos + 2]! | (src[pos + 3]! << 8);
      pos += 4;
      if ((len ^ 0xffff) !== nlen) throw corrupt('stored block length check failed');
      if (pos + len > srcLen) throw truncated();
      reserve(len);
      buf.set(src.subarray(pos, pos + len), olen);
      olen += len;
      pos += len;
      continue;
    }
    let lit: Huffman;
    let dist: Huffman;
    if (type === 1) {
      [lit, dist] = fixedTables();
    } else if (type === 2) {
      const hlit = bits(5) + 257;
      const hdist = bits(5) + 1;
      const hclen = bits(4) + 4;
      if (hlit > 286 || hdist > 30) throw corrupt('too many length or distance codes');
      const clens = new Uint8Array(19);
      for (let i = 0; i < hclen; i++) clens[CLEN_ORDER[i]!] = bits(3);
      const clh = buildHuffman(clens, file);
      const lens = new Uint8Array(hlit + hdist);
      for (let i = 0; i < lens.length; ) {
        const sym = decodeSym(clh);
        if (sym < 16) {
          lens[i++] = sym;
          continue;
        }
        let rep: number;
        let val = 0;
        if (sym === 16) {
          if (i === 0) throw corrupt('repeat code with no previous length');
          val = lens[i - 1]!;
          rep = 3 + bits(2);
        } else if (sym === 17) rep = 3 + bits(3);
        else rep = 11 + bits(7);
        if (i + rep > lens.length) throw corrupt('code lengths overflow the alphabet');
        lens.fill(val, i, i + rep);
        i += rep;
      }
      if (lens[256] === 0) throw corrupt('no end-of-block code');
      lit = buildHuffman(lens.subarray(0, hlit), file);
      dist = buildHuffman(lens.subarray(hlit), file);
    } else {
      throw corrupt('reserved block type 3');
    }

    // The hot loop: literal/length decoding with the bit reader inlined.
    const litTable = lit.table;
    const litBits = lit.bits;
    const litMask = (1 << litBits) - 1;
    for (;;) {
      while (bitCnt < litBits) {
        if (pos < srcLen) bitBuf |= src[pos++]! << bitCnt;
        else pad++;
        bitCnt += 8;
      }
      const e = litTable[bitBuf & litMask]!;
      let sym: number;
      if (e === 0) sym = slowSym(lit);
      else {
        const len = e & 15;
        bitBuf >>>= len;
        bitCnt -= len;
        if (bitCnt < pad * 8) throw truncated();
        sym = e >>> 4;
      }
      if (sym < 256) {
        if (olen >= buf.length) reserve(1);
        buf[olen++] = sym;
        continue;
      }
      if (sym === 256) break;
      const li = sym - 257;
      if (li >= 29) throw corrupt('invalid length code');
      const length = LEN_BASE[li]! + bits(LEN_EXTRA[li]!);
      const di = decodeSym(dist);
      if (di >= 30) throw corrupt('invalid distance code');
      const distance = DIST_BASE[di]! + bits(DIST_EXTRA[di]!);
      if (distance > olen) throw corrupt('distance reaches before the start of the output');
      reserve(length);
      const end = olen + length;
      // Byte-by-byte on purpose: source and destination overlap when distance < length.
      for (let s = olen - distance; olen < end; ) buf[olen++] = buf[s++]!;
    }
  } while (!final);

  // Whole unread bytes still buffered belong to whatever follows the stream.
  const end = pos - ((bitCnt >>> 3) - pad);
  return { data: buf.length === olen ? buf : buf.subarray(0, olen), end };
}

/** Decodes a raw DEFLATE stream (no zlib header or trailer). */
export function inflateRaw(src: Uint8Array, opts: InflateOptions): Uint8Array {
  return inflateAt(src, 0, opts).data;
}

export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  // 5552 is the largest run for which b cannot overflow 2^53 before the modulo (zlib's NMAX
  // is for 32-bit ints; it is also safely small here).
  for (let i = 0; i < data.length; ) {
    const end = Math.min(i + 5552, data.length);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Decodes a zlib stream: 2-byte header, DEFLATE data, big-endian Adler-32 of the output. */
export function inflateZlib(src: Uint8Array, opts: InflateOptions): Uint8Array {
  const file = opts.file;
  if (src.length < 2) throw new FormatError('truncated zlib stream (no header)', file);
  const cmf = src[0]!;
  const flg = src[1]!;
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0) {
    throw new FormatError('not a zlib stream (bad header)', file);
  }
  if (flg & 0x20) throw new NotSupportedError(`${file ? `${file}: ` : ''}zlib streams with a preset dictionary are not supported`);
  const { data, end } = inflateAt(src, 2, opts);
  if (end + 4 > src.length) throw new FormatError('truncated zlib stream (no Adler-32 checksum)', file);
  const want = ((src[end]! << 24) | (src[end + 1]! << 16) | (src[end + 2]! << 8) | src[end + 3]!) >>> 0;
  if (adler32(data) !== want) throw new FormatError('corrupt zlib stream (Adler-32 mismatch)', file);
  return data;
}
