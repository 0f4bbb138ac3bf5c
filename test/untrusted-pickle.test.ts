// Hostile and pathological pickles. The hostile checkpoints are real torch.save files (both
// layouts) made by scripts/make_io_fixtures.py, which also checked that plain torch.load runs
// each payload (hostile/hostile.json records it); every one must be refused by name before
// anything is built. Then pickles that nest deeply or grow the stack or memo without bound.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FormatError, NotSupportedError, ResourceLimitError, UnsafeCheckpointError } from '../src/errors.js';
import { loadCheckpoint } from '../src/io/checkpoint.js';
import { PyDict, PyTuple, unpickle } from '../src/io/pickle.js';
import { loadTorch, loadTorchObject } from '../src/io/torch.js';
import { concat, f32bytes, fixture, Pickle, tensorPickle, throwsKind, torchZip } from './helpers/io.js';

interface HostileRecord {
  file: string;
  format: 'zip' | 'legacy';
  route: string;
  payload: string;
  globals: string[];
  refused_global: string;
  torch_load_ran_payload: boolean;
  weights_only_refuses: boolean;
}
const hostile = JSON.parse(new TextDecoder().decode(fixture('hostile/hostile.json'))) as { torch: string; files: HostileRecord[] };

test('the hostile set: 5 routes × 4 payloads × 2 formats, each run by plain torch.load', () => {
  const files = hostile.files;
  assert.is(files.length, 40);
  assert.equal([...new Set(files.map((f) => f.route))].sort(), ['inst', 'newobj_build', 'obj', 'reduce', 'reduce_p4']);
  assert.equal([...new Set(files.map((f) => f.payload))].sort(), ['eval', 'exec', 'popen', 'system']);
  assert.equal([...new Set(files.map((f) => f.format))].sort(), ['legacy', 'zip']);
  for (const f of files) {
    assert.ok(f.torch_load_ran_payload, `${f.file}: torch ${hostile.torch} torch.load ran the payload when generated`);
    assert.ok(f.weights_only_refuses, `${f.file}: torch.load(weights_only=True) refuses it`);
  }
  // Globals as written: os.system pickles as posix.system; protocol 2 writes Python 2 names.
  const refused = new Set(files.map((f) => f.refused_global));
  for (const g of ['posix.system', 'os.system', 'builtins.eval', '__builtin__.eval', 'builtins.exec', '__builtin__.exec', 'subprocess.Popen', 'commands.Popen']) {
    assert.ok(refused.has(g), g);
  }
});

for (const f of hostile.files) {
  test(`refused: ${f.file} (${f.route}, ${f.payload}, ${f.format})`, () => {
    const bytes = fixture(f.file);
    for (const load of [loadTorch, loadCheckpoint]) {
      const e = throwsKind(() => load(bytes, f.file), UnsafeCheckpointError, f.file, `'${f.refused_global}'`) as UnsafeCheckpointError;
      assert.is(e.global, f.refused_global);
      assert.not.ok(e.message.includes('\n'));
    }
  });
}

test('the payload opcodes are what the names say (GLOBAL vs STACK_GLOBAL, REDUCE, NEWOBJ + BUILD, OBJ, INST)', () => {
  const opcodes: Record<string, number[]> = { reduce: [0x63, 0x52], reduce_p4: [0x93, 0x52], newobj_build: [0x81, 0x62, 0x93], obj: [0x6f], inst: [0x69] };
  for (const f of hostile.files.filter((x) => x.format === 'legacy')) {
    const b = fixture(f.file);
    for (const op of opcodes[f.route]!) assert.ok(b.includes(op), `${f.file} contains opcode 0x${op.toString(16)}`);
  }
});

const enc = (s: string) => new TextEncoder().encode(s);
const sbu = (s: string) => [0x8c, enc(s).length, ...enc(s)];
const run = (b: Uint8Array | number[]) => unpickle(b instanceof Uint8Array ? b : new Uint8Array(b), { file: 'h.pkl', persistentLoad: (p) => p }).value;

