// torch.save files, both layouts:
//  - zip (PyTorch >= 1.6): <prefix>/data.pkl holds the object, each storage is the record
//    <prefix>/data/<key>, persistent ids are ('storage', type, key, location, numel);
//  - legacy (_use_new_zipfile_serialization=False): consecutive pickles (magic number,
//    protocol version, sys_info, the object, the sorted storage keys), then per storage an
//    8-byte element count and the raw elements; persistent ids are
//    ('storage', type, root_key, location, numel, view_metadata).
// Tensors come back contiguous; a float32 tensor that is contiguous in an aligned storage is
// a view into the input bytes, anything else is copied once.

import { FormatError, NotSupportedError, ResourceLimitError } from '../errors.js';
import { BYTES_PER_ELEMENT, type RawData, type RawDType, type RawTensor, type StateDict } from './raw.js';
import { allocTyped, bytesToTyped } from './npy.js';
import { describe, PyDict, PyTuple, sequence, StorageType, TensorRef, unpickle } from './pickle.js';
import { checkCrc, isZip, readZipIndex } from './zip.js';
import { crc32 } from '../util/crc32.js';
import { memorySource, type ByteSource } from './source.js';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
// Tensors are views of the file where possible; non-contiguous ones (transposed, strided,
// expanded with zero strides) are copied. A pickle can reference one small storage through
// any number of such tensors, so the copies of one checkpoint share a budget: twice the file
// plus 16 MiB (expanded tensors of a small storage). Real checkpoints copy at most once.
const COPY_SLACK = 16 * 1024 * 1024;
// Checking a storage's CRC-32 costs about 1.5 ms per MB of CPU and no extra reading (it runs
// on the bytes as they are read for the tensor), so it is on by default for files up to this
// size: the seed's resnest50 and resnest101; the bigger networks' files load without it
// unless asked.
const VERIFY_BELOW = 256 * 1024 * 1024;

export interface TorchLoadOptions {
  /**
   * Check each tensor storage's CRC-32 against the zip directory when its bytes are read;
   * a mismatch is a FormatError naming the record. Default: files of at most 256 MiB. The
   * small records (data.pkl, byteorder, version) are always checked.
   */
  verifyCrc?: boolean;
}

interface StorageData {
  key: string;
  dtype: RawDType;
  numel: number;
  bytes?: Uint8Array;
  typed?: RawData;
  /** Lazy checkpoints: reads `count` elements from element `offset` of the storage. */
  load?: (offset: number, count: number) => Uint8Array;
}

/** What persistentLoad hands to the unpickler: a window of elements into a root storage. */
class StorageRef {
  constructor(readonly root: StorageData, readonly offset: number, readonly numel: number) {}
}

export function loadTorch(bytes: Uint8Array, file?: string, opts: TorchLoadOptions = {}): StateDict {
  if (isZip(bytes)) return loadZipFormat(memorySource(bytes), file, false, opts.verifyCrc ?? bytes.length <= VERIFY_BELOW);
  if (bytes.length >= 2 && bytes[0] === 0x80) return loadLegacyFormat(bytes, file);
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    throw new NotSupportedError(`${file ? `${file}: ` : ''}tar-based torch.save files (PyTorch < 0.4) are not supported`);
  }
  throw new FormatError('not a PyTorch checkpoint (neither a torch.save zip archive nor a legacy pickle)', file);
}

function storageType(x: unknown, fail: (m: string) => never): StorageType {
  return x instanceof StorageType ? x : fail(`persistent id names ${describe(x)}, not a torch storage type`);
}

function count(x: unknown, what: string, fail: (m: string) => never): number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : fail(`${what} must be a non-negative integer, got ${describe(x)}`);
}

/**
 * A zip-format torch.save file read through `src` with lazy tensors: structure, keys, shapes
 * and every storage's bounds are checked now; each tensor's bytes (the window of its storage
 * that it reaches) are read each time its `data` is used, and not kept, so loading into a
 * model holds one tensor at a time, not the file, and reads each storage about once.
 * Legacy-format files are read whole (use loadTorch).
 */
