// Shared helpers for the io tests: fixtures, checksums, error assertions, and tiny writers
// for hand-made zip archives and pickles (to build cases torch.save would never write).
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { ResnestError } from '../../src/errors.js';
import { toFloat32, type RawTensor, type StateDict } from '../../src/io/raw.js';
import { crc32 } from '../../src/io/zip.js';
import { concat } from './bytes.js';

export function fixture(name: string): Uint8Array {
  const b = readFileSync(new URL(`../../../test/fixtures/io/${name}`, import.meta.url));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export interface Expected {
  dtype: string;
  shape: number[];
  sum: number;
  wsum: number;
}

export const expected = JSON.parse(new TextDecoder().decode(fixture('expected.json'))) as {
  tensors: Record<string, Expected>;
  npy: Record<string, Expected>;
};

export function toFloat64(t: RawTensor): Float64Array {
  if (t.dtype === 'float64') return t.data as Float64Array;
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return Float64Array.from(toFloat32(t));
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}

export function checksums(t: RawTensor): { sum: number; wsum: number } {
  const x = toFloat64(t);
  let sum = 0, wsum = 0;
  for (let i = 0; i < x.length; i++) {
    sum += x[i];
    wsum += Math.abs(x[i]) * (i + 1);
  }
  return { sum, wsum };
}

function close(a: number, b: number, what: string) {
  assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b)) + 1e-12, `${what}: ${a} vs expected ${b}`);
}

/** Compares one tensor with its expected.json record (dtype, shape, both checksums). */
export function assertMatches(t: RawTensor | undefined, e: Expected, what: string, dtype = e.dtype) {
  assert.ok(t, `${what} is missing`);
  assert.is(t!.dtype, dtype, `${what} dtype`);
  assert.equal(t!.shape, e.shape, `${what} shape`);
  assert.is(t!.data.length, e.shape.reduce((a, b) => a * b, 1), `${what} element count`);
  const c = checksums(t!);
  close(c.sum, e.sum, `${what} sum`);
  close(c.wsum, e.wsum, `${what} weighted sum`);
}

export function assertStateDictsEqual(a: StateDict, b: StateDict, what: string) {
  assert.equal([...a.keys()], [...b.keys()], `${what}: keys`);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    assert.is(t.dtype, u.dtype, `${what}: ${k} dtype`);
    assert.equal(t.shape, u.shape, `${what}: ${k} shape`);
    assert.equal(Array.from(t.data as ArrayLike<number | bigint>), Array.from(u.data as ArrayLike<number | bigint>), `${what}: ${k} data`);
  }
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Runs fn and asserts it throws an instance of cls whose message contains every needle. */
export function throwsKind(fn: () => unknown, cls: ErrorClass, ...needles: string[]): Error {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, `expected ${cls.name}, nothing was thrown`);
  if (!(err instanceof cls)) {
    assert.unreachable(`expected ${cls.name}, got ${String((err as Error)?.stack ?? err)}`);
  }
  for (const n of needles) assert.ok((err as Error).message.includes(n), `message '${(err as Error).message}' should contain '${n}'`);
  return err as Error;
}

/** Runs fn; anything it throws must be one of the library's errors (never TypeError/RangeError). */
export function onlyLibraryErrors(fn: () => unknown, what: string): Error | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (e instanceof ResnestError) return e;
    assert.unreachable(`${what}: escaped ${String((e as Error)?.stack ?? e)}`);
    return undefined;
  }
}

export { concat };

const ascii = (s: string) => new TextEncoder().encode(s);
const le = (v: number, bytes: number) => {
  const out: number[] = [];
  let x = BigInt(v);
  for (let i = 0; i < bytes; i++, x >>= 8n) out.push(Number(x & 0xffn));
  return out;
};

export interface ZipOptions {
  zip64?: boolean;
  /** Compression method written to both headers (content stays stored). */
  method?: number;
  /** Write sizes to the local header instead of flag bit 3 + zero sizes. */
  localSizes?: boolean;
  comment?: string;
}