test('hand-made: every route to every dangerous global is refused by name, at the global', () => {
  const names = [['posix', 'system'], ['os', 'system'], ['nt', 'system'], ['builtins', 'eval'], ['builtins', 'exec'], ['__builtin__', 'eval'],
    ['subprocess', 'Popen'], ['subprocess', 'check_output'], ['builtins', 'getattr'], ['builtins', '__import__'], ['pickle', 'loads'],
    ['torch', 'load'], ['numpy', 'load'], ['runpy', '_run_code'], ['webbrowser', 'open']];
  for (const [m, n] of names) {
    const q = `${m}.${n}`;
    const glob = [0x63, ...enc(`${m}\n${n}\n`)];
    const stack = [...sbu(m!), ...sbu(n!), 0x93];
    const routes: [string, number[]][] = [
      ['GLOBAL + REDUCE', [0x80, 2, ...glob, 0x28, ...sbu('id'), 0x74, 0x52, 0x2e]],
      ['STACK_GLOBAL + REDUCE', [0x80, 4, ...stack, 0x28, ...sbu('id'), 0x74, 0x52, 0x2e]],
      ['NEWOBJ', [0x80, 2, ...glob, 0x29, 0x81, 0x2e]],
      ['NEWOBJ_EX', [0x80, 4, ...stack, 0x29, 0x7d, 0x92, 0x2e]],
      ['OBJ', [0x80, 2, 0x28, ...glob, ...sbu('id'), 0x6f, 0x2e]],
      ['INST', [0x80, 2, 0x28, ...sbu('id'), 0x69, ...enc(`${m}\n${n}\n`), 0x2e]],
      ['BUILD __setstate__ on an allowed OrderedDict', [0x80, 2, 0x63, ...enc('collections\nOrderedDict\n'), 0x29, 0x81, 0x7d, ...sbu('__setstate__'), ...stack, 0x73, 0x62, ...sbu('id'), 0x62, 0x2e]],
      ['inside a torch state dict', Array.from(tensorPickle([{ key: 'w', storage: '0', numel: 1, size: [1], stride: [1] }], (p) => p.raw(...glob).raw(0x30)))],
    ];
    for (const [route, bytes] of routes) {
      const e = throwsKind(() => run(bytes), UnsafeCheckpointError, 'h.pkl', `'${q}'`) as UnsafeCheckpointError;
      assert.is(e.global, q, `${q} via ${route}`);
    }
    // And through a whole zip checkpoint.
    const pkl = tensorPickle([{ key: 'w', storage: '0', numel: 1, size: [1], stride: [1] }], (p) => p.raw(...glob).raw(0x30));
    throwsKind(() => loadTorch(torchZip(pkl, { 0: new Uint8Array(4) }), 'z.pth'), UnsafeCheckpointError, 'z.pth', q);
  }
});

test('allowed globals cannot be abused: BUILD never calls, REDUCE only on allow-listed rebuild functions', () => {
  // BUILD with a __setstate__ state on an OrderedDict: the state is ignored, nothing is called.
  const od = [0x80, 2, 0x63, ...enc('collections\nOrderedDict\n'), 0x29, 0x81, 0x7d, ...sbu('__setstate__'), 0x4e, 0x73, 0x62, ...sbu('x'), 0x62, 0x2e];
  assert.ok(run(od) instanceof PyDict);
  // REDUCE / NEWOBJ on non-callables, storage types called, extension registry codes.
  throwsKind(() => run([0x80, 2, 0x63, ...enc('torch\nFloatStorage\n'), 0x29, 0x81, 0x2e]), FormatError, 'not a constructible class');
  throwsKind(() => run([0x80, 2, 0x63, ...enc('torch._utils\n_rebuild_tensor_v2\n'), 0x29, 0x81, 0x2e]), FormatError, 'not a constructible class');
  throwsKind(() => run([0x80, 2, 0x82, 1, 0x2e]), NotSupportedError, 'EXT1');
  throwsKind(() => run([0x80, 2, 0x83, 1, 0, 0x2e]), NotSupportedError, 'EXT2');
  throwsKind(() => run([0x80, 2, 0x84, 1, 0, 0, 0, 0x2e]), NotSupportedError, 'EXT4');
  // Names that look like JS object internals resolve to nothing.
  for (const [m, n] of [['torch', '__proto__'], ['torch', 'constructor'], ['torch', 'hasOwnProperty'], ['__proto__', 'x'], ['collections', 'toString']]) {
    throwsKind(() => run([0x80, 2, 0x63, ...enc(`${m}\n${n}\n`), 0x2e]), UnsafeCheckpointError, `${m}.${n}`);
  }
});

function repeat(prefix: number[], unit: number[], times: number, suffix: number[] = []): Uint8Array {
  const out = new Uint8Array(prefix.length + unit.length * times + suffix.length);
  out.set(prefix);
  for (let i = 0; i < times; i++) out.set(unit, prefix.length + i * unit.length);
  out.set(suffix, prefix.length + unit.length * times);
  return out;
}

