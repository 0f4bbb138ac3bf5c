// The segmentation toolkit's checkpoints: `{name}-{sha1[:8]}.zip` holding one .pth, checked
// by the SHA-1 of that .pth. Wrapper zips are built here, stored and deflated as Python's
// zipfile and the zip tool write them, plus the ones no tool should write.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { FormatError, ResourceLimitError } from '../src/errors.js';
import { loadTorch } from '../src/io/torch.js';
import { saveTorch } from '../src/io/torch-save.js';
import { unwrapCheckpointZip } from '../src/io/wrapped-checkpoint.js';
import { crc32 } from '../src/util/crc32.js';
import type { StateDict } from '../src/io/raw.js';
import { assertStateDictsEqual, concat, throwsKind } from './helpers/io.js';

const SD: StateDict = new Map([
  ['backbone.conv1.weight', { dtype: 'float32', shape: [4, 3, 3, 3], data: Float32Array.from({ length: 108 }, (_, i) => Math.sin(i) * 0.5) }],
  ['head.conv5.1.running_mean', { dtype: 'float32', shape: [4], data: new Float32Array([0.25, -1, 3.5, 0]) }],
  ['head.conv5.1.num_batches_tracked', { dtype: 'int64', shape: [], data: new BigInt64Array([7n]) }],
]);
const PTH = saveTorch(SD, 'deeplab_resnest50_ade-00000000');
const SHA1 = createHash('sha1').update(PTH).digest('hex');
const NAME = 'deeplab_resnest50_ade';
const STEM = `${NAME}-${SHA1.slice(0, 8)}`;

interface Member {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** Declared (uncompressed) size and CRC-32, written to both headers; default the real ones. */
  size?: number;
  crc?: number;
  /** Sizes and CRC after the data (flag bit 3), as zip writes to a pipe. */
  descriptor?: boolean;
}

const u16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];
const u32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

function wrapZip(members: Member[]): Uint8Array {
  const parts: (Uint8Array | number[])[] = [];
  const central: (Uint8Array | number[])[] = [];
  let at = 0;
  const push = (p: Uint8Array | number[]) => {
    parts.push(p);
    at += p.length;
  };
  for (const m of members) {
    const name = new TextEncoder().encode(m.name);
    const body = m.deflate ? new Uint8Array(deflateRawSync(m.data)) : m.data;
    const method = m.deflate ? 8 : 0;
    const crc = m.crc ?? crc32(m.data);
    const size = m.size ?? m.data.length;
    const flags = m.descriptor ? 0x808 : 0x800;
    const offset = at;
    const [lc, lk, ls] = m.descriptor ? [0, 0, 0] : [crc, body.length, size];
    push([...u32(0x04034b50), ...u16(20), ...u16(flags), ...u16(method), ...u16(0), ...u16(0x21), ...u32(lc), ...u32(lk), ...u32(ls), ...u16(name.length), ...u16(0)]);
    push(name);
    push(body);
    if (m.descriptor) push([...u32(0x08074b50), ...u32(crc), ...u32(body.length), ...u32(size)]);
    central.push([...u32(0x02014b50), ...u16(20), ...u16(20), ...u16(flags), ...u16(method), ...u16(0), ...u16(0x21), ...u32(crc), ...u32(body.length), ...u32(size),
      ...u16(name.length), ...u16(0), ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(offset)], name);
  }
  const cdOffset = at;
  for (const c of central) push(c);
  push([...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(members.length), ...u16(members.length), ...u32(at - cdOffset), ...u32(cdOffset), ...u16(0)]);
  return concat(...parts);
}

const STORED = wrapZip([{ name: `${STEM}.pth`, data: PTH }]);
const DEFLATED = wrapZip([{ name: `${STEM}.pth`, data: PTH, deflate: true }]);

function oneLine(e: Error): Error {
  assert.not.ok(e.message.includes('\n'), `one line: ${e.message}`);
  return e;
}

