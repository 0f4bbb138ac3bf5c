// Format-aware mutations for the container formats: zip (header fields, entry lists), torch
// .pth in both layouts (the pickle inside, storage records and element counts),
// safetensors (header length, data_offsets, shapes, dtypes) and .npy (header length,
// version, the header dict's fields).

import type { Rng } from './prng.js';
import { concat, interestingNear, readUint, replaceRange, writeUint, type Mutation } from './bytes.js';
import { pickleMutation, walkPickle } from './pickle-mut.js';
import { makeZip, type ZipOptions } from '../helpers/io.js';

// ---------------------------------------------------------------- zip

interface Field { name: string; at: number; size: 2 | 4 | 8 }
const LOCAL: Field[] = [
  { name: 'flags', at: 6, size: 2 }, { name: 'method', at: 8, size: 2 }, { name: 'crc', at: 14, size: 4 },
  { name: 'compSize', at: 18, size: 4 }, { name: 'size', at: 22, size: 4 }, { name: 'nameLen', at: 26, size: 2 }, { name: 'extraLen', at: 28, size: 2 },
];
const CENTRAL: Field[] = [
  { name: 'flags', at: 8, size: 2 }, { name: 'method', at: 10, size: 2 }, { name: 'crc', at: 16, size: 4 },
  { name: 'compSize', at: 20, size: 4 }, { name: 'size', at: 24, size: 4 }, { name: 'nameLen', at: 28, size: 2 },
  { name: 'extraLen', at: 30, size: 2 }, { name: 'commentLen', at: 32, size: 2 }, { name: 'disk', at: 34, size: 2 },
  { name: 'localOffset', at: 42, size: 4 },
];
const EOCD: Field[] = [
  { name: 'disk', at: 4, size: 2 }, { name: 'cdDisk', at: 6, size: 2 }, { name: 'countDisk', at: 8, size: 2 }, { name: 'count', at: 10, size: 2 },
  { name: 'cdSize', at: 12, size: 4 }, { name: 'cdOffset', at: 16, size: 4 }, { name: 'commentLen', at: 20, size: 2 },
];
const EOCD64: Field[] = [
  { name: 'recordSize', at: 4, size: 8 }, { name: 'disk', at: 16, size: 4 }, { name: 'countDisk', at: 24, size: 8 },
  { name: 'count', at: 32, size: 8 }, { name: 'cdSize', at: 40, size: 8 }, { name: 'cdOffset', at: 48, size: 8 },
];
const LOCATOR: Field[] = [{ name: 'disk', at: 4, size: 4 }, { name: 'eocd64Offset', at: 8, size: 8 }, { name: 'disks', at: 16, size: 4 }];
const SIGS: [number, string, Field[]][] = [
  [0x04034b50, 'local', LOCAL], [0x02014b50, 'central', CENTRAL], [0x06054b50, 'eocd', EOCD],
  [0x06064b50, 'eocd64', EOCD64], [0x07064b50, 'locator', LOCATOR],
];

function records(b: Uint8Array): [number, string, Field[]][] {
  const out: [number, string, Field[]][] = [];
  for (let p = 0; p + 4 <= b.length; p++) {
    if (b[p] !== 0x50 || b[p + 1] !== 0x4b) continue;
    const sig = readUint(b, p, 4);
    const s = SIGS.find(([v]) => v === sig);
    if (s) out.push([p, s[1], s[2]]);
  }
  return out;
}

