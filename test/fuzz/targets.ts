// The parsers under fuzz: each has its seed inputs (the committed fixtures plus a few
// hand-made files), a format-aware mutator, the call that parses, and its allocation bounds.
// Bounds are `slack + factor × input length`: containers may copy their input a few times;
// images may legitimately expand (deflate reaches 1032:1, 1-bit pixels become 24-bit RGB).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Rng } from './prng.js';
import { genericMutation, type Mutation } from './bytes.js';
import { pickleMutation } from './pickle-mut.js';
import {
  npyMutation, safetensorsMutation, torchLegacyMutation, torchZipMutation, zipEntryMutation, zipFieldMutation, type Entries,
} from './container-mut.js';
import { jpegMutation, pngMutation } from './image-mut.js';
import { makeZip, Pickle, tensorPickle, torchZip } from '../helpers/io.js';
import { unpickle } from '../../src/io/pickle.js';
import { loadTorch, loadTorchObject } from '../../src/io/torch.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { FormatError } from '../../src/errors.js';
import { readZip } from '../../src/io/zip.js';
import { loadSafetensorsWithMetadata, saveSafetensors } from '../../src/io/safetensors.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { decodeImage } from '../../src/io/image/decode.js';
import type { StateDict } from '../../src/io/raw.js';
import { parseIdx } from '../../src/data/idx.js';

const idxSeeds = memo((): [string, Uint8Array][] => [
  ['images.idx', idxBytes(0x08, [2, 3, 4], Uint8Array.from({ length: 24 }, (_, i) => i * 9))],
  ['labels.idx', idxBytes(0x08, [2], Uint8Array.of(3, 7))],
  ['int32.idx', idxBytes(0x0c, [2, 1], Uint8Array.of(0, 0, 1, 0, 255, 255, 255, 251))],
  ['float32.idx', idxBytes(0x0d, [1], Uint8Array.of(0x3f, 0xc0, 0, 0))],
]);

function idxBytes(type: number, shape: number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + body.length);
  const dv = new DataView(out.buffer);
  out[2] = type;
  out[3] = shape.length;
  shape.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  out.set(body, 4 + 4 * shape.length);
  return out;
}

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const IO = join(ROOT, 'test/fixtures/io');
const IMAGES = join(ROOT, 'test/fixtures/images');
const read = (dir: string, name: string) => new Uint8Array(readFileSync(join(dir, name)));

const MB = 1 << 20;

export interface Target {
  name: string;
  ext: string;
  /** Seed inputs, each with a name. */
  seeds(): [string, Uint8Array][];
  /** A format-aware mutation of one seed (or of an earlier mutation's output). */
  mutate(rng: Rng, input: Uint8Array, seedIndex: number): Mutation;
  /** Parses; anything thrown must be a ResnestError. */
  run(bytes: Uint8Array, file: string): unknown;
  /** Typed-array bytes a case may ask for, and JS-heap growth it may cause. */
  allocBound(len: number): number;
  heapBound(len: number): number;
  /** Not run unless named (the harness's own self-test targets). */
  hidden?: boolean;
}

function memo<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

const zipFixtures = ['sd_zip.pth', 'sd_wrapped_zip.pth', 'sd_module_zip.pth', 'hostile_zip.pth'];
const legacyFixtures = ['sd_legacy.pth', 'sd_wrapped_module_legacy.pth', 'hostile_legacy.pth'];
const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

const zipSeeds = memo((): [string, Uint8Array][] => [
  ...zipFixtures.map((n): [string, Uint8Array] => [n, read(IO, n)]),
  ['synthetic_strided.pth', torchZip(tensorPickle([
    { key: 'a', storage: '0', numel: 6, size: [2, 3], stride: [3, 1] },
    { key: 'b', storage: '0', numel: 6, offset: 1, size: [3, 2], stride: [1, 3] },
    { key: 'c', storage: '1', numel: 1, size: [4, 4], stride: [0, 0] },
  ]), { 0: f32([1, 2, 3, 4, 5, 6]), 1: f32([7]) })],
  ['synthetic_zip64.pth', torchZip(tensorPickle([{ key: 'w', storage: '0', numel: 3, size: [3], stride: [1] }]), { 0: f32([1, 2, 3]) }, 'archive', [], { zip64: true })],
]);

/** The entries of a seed archive (seeds are valid; mutated inputs are re-read, so may fail). */
function entriesOf(b: Uint8Array): Entries | undefined {
  try {
    return [...readZip(b)].map(([k, v]) => [k, v.slice()]);
  } catch {
    return undefined;
  }
}

