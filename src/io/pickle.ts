// A deliberately small pickle virtual machine: the data-only opcodes of protocols 2-5 that
// torch.save emits, plus an allow-list of globals. A pickle can name any Python callable, so
// every GLOBAL/STACK_GLOBAL is checked the moment it is read, before anything could be
// called; there is no generic object construction. Values map to JS as: str → string,
// int → number (bigint beyond 2^53), float → number, bytes → Uint8Array, None → null,
// list → array, tuple → PyTuple, dict → PyDict, tensors → TensorRef (storage left opaque).

import { FormatError, NotSupportedError, ResourceLimitError, UnsafeCheckpointError } from '../errors.js';
import type { RawDType } from './raw.js';

export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

export class PyDict {
  readonly map = new Map<unknown, unknown>();
}

export class PySet {
  constructor(readonly items: unknown[] = []) {}
}

/** A reference to torch.FloatStorage etc., as found in persistent ids. */
export class StorageType {
  constructor(readonly name: string, readonly dtype: RawDType) {}
}

/** The arguments of torch._utils._rebuild_tensor(_v2); `storage` is what persistentLoad returned. */
export class TensorRef {
  constructor(
    readonly storage: unknown,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export interface UnpickleOptions {
  file?: string;
  /** Byte position of the pickle's first opcode (legacy torch files hold several in a row). */
  offset?: number;
  /** Resolves BINPERSID ids; without it, persistent ids are a format error. */
  persistentLoad?: (pid: unknown) => unknown;
}

// Bounds on what a pickle can make the VM hold. Nothing here recurses (containers are built
// from the stack, iteratively), so nesting depth costs no call stack; these bound memory.
// A state dict of 10 000 tensors uses about 100 000 memo entries and a stack a few items deep.
const MAX_STACK = 1 << 20;
const MAX_MEMO = 1 << 20;
const MAX_LONG_BYTES = 1024;
const MAX_LINE = 1024;

const STORAGE_DTYPES: Record<string, RawDType> = {
  DoubleStorage: 'float64', FloatStorage: 'float32', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8',
  ByteStorage: 'uint8', BoolStorage: 'bool',
};

// Genuine torch globals for things this library does not represent: refused as unsupported
// (not unsafe) so the message points at the real problem.
const KNOWN_UNSUPPORTED = new Set([
  'torch._utils._rebuild_tensor_v3', 'torch._utils._rebuild_qtensor', 'torch._utils._rebuild_sparse_tensor',
  'torch._utils._rebuild_sparse_csr_tensor', 'torch._utils._rebuild_nested_tensor', 'torch._utils._rebuild_meta_tensor_no_storage',
  'torch._utils._rebuild_wrapper_subclass', 'torch._utils._rebuild_device_tensor_from_numpy', 'torch._utils._rebuild_xla_tensor',
  'torch._utils._rebuild_mlc_tensor', 'torch._tensor._rebuild_from_type', 'torch._tensor._rebuild_from_type_v2',
  'torch.ComplexFloatStorage', 'torch.ComplexDoubleStorage', 'torch.QInt8Storage', 'torch.QUInt8Storage',
  'torch.QInt32Storage', 'torch.QUInt4x2Storage', 'torch.QUInt2x4Storage', 'torch.UntypedStorage',
]);

type Fail = (msg: string) => never;

interface Callable {
  readonly qualname: string;
  call(args: readonly unknown[], fail: Fail): unknown;
  /** NEWOBJ (cls.__new__) is allowed only for classes whose construction is pure data. */
  readonly isClass: boolean;
}

function int(x: unknown, what: string, fail: Fail): number {
  if (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) return x;
  return fail(`${what} must be a non-negative integer, got ${describe(x)}`);
}

function intList(x: unknown, what: string, fail: Fail): number[] {
  const items = sequence(x);
  if (!items) return fail(`${what} must be a tuple of integers, got ${describe(x)}`);
  return items.map((v, i) => int(v, `${what}[${i}]`, fail));
}

function rebuildTensor(args: readonly unknown[], fail: Fail): TensorRef {
  const shape = intList(args[2], 'tensor size', fail);
  const stride = intList(args[3], 'tensor stride', fail);
  if (shape.length !== stride.length) fail(`tensor size has ${shape.length} dims but stride has ${stride.length}`);
  return new TensorRef(args[0], int(args[1], 'storage offset', fail), shape, stride);
}

function fn(qualname: string, arities: number[], body: (args: readonly unknown[], fail: Fail) => unknown): Callable {
  return {
    qualname,
    isClass: false,
    call(args, fail) {
      if (!arities.includes(args.length)) fail(`${qualname} called with ${args.length} arguments`);
      return body(args, fail);
    },
  };
}

function parameterData(args: readonly unknown[], fail: Fail): unknown {
  if (!(args[0] instanceof TensorRef)) fail(`Parameter data must be a tensor, got ${describe(args[0])}`);
  return args[0];
}

const ALLOWED: Record<string, Callable> = {
  'collections.OrderedDict': {
    qualname: 'collections.OrderedDict',
    isClass: true,
    call(args, fail) {
      const d = new PyDict();
      if (args.length === 0) return d;
      const pairs = args.length === 1 ? sequence(args[0]) : undefined;
      if (!pairs) return fail('collections.OrderedDict called with unexpected arguments');
      for (const pair of pairs) {
        const kv = sequence(pair);
        if (!kv || kv.length !== 2) return fail('collections.OrderedDict items must be (key, value) pairs');
        d.map.set(hashable(kv[0], fail), kv[1]);
      }
      return d;
    },
  },
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  'torch._utils._rebuild_tensor_v2': fn('torch._utils._rebuild_tensor_v2', [6, 7], rebuildTensor),
  'torch._utils._rebuild_tensor': fn('torch._utils._rebuild_tensor', [4], rebuildTensor),
  'torch._utils._rebuild_parameter': fn('torch._utils._rebuild_parameter', [3], parameterData),
  'torch._utils._rebuild_parameter_with_state': fn('torch._utils._rebuild_parameter_with_state', [4], parameterData),
};

function resolveGlobal(module: string, name: string, file: string | undefined): unknown {
  const qualname = `${module}.${name}`;
  const allowed = ALLOWED[qualname];
  if (allowed) return allowed;
  if (module === 'torch' && Object.prototype.hasOwnProperty.call(STORAGE_DTYPES, name)) return new StorageType(name, STORAGE_DTYPES[name]);
  if (KNOWN_UNSUPPORTED.has(qualname)) {
    throw new NotSupportedError(`${file ? `${file}: ` : ''}checkpoint uses ${qualname}, which this library does not support`);
  }
  throw new UnsafeCheckpointError(qualname, file);
}

/** The items of a tuple or list, or undefined. */
export function sequence(x: unknown): readonly unknown[] | undefined {
  if (x instanceof PyTuple) return x.items;
  if (Array.isArray(x)) return x;
  return undefined;
}

function hashable(k: unknown, fail: Fail): unknown {
  if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean' || k instanceof PyTuple || k instanceof Uint8Array) return k;
  return fail(`unhashable dict key ${describe(k)}`);
}

export function describe(x: unknown): string {
  if (x === null) return 'None';
  if (typeof x === 'string') return x.length > 40 ? `str '${x.slice(0, 40)}…'` : `str '${x}'`;
  if (typeof x === 'number' || typeof x === 'bigint') return `number ${x}`;
  if (typeof x === 'boolean') return x ? 'True' : 'False';
  if (Array.isArray(x)) return 'list';
  if (x instanceof PyTuple) return `tuple of ${x.items.length}`;
  if (x instanceof PyDict) return 'dict';
  if (x instanceof Uint8Array) return 'bytes';
  if (x instanceof TensorRef) return 'tensor';
  if (x instanceof StorageType) return `torch.${x.name}`;
  if (isCallable(x)) return x.qualname;
  return typeof x;
}

const CALLABLES = new Set<unknown>(Object.values(ALLOWED));

function isCallable(x: unknown): x is Callable {
  return CALLABLES.has(x);
}

const OPNAMES: Record<number, string> = {
  0x49: 'INT', 0x4c: 'LONG', 0x46: 'FLOAT', 0x53: 'STRING', 0x56: 'UNICODE', 0x70: 'PUT', 0x67: 'GET',
  0x50: 'PERSID', 0x69: 'INST', 0x6f: 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8');

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** Runs one pickle starting at `options.offset`; returns the object and the position after STOP. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): { value: unknown; end: number } {
  const { file, persistentLoad } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  let p = options.offset ?? 0;
  let op = 0;
  let opAt = p;
  const fail: Fail = (msg) => {
    throw new FormatError(`pickle: ${msg} (opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opAt})`, file);
  };
  const limit = (msg: string): never => {
    throw new ResourceLimitError(`${file ? `${file}: ` : ''}pickle: ${msg}`);
  };

  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const base = () => (marks.length ? marks[marks.length - 1] : 0);

  const need = (n: number) => {
    if (n < 0 || p + n > len) fail(`truncated: needs ${n} more bytes, ${len - p} left`);
  };
  const u8 = () => (need(1), bytes[p++]);
  const u16 = () => (need(2), (p += 2), view.getUint16(p - 2, true));
  const u32 = () => (need(4), (p += 4), view.getUint32(p - 4, true));
  const i32 = () => (need(4), (p += 4), view.getInt32(p - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(len)) fail(`length ${v} exceeds the data`);
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    p += n;
    return bytes.subarray(p - n, p);
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0 || end - p > MAX_LINE) fail('unterminated text line');
    const s = latin1(bytes.subarray(p, end));
    p = end + 1;
    return s;
  };
  const push = (v: unknown) => {
    if (stack.length >= MAX_STACK) limit(`stack exceeds ${MAX_STACK} items`);
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length <= base()) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= base()) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    if (!marks.length) fail('no MARK on the stack');
    return stack.splice(marks.pop()!);
  };
  const put = (idx: number) => {
    if (!memo.has(idx) && memo.size >= MAX_MEMO) limit(`memo exceeds ${MAX_MEMO} entries`);
    memo.set(idx, top());
  };
  const get = (idx: number) => {
    if (!memo.has(idx)) fail(`memo key ${idx} is not defined`);
    push(memo.get(idx));
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (d: unknown, items: unknown[]) => {
    if (!(d instanceof PyDict)) fail(`SETITEM(S) target is ${describe(d)}, not a dict`);
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (d as PyDict).map.set(hashable(items[i], fail), items[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]) => {
    if (!Array.isArray(l)) fail(`APPEND(S) target is ${describe(l)}, not a list`);
    for (const x of items) (l as unknown[]).push(x);
  };
  const str = (s: unknown, what: string): string => (typeof s === 'string' ? s : fail(`${what} must be a str, got ${describe(s)}`));

  while (p < len) {
    opAt = p;
    op = bytes[p++];
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) throw new NotSupportedError(`${file ? `${file}: ` : ''}pickle protocol ${v} is not supported`);
        break;
      }
      case 0x95: { // FRAME: a length prefix only; the opcodes inside are read as usual
        const n = u64();
        need(n);
        break;
      }
      case 0x2e: { // STOP
        const value = pop();
        return { value, end: p };
      }
      case 0x28: // MARK
        if (marks.length >= MAX_STACK) limit(`more than ${MAX_STACK} nested MARKs`);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (stack.length === base() && marks.length) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(long(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        if (n > MAX_LONG_BYTES) limit(`LONG4 integer of ${n} bytes`);
        push(long(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        push(view.getFloat64(p, false));
        p += 8;
        break;
      case 0x58: push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x54: { // BINSTRING (Python 2 str)
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        push(latin1(take(n)));
        break;
      }
      case 0x55: push(latin1(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: push(take(u32())); break; // BINBYTES
      case 0x43: push(take(u8())); break; // SHORT_BINBYTES
      case 0x8e: push(take(u64())); break; // BINBYTES8
      case 0x96: push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x7d: push(new PyDict()); break; // EMPTY_DICT
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x8f: push(new PySet()); break; // EMPTY_SET
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x6c: push(popMark()); break; // LIST
      case 0x64: { // DICT
        const d = new PyDict();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x91: push(new PySet(popMark())); break; // FROZENSET
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet)) fail(`ADDITEMS target is ${describe(s)}, not a set`);
        // One at a time: push(...items) overflows the call stack beyond ~100k items.
        for (const x of items) (s as PySet).items.push(x);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: put(u8()); break; // BINPUT
      case 0x72: put(u32()); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x68: get(u8()); break; // BINGET
      case 0x6a: get(u32()); break; // LONG_BINGET
      case 0x63: { // GLOBAL
        const module = line();
        push(resolveGlobal(module, line(), file));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = str(pop(), 'STACK_GLOBAL name');
        push(resolveGlobal(str(pop(), 'STACK_GLOBAL module'), name, file));
        break;
      }
      case 0x69: { // INST: checked like a global, then refused (it constructs arbitrary classes)
        const module = line();
        resolveGlobal(module, line(), file);
        throw new NotSupportedError(`${file ? `${file}: ` : ''}pickle opcode INST is not supported`);
      }
      case 0x52: { // REDUCE
        const args = pop(), f = pop();
        if (!isCallable(f)) fail(`REDUCE on ${describe(f)}, which is not callable`);
        if (!(args instanceof PyTuple)) fail(`REDUCE arguments must be a tuple, got ${describe(args)}`);
        push((f as Callable).call((args as PyTuple).items, fail));
        break;
      }
      case 0x81: case 0x92: { // NEWOBJ, NEWOBJ_EX
        if (op === 0x92) {
          const kwargs = pop();
          if (!(kwargs instanceof PyDict) || kwargs.map.size) fail('NEWOBJ_EX with keyword arguments');
        }
        const args = pop(), cls = pop();
        if (!isCallable(cls) || !cls.isClass) fail(`NEWOBJ on ${describe(cls)}, which is not a constructible class`);
        if (!(args instanceof PyTuple)) fail(`NEWOBJ arguments must be a tuple, got ${describe(args)}`);
        push((cls as Callable).call((args as PyTuple).items, fail));
        break;
      }
      case 0x62: { // BUILD: only state_dict()._metadata on an OrderedDict, which is ignored
        pop();
        const target = top();
        if (!(target instanceof PyDict)) fail(`BUILD on ${describe(target)} is not supported`);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!persistentLoad) fail('persistent id without a loader');
        push(persistentLoad!(pid));
        break;
      }
      default: {
        const name = OPNAMES[op];
        if (name) throw new NotSupportedError(`${file ? `${file}: ` : ''}pickle opcode ${name} at byte ${opAt} is not supported`);
        fail('unknown opcode');
      }
    }
  }
  throw new FormatError(`pickle: truncated at byte ${len}: no STOP opcode`, file);
}