const timings: string[] = [];
/** Runs fn and asserts it returns (or throws) in reasonable time: linear work, never a hang. */
function quick<T>(what: string, fn: () => T, ms = 4000): T {
  const t0 = performance.now();
  let r: T;
  try {
    r = fn();
  } finally {
    const dt = performance.now() - t0;
    timings.push(`${what} ${dt.toFixed(0)} ms`);
    assert.ok(dt < ms, `${what}: ${dt.toFixed(0)} ms`);
  }
  return r;
}

test('deep nesting: no recursion, so no stack overflow; a checkpoint of it is a typed error, quickly', () => {
  // ((((None,),),),) half a million levels deep (JS recursion would overflow near 10 000),
  // and a list that contains itself.
  const deep = repeat([0x80, 2, 0x4e], [0x85], 500_000, [0x2e]);
  const v = quick('500k-deep tuple', () => run(deep));
  assert.ok(v instanceof PyTuple);
  const zipped = torchZip(deep, {});
  quick('500k-deep tuple as a checkpoint', () => throwsKind(() => loadTorch(zipped, 'deep.pth'), FormatError, 'deep.pth', 'not a state dict'));
  // [[[…]]] via EMPTY_LIST + APPEND chains under MARKs, and nested dicts as values.
  const lists = repeat([0x80, 2], [0x5d], 200_000, [...new Array(199_999).fill(0x61), 0x2e]);
  quick('200k-deep list', () => run(lists));
  const dicts = repeat([0x80, 2], [0x7d, 0x4b, 1], 200_000, [0x7d, ...new Array(200_000).fill(0x73), 0x2e]);
  quick('200k-deep dict', () => run(dicts));
  const cyclic = [0x80, 2, 0x5d, 0x94, 0x68, 0, 0x61, 0x2e]; // l = []; l.append(l)
  const l = run(cyclic) as unknown[];
  assert.is(l[0], l);
  throwsKind(() => loadTorch(torchZip(new Uint8Array([0x80, 2, 0x7d, 0x94, ...sbu('self'), 0x68, 0, 0x73, 0x2e]), {}), 'cyc.pth'), FormatError, 'no tensors');
});

test('training checkpoints (loadTorchObject): a cycle is a one-line error naming where; shared containers are converted once', () => {
  const self = torchZip(new Uint8Array([0x80, 2, 0x5d, 0x94, 0x68, 0, 0x61, 0x2e]), {}); // l = [l]
  quick('self-containing list', () => throwsKind(() => loadTorchObject(self, 'cyc.pth'), FormatError, 'cyc.pth', 'cycle', '[0]'));
  // {'optimizer': {'state': l}} with l = [l]: the path of the back reference is named.
  const nested = [0x80, 2, 0x7d, ...sbu('optimizer'), 0x7d, ...sbu('state'), 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x73, 0x73, 0x2e];
  const e = quick('cycle inside a dict', () => throwsKind(() => loadTorchObject(torchZip(new Uint8Array(nested), {}), 'opt.pth'), FormatError, 'opt.pth: ', 'optimizer.state[0]'));
  assert.not.ok(e.message.includes('\n'));
  // A cycle 200 000 levels down: found as quickly, and the message stays short.
  const deep = repeat([0x80, 2, 0x5d, 0x71, 0], [0x5d], 200_000, [0x68, 0, 0x61, ...new Array(200_000).fill(0x61), 0x2e]);
  const d = quick('deep cycle', () => throwsKind(() => loadTorchObject(torchZip(deep, {}), 'deep.pth'), FormatError, 'cycle'));
  assert.ok(d.message.length < 400, d.message.slice(0, 500));

  // 40 levels of l[i] = [l[i-1], l[i-1]]: 2^40 paths, 41 lists.
  const dag = new Pickle().proto().raw(0x5d, 0x71, 0);
  for (let i = 1; i <= 40; i++) dag.raw(0x5d, 0x28, 0x68, i - 1, 0x68, i - 1, 0x65, 0x71, i);
  const top = quick('2^40-path DAG', () => loadTorchObject(torchZip(dag.stop().bytes(), {}), 'dag.pth')) as unknown[];
  let at = top;
  for (let i = 0; i < 40; i++) {
    assert.is(at.length, 2);
    assert.is(at[0], at[1], `level ${i}: one list, referenced twice`);
    at = at[0] as unknown[];
  }
  assert.equal(at, []);
});