/** Edits one header field of one zip record (local, central, EOCD, zip64 EOCD, locator, zip64 extra). */
export function zipFieldMutation(rng: Rng, b: Uint8Array): Mutation {
  const recs = records(b);
  if (!recs.length) return { bytes: b.slice(), op: 'zip: no records found' };
  const [at, kind, fields] = rng.pick(recs);
  const out = b.slice();
  if (kind === 'central' && rng.chance(0.25)) {
    // The zip64 extra field of a central record: its 8-byte size / offset values.
    const nameLen = readUint(b, at + 28, 2), extraLen = readUint(b, at + 30, 2);
    const e = at + 46 + nameLen;
    if (extraLen >= 12 && readUint(b, e, 2) === 1) {
      const slot = e + 4 + 8 * rng.int(Math.max(1, Math.floor((readUint(b, e + 2, 2)) / 8)));
      const v = interestingNear(rng, readUint(b, slot, 8), b.length, 64);
      writeUint(out, slot, v, 8);
      return { bytes: out, op: `zip: central@${at} zip64 extra @${slot} → ${v}` };
    }
  }
  const f = rng.pick(fields);
  const old = readUint(b, at + f.at, f.size);
  let v: number | bigint;
  if (f.name === 'method') v = rng.pick([0, 8, 12, 14, 99, 0xffff]);
  else if (f.name === 'flags') v = old ^ rng.pick([1, 8, 0x800, 0x40, 0xffff]);
  else v = interestingNear(rng, old, b.length, (f.size * 8) as 16 | 32 | 64);
  writeUint(out, at + f.at, v, f.size);
  return { bytes: out, op: `zip: ${kind}@${at}.${f.name} ${old} → ${v}` };
}

export type Entries = [string, Uint8Array][];

/** Rebuilds an archive from a changed entry list (removed, duplicated, renamed, resized entries). */
export function zipEntryMutation(rng: Rng, entries: Entries, opts: ZipOptions): Mutation {
  const es: Entries = entries.map(([n, d]) => [n, d]);
  let what: string;
  const i = rng.int(Math.max(1, es.length));
  switch (rng.int(6)) {
    case 0:
      what = `remove entry ${es[i]?.[0]}`;
      es.splice(i, 1);
      break;
    case 1:
      what = `duplicate entry ${es[i]?.[0]}`;
      if (es[i]) es.splice(i, 0, [rng.chance(0.5) ? es[i]![0] : `${es[i]![0]}_copy`, es[i]![1]]);
      break;
    case 2: {
      const name = rng.pick(['', '/', 'a/data.pkl', 'x/../data.pkl', 'archive/data/0', '\u00e9/data.pkl', 'a'.repeat(300)]);
      what = `rename entry ${es[i]?.[0]} → ${name.slice(0, 20)}`;
      if (es[i]) es[i]![0] = name;
      break;
    }
    case 3: {
      const e = es[i];
      const n = e ? rng.pick([0, 1, e[1].length - 1, e[1].length + 1, e[1].length * 2 + 7]) : 0;
      what = `resize entry ${e?.[0]} to ${n}`;
      if (e) e[1] = concat(e[1].subarray(0, n), new Uint8Array(Math.max(0, n - e[1].length)));
      break;
    }
    case 4:
      what = 'reverse entries';
      es.reverse();
      break;
    default: {
      const extra: [string, Uint8Array] = rng.pick([
        ['archive/byteorder', new TextEncoder().encode(rng.pick(['little', 'big', 'middle', '']))],
        ['archive/constants.pkl', Uint8Array.of(0x80, 2, 0x4e, 0x2e)],
        ['archive/code/x.py', new Uint8Array(1)],
        ['other/data.pkl', Uint8Array.of(0x80, 2, 0x7d, 0x2e)],
      ] as [string, Uint8Array][]);
      what = `add entry ${extra[0]}`;
      es.push(extra);
    }
  }
  const o: ZipOptions = { ...opts };
  if (rng.chance(0.2)) o.zip64 = !o.zip64;
  if (rng.chance(0.2)) o.localSizes = !o.localSizes;
  if (rng.chance(0.05)) o.method = 8;
  if (rng.chance(0.1)) o.comment = rng.pick(['PK\x05\x06', 'x'.repeat(100), '']);
  return { bytes: makeZip(es, o), op: `zip: ${what} ${JSON.stringify(o)}` };
}

// ---------------------------------------------------------------- torch zip / legacy

