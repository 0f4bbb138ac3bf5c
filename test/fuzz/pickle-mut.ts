// Pickle-aware mutations: the input is walked opcode by opcode (the same opcode table as
// CPython's pickletools), so edits land on opcode boundaries, length prefixes and integer
// arguments: replaced / deleted / duplicated / inserted opcodes, edited lengths, tensor
// sizes, strides and offsets set to extreme values, globals swapped for refused or
// unsupported ones, and long runs of one opcode (stack, memo and MARK growth).

import type { Rng } from './prng.js';
import { concat, interestingNear, replaceRange, writeUint, type Mutation } from './bytes.js';

type ArgKind = 0 | 1 | 2 | 4 | 8 | 'len1' | 'len4' | 'len8' | 'line' | 'lines2';

const ARGS: Record<number, ArgKind> = {
  0x28: 0, 0x2e: 0, 0x30: 0, 0x31: 0, 0x32: 0, 0x4e: 0, 0x88: 0, 0x89: 0, 0x5d: 0, 0x7d: 0, 0x29: 0, 0x8f: 0,
  0x85: 0, 0x86: 0, 0x87: 0, 0x74: 0, 0x6c: 0, 0x64: 0, 0x91: 0, 0x90: 0, 0x61: 0, 0x65: 0, 0x73: 0, 0x75: 0,
  0x94: 0, 0x93: 0, 0x52: 0, 0x81: 0, 0x92: 0, 0x62: 0, 0x51: 0, 0x6f: 0, 0x97: 0, 0x98: 0,
  0x80: 1, 0x4b: 1, 0x71: 1, 0x68: 1, 0x82: 1,
  0x4d: 2, 0x83: 2,
  0x4a: 4, 0x72: 4, 0x6a: 4, 0x84: 4,
  0x47: 8, 0x95: 8,
  0x8a: 'len1', 0x8c: 'len1', 0x55: 'len1', 0x43: 'len1',
  0x58: 'len4', 0x42: 'len4', 0x54: 'len4', 0x8b: 'len4',
  0x8d: 'len8', 0x8e: 'len8', 0x96: 'len8',
  0x49: 'line', 0x4c: 'line', 0x46: 'line', 0x53: 'line', 0x56: 'line', 0x70: 'line', 0x67: 'line', 0x50: 'line',
  0x63: 'lines2', 0x69: 'lines2',
};
export const OPCODES = Object.keys(ARGS).map(Number);

export interface Op {
  at: number;
  op: number;
  end: number;
  /** Where a length prefix sits, and its size in bytes. */
  lenField?: [number, number];
}

/** Walks one pickle from `start` to its STOP (inclusive); stops early at anything malformed. */
export function walkPickle(b: Uint8Array, start = 0): Op[] {
  const ops: Op[] = [];
  let p = start;
  while (p < b.length) {
    const op = b[p]!;
    const kind = ARGS[op];
    if (kind === undefined) break;
    let q = p + 1;
    let lenField: [number, number] | undefined;
    if (typeof kind === 'number') q += kind;
    else if (kind === 'line' || kind === 'lines2') {
      for (let i = 0; i < (kind === 'line' ? 1 : 2); i++) {
        const nl = b.indexOf(0x0a, q);
        if (nl < 0) return ops;
        q = nl + 1;
      }
    } else {
      const size = kind === 'len1' ? 1 : kind === 'len4' ? 4 : 8;
      if (q + size > b.length) break;
      let n = 0;
      for (let i = size - 1; i >= 0; i--) n = n * 256 + b[q + i]!;
      lenField = [q, size];
      q += size + n;
    }
    if (q > b.length) break;
    ops.push({ at: p, op, end: q, ...(lenField ? { lenField } : {}) });
    p = q;
    if (op === 0x2e) break;
  }
  return ops;
}

const enc = (s: string) => new TextEncoder().encode(s);
const le = (v: number | bigint, n: number) => {
  const out = new Uint8Array(n);
  writeUint(out, 0, v, n);
  return out;
};