export function loadTorchLazy(src: ByteSource, file?: string, opts: TorchLoadOptions = {}): StateDict {
  return loadZipFormat(src, file, true, opts.verifyCrc ?? src.size <= VERIFY_BELOW);
}

/**
 * A zip-format torch.save file as the whole object it holds (a training checkpoint: dicts,
 * lists, numbers, strings): dicts become Maps, tuples arrays, tensors RawTensors (copied
 * contiguous). Only the allow-listed globals of loadTorch are accepted.
 */
export function loadTorchObject(bytes: Uint8Array, file?: string, opts: TorchLoadOptions = {}): unknown {
  if (!isZip(bytes)) throw new FormatError('not a torch.save zip archive (training checkpoints are written in the zip format)', file);
  return loadZipFormat(memorySource(bytes), file, false, opts.verifyCrc ?? bytes.length <= VERIFY_BELOW, (value) => {
    const budget = { left: 2 * bytes.length + COPY_SLACK, total: 2 * bytes.length + COPY_SLACK };
    // Shared references (memo gets) keep their identity, as in Python: each container and
    // tensor is converted once, so a DAG of 2^40 paths costs its ~40 nodes, and the walk visits
    // each item of each container once: work in proportion to the pickle's length. A
    // cycle is refused: PyTorch would rebuild it, but no checkpoint holds one, and anything
    // walking the result (printing it, checking it) would never end.
    const done = new Map<object, unknown>();
    const open = new Set<object>();
    // Iterative, like the unpickler: a deeply nested pickle costs no call stack.
    const convert = (root: unknown): unknown => {
      const out = new Map<unknown, unknown>();
      // A job converts v and hands it to set; a job without set closes the container v.
      const todo: [unknown, ((v: unknown) => void) | null, string][] = [[root, (v) => out.set('root', v), '']];
      while (todo.length) {
        const [v, set, where] = todo.pop()!;
        if (!set) {
          open.delete(v as object);
          continue;
        }
        if (v instanceof TensorRef) {
          let t = done.get(v);
          if (!t) {
            t = tensorOf(v, where || 'tensor', budget, file, false);
            done.set(v, t);
          }
          set(t);
        } else if (v instanceof PyDict || Array.isArray(v) || v instanceof PyTuple) {
          if (open.has(v)) throw new FormatError(`pickle object graph has a cycle: ${shortPath(where)} holds a container it is inside of`, file);
          const seen = done.get(v);
          if (seen) {
            set(seen);
            continue;
          }
          open.add(v);
          todo.push([v, null, where]);
          if (v instanceof PyDict) {
            const m = new Map<unknown, unknown>();
            done.set(v, m);
            set(m);
            // Keys are placed now, in order; the stack fills their values later (in reverse).
            for (const [k, x] of v.map) {
              m.set(k, undefined);
              todo.push([x, (y) => m.set(k, y), where ? `${where}.${pathKey(k)}` : pathKey(k)]);
            }
          } else {
            const items = Array.isArray(v) ? v : v.items;
            const a = new Array<unknown>(items.length);
            done.set(v, a);
            set(a);
            items.forEach((x, i) => todo.push([x, (y) => { a[i] = y; }, `${where}[${i}]`]));
          }
        } else set(v);
      }
      return out.get('root');
    };
    return convert(value);
  });
}

// Paths name dict keys for error messages; a key is formatted once per dict entry, so keys
// that are not short strings or numbers (a megabyte of bytes reused as the key of many dicts)
// are named by kind rather than printed.
function pathKey(k: unknown): string {
  if (typeof k === 'string') return k.length > 64 ? `${k.slice(0, 64)}…` : k;
  if (typeof k === 'number') return String(k);
  return `<${typeof k === 'bigint' ? 'int' : describe(k)}>`;
}

function shortPath(where: string): string {
  if (!where) return 'the root object';
  return where.length > 200 ? `${where.slice(0, 100)}…${where.slice(-100)}` : where;
}

