// Writes a state dict in torch.save's zip format (PyTorch ≥ 1.6), readable by torch.load and
// by loadTorch: archive/data.pkl (a protocol-2 pickle of an OrderedDict whose tensors are
// torch._utils._rebuild_tensor_v2 calls on persistent storages), archive/data/<n> (one
// little-endian storage per tensor), archive/byteorder and archive/version, as stored (not
// compressed) zip entries whose data start on 64-byte boundaries, as torch writes them.

import { NotSupportedError } from '../errors.js';
import { crc32 } from '../util/crc32.js';
import type { RawDType, StateDict } from './raw.js';

const STORAGE: Partial<Record<RawDType, string>> = {
  float32: 'FloatStorage', float64: 'DoubleStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage',
  int64: 'LongStorage', int32: 'IntStorage', int16: 'ShortStorage', int8: 'CharStorage', uint8: 'ByteStorage', bool: 'BoolStorage',
};

class Bytes {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array | number[]): void {
    const u = b instanceof Uint8Array ? b : Uint8Array.from(b);
    this.chunks.push(u);
    this.length += u.length;
  }
  u32(v: number): void {
    this.push([v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255]);
  }
  u16(v: number): void {
    this.push([v & 255, (v >>> 8) & 255]);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Pickle opcodes used (protocol 2). */
const OP = {
  PROTO: 0x80, GLOBAL: 0x63, EMPTY_TUPLE: 0x29, REDUCE: 0x52, BINPUT: 0x71, MARK: 0x28, BINUNICODE: 0x58,
  TUPLE: 0x74, BINPERSID: 0x51, BININT: 0x4a, NEWFALSE: 0x89, SETITEMS: 0x75, STOP: 0x2e, TUPLE1: 0x85,
} as const;

function pickleStateDict(sd: StateDict): Uint8Array {
  const p = new Bytes();
  const str = (s: string) => {
    const b = utf8(s);
    p.push([OP.BINUNICODE]);
    p.u32(b.length);
    p.push(b);
  };
  const int = (v: number) => {
    p.push([OP.BININT]);
    p.u32(v);
  };
  const global = (module: string, name: string) => p.push([OP.GLOBAL, ...utf8(`${module}\n${name}\n`)]);
  const tuple = (items: (() => void)[]) => {
    p.push([OP.MARK]);
    items.forEach((f) => f());
    p.push([OP.TUPLE]);
  };
  p.push([OP.PROTO, 2]);
  global('collections', 'OrderedDict');
  p.push([OP.EMPTY_TUPLE, OP.REDUCE, OP.MARK]);
  let key = 0;
  for (const [name, t] of sd) {
    const storage = STORAGE[t.dtype];
    if (!storage) throw new NotSupportedError(`saveTorch: ${name}: dtype ${t.dtype} has no torch storage`);
    const strides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    str(name);
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
    key++;
  }
  p.push([OP.SETITEMS, OP.STOP]);
  return p.concat();
}

interface Entry {
  name: string;
  data: Uint8Array;
}

/** A zip of stored entries, each entry's data aligned to 64 bytes with an extra field. */
function zipStored(entries: Entry[]): Uint8Array {
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

/** torch.save(state_dict, f) in the zip format, as bytes (below 4 GiB: no zip64 records). */
export function saveTorch(sd: StateDict, archive = 'archive'): Uint8Array {
  const entries: Entry[] = [{ name: `${archive}/data.pkl`, data: pickleStateDict(sd) }];
  let key = 0;
  for (const t of sd.values()) {
    const d = t.data;
    entries.push({ name: `${archive}/data/${key++}`, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) });
  }
  entries.push({ name: `${archive}/byteorder`, data: utf8('little') }, { name: `${archive}/version`, data: utf8('3\n') });
  return zipStored(entries);
}