const pickleSeeds = memo((): [string, Uint8Array][] => {
  const out: [string, Uint8Array][] = [];
  for (const [name, b] of zipSeeds()) {
    const e = entriesOf(b)!.find(([k]) => k.endsWith('/data.pkl'))!;
    out.push([`${name}:data.pkl`, e[1]]);
  }
  for (const name of legacyFixtures) out.push([name, read(IO, name)]);
  out.push(['containers.pkl', new Pickle().proto(4).mark().raw(0x5d, 0x94).int(1).raw(0x61).raw(0x7d).str('k').raw(0x68, 0).raw(0x73)
    .raw(0x8f).mark().int(4).raw(0x90).int(5).int(6).raw(0x86).mark().str('a').int(1).raw(0x64).tuple().stop().bytes()]);
  return out;
});

// Training checkpoints (--resume): PyTorch's own, plus object graphs a state dict never has —
// a list holding itself, and 24 levels of a list holding the level below twice.
const objectSeeds = memo((): [string, Uint8Array][] => {
  const dag = new Pickle().proto().raw(0x5d, 0x71, 0);
  for (let i = 1; i <= 24; i++) dag.raw(0x5d, 0x28, 0x68, i - 1, 0x68, i - 1, 0x65, 0x71, i);
  return [
    ['torch_checkpoint.pth', read(join(ROOT, 'test/fixtures/grad'), 'torch_checkpoint.pth')],
    ...zipSeeds().slice(0, 2),
    ['self-list.pth', torchZip(new Uint8Array([0x80, 2, 0x5d, 0x94, 0x68, 0, 0x61, 0x2e]), {})],
    ['dag.pth', torchZip(dag.stop().bytes(), {})],
  ];
});

const npySeeds = memo((): [string, Uint8Array][] =>
  readdirSync(IO).filter((f) => f.endsWith('.npy')).sort().map((f): [string, Uint8Array] => [f, read(IO, f)]));

const safetensorsSeeds = memo((): [string, Uint8Array][] => {
  const sd: StateDict = new Map();
  sd.set('f16', { dtype: 'float16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7bff]) });
  sd.set('f32', { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, -2, 3.25, 1e30]) });
  sd.set('i64', { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 7n]) });
  sd.set('empty', { dtype: 'float32', shape: [0, 5], data: new Float32Array(0) });
  sd.set('bool', { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) });
  return [['sd.safetensors', read(IO, 'sd.safetensors')], ['dtypes.safetensors', saveSafetensors(sd, { note: 'x' })]];
});

const imageSeeds = (ext: string) => memo((): [string, Uint8Array][] =>
  readdirSync(IMAGES).filter((f) => f.endsWith(ext)).sort().map((f): [string, Uint8Array] => [f, read(IMAGES, f)]));
const pngSeeds = imageSeeds('.png');
const jpegSeeds = imageSeeds('.jpg');

const persistent = (pid: unknown) => pid;

/** A torch.save zip's records mutated while it still reads as a zip, its fields once it does not. */
const torchZipMutate = (rng: Rng, b: Uint8Array): Mutation => {
  const es = entriesOf(b);
  return es ? torchZipMutation(rng, b, es) : zipFieldMutation(rng, b);
};