export const GLOBALS: [string, string][] = [
  ['collections', 'OrderedDict'], ['torch._utils', '_rebuild_tensor_v2'], ['torch._utils', '_rebuild_tensor'],
  ['torch._utils', '_rebuild_parameter'], ['torch._utils', '_rebuild_parameter_with_state'], ['torch', 'FloatStorage'],
  ['torch', 'LongStorage'], ['torch', 'HalfStorage'], ['torch', 'BoolStorage'], ['torch', 'DoubleStorage'],
  ['torch', 'BFloat16Storage'], ['torch', 'ByteStorage'], ['torch._utils', '_rebuild_qtensor'], ['torch', 'ComplexFloatStorage'],
  ['torch', 'UntypedStorage'], ['posix', 'system'], ['os', 'system'], ['builtins', 'eval'], ['builtins', 'exec'],
  ['subprocess', 'Popen'], ['__builtin__', 'getattr'], ['torch', 'Tensor'], ['torch', '__proto__'], ['torch', 'constructor'],
  ['torch', 'hasOwnProperty'], ['collections', '__proto__'], ['', ''], ['torch', ''],
];
const STRINGS = ['storage', 'cpu', 'cuda:0', '0', '1', 'torch', 'FloatStorage', 'posix', 'system', 'collections', 'OrderedDict',
  'torch._utils', '_rebuild_tensor_v2', 'state_dict', 'model', 'module.', '_metadata', '__proto__', 'constructor', 'little', ''];
const INTS: (number | bigint)[] = [0, 1, 2, 3, 4, -1, -2, 255, 256, 65535, 65536, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 40,
  2 ** 53, 2n ** 53n + 1n, 2n ** 63n, -(2n ** 63n), 2n ** 64n + 5n, 1 << 20, 1 << 24, 1 << 28, 1 << 30];

/** A well-formed encoding of integer v: the smallest of BININT1/BININT2/BININT, else LONG1. */
export function intOp(v: number | bigint): Uint8Array {
  const n = BigInt(v);
  if (n >= 0n && n < 256n) return Uint8Array.of(0x4b, Number(n));
  if (n >= 0n && n < 65536n) return concat(Uint8Array.of(0x4d), le(n, 2));
  if (n >= -(2n ** 31n) && n < 2n ** 31n) return concat(Uint8Array.of(0x4a), le(n, 4));
  const bytes: number[] = [];
  let x = n;
  for (;;) {
    bytes.push(Number(BigInt.asUintN(8, x)));
    x >>= 8n;
    if ((x === 0n && !(bytes[bytes.length - 1]! & 0x80)) || (x === -1n && bytes[bytes.length - 1]! & 0x80)) break;
  }
  return Uint8Array.of(0x8a, bytes.length, ...bytes);
}

function strOp(s: string): Uint8Array {
  const b = enc(s);
  return b.length < 256 ? concat(Uint8Array.of(0x8c, b.length), b) : concat(Uint8Array.of(0x58), le(b.length, 4), b);
}

export function globalOp([m, n]: [string, string], stack = false): Uint8Array {
  return stack ? concat(strOp(m), strOp(n), Uint8Array.of(0x93)) : concat(Uint8Array.of(0x63), enc(`${m}\n${n}\n`));
}

/** One synthesized opcode with plausible arguments. */
function randomOp(rng: Rng): Uint8Array {
  switch (rng.int(12)) {
    case 0: case 1: case 2:
      return Uint8Array.of(rng.pick(OPCODES.filter((o) => ARGS[o] === 0)));
    case 3: return intOp(rng.pick(INTS));
    case 4: return strOp(rng.pick(STRINGS));
    case 5: return globalOp(rng.pick(GLOBALS), rng.chance(0.4));
    case 6: return Uint8Array.of(rng.pick([0x71, 0x68]), rng.chance(0.7) ? rng.int(32) : rng.int(256));
    case 7: return concat(Uint8Array.of(rng.pick([0x72, 0x6a])), le(rng.chance(0.7) ? rng.int(64) : rng.pick([0xffffffff, 1 << 20, 1 << 30]), 4));
    case 8: return Uint8Array.of(0x80, rng.range(0, 6));
    case 9: return concat(Uint8Array.of(0x95), le(rng.pick([0, 1, 8, 100, 2 ** 32, 2 ** 53]), 8));
    case 10: {
      const op = rng.pick([0x49, 0x4c, 0x46, 0x53, 0x56, 0x70, 0x67, 0x50]);
      return concat(Uint8Array.of(op), enc(`${rng.pick(['0', '1', '-1', '99999999999999999999', "'x'", '1.5', ''])}\n`));
    }
    default: {
      const op = rng.pick([0x42, 0x43, 0x8e, 0x96, 0x54, 0x55, 0x8d, 0x8b]);
      const data = rng.bytes(rng.int(12));
      const size = op === 0x43 || op === 0x55 ? 1 : op === 0x8e || op === 0x96 || op === 0x8d ? 8 : 4;
      return concat(Uint8Array.of(op), le(data.length, size), data);
    }
  }
}