/** data.pkl edits, storage edits, or zip-level edits of a torch.save archive. */
export function torchZipMutation(rng: Rng, b: Uint8Array, entries: Entries): Mutation {
  const r = rng.next();
  if (r < 0.45) {
    let k = entries.findIndex(([n]) => n.endsWith('/data.pkl'));
    if (k < 0) k = rng.int(entries.length);
    if (!entries[k]) return zipFieldMutation(rng, b);
    const m = pickleMutation(rng, entries[k]![1]);
    const es: Entries = entries.map(([n, d], j) => [n, j === k ? m.bytes : d]);
    return { bytes: makeZip(es, { zip64: rng.chance(0.1) }), op: `data.pkl ${m.op}` };
  }
  if (r < 0.65) {
    const storages = entries.filter(([n]) => n.includes('/data/'));
    if (!storages.length && !entries.length) return zipFieldMutation(rng, b);
    const [name, data] = storages.length ? rng.pick(storages) : entries[0]!;
    const n = rng.pick([0, 1, data.length - 1, data.length + 1, data.length + 4, data.length - 4, data.length * 4]);
    const es: Entries = entries.map(([k, d]) => [k, k === name ? concat(d.subarray(0, n), new Uint8Array(Math.max(0, n - d.length))) : d]);
    return { bytes: makeZip(es), op: `storage ${name} resized to ${n}` };
  }
  if (r < 0.8) return zipEntryMutation(rng, entries, {});
  return zipFieldMutation(rng, b);
}

/** Byte ranges of the pickles of a legacy file, and where the storage blocks start. */
export function legacyLayout(b: Uint8Array): { pickles: [number, number][]; dataStart: number } {
  const pickles: [number, number][] = [];
  let pos = 0;
  for (let i = 0; i < 5; i++) {
    const ops = walkPickle(b, pos);
    if (!ops.length || ops[ops.length - 1]!.op !== 0x2e) break;
    const end = ops[ops.length - 1]!.end;
    pickles.push([pos, end]);
    pos = end;
  }
  return { pickles, dataStart: pos };
}

export function torchLegacyMutation(rng: Rng, b: Uint8Array): Mutation {
  const { pickles, dataStart } = legacyLayout(b);
  const r = rng.next();
  if (r < 0.6 && pickles.length) {
    // Mostly the main pickle (index 3), sometimes the header pickles or the key list.
    const [s, e] = pickles.length > 3 && rng.chance(0.7) ? pickles[3]! : rng.pick(pickles);
    const m = pickleMutation(rng, b.subarray(s, e));
    return { bytes: replaceRange(b, s, e, m.bytes), op: `pickle [${s}, ${e}) ${m.op}` };
  }
  if (r < 0.85 && dataStart + 8 <= b.length) {
    // An 8-byte element count in front of a storage block: the first one, or one found by
    // walking the blocks with the element sizes unknown (any 8-byte position after the pickles).
    const at = rng.chance(0.5) ? dataStart : dataStart + rng.int(b.length - dataStart - 7);
    const out = b.slice();
    const v = interestingNear(rng, readUint(b, at, 8), b.length, 64);
    writeUint(out, at, v, 8);
    return { bytes: out, op: `legacy: element count at ${at} → ${v}` };
  }
  const cut = rng.range(Math.max(0, dataStart - 8), b.length);
  return { bytes: b.slice(0, cut), op: `legacy: truncate to ${cut} (data starts at ${dataStart})` };
}

// ---------------------------------------------------------------- safetensors

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ST_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'U64', '', 'f32'];

function weirdNumber(rng: Rng, v: number): Json {
  return rng.pick<Json>([0, 1, -1, v + 1, v - 1, v * 2, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e300, -0, String(v), null, [v], true]);
}

const DEEP = '\u0000deep\u0000';

export function safetensorsFile(header: Json, data: Uint8Array, opts: { pad?: number; hlen?: number | bigint; deep?: string } = {}): Uint8Array {
  const text = JSON.stringify(header).replace(JSON.stringify(DEEP), opts.deep || '0');
  const json = new TextEncoder().encode(text + ' '.repeat(opts.pad ?? 0));
  const len = new Uint8Array(8);
  writeUint(len, 0, opts.hlen ?? json.length, 8);
  return concat(len, json, data);
}

/** A short description of a JSON value (never throws, even when nested too deep to print). */
function show(x: Json): string {
  try {
    return JSON.stringify(x).slice(0, 60);
  } catch {
    return '(deeply nested)';
  }
}

