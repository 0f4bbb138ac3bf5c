// Byte-level mutations that know nothing about the format: bit flips, byte sets, truncation,
// splices of two inputs, inserted / deleted / duplicated ranges, and "interesting" integers
// written over random positions. Each returns a new array and a short description.

import type { Rng } from './prng.js';
import { concat } from '../helpers/bytes.js';

export { concat };

export type Mutation = { bytes: Uint8Array; op: string };

export const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40];
export const INTERESTING_16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x100, 0x3ff, 0x400];
export const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0x1000000, 0xfffffffe, 0x3fffffff];


/** Replaces [start, end) of `b` with `insert`. */
export function replaceRange(b: Uint8Array, start: number, end: number, insert: Uint8Array): Uint8Array {
  return concat(b.subarray(0, start), insert, b.subarray(end));
}

export function writeUint(b: Uint8Array, at: number, value: number | bigint, size: number, littleEndian = true): void {
  let v = BigInt.asUintN(size * 8, BigInt(value));
  for (let i = 0; i < size; i++) {
    const byte = Number(v & 0xffn);
    v >>= 8n;
    const p = littleEndian ? at + i : at + size - 1 - i;
    if (p >= 0 && p < b.length) b[p] = byte;
  }
}

export function readUint(b: Uint8Array, at: number, size: number, littleEndian = true): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (b[littleEndian ? at + i : at + size - 1 - i] ?? 0);
  return v;
}

/** Values worth trying in place of a length, size, count or offset `v` in a file of `len` bytes. */
export function interestingNear(rng: Rng, v: number, len: number, bits: 8 | 16 | 32 | 64): number | bigint {
  const max = bits === 64 ? 2n ** 64n - 1n : 2 ** bits - 1;
  const choices: (number | bigint)[] = [
    0, 1, v + 1, v - 1, v * 2, Math.floor(v / 2), len, len - 1, len + 1, v + rng.range(2, 64), v - rng.range(2, 64),
  ];
  if (bits >= 16) choices.push(0x7fff, 0xffff, 0x8000);
  if (bits >= 32) choices.push(0x7fffffff, 0xffffffff, 0x80000000, 0x10000000, 0xfffffff0);
  if (bits === 64) choices.push(2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 32n, 2n ** 40n);
  let x = rng.pick(choices);
  if (typeof x === 'number') {
    if (x < 0) x = bits === 64 ? 2n ** 64n + BigInt(x) : (max as number) + 1 + x;
    if (typeof max === 'number' && x > max) x = max;
  }
  return x;
}

export function flipBits(rng: Rng, b: Uint8Array): Mutation {
  const out = b.slice();
  const n = rng.range(1, 8);
  for (let i = 0; i < n && out.length; i++) out[rng.int(out.length)]! ^= 1 << rng.int(8);
  return { bytes: out, op: `flip ${n} bits` };
}

export function setBytes(rng: Rng, b: Uint8Array): Mutation {
  const out = b.slice();
  const n = rng.range(1, 4);
  for (let i = 0; i < n && out.length; i++) out[rng.int(out.length)] = rng.chance(0.5) ? rng.pick(INTERESTING_8) : rng.int(256);
  return { bytes: out, op: `set ${n} bytes` };
}

export function truncate(rng: Rng, b: Uint8Array): Mutation {
  const r = rng.next();
  const n = r < 0.3 ? rng.int(Math.min(b.length, 64)) : r < 0.6 ? b.length - rng.smallLen(b.length) : rng.int(b.length);
  const at = Math.max(0, n);
  return { bytes: b.slice(0, at), op: `truncate to ${at}` };
}

export function splice(rng: Rng, a: Uint8Array, other: Uint8Array): Mutation {
  const i = rng.int(a.length + 1);
  const j = rng.int(other.length + 1);
  return { bytes: concat(a.subarray(0, i), other.subarray(j)), op: `splice a[:${i}] + b[${j}:]` };
}

export function insertRange(rng: Rng, b: Uint8Array): Mutation {
  const at = rng.int(b.length + 1);
  const n = rng.chance(0.9) ? rng.smallLen(256) : rng.range(256, 8192);
  let ins: Uint8Array;
  const kind = rng.int(3);
  if (kind === 0) ins = rng.bytes(n);
  else if (kind === 1) ins = new Uint8Array(n).fill(rng.pick(INTERESTING_8));
  else {
    const s = rng.int(b.length + 1);
    ins = b.slice(s, s + n);
  }
  return { bytes: replaceRange(b, at, at, ins), op: `insert ${ins.length} bytes at ${at}` };
}

export function deleteRange(rng: Rng, b: Uint8Array): Mutation {
  const at = rng.int(b.length + 1);
  const n = rng.smallLen(Math.max(1, b.length - at));
  return { bytes: replaceRange(b, at, Math.min(b.length, at + n), new Uint8Array(0)), op: `delete ${n} bytes at ${at}` };
}

export function duplicateRange(rng: Rng, b: Uint8Array): Mutation {
  const s = rng.int(b.length + 1);
  const n = rng.smallLen(Math.max(1, b.length - s));
  const copies = rng.chance(0.8) ? 1 : rng.range(2, 64);
  const piece = b.subarray(s, s + n);
  const ins = concat(...new Array<Uint8Array>(copies).fill(piece));
  const at = rng.chance(0.5) ? s : rng.int(b.length + 1);
  return { bytes: replaceRange(b, at, at, ins), op: `duplicate [${s}, ${s + n}) ×${copies} at ${at}` };
}

export function overwriteInt(rng: Rng, b: Uint8Array): Mutation {
  const out = b.slice();
  const size = rng.pick([1, 2, 4, 8]);
  const at = rng.int(Math.max(1, out.length));
  const le = rng.chance(0.6);
  const v = size === 1 ? rng.pick(INTERESTING_8) : size === 2 ? rng.pick(INTERESTING_16) : size === 4 ? rng.pick(INTERESTING_32) : rng.pick([0n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 53n, BigInt(out.length)]);
  writeUint(out, at, v, size, le);
  return { bytes: out, op: `write u${size * 8}${le ? 'le' : 'be'} ${v} at ${at}` };
}

export function arith(rng: Rng, b: Uint8Array): Mutation {
  const out = b.slice();
  if (!out.length) return { bytes: out, op: 'arith (empty)' };
  const size = rng.pick([1, 2, 4]);
  const at = rng.int(out.length);
  const le = rng.chance(0.7);
  const delta = rng.range(1, 35) * (rng.chance(0.5) ? 1 : -1);
  writeUint(out, at, readUint(out, at, size, le) + delta, size, le);
  return { bytes: out, op: `add ${delta} to u${size * 8} at ${at}` };
}

/** One random byte-level mutation; `corpus` supplies the second input of a splice. */
export function genericMutation(rng: Rng, b: Uint8Array, corpus: readonly Uint8Array[]): Mutation {
  switch (rng.int(9)) {
    case 0: return flipBits(rng, b);
    case 1: return setBytes(rng, b);
    case 2: return truncate(rng, b);
    case 3: return splice(rng, b, rng.pick(corpus));
    case 4: return insertRange(rng, b);
    case 5: return deleteRange(rng, b);
    case 6: return duplicateRange(rng, b);
    case 7: return overwriteInt(rng, b);
    default: return arith(rng, b);
  }
}