function loadZipFormat(src: ByteSource, file: string | undefined, lazy: boolean, verify: boolean): StateDict;
function loadZipFormat<T>(src: ByteSource, file: string | undefined, lazy: boolean, verify: boolean, finish: (value: unknown) => T): T;
function loadZipFormat(src: ByteSource, file: string | undefined, lazy: boolean, verify: boolean, finish?: (value: unknown) => unknown): unknown {
  const fail = (msg: string): never => {
    throw new FormatError(msg, file);
  };
  const index = readZipIndex(src, file);
  const records = new Map([...index].map(([name, e]) => [name, e] as const));
  // Reads a record, checking its CRC-32 when `check` (always for the small ones: a damaged
  // data.pkl could still unpickle, into wrong shapes or keys).
  const bytesOf = (name: string, check = true): Uint8Array | undefined => {
    const e = index.get(name);
    if (!e) return undefined;
    const b = src.read(e.offset, e.size);
    if (check) checkCrc(name, e, crc32(b), file);
    return b;
  };
  const pkls = [...records.keys()].filter((k) => /^[^/]+\/data\.pkl$/.test(k));
  if (pkls.length === 0) fail('zip archive has no <folder>/data.pkl record: not a torch.save file');
  if (pkls.length > 1) fail(`zip archive has ${pkls.length} data.pkl records (${pkls.join(', ')})`);
  const prefix = pkls[0].slice(0, -'data.pkl'.length);
  if (records.has(`${prefix}constants.pkl`) || [...records.keys()].some((k) => k.startsWith(`${prefix}code/`))) {
    throw new NotSupportedError(`${file ? `${file}: ` : ''}this is a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead`);
  }
  const order = bytesOf(`${prefix}byteorder`);
  if (order) {
    const text = new TextDecoder().decode(order).trim();
    if (text === 'big') throw new NotSupportedError(`${file ? `${file}: ` : ''}big-endian checkpoints are not supported`);
    if (text !== 'little') fail(`byteorder record says '${text.slice(0, 20)}'`);
  }
  for (const name of [`${prefix}version`, `${prefix}.data/version`]) {
    if ((index.get(name)?.size ?? Infinity) <= 4096) bytesOf(name);
  }

  const storages = new Map<string, StorageData>();
  const persistentLoad = (pid: unknown): StorageRef => {
    const t = sequence(pid);
    if (!t || t.length !== 5 || t[0] !== 'storage') return fail(`unexpected persistent id ${describe(pid)}`);
    const type = storageType(t[1], fail);
    const key = typeof t[2] === 'string' ? t[2] : fail(`storage key must be a str, got ${describe(t[2])}`);
    const numel = count(t[4], `storage ${key} size`, fail);
    let root = storages.get(key);
    if (!root) {
      const entry = records.get(`${prefix}data/${key}`);
      if (!entry) return fail(`storage record ${prefix}data/${key} is missing`);
      const size = BYTES_PER_ELEMENT[type.dtype], nbytes = numel * size;
      if (entry.size !== nbytes) fail(`storage ${key}: record has ${entry.size} bytes, ${numel} × ${type.dtype} needs ${nbytes}`);
      const name = `${prefix}data/${key}`;
      // Lazy tensors read only the window of the storage they reach; where the CRC is checked,
      // the first read of a storage reads and checks the whole record once, later ones windows.
      let checked = !verify;
      root = lazy
        ? {
            key, dtype: type.dtype, numel,
            load: (at, n) => {
              if (checked) return src.read(entry.offset + at * size, n * size);
              const whole = bytesOf(name, true)!;
              checked = true;
              return whole.subarray(at * size, (at + n) * size);
            },
          }
        : { key, dtype: type.dtype, numel, bytes: bytesOf(name, verify)! };
      storages.set(key, root);
    } else if (root.dtype !== type.dtype || root.numel !== numel) {
      fail(`storage ${key} is referenced with different types or sizes`);
    }
    return new StorageRef(root, 0, numel);
  };
  const { value } = unpickle(bytesOf(pkls[0])!, { file, persistentLoad });
  return finish ? finish(value) : collect(value, src.size, file, lazy);
}

