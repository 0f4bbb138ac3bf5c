// Writes a state dict, or a training checkpoint (dicts, lists, numbers and tensors), in
// torch.save's zip format (PyTorch ≥ 1.6), readable by torch.load and by loadTorch:
// archive/data.pkl (a protocol-2 pickle whose tensors are torch._utils._rebuild_tensor_v2
// calls on persistent storages), archive/data/<n> (one
// little-endian storage per tensor), archive/byteorder and archive/version, as stored (not
// compressed) zip entries whose data start on 64-byte boundaries, as torch writes them.

import { NotSupportedError, ResourceLimitError } from '../errors.js';
import { crc32 } from '../util/crc32.js';
import { isRawTensor, type RawDType, type RawTensor, type StateDict } from './raw.js';

const STORAGE: Partial<Record<RawDType, string>> = {
  float32: 'FloatStorage', float64: 'DoubleStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage',
  int64: 'LongStorage', int32: 'IntStorage', int16: 'ShortStorage', int8: 'CharStorage', uint8: 'ByteStorage', bool: 'BoolStorage',
};

const BLOCK = 1 << 16;
const encoder = new TextEncoder();

/**
 * An output built from many small writes (opcodes, header fields) and a few large ones
 * (tensor data). Small writes go into a shared 64 KiB block, large ones are kept by reference,
 * so a state dict of 65 000 tiny tensors costs no 65 000 tiny arrays, and a large tensor is
 * copied once, into the final array.
 */