export function safetensorsMutation(rng: Rng, b: Uint8Array): Mutation {
  const hlen = readUint(b, 0, 8);
  if (rng.chance(0.2)) {
    const out = b.slice();
    const v = rng.chance(0.3) ? rng.pick([100_000_001, 2n ** 63n, 2n ** 64n - 1n, 0, 1, 2]) : interestingNear(rng, hlen, b.length - 8, 64);
    writeUint(out, 0, v, 8);
    return { bytes: out, op: `safetensors: header length ${hlen} → ${v}` };
  }
  let header: { [k: string]: Json };
  try {
    header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + hlen))) as { [k: string]: Json };
  } catch {
    return { bytes: b.slice(), op: 'safetensors: header unreadable, left as is' };
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) header = {};
  const data = b.subarray(8 + hlen);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = rng.pick(names.length ? names : ['x']);
  let entry = header[name] as { [k: string]: Json };
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) entry = header[name] = {};
  let what: string;
  let newData = data;
  let top: Json = header;
  let deep = '';
  switch (rng.int(9)) {
    case 0: {
      const offs = Array.isArray(entry.data_offsets) ? (entry.data_offsets as number[]) : [0, 0];
      const i = rng.int(2);
      const v = rng.chance(0.3) ? [offs[1]!, offs[0]!] : offs.map((x, j) => (j === i ? weirdNumber(rng, x) : x));
      entry.data_offsets = rng.chance(0.1) ? [offs[0]!] : (v as Json);
      what = `${name}.data_offsets → ${show(entry.data_offsets)}`;
      break;
    }
    case 1: {
      const shape = (Array.isArray(entry.shape) ? entry.shape : []).slice() as Json[];
      const k = rng.int(4);
      if (k === 0) shape.push(rng.pick([0, 1, 2, 2 ** 20, 2 ** 40]));
      else if (k === 1) shape.pop();
      else if (k === 2 && shape.length) shape[rng.int(shape.length)] = weirdNumber(rng, Number(shape[0]));
      else for (let j = 0; j < rng.pick([60, 1000]); j++) shape.push(1);
      entry.shape = shape;
      what = `${name}.shape → ${show(shape)}`;
      break;
    }
    case 2:
      entry.dtype = rng.chance(0.9) ? rng.pick(ST_DTYPES) : rng.pick<Json>([null, 5, ['F32']]);
      what = `${name}.dtype → ${show(entry.dtype)}`;
      break;
    case 3:
      delete header[name];
      what = `delete ${name}`;
      break;
    case 4:
      header[`${name}_dup`] = { ...entry };
      what = `duplicate ${name} (same offsets)`;
      break;
    case 5:
      header.__metadata__ = rng.pick<Json>([{ a: 1 }, [], 'x', null, { k: 'v' }, { __proto__: 'x' }]);
      what = `__metadata__ → ${show(header.__metadata__)}`;
      break;
    case 6: {
      // Deep nesting, spliced in as text (JSON.stringify itself would overflow the stack).
      const depth = rng.pick([100, 10_000, 100_000]);
      header[name] = rng.chance(0.5) ? DEEP : { ...entry, shape: DEEP };
      deep = '['.repeat(depth) + '0' + ']'.repeat(depth);
      what = `${name} nested ${depth} deep`;
      break;
    }
    case 7:
      top = rng.pick<Json>([[], null, 3, 'x', [header]]);
      what = `header → ${show(top)}`;
      break;
    default: {
      const n = rng.pick([0, 1, data.length - 1, data.length + 1, data.length + 8]);
      newData = concat(data.subarray(0, n), new Uint8Array(Math.max(0, n - data.length)));
      what = `data buffer resized to ${n}`;
    }
  }
  const pad = rng.int(8);
  try {
    return { bytes: safetensorsFile(top, newData, { pad, deep }), op: `safetensors: ${what}` };
  } catch {
    return { bytes: b.slice(), op: 'safetensors: header too deeply nested to rewrite, left as is' };
  }
}

// ---------------------------------------------------------------- npy