function loadLegacyFormat(bytes: Uint8Array, file?: string): StateDict {
  const fail = (msg: string): never => {
    throw new FormatError(msg, file);
  };
  let pos = 0;
  const next = (persistentLoad?: (pid: unknown) => unknown): unknown => {
    const r = unpickle(bytes, { file, offset: pos, persistentLoad });
    pos = r.end;
    return r.value;
  };
  if (next() !== LEGACY_MAGIC) fail('bad magic number: not a legacy torch.save file');
  const protocol = next();
  if (protocol !== LEGACY_PROTOCOL) fail(`unknown legacy protocol version ${describe(protocol)}`);
  const sysInfo = next();
  if (sysInfo instanceof PyDict && sysInfo.map.get('little_endian') === false) {
    throw new NotSupportedError(`${file ? `${file}: ` : ''}big-endian checkpoints are not supported`);
  }

  const storages = new Map<string, StorageData>();
  const persistentLoad = (pid: unknown): StorageRef => {
    const t = sequence(pid);
    if (!t || t.length !== 6 || t[0] !== 'storage') return fail(`unexpected persistent id ${describe(pid)}`);
    const type = storageType(t[1], fail);
    const key = typeof t[2] === 'string' ? t[2] : fail(`storage key must be a str, got ${describe(t[2])}`);
    const numel = count(t[4], `storage ${key} size`, fail);
    let root = storages.get(key);
    if (!root) {
      root = { key, dtype: type.dtype, numel };
      storages.set(key, root);
    } else if (root.dtype !== type.dtype || root.numel !== numel) {
      fail(`storage ${key} is referenced with different types or sizes`);
    }
    if (t[5] === null) return new StorageRef(root, 0, numel);
    // Storage views from PyTorch < 1.0: (view_key, offset, size), in elements.
    const v = sequence(t[5]);
    if (!v || v.length !== 3) return fail(`storage ${key}: bad view metadata ${describe(t[5])}`);
    const offset = count(v[1], 'storage view offset', fail);
    const size = count(v[2], 'storage view size', fail);
    if (offset + size > numel) fail(`storage ${key}: view [${offset}, ${offset + size}) is outside its ${numel} elements`);
    return new StorageRef(root, offset, size);
  };
  const value = next(persistentLoad);

  const keys = sequence(next());
  if (!keys) return fail('storage key list is missing');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys) {
    const root = typeof key === 'string' ? storages.get(key) : undefined;
    if (!root) return fail(`storage ${describe(key)} is listed but no tensor uses it`);
    if (root.bytes) fail(`storage ${key} is listed twice`);
    if (pos + 8 > bytes.length) fail(`truncated before storage ${key}`);
    const stored = view.getBigInt64(pos, true);
    if (stored !== BigInt(root.numel)) fail(`storage ${key}: file says ${stored} elements, the pickle says ${root.numel}`);
    const nbytes = root.numel * BYTES_PER_ELEMENT[root.dtype];
    pos += 8;
    if (pos + nbytes > bytes.length) fail(`storage ${key}: data is truncated (${bytes.length - pos} of ${nbytes} bytes)`);
    root.bytes = bytes.subarray(pos, pos + nbytes);
    pos += nbytes;
  }
  for (const root of storages.values()) if (!root.bytes) fail(`storage ${root.key} has no data`);
  return collect(value, bytes.length, file, false);
}

/** Picks the state dict out of the unpickled object and materializes its tensors. */
function collect(value: unknown, fileBytes: number, file: string | undefined, lazy: boolean): StateDict {
  let obj = value;
  for (let depth = 0; depth < 3 && obj instanceof PyDict; depth++) {
    const map: Map<unknown, unknown> = obj.map;
    const inner = ['state_dict', 'model', 'model_state_dict'].map((k) => map.get(k)).find((v) => v instanceof PyDict);
    if (!inner) break;
    obj = inner;
  }
  if (!(obj instanceof PyDict)) throw new FormatError(`checkpoint holds a ${describe(obj)}, not a state dict`, file);
  const done = new Map<TensorRef, RawTensor>();
  const out: StateDict = new Map();
  const budget = { left: 2 * fileBytes + COPY_SLACK, total: 2 * fileBytes + COPY_SLACK };
  for (const [k, v] of obj.map) {
    if (typeof k !== 'string' || !(v instanceof TensorRef)) continue;
    let t = done.get(v);
    if (!t) {
      t = tensorOf(v, k, budget, file, lazy);
      done.set(v, t);
    }
    out.set(k, t);
  }
  if (out.size === 0) throw new FormatError('no tensors found in the checkpoint', file);
  const keys = [...out.keys()];
  if (keys.every((k) => k.startsWith('module.'))) {
    return new Map(keys.map((k) => [k.slice('module.'.length), out.get(k)!]));
  }
  return out;
}