export const TARGETS: Target[] = [
  {
    name: 'pickle',
    ext: 'pkl',
    seeds: pickleSeeds,
    mutate: (rng, b) => pickleMutation(rng, b),
    run: (b, file) => unpickle(b, { file, persistentLoad: persistent }),
    allocBound: (n) => 16 * MB + 4 * n,
    heapBound: (n) => 64 * MB + 512 * n,
  },
  {
    name: 'torch-zip',
    ext: 'pth',
    seeds: zipSeeds,
    mutate: torchZipMutate,
    run: (b, file) => loadTorch(b, file),
    allocBound: (n) => 32 * MB + 4 * n,
    heapBound: (n) => 64 * MB + 512 * n,
  },
  {
    name: 'torch-object',
    ext: 'pth',
    seeds: objectSeeds,
    mutate: torchZipMutate,
    // The whole object first (cycles, shared references), then the checkpoint's layout and types.
    run: (b, file) => {
      loadTorchObject(b, file);
      try {
        return readCheckpoint(b, file);
      } catch (e) {
        // A state dict alone is not a training checkpoint: that answer is typed too.
        if (e instanceof FormatError) return null;
        throw e;
      }
    },
    allocBound: (n) => 32 * MB + 4 * n,
    heapBound: (n) => 64 * MB + 512 * n,
  },
  {
    name: 'torch-legacy',
    ext: 'pth',
    seeds: () => legacyFixtures.map((n): [string, Uint8Array] => [n, read(IO, n)]),
    mutate: torchLegacyMutation,
    run: (b, file) => loadTorch(b, file),
    allocBound: (n) => 32 * MB + 4 * n,
    heapBound: (n) => 64 * MB + 512 * n,
  },
  {
    name: 'zip',
    ext: 'zip',
    seeds: () => [
      ...zipSeeds(),
      ['plain.zip', makeZip([['a/x', new TextEncoder().encode('hello')], ['a/empty', new Uint8Array(0)]], { localSizes: true, comment: 'c' })],
    ],
    mutate: (rng, b) => {
      const es = entriesOf(b);
      return es && rng.chance(0.3) ? zipEntryMutation(rng, es, {}) : zipFieldMutation(rng, b);
    },
    run: (b, file) => {
      readZip(b, file);
      return readZip(b, file, { verifyCrc: true });
    },
    allocBound: (n) => 16 * MB + 2 * n,
    heapBound: (n) => 64 * MB + 64 * n,
  },
  {
    name: 'safetensors',
    ext: 'safetensors',
    seeds: safetensorsSeeds,
    mutate: safetensorsMutation,
    run: (b, file) => loadSafetensorsWithMetadata(b, file),
    allocBound: (n) => 16 * MB + 2 * n,
    heapBound: (n) => 64 * MB + 128 * n,
  },
  {
    name: 'idx',
    ext: 'idx',
    // MNIST-style files: uint8 images [2, 3, 4], labels [2], big-endian int32 and float32.
    seeds: idxSeeds,
    mutate: (rng, input) => genericMutation(rng, input, idxSeeds().map(([, b]) => b)),
    run: (b, file) => parseIdx(b, file),
    allocBound: (n) => 16 * MB + 8 * n,
    heapBound: (n) => 64 * MB + 64 * n,
  },
  {
    name: 'npy',
    ext: 'npy',
    seeds: () => [...npySeeds(), ['written.npy', writeNpy({ dtype: 'int16', shape: [2, 2], data: new Int16Array([1, -2, 3, -4]) })]],
    mutate: npyMutation,
    run: (b, file) => readNpy(b, file),
    allocBound: (n) => 16 * MB + 2 * n,
    heapBound: (n) => 64 * MB + 64 * n,
  },
  {
    name: 'png',
    ext: 'png',
    seeds: pngSeeds,
    mutate: pngMutation,
    run: (b, file) => decodeImage(b, file),
    allocBound: (n) => 16 * MB + 32768 * n,
    heapBound: (n) => 64 * MB + 64 * n,
  },
  {
    name: 'jpeg',
    ext: 'jpg',
    seeds: jpegSeeds,
    mutate: jpegMutation,
    run: (b, file) => decodeImage(b, file),
    allocBound: (n) => 16 * MB + 65536 * n,
    heapBound: (n) => 64 * MB + 8192 * n,
  },
];

// ---------------------------------------------------------------- self-test targets
// Deliberately broken "parsers" that prove the harness catches each kind of failure.

const retained: unknown[] = [];
const spin = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};
const selfSeeds = () => [['one-kb', new Uint8Array(1024).fill(7)] as [string, Uint8Array]];
const selfBase = { ext: 'bin', seeds: selfSeeds, mutate: (rng: Rng, b: Uint8Array) => ({ bytes: b.slice(), op: 'none' }), allocBound: (n: number) => 16 * MB + 4 * n, heapBound: (n: number) => 64 * MB + 64 * n, hidden: true };

export const SELF_TESTS: Target[] = [
  // Trusts a length field: asks for 1 GB on a 1 KB input (refused by the tracker, never allocated).
  { ...selfBase, name: 'selftest-alloc', run: (b) => new Float32Array(b.length * 256 * 1024) },
  // Swallows the tracker's error, as jpeg.ts wraps jpeg-js errors: still a failure.
  { ...selfBase, name: 'selftest-alloc-caught', run: (b) => { try { return new Uint8Array(b.length << 20); } catch { return null; } } },
  // Grows the JS heap by 80 MB (a flat string) and keeps it.
  { ...selfBase, name: 'selftest-heap', run: () => { const s = 'x'.repeat(80 << 20); s.indexOf('y'); retained.push(s); } },
  { ...selfBase, name: 'selftest-untyped', run: (b) => (b as unknown as { nope: () => void }).nope() },
  { ...selfBase, name: 'selftest-slow', run: () => spin(1100) },
  { ...selfBase, name: 'selftest-hang', run: () => { for (;;) spin(1000); } },
];

export function findTarget(name: string): Target | undefined {
  return [...TARGETS, ...SELF_TESTS].find((t) => t.name === name);
}

/**
 * The input of case `index`: a seed (by index), then 1–3 mutations, each format-aware or
 * byte-level with equal odds. Deterministic in (seed, parser, index).
 */
export function makeCase(t: Target, rng: Rng): { bytes: Uint8Array; seed: string; ops: string[] } {
  const seeds = t.seeds();
  const si = rng.int(seeds.length);
  const [seedName, seed] = seeds[si]!;
  const corpus = seeds.map(([, b]) => b);
  let bytes = seed;
  const ops: string[] = [];
  const n = rng.weighted([[6, 1], [3, 2], [1, 3]] as const);
  for (let i = 0; i < n; i++) {
    const m = rng.chance(0.5) ? t.mutate(rng, bytes, si) : genericMutation(rng, bytes, corpus);
    bytes = m.bytes;
    ops.push(m.op);
  }
  return { bytes, seed: seedName, ops };
}