const NPY_DESCR = ['<f4', '<f8', '<f2', '<i8', '<i4', '<i2', '|i1', '|u1', '|b1', '>f4', '>i8', '<c8', '<U3', '|O', 'O', '<f16', '', '<f4 ', 'f4', '=f4'];

function npyFile(version: number, header: string, data: Uint8Array, hlen?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const v1 = version === 1;
  const len = new Uint8Array(v1 ? 2 : 4);
  writeUint(len, 0, hlen ?? h.length, v1 ? 2 : 4);
  return concat(Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0), len, h, data);
}

export function npyMutation(rng: Rng, b: Uint8Array): Mutation {
  const version = b[6] ?? 1;
  const start = version === 1 ? 10 : 12;
  const hlen = readUint(b, 8, version === 1 ? 2 : 4);
  const r = rng.next();
  if (r < 0.15) {
    const out = b.slice();
    const v = interestingNear(rng, hlen, b.length - start, version === 1 ? 16 : 32);
    writeUint(out, 8, v, version === 1 ? 2 : 4);
    return { bytes: out, op: `npy: header length ${hlen} → ${v}` };
  }
  if (r < 0.25) {
    const out = b.slice();
    out[6] = rng.pick([0, 1, 2, 3, 4, 255]);
    out[7] = rng.pick([0, 0, 1, 255]);
    return { bytes: out, op: `npy: version → ${out[6]}.${out[7]}` };
  }
  const text = new TextDecoder('latin1').decode(b.subarray(start, start + hlen));
  const m = /'descr': *'([^']*)'.*'fortran_order': *(\w+).*'shape': *\(([^)]*)\)/.exec(text);
  const data = b.subarray(start + hlen);
  let descr = m?.[1] ?? '<f4', fortran = m?.[2] ?? 'False', shape = m?.[3] ?? '';
  let extra = '';
  let newData = data;
  let what: string;
  switch (rng.int(7)) {
    case 0:
      descr = rng.pick(NPY_DESCR);
      what = `descr → ${descr}`;
      break;
    case 1:
      fortran = rng.pick(['True', 'False', '1', 'None', 'true']);
      what = `fortran_order → ${fortran}`;
      break;
    case 2: {
      const dims = shape.split(',').map((s) => s.trim()).filter(Boolean);
      const k = rng.int(5);
      if (k === 0) dims.push(rng.pick(['0', '1', '2', '1000000', '4294967296', '99999999999999999999', '-1', '2L', '1.5', "'3'"]));
      else if (k === 1) dims.pop();
      else if (k === 2 && dims.length) dims[rng.int(dims.length)] = rng.pick(['0', '-1', '2147483648', '9007199254740993', '3L']);
      else if (k === 3) for (let j = 0; j < 64; j++) dims.push('1');
      else dims.push('(2, 3)');
      shape = dims.join(', ') + (dims.length === 1 ? ',' : '');
      what = `shape → (${shape.slice(0, 40)})`;
      break;
    }
    case 3:
      extra = rng.pick([", 'extra': 1", ", 'descr': '<f4'", ', [', ' }}', "'", '\\', '\u00ff', ', (', ", 'descr': [('a', '<f4')]"]);
      what = `header extra ${JSON.stringify(extra)}`;
      break;
    case 4:
      descr = rng.pick(["[('a', '<f4')]", "{'x': 1}", '(', '']);
      what = `descr (unquoted) → ${descr}`;
      return { bytes: npyFile(version, `{'descr': ${descr}, 'fortran_order': ${fortran}, 'shape': (${shape}), }\n`, data), op: `npy: ${what}` };
    case 5: {
      const n = rng.pick([0, 1, data.length - 1, data.length + 1, data.length * 2]);
      newData = concat(data.subarray(0, n), new Uint8Array(Math.max(0, n - data.length)));
      what = `data resized to ${n}`;
      break;
    }
    default: {
      const v = rng.pick([1, 2, 3]);
      return { bytes: npyFile(v, `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': (${shape}), }` + ' '.repeat(rng.int(70)) + '\n', data), op: `npy: rewritten as version ${v}` };
    }
  }
  return { bytes: npyFile(version, `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': (${shape})${extra}, }\n`, newData), op: `npy: ${what}` };
}