interface Plan {
  dtype: RawDType;
  shape: number[];
  stride: number[];
  n: number;
  base: number;
  /** Elements from base to the last one the tensor reaches, inclusive (n when contiguous). */
  span: number;
  contiguous: boolean;
  root: StorageData;
}

/** Everything about a tensor that can be checked without its bytes: bounds and copy budget. */
function plan(ref: TensorRef, key: string, budget: { left: number; total: number }, file?: string): Plan {
  const fail = (msg: string): never => {
    throw new FormatError(`${key}: ${msg}`, file);
  };
  const s = ref.storage;
  if (!(s instanceof StorageRef)) return fail(`tensor storage is ${describe(s)}`);
  const { shape, stride } = ref;
  const dtype = s.root.dtype;
  let n = 1;
  for (const d of shape) n *= d;
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= shape[i];
  }
  const p: Plan = { dtype, shape, stride, n, base: s.offset + ref.offset, span: 0, contiguous, root: s.root };
  if (n === 0) return p;
  let extent = ref.offset + 1;
  for (let i = 0; i < shape.length; i++) extent += (shape[i] - 1) * stride[i];
  p.span = extent - ref.offset;
  if (!Number.isSafeInteger(extent) || extent > s.numel) {
    fail(`size [${shape.join(', ')}], stride [${stride.join(', ')}] at offset ${ref.offset} reach element ${extent}, past the storage's ${s.numel}`);
  }
  if (!contiguous) {
    const nbytes = n * BYTES_PER_ELEMENT[dtype];
    if (nbytes > budget.left) {
      throw new ResourceLimitError(
        `${file ? `${file}: ` : ''}${key}: copying size [${shape.join(', ')}], stride [${stride.join(', ')}] (${n} elements of a ` +
          `${s.numel}-element storage) exceeds the ${budget.total} bytes this checkpoint may copy (expanded or overlapping views)`,
      );
    }
    budget.left -= nbytes;
  }
  return p;
}

/** The tensor's elements: a view of its storage when contiguous, else a strided copy. */
function produce(p: Plan): RawData {
  const { dtype, shape, stride, n, root } = p;
  if (n === 0) return allocTyped(dtype, 0);
  // Lazy storages are not kept: each tensor reads only the window of the storage it reaches
  // (the caller copies the data and drops it), so one storage viewed by many tensors is read
  // about once in all, and only one tensor's bytes are held at a time.
  let src: RawData, base = p.base;
  if (root.load) {
    src = bytesToTyped(dtype, root.load(base, p.span));
    base = 0;
  } else src = root.typed ??= bytesToTyped(dtype, root.bytes!);
  if (p.contiguous) return src.subarray(base, base + n);

  // Strided gather; indexed as numbers for brevity (bigint elements copy just the same).
  const out = allocTyped(dtype, n);
  const o = out as unknown as number[], a = src as unknown as number[];
  const nd = shape.length, last = nd - 1;
  const idx = new Array<number>(nd).fill(0);
  const len = shape[last], step = stride[last];
  for (let j = 0, at = base; ; ) {
    for (let k = 0, q = at; k < len; k++, q += step) o[j++] = a[q];
    let d = last - 1;
    for (; d >= 0; d--) {
      at += stride[d];
      if (++idx[d] < shape[d]) break;
      at -= stride[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return out;
}

function tensorOf(ref: TensorRef, key: string, budget: { left: number; total: number }, file: string | undefined, lazy: boolean): RawTensor {
  const p = plan(ref, key, budget, file);
  if (!lazy) return { dtype: p.dtype, shape: p.shape, data: produce(p) };
  const t = { dtype: p.dtype, shape: p.shape } as RawTensor;
  Object.defineProperty(t, 'data', { enumerable: true, get: () => produce(p) });
  return t;
}