test('a stored or deflated wrapper gives back the .pth, which loads as the same state dict', () => {
  for (const [what, name, zip] of [
    ['stored', `${STEM}.pth`, STORED],
    ['deflated', `${STEM}.pth`, DEFLATED],
    ['deflated, sizes after the data', `${STEM}.pth`, wrapZip([{ name: `${STEM}.pth`, data: PTH, deflate: true, descriptor: true }])],
    ['in a folder, with the folder and macOS entries', `models/${STEM}.pt`, wrapZip([
      { name: 'models/', data: new Uint8Array(0) },
      { name: `models/${STEM}.pt`, data: PTH, deflate: true },
      { name: '__MACOSX/models/._x.pth', data: new Uint8Array([0, 5, 22, 7]) },
    ])],
  ] as const) {
    const got = unwrapCheckpointZip(zip, 'w.zip');
    assert.ok(got, what);
    assert.is(got!.name, name, what);
    assert.ok(Buffer.from(got!.bytes).equals(Buffer.from(PTH)), `${what}: the member's bytes`);
    assertStateDictsEqual(loadTorch(got!.bytes, 'w.pth'), SD, what);
  }
});

test('not a wrapper: null for other files, a torch.save archive, two members, a member that is no .pth', () => {
  assert.is(unwrapCheckpointZip(new TextEncoder().encode('<html>not found</html>'), 'a.zip'), null);
  assert.is(unwrapCheckpointZip(PTH, 'a.pth'), null, 'torch.save writes a zip too');
  assert.is(unwrapCheckpointZip(wrapZip([{ name: 'a.pth', data: PTH }, { name: 'b.pth', data: PTH }]), 'a.zip'), null);
  assert.is(unwrapCheckpointZip(wrapZip([{ name: 'a.pth', data: PTH }, { name: 'README.txt', data: new Uint8Array(3) }]), 'a.zip'), null);
  assert.is(unwrapCheckpointZip(wrapZip([{ name: 'weights.bin', data: PTH, deflate: true }]), 'a.zip'), null);
});

test('damage is a one-line FormatError naming the file and the member', () => {
  const flipped = STORED.slice();
  flipped[30 + `${STEM}.pth`.length + 100] ^= 0x10; // a byte of the stored .pth
  oneLine(throwsKind(() => unwrapCheckpointZip(flipped, 'w.zip'), FormatError, 'w.zip: ', `'${STEM}.pth' is damaged: CRC-32`));
  const badCrc = wrapZip([{ name: 'x.pth', data: PTH, deflate: true, crc: crc32(PTH) ^ 1 }]);
  oneLine(throwsKind(() => unwrapCheckpointZip(badCrc, 'w.zip'), FormatError, 'w.zip: ', "'x.pth' is damaged: CRC-32"));
  // A directory that understates the member: inflating stops at the recorded size.
  const under = wrapZip([{ name: 'x.pth', data: PTH, deflate: true, size: PTH.length - 1 }]);
  oneLine(throwsKind(() => unwrapCheckpointZip(under, 'w.zip'), FormatError, 'w.zip: ', `inflates to more than the ${PTH.length - 1} bytes`));
  const over = wrapZip([{ name: 'x.pth', data: PTH, deflate: true, size: PTH.length + 10 }]);
  oneLine(throwsKind(() => unwrapCheckpointZip(over, 'w.zip'), FormatError, 'w.zip: '));
  const cut = DEFLATED.slice();
  cut.fill(0, 30 + `${STEM}.pth`.length + 20, 30 + `${STEM}.pth`.length + 200);
  oneLine(throwsKind(() => unwrapCheckpointZip(cut, 'w.zip'), FormatError, 'w.zip: '));
});

test('bounds: a huge declared size, a ratio deflate cannot reach, maxBytes, each a ResourceLimitError naming the file', () => {
  const huge = wrapZip([{ name: 'x.pth', data: PTH, size: 0xfffffff0, deflate: true }]);
  oneLine(throwsKind(() => unwrapCheckpointZip(huge, 'bomb.zip'), ResourceLimitError, 'bomb.zip: ', `declares ${0xfffffff0} bytes, over the limit of ${2 ** 31}`));
  const tiny = new Uint8Array(100);
  const ratio = wrapZip([{ name: 'x.pth', data: tiny, deflate: true, size: 200_000_000 }]);
  oneLine(throwsKind(() => unwrapCheckpointZip(ratio, 'bomb.zip'), ResourceLimitError, 'bomb.zip: ', 'beyond deflate\'s 1032:1'));
  oneLine(throwsKind(() => unwrapCheckpointZip(STORED, 'w.zip', { maxBytes: 1000 }), ResourceLimitError, 'w.zip: ', 'over the limit of 1000'));
});

test.run();