/** A stored-entry zip writer that pads the local extra field so data starts at multiples of 64. */
export function makeZip(entries: [string, Uint8Array][], opts: ZipOptions = {}): Uint8Array {
  const out: (Uint8Array | number[])[] = [];
  const central: (Uint8Array | number[])[] = [];
  let at = 0;
  const push = (p: Uint8Array | number[]) => {
    out.push(p);
    at += p.length;
  };
  const method = opts.method ?? 0;
  for (const [name, data] of entries) {
    const nb = ascii(name);
    const offset = at;
    const pad = (64 - ((at + 30 + nb.length + 4) % 64)) % 64;
    const extra = [0x46, 0x42, ...le(pad, 2), ...new Array(pad).fill(0x5a)];
    const flags = opts.localSizes ? 0x800 : 0x808;
    const crc = crc32(data);
    const lsize = opts.localSizes ? data.length : 0;
    push([...le(0x04034b50, 4), ...le(45, 2), ...le(flags, 2), ...le(method, 2), 0, 0, 0, 0, ...le(opts.localSizes ? crc : 0, 4), ...le(lsize, 4), ...le(lsize, 4), ...le(nb.length, 2), ...le(extra.length, 2)]);
    push(nb);
    push(extra);
    push(data);
    if (!opts.localSizes) push([...le(0x08074b50, 4), ...le(crc, 4), ...le(data.length, 4), ...le(data.length, 4)]);
    const z64 = opts.zip64 ? [...le(1, 2), ...le(24, 2), ...le(data.length, 8), ...le(data.length, 8), ...le(offset, 8)] : [];
    const sz = opts.zip64 ? 0xffffffff : data.length;
    central.push([...le(0x02014b50, 4), ...le(45, 2), ...le(45, 2), ...le(flags, 2), ...le(method, 2), 0, 0, 0, 0, ...le(crc, 4), ...le(sz, 4), ...le(sz, 4),
      ...le(nb.length, 2), ...le(z64.length, 2), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...le(opts.zip64 ? 0xffffffff : offset, 4)], nb, z64);
  }
  const cdOffset = at;
  for (const c of central) push(c);
  const cdSize = at - cdOffset;
  const n = entries.length;
  if (opts.zip64) {
    const eocd64 = at;
    push([...le(0x06064b50, 4), ...le(44, 8), ...le(45, 2), ...le(45, 2), ...le(0, 4), ...le(0, 4), ...le(n, 8), ...le(n, 8), ...le(cdSize, 8), ...le(cdOffset, 8)]);
    push([...le(0x07064b50, 4), ...le(0, 4), ...le(eocd64, 8), ...le(1, 4)]);
  }
  const comment = ascii(opts.comment ?? '');
  push([...le(0x06054b50, 4), 0, 0, 0, 0, ...le(opts.zip64 ? 0xffff : n, 2), ...le(opts.zip64 ? 0xffff : n, 2),
    ...le(opts.zip64 ? 0xffffffff : cdSize, 4), ...le(opts.zip64 ? 0xffffffff : cdOffset, 4), ...le(comment.length, 2)]);
  push(comment);
  return concat(...out);
}

/** Emits pickle opcodes; each method appends and returns this. */
export class Pickle {
  private out: number[] = [];
  raw(...b: number[]) {
    this.out.push(...b);
    return this;
  }
  proto(v = 2) { return this.raw(0x80, v); }
  global(module: string, name: string) { return this.raw(0x63, ...ascii(`${module}\n${name}\n`)); }
  str(s: string) {
    const b = ascii(s);
    return this.raw(0x58, ...le(b.length, 4), ...b);
  }
  int(n: number) {
    if (n >= 0 && n < 256) return this.raw(0x4b, n);
    if (n >= 0 && n < 65536) return this.raw(0x4d, ...le(n, 2));
    if (n >= -(2 ** 31) && n < 2 ** 31) return this.raw(0x4a, ...le(n >>> 0, 4));
    return this.raw(0x8a, 8, ...le(n, 8));
  }
  mark() { return this.raw(0x28); }
  tuple() { return this.raw(0x74); }
  emptyTuple() { return this.raw(0x29); }
  emptyDict() { return this.raw(0x7d); }
  setitems() { return this.raw(0x75); }
  reduce() { return this.raw(0x52); }
  persid() { return this.raw(0x51); }
  build() { return this.raw(0x62); }
  none() { return this.raw(0x4e); }
  false() { return this.raw(0x89); }
  stop() { return this.raw(0x2e); }
  ints(xs: number[]) {
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  bytes() { return new Uint8Array(this.out); }
}

export interface TensorSpec {
  key: string;
  storage: string;
  type?: string;
  numel: number;
  offset?: number;
  size: number[];
  stride: number[];
}

/** A zip-format data.pkl: OrderedDict(key → _rebuild_tensor_v2(persistent storage, ...)). */
export function tensorPickle(specs: TensorSpec[], wrap?: (p: Pickle) => void): Uint8Array {
  const p = new Pickle().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  for (const s of specs) {
    p.str(s.key).global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', s.type ?? 'FloatStorage').str(s.storage).str('cpu').int(s.numel).tuple().persid();
    p.int(s.offset ?? 0).ints(s.size).ints(s.stride).false().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  }
  p.setitems();
  wrap?.(p);
  return p.stop().bytes();
}

/** A torch.save-style archive: <prefix>/data.pkl, <prefix>/data/<key>..., <prefix>/version. */
export function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, prefix = 'archive', extra: [string, Uint8Array][] = [], opts: ZipOptions = {}): Uint8Array {
  return makeZip([
    [`${prefix}/data.pkl`, pkl],
    ...Object.entries(storages).map(([k, v]) => [`${prefix}/data/${k}`, v] as [string, Uint8Array]),
    [`${prefix}/version`, ascii('3\n')],
    ...extra,
  ], opts);
}

export function f32bytes(xs: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(xs).buffer);
}