class Bytes {
  private chunks: Uint8Array[] = [];
  private block = new Uint8Array(BLOCK);
  private start = 0; // block[start, used) is not yet in chunks
  private used = 0;
  length = 0;
  private seal(): void {
    if (this.used > this.start) this.chunks.push(this.block.subarray(this.start, this.used));
    this.start = this.used;
  }
  private byte(v: number): void {
    if (this.used === BLOCK) {
      this.seal();
      this.block = new Uint8Array(BLOCK);
      this.start = this.used = 0;
    }
    this.block[this.used++] = v;
  }
  push(b: Uint8Array | number[]): void {
    this.length += b.length;
    if (b instanceof Uint8Array && b.length >= 4096) {
      this.seal();
      this.chunks.push(b);
      return;
    }
    for (let i = 0; i < b.length; i++) this.byte(b[i]!);
  }
  u32(v: number): void {
    this.push([v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255]);
  }
  u16(v: number): void {
    this.push([v & 255, (v >>> 8) & 255]);
  }
  concat(): Uint8Array {
    this.seal();
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

const utf8 = (s: string) => encoder.encode(s);

/** Pickle opcodes used (protocol 2). */
const OP = {
  PROTO: 0x80, GLOBAL: 0x63, EMPTY_TUPLE: 0x29, REDUCE: 0x52, MARK: 0x28, BINUNICODE: 0x58, TUPLE: 0x74, BINPERSID: 0x51,
  BININT: 0x4a, LONG1: 0x8a, BINFLOAT: 0x47, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89, EMPTY_LIST: 0x5d, APPENDS: 0x65,
  EMPTY_DICT: 0x7d, SETITEMS: 0x75, STOP: 0x2e,
} as const;

/**
 * What torch.save can be given here: None, bool, int (a JS integer), float (any other number,
 * or a Float wrapper for integral floats), str, list (array), tuple (Tuple), dict (a plain
 * object, or a Map with non-tensor values), an OrderedDict of tensors (a StateDict: Map of
 * RawTensor), and tensors.
 */
export type PyValue = null | boolean | number | string | PyFloat | PyTupleValue | RawTensor | PyValue[] | Map<string | number, PyValue> | { [k: string]: PyValue };

/** A Python float whose value happens to be integral (so it is not written as an int). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyTupleValue {
  constructor(readonly items: PyValue[]) {}
}


function pickleValue(root: PyValue, storages: RawTensor[]): Uint8Array {
  const p = new Bytes();
  const str = (s: string) => {
    const b = utf8(s);
    p.push([OP.BINUNICODE]);
    p.u32(b.length);
    p.push(b);
  };
  const int = (v: number) => {
    if (v >= -0x80000000 && v <= 0x7fffffff) {
      p.push([OP.BININT]);
      p.u32(v >>> 0);
      return;
    }
    // LONG1: little-endian two's complement, as short as it can be.
    let x = BigInt(v);
    const bytes: number[] = [];
    while (true) {
      const byte = Number(x & 0xffn);
      bytes.push(byte);
      x >>= 8n;
      if ((x === 0n && !(byte & 0x80)) || (x === -1n && byte & 0x80)) break;
    }
    p.push([OP.LONG1, bytes.length, ...bytes]);
  };
  const float = (v: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    p.push([OP.BINFLOAT, ...b]);
  };
  const global = (module: string, name: string) => p.push([OP.GLOBAL, ...utf8(`${module}\n${name}\n`)]);
  const tuple = (items: (() => void)[]) => {
    p.push([OP.MARK]);
    items.forEach((f) => f());
    p.push([OP.TUPLE]);
  };
  const tensor = (t: RawTensor, where: string) => {
    const storage = STORAGE[t.dtype];
    if (!storage) throw new NotSupportedError(`saveTorch: ${where}: dtype ${t.dtype} has no torch storage`);
    const key = storages.length;
    storages.push(t);
    const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    global('torch._utils', '_rebuild_tensor_v2');
    tuple([
      () => {
        tuple([() => str('storage'), () => global('torch', storage), () => str(String(key)), () => str('cpu'), () => int(t.data.length)]);
        p.push([OP.BINPERSID]);
      },
      () => int(0),
      () => tuple(t.shape.map((d) => () => int(d))),
      () => tuple(strides.map((s) => () => int(s))),
      () => p.push([OP.NEWFALSE]),
      () => {
        global('collections', 'OrderedDict');
        p.push([OP.EMPTY_TUPLE, OP.REDUCE]);
      },
    ]);
    p.push([OP.REDUCE]);
  };
  const value = (v: PyValue, where: string): void => {
    if (v === null) p.push([OP.NONE]);
    else if (v === true) p.push([OP.NEWTRUE]);
    else if (v === false) p.push([OP.NEWFALSE]);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) int(v);
      else float(v);
    } else if (typeof v === 'string') str(v);
    else if (v instanceof PyFloat) float(v.value);
    else if (v instanceof PyTupleValue) tuple(v.items.map((x, i) => () => value(x, `${where}[${i}]`)));
    else if (isRawTensor(v)) tensor(v, where);
    else if (Array.isArray(v)) {
      p.push([OP.EMPTY_LIST]);
      if (v.length) {
        p.push([OP.MARK]);
        v.forEach((x, i) => value(x, `${where}[${i}]`));
        p.push([OP.APPENDS]);
      }
    } else {
      const entries = v instanceof Map ? [...v] : Object.entries(v);
      // A Map of tensors is a state dict: torch.save writes those as OrderedDicts.
      if (v instanceof Map && entries.length && entries.every(([, x]) => isRawTensor(x))) {
        global('collections', 'OrderedDict');
        p.push([OP.EMPTY_TUPLE, OP.REDUCE]);
      } else p.push([OP.EMPTY_DICT]);
      if (entries.length) {
        p.push([OP.MARK]);
        for (const [k, x] of entries) {
          value(k, where);
          value(x, where ? `${where}.${k}` : String(k));
        }
        p.push([OP.SETITEMS]);
      }
    }
  };
  p.push([OP.PROTO, 2]);
  value(root, '');
  p.push([OP.STOP]);
  return p.concat();
}

interface Entry {
  name: string;
  data: Uint8Array;
}

// Without zip64 records (which torch writes only past these limits, and this writer not at
// all) a zip holds at most 65 534 entries and addresses 4 GiB − 1 bytes; past either, the
// 16- and 32-bit fields would wrap and the file would read back as garbage.
const ZIP32_ENTRIES = 0xfffe; // 0xffff itself means "see the zip64 record" to readers
const ZIP32_BYTES = 0xffffffff;

function checkRecordCount(n: number): void {
  if (n > ZIP32_ENTRIES) {
    throw new ResourceLimitError(`saveTorch: ${n} zip records (${n - 3} tensor storages + 3) exceed the ${ZIP32_ENTRIES} a zip without zip64 records can hold`);
  }
}

/**
 * Refuses, with a ResourceLimitError naming the count or the size, entries that a zip
 * without zip64 records cannot hold: checked on the sizes alone, before anything is built.
 */
export function checkZip32(entries: readonly { name: string; size: number }[]): void {
  checkRecordCount(entries.length);
  let end = 0, cd = 0;
  for (const e of entries) {
    const name = utf8(e.name).length;
    const headerEnd = end + 30 + name + 4;
    end = headerEnd + ((64 - (headerEnd % 64)) % 64) + e.size;
    cd += 46 + name;
    if (end + cd + 22 > ZIP32_BYTES) {
      throw new ResourceLimitError(`saveTorch: the archive reaches ${end + cd + 22} bytes at record '${e.name}' (${e.size} bytes), past the ${ZIP32_BYTES} a zip without zip64 records can address`);
    }
  }
}

/** How many tensors `v` holds (each occurrence is a storage of its own, as pickleValue writes them). */
function countTensors(v: PyValue): number {
  let n = 0;
  const todo: PyValue[] = [v];
  while (todo.length) {
    const x = todo.pop()!;
    if (x === null || typeof x !== 'object' || x instanceof PyFloat) continue;
    if (isRawTensor(x)) n++;
    else if (x instanceof PyTupleValue) todo.push(...x.items);
    else if (Array.isArray(x)) for (const y of x) todo.push(y);
    else if (x instanceof Map) for (const y of x.values()) todo.push(y);
    else for (const y of Object.values(x)) todo.push(y);
  }
  return n;
}

/** A zip of stored entries, each entry's data aligned to 64 bytes with an extra field. */
function zipStored(entries: Entry[]): Uint8Array {
  checkZip32(entries.map((e) => ({ name: e.name, size: e.data.length })));
  const z = new Bytes();
  const central = new Bytes();
  for (const e of entries) {
    const name = utf8(e.name);
    const offset = z.length;
    const headerEnd = offset + 30 + name.length + 4;
    const pad = (64 - (headerEnd % 64)) % 64;
    const crc = crc32(e.data);
    z.u32(0x04034b50); z.u16(20); z.u16(0); z.u16(0); z.u16(0); z.u16(0);
    z.u32(crc); z.u32(e.data.length); z.u32(e.data.length);
    z.u16(name.length); z.u16(4 + pad);
    z.push(name);
    z.u16(0x4b46); z.u16(pad); // an application extra field that only pads
    z.push(new Uint8Array(pad));
    z.push(e.data);
    central.u32(0x02014b50); central.u16(20); central.u16(20); central.u16(0); central.u16(0); central.u16(0); central.u16(0);
    central.u32(crc); central.u32(e.data.length); central.u32(e.data.length);
    central.u16(name.length); central.u16(0); central.u16(0); central.u16(0); central.u16(0); central.u32(0);
    central.u32(offset);
    central.push(name);
  }
  const cdOffset = z.length;
  const cd = central.concat();
  z.push(cd);
  z.u32(0x06054b50); z.u16(0); z.u16(0); z.u16(entries.length); z.u16(entries.length);
  z.u32(cd.length); z.u32(cdOffset); z.u16(0);
  return z.concat();
}

/** torch.save(state_dict, f) in the zip format, as bytes: below 4 GiB and 65 534 records (no zip64 records; checkZip32). */
export function saveTorch(sd: StateDict, archive = 'archive'): Uint8Array {
  return saveTorchObject(sd, archive);
}

/** torch.save(obj, f) for a checkpoint object: dicts, lists, numbers, strings and tensors (see PyValue). */
export function saveTorchObject(obj: PyValue, archive = 'archive'): Uint8Array {
  // Each tensor is one record: too many of them is known before pickling anything.
  const records = countTensors(obj) + 3;
  checkRecordCount(records);
  const storages: RawTensor[] = [];
  const entries: Entry[] = [{ name: `${archive}/data.pkl`, data: pickleValue(obj, storages) }];
  let key = 0;
  for (const t of storages) {
    const d = t.data;
    entries.push({ name: `${archive}/data/${key++}`, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) });
  }
  entries.push({ name: `${archive}/byteorder`, data: utf8('little') }, { name: `${archive}/version`, data: utf8('3\n') });
  return zipStored(entries);
}