test('training checkpoints: the same tensor under two keys and the same dict twice load as shared objects', () => {
  const p = new Pickle().proto().emptyDict().mark()
    .str('a').global('torch._utils', '_rebuild_tensor_v2').mark()
    .mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2).tuple().persid()
    .int(0).ints([2]).ints([1]).false().global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce().raw(0x71, 0)
    .str('b').raw(0x68, 0)
    .str('c').emptyDict().str('x').int(7).raw(0x73).raw(0x71, 1)
    .str('d').raw(0x68, 1)
    .setitems().stop().bytes();
  const m = loadTorchObject(torchZip(p, { 0: f32bytes([1.5, -2]) }), 's.pth') as Map<string, unknown>;
  assert.is(m.get('a'), m.get('b'));
  assert.equal(Array.from((m.get('a') as { data: Float32Array }).data), [1.5, -2]);
  assert.is(m.get('c'), m.get('d'));
  assert.equal([...(m.get('c') as Map<string, number>)], [['x', 7]]);
});

test('unbounded stack, MARKs and memo: ResourceLimitError, quickly', () => {
  quick('stack', () => throwsKind(() => run(repeat([0x80, 2, 0x4e], [0x32], 1_100_000)), ResourceLimitError, 'h.pkl', 'stack exceeds'));
  quick('marks', () => throwsKind(() => run(repeat([0x80, 2], [0x28], 1_100_000)), ResourceLimitError, 'MARK'));
  quick('memo (MEMOIZE)', () => throwsKind(() => run(repeat([0x80, 4, 0x4e], [0x94], 1_100_000)), ResourceLimitError, 'memo exceeds'));
  // LONG_BINPUT to ever new keys.
  const puts = new Uint8Array(3 + 5 * 1_100_000);
  puts.set([0x80, 2, 0x4e]);
  const dv = new DataView(puts.buffer);
  for (let i = 0; i < 1_100_000; i++) {
    puts[3 + 5 * i] = 0x72;
    dv.setUint32(4 + 5 * i, i * 7 + 3, true);
  }
  quick('memo (LONG_BINPUT)', () => throwsKind(() => run(puts), ResourceLimitError, 'memo exceeds'));
  // Re-putting the same key never grows the memo.
  assert.is(quick('same memo key', () => run(repeat([0x80, 2, 0x4e], [0x71, 5], 2_000_000, [0x2e]))), null);
});

test('huge containers built in one opcode do not overflow the call stack (ADDITEMS, APPENDS, SETITEMS, TUPLE)', () => {
  const n = 500_000;
  const set = repeat([0x80, 4, 0x8f, 0x28], [0x4b, 1], n, [0x90, 0x2e]);
  quick('ADDITEMS of 500k', () => run(set));
  quick('APPENDS of 500k', () => run(repeat([0x80, 2, 0x5d, 0x28], [0x4e], n, [0x65, 0x2e])));
  quick('SETITEMS of 250k', () => run(repeat([0x80, 2, 0x7d, 0x28], [0x4b, 1, 0x4e], n / 2, [0x75, 0x2e])));
  quick('TUPLE of 500k', () => run(repeat([0x80, 2, 0x28], [0x4e], n, [0x74, 0x2e])));
  quick('FROZENSET of 500k', () => run(repeat([0x80, 4, 0x28], [0x4e], n, [0x91, 0x2e])));
});

test('length prefixes larger than the file are refused before any allocation', () => {
  for (const op of [[0x58, 0xff, 0xff, 0xff, 0x7f], [0x42, 0xff, 0xff, 0xff, 0xff], [0x8e, ...new Array(8).fill(0xff)], [0x96, 0, 0, 0, 0, 1, 0, 0, 0], [0x54, 0xff, 0xff, 0xff, 0x7f], [0x95, 0, 0, 0, 0, 0, 1, 0, 0]]) {
    const e = throwsKind(() => run([0x80, 4, ...op, 0x2e]), FormatError, 'h.pkl');
    assert.not.instance(e, UnsafeCheckpointError);
  }
  throwsKind(() => run([0x80, 2, 0x8b, 0, 0, 0, 0x40]), ResourceLimitError, 'LONG4');
  // Proof that the LONG1 path handles its full 255-byte range.
  assert.is(typeof run(concat([0x80, 2, 0x8a, 255], new Uint8Array(255).fill(0x11), [0x2e])), 'bigint');
  assert.instance(new Pickle(), Pickle);
});

test.after(() => console.log(`    ${timings.join('; ')}`));

test.run();
