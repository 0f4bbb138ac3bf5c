import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FormatError, NotSupportedError, ResourceLimitError, UnsafeCheckpointError } from '../src/errors.js';
import { PyDict, PySet, PyTuple, StorageType, TensorRef, unpickle } from '../src/io/pickle.js';
import { concat, Pickle, throwsKind } from './helpers/io.js';

const run = (b: Uint8Array | number[], persistentLoad?: (pid: unknown) => unknown) =>
  unpickle(b instanceof Uint8Array ? b : new Uint8Array(b), { file: 'x.pkl', persistentLoad }).value;

test('scalars: ints of every width, LONG1, floats, bools, None, strings, bytes', () => {
  const p = new Pickle().proto(4).raw(0x95, 0, 0, 0, 0, 0, 0, 0, 0).mark()
    .raw(0x4b, 200).raw(0x4d, 0x34, 0x12).raw(0x4a, 0xfe, 0xff, 0xff, 0xff)
    .raw(0x8a, 2, 0xff, 0x7f).raw(0x8a, 1, 0xff).raw(0x8a, 0).raw(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    .raw(0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0).raw(0x88, 0x89).none()
    .raw(0x8c, 2, 0xc3, 0xa9).str('abc').raw(0x55, 1, 0xe9).raw(0x43, 2, 7, 8).raw(0x42, 1, 0, 0, 0, 9)
    .tuple().stop().bytes();
  const v = run(p) as PyTuple;
  assert.ok(v instanceof PyTuple);
  const [a, b, c, d, e, f, g, h, t, fa, n, s1, s2, s3, by1, by2] = v.items;
  assert.equal([a, b, c, d, e, f, g, h, t, fa, n, s1, s2, s3], [200, 0x1234, -2, 0x7fff, -1, 0, 2n ** 64n, 1.5, true, false, null, 'é', 'abc', 'é']);
  assert.equal(Array.from(by1 as Uint8Array), [7, 8]);
  assert.equal(Array.from(by2 as Uint8Array), [9]);
});

test('containers, memo and MEMOIZE', () => {
  const p = new Pickle().proto(4).mark().raw(0x5d, 0x94).int(1).raw(0x61).mark().int(2).int(3).raw(0x65) // [1, 2, 3], memo 0
    .raw(0x7d, 0x71, 1).str('k').raw(0x68, 0).raw(0x73) // {'k': list}, memo 1
    .raw(0x8f).mark().int(4).raw(0x90) // set {4}
    .int(5).int(6).raw(0x86).int(7).raw(0x85).raw(0x6a, 1, 0, 0, 0).raw(0x87) // ((5, 6), (7,), dict)
    .mark().str('a').int(1).raw(0x64) // DICT
    .mark().int(8).raw(0x6c) // LIST
    .raw(0x32) // DUP
    .mark().raw(0x74, 0x30) // empty tuple then POP
    .mark().raw(0x31) // POP_MARK
    .tuple().stop().bytes();
  const v = run(p) as PyTuple;
  const [list, dict, set, tup3, dict2, l8, l8dup] = v.items as [unknown[], PyDict, PySet, PyTuple, PyDict, unknown[], unknown[]];
  assert.equal(list, [1, 2, 3]);
  assert.is(dict.map.get('k'), list);
  assert.equal(set.items, [4]);
  assert.equal((tup3.items[0] as PyTuple).items, [5, 6]);
  assert.is(tup3.items[2], dict);
  assert.is(dict2.map.get('a'), 1);
  assert.is(l8, l8dup);
  assert.is(v.items.length, 7);
});

test('allow-listed globals: OrderedDict, storage types, tensor rebuild with persistent ids', () => {
  const p = new Pickle().proto().global('torch._utils', '_rebuild_tensor').mark()
    .mark().str('storage').global('torch', 'HalfStorage').str('7').tuple().persid()
    .int(2).ints([3, 1]).ints([1, 3]).tuple().reduce().stop().bytes();
  const pids: unknown[] = [];
  const t = run(p, (pid) => (pids.push(pid), 'STORAGE')) as TensorRef;
  assert.ok(t instanceof TensorRef);
  assert.equal([t.storage, t.offset, t.shape, t.stride], ['STORAGE', 2, [3, 1], [1, 3]]);
  const pid = (pids[0] as PyTuple).items;
  assert.ok(pid[1] instanceof StorageType);
  assert.is((pid[1] as StorageType).dtype, 'float16');
  // OrderedDict via NEWOBJ and with a list of pairs.
  const od = new Pickle().proto().global('collections', 'OrderedDict').emptyTuple().raw(0x81).stop().bytes();
  assert.ok(run(od) instanceof PyDict);
  const pairs = new Pickle().proto().global('collections', 'OrderedDict').mark().mark().mark().str('x').int(1).tuple().raw(0x6c).tuple().reduce().stop().bytes();
  assert.is((run(pairs) as PyDict).map.get('x'), 1);
});

test('unsafe globals are refused at GLOBAL / STACK_GLOBAL, before any REDUCE', () => {
  const g = new Pickle().proto().global('posix', 'system').bytes();
  // Garbage follows the global: the error must come from the global itself.
  const e = throwsKind(() => run(concat(g, [0xff, 0xff])), UnsafeCheckpointError, 'x.pkl', 'posix.system') as UnsafeCheckpointError;
  assert.is(e.global, 'posix.system');
  const sg = new Pickle().proto(4).raw(0x8c, 8, ...new TextEncoder().encode('builtins')).raw(0x8c, 4, ...new TextEncoder().encode('eval')).raw(0x93).bytes();
  throwsKind(() => run(sg), UnsafeCheckpointError, 'builtins.eval');
  for (const [m, n] of [['torch', 'load'], ['torch.storage', '_load_from_bytes'], ['copyreg', '_reconstructor'], ['__main__', 'Net'], ['numpy.core.multiarray', '_reconstruct'], ['torch', 'Tensor.__reduce_ex__']]) {
    throwsKind(() => run(new Pickle().proto().global(m, n).stop().bytes()), UnsafeCheckpointError, `${m}.${n}`);
  }
  // INST names a class in its argument lines; it is checked the same way.
  throwsKind(() => run([0x80, 2, 0x69, ...new TextEncoder().encode('os\nsystem\n')]), UnsafeCheckpointError, 'os.system');
  throwsKind(() => run(new Pickle().proto().global('torch._utils', '_rebuild_qtensor').bytes()), NotSupportedError, '_rebuild_qtensor');
});

test('malformed pickles are FormatErrors naming the file', () => {
  const bad: [string, number[]][] = [
    ['empty', []],
    ['no STOP', [0x80, 2, 0x4e]],
    ['stack underflow', [0x80, 2, 0x2e]],
    ['underflow past MARK', [0x80, 2, 0x4e, 0x28, 0x85, 0x2e]],
    ['unknown opcode', [0x80, 2, 0xfe]],
    ['missing memo', [0x80, 2, 0x68, 3, 0x2e]],
    ['string past the end', [0x80, 2, 0x58, 0xff, 0, 0, 0, 0x41]],
    ['FRAME past the end', [0x80, 4, 0x95, 0xff, 0xff, 0, 0, 0, 0, 0, 0]],
    ['BINUNICODE8 length absurd', [0x80, 4, 0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ['APPEND to a tuple', [0x80, 2, 0x29, 0x4e, 0x61, 0x2e]],
    ['SETITEM on a list', [0x80, 2, 0x5d, 0x4e, 0x4e, 0x73, 0x2e]],
    ['unhashable key', [0x80, 2, 0x7d, 0x5d, 0x4e, 0x73, 0x2e]],
    ['odd SETITEMS', [0x80, 2, 0x7d, 0x28, 0x4e, 0x75, 0x2e]],
    ['TUPLE without MARK', [0x80, 2, 0x74, 0x2e]],
    ['REDUCE on a string', [0x80, 2, 0x58, 1, 0, 0, 0, 0x41, 0x29, 0x52, 0x2e]],
    ['BUILD on a list', [0x80, 2, 0x5d, 0x7d, 0x62, 0x2e]],
    ['persistent id without loader', [0x80, 2, 0x4e, 0x51, 0x2e]],
    ['unterminated GLOBAL', [0x80, 2, 0x63, 0x41, 0x42]],
  ];
  for (const [what, bytes] of bad) {
    const e = throwsKind(() => run(bytes), FormatError, 'x.pkl');
    assert.ok(!(e instanceof UnsafeCheckpointError), what);
  }
  throwsKind(() => run(new Pickle().proto().global('torch._utils', '_rebuild_tensor_v2').ints([1]).reduce().stop().bytes()), FormatError, '_rebuild_tensor_v2 called with 1 arguments');
  throwsKind(() => run(new Pickle().proto().global('torch._utils', '_rebuild_tensor').mark().none().int(0).ints([2]).ints([-1]).tuple().reduce().stop().bytes()), FormatError, 'stride');
  throwsKind(() => run(new Pickle().proto().global('torch', 'FloatStorage').emptyTuple().reduce().stop().bytes()), FormatError, 'not callable');
  throwsKind(() => run([0x80, 6]), NotSupportedError, 'protocol 6');
  throwsKind(() => run([0x80, 2, 0x49, 0x31, 0x0a, 0x2e]), NotSupportedError, 'INT');
});

test('stack and memo sizes are bounded', () => {
  const marks = new Uint8Array((1 << 20) + 10).fill(0x28);
  throwsKind(() => run(concat([0x80, 2], marks)), ResourceLimitError, 'x.pkl', 'MARK');
  const nones = new Uint8Array((1 << 20) + 10).fill(0x4e);
  throwsKind(() => run(concat([0x80, 2], nones)), ResourceLimitError, 'stack');
  throwsKind(() => run([0x80, 2, 0x8b, 0, 0, 1, 0]), ResourceLimitError, 'LONG4');
});

test('sequential pickles: offset in, end out', () => {
  const a = new Pickle().proto().int(1).stop().bytes();
  const b = new Pickle().proto().str('two').stop().bytes();
  const both = concat(a, b);
  const r1 = unpickle(both);
  assert.equal([r1.value, r1.end], [1, a.length]);
  const r2 = unpickle(both, { offset: r1.end });
  assert.equal([r2.value, r2.end], ['two', both.length]);
});

test.run();