/** Long runs: stack, MARK and memo growth, deep nesting. */
function repeatedOps(rng: Rng): [Uint8Array, string] {
  const k = rng.pick([100, 1000, 5000, 20000]);
  const unit = rng.pick([
    [0x28], [0x4e], [0x32], [0x94], [0x85], [0x5d, 0x94], [0x4e, 0x85], [0x28, 0x4e], [0x5d, 0x4e, 0x61],
    [0x7d, 0x4e, 0x4e, 0x73], [0x71, 0x00], [0x68, 0x00], [0x29], [0x8f, 0x28, 0x4e, 0x90],
  ]);
  const out = new Uint8Array(k * unit.length);
  for (let i = 0; i < k; i++) out.set(unit, i * unit.length);
  return [out, `${k}× [${unit.map((x) => x.toString(16)).join(' ')}]`];
}

/** One pickle-aware edit of the pickle occupying [start, end) of `b` (the rest is kept). */
export function pickleMutation(rng: Rng, b: Uint8Array, start = 0): Mutation {
  const ops = walkPickle(b, start);
  if (ops.length === 0) return { bytes: b.slice(), op: 'pickle: nothing to walk' };
  const target = rng.pick(ops);
  const boundary = rng.chance(0.5) ? target.at : rng.pick(ops).end;
  switch (rng.int(10)) {
    case 9: {
      // A whole tuple of ints at once (a tensor's size or stride, a view's metadata): all
      // zeros (expanded views), all large, or a mix, which single-int edits rarely reach.
      // [first int, end) of each tuple of ints: MARK ints TUPLE, or 1–3 ints then TUPLE1/2/3.
      const groups: [number, number][] = [];
      const isInt = (o: Op | undefined) => !!o && [0x4b, 0x4d, 0x4a, 0x8a].includes(o.op);
      for (let j = 0; j < ops.length; j++) {
        const t = ops[j]!.op;
        if (t === 0x74) {
          let i = j;
          while (isInt(ops[i - 1])) i--;
          if (i < j && ops[i - 1]?.op === 0x28) groups.push([i, j]);
        } else if (t === 0x85 || t === 0x86 || t === 0x87) {
          const k = t - 0x84;
          let all = true;
          for (let q = j - k; q < j; q++) all &&= isInt(ops[q]);
          if (all && j - k >= 0) groups.push([j - k, j]);
        }
      }
      if (!groups.length) return pickleMutation(rng, b, start);
      // Expand: a size tuple made large and the stride tuple right after it all zeros, so a
      // tiny storage stands for a huge tensor (torch's expand()).
      // Consecutive tuples: the next one starts right after this TUPLEn, or after its MARK.
      const follows = (j: number, k: number) => groups[k + 1]?.[0] === j + 1 || groups[k + 1]?.[0] === j + 2;
      const pairs = groups.filter(([, j], k) => follows(j, k));
      if (pairs.length && rng.chance(0.3)) {
        const [i, j] = rng.pick(pairs);
        const [i2, j2] = groups[groups.findIndex((g) => g[0] === i) + 1]!;
        const big = rng.pick([64, 1024, 4096, 65536]);
        const sizes = concat(...ops.slice(i, j).map(() => intOp(big)));
        const zeros = concat(...ops.slice(i2, j2).map(() => intOp(0)));
        const mid = b.subarray(ops[j - 1]!.end, ops[i2]!.at);
        return { bytes: replaceRange(b, ops[i]!.at, ops[j2 - 1]!.end, concat(sizes, mid, zeros)), op: `pickle: expand at ${ops[i]!.at}: sizes ${big}, strides 0` };
      }
      const [i, j] = rng.pick(groups);
      const style = rng.int(3);
      const vals = ops.slice(i, j).map(() => (style === 0 ? 0 : style === 1 ? rng.pick([256, 4096, 65536, 1 << 20]) : rng.pick(INTS)));
      const ints = concat(...vals.map((v) => intOp(v)));
      return { bytes: replaceRange(b, ops[i]!.at, ops[j - 1]!.end, ints), op: `pickle: int tuple at ${ops[i]!.at} → (${vals.join(', ')})` };
    }
    case 0: {
      const op = rng.pick(OPCODES);
      const out = b.slice();
      out[target.at] = op;
      return { bytes: out, op: `pickle: opcode at ${target.at} 0x${target.op.toString(16)} → 0x${op.toString(16)}` };
    }
    case 1:
      return { bytes: replaceRange(b, target.at, target.end, new Uint8Array(0)), op: `pickle: delete opcode 0x${target.op.toString(16)} at ${target.at}` };
    case 2: {
      const k = rng.chance(0.8) ? 1 : rng.range(2, 50);
      const piece = b.subarray(target.at, target.end);
      return { bytes: replaceRange(b, target.end, target.end, concat(...new Array<Uint8Array>(k).fill(piece))), op: `pickle: duplicate opcode 0x${target.op.toString(16)} at ${target.at} ×${k}` };
    }
    case 3: {
      const n = rng.range(1, 3);
      const ins = concat(...Array.from({ length: n }, () => randomOp(rng)));
      return { bytes: replaceRange(b, boundary, boundary, ins), op: `pickle: insert ${n} opcodes at ${boundary}` };
    }
    case 4: {
      const withLen = ops.filter((o) => o.lenField);
      if (!withLen.length) return pickleMutation(rng, b, start);
      const o = rng.pick(withLen);
      const [at, size] = o.lenField!;
      const out = b.slice();
      const v = interestingNear(rng, o.end - at - size, b.length - at, (size * 8) as 8 | 32 | 64);
      writeUint(out, at, v, size);
      return { bytes: out, op: `pickle: length of 0x${o.op.toString(16)} at ${o.at} → ${v}` };
    }
    case 5: {
      // Integer arguments: tensor sizes, strides, storage offsets and element counts.
      const ints = ops.filter((o) => o.op === 0x4b || o.op === 0x4d || o.op === 0x4a || o.op === 0x8a);
      if (!ints.length) return pickleMutation(rng, b, start);
      const o = rng.pick(ints);
      const v = rng.pick(INTS);
      return { bytes: replaceRange(b, o.at, o.end, intOp(v)), op: `pickle: int at ${o.at} → ${v}` };
    }
    case 6: {
      const globals = ops.filter((o) => o.op === 0x63 || o.op === 0x93);
      const g = rng.pick(GLOBALS);
      if (!globals.length) return { bytes: replaceRange(b, boundary, boundary, globalOp(g)), op: `pickle: insert global ${g.join('.')}` };
      const o = rng.pick(globals);
      if (o.op === 0x93) return { bytes: replaceRange(b, o.at, o.end, concat(Uint8Array.of(0x30, 0x30), globalOp(g, true))), op: `pickle: STACK_GLOBAL at ${o.at} → ${g.join('.')}` };
      return { bytes: replaceRange(b, o.at, o.end, globalOp(g, rng.chance(0.3))), op: `pickle: GLOBAL at ${o.at} → ${g.join('.')}` };
    }
    case 7: {
      const [ins, what] = repeatedOps(rng);
      return { bytes: replaceRange(b, boundary, boundary, ins), op: `pickle: insert ${what} at ${boundary}` };
    }
    default: {
      // Move one opcode elsewhere (reorders construction).
      const piece = b.slice(target.at, target.end);
      const without = replaceRange(b, target.at, target.end, new Uint8Array(0));
      const to = Math.min(without.length, boundary > target.at ? boundary - piece.length : boundary);
      return { bytes: replaceRange(without, to, to, piece), op: `pickle: move opcode at ${target.at} to ${to}` };
    }
  }
}
