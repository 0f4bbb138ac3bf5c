// The segmentation toolkit's checkpoints: `{name}-{sha1[:8]}.zip` holding one .pth, checked
// by the SHA-1 of that .pth. Wrapper zips are built here, stored and deflated as Python's
// zipfile and the zip tool write them, plus the ones no tool should write.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { ArgumentError, DownloadError, FormatError, ResourceLimitError } from '../src/errors.js';
import { loadTorch } from '../src/io/torch.js';
import { saveTorch } from '../src/io/torch-save.js';
import { toolkitCheckpoint, toolkitUrl } from '../src/io/toolkit-download.js';
import { unwrapCheckpointZip } from '../src/io/wrapped-checkpoint.js';
import { crc32 } from '../src/util/crc32.js';
import { loadWeightsFile } from '../src/node.js';
import type { StateDict } from '../src/io/raw.js';
import { assertStateDictsEqual, concat, throwsKind } from './helpers/io.js';
import { serveDuringSuite, tempDirsPerTest } from './helpers/http.js';

const SD: StateDict = new Map([
  ['backbone.conv1.weight', { dtype: 'float32', shape: [4, 3, 3, 3], data: Float32Array.from({ length: 108 }, (_, i) => Math.sin(i) * 0.5) }],
  ['head.conv5.1.running_mean', { dtype: 'float32', shape: [4], data: new Float32Array([0.25, -1, 3.5, 0]) }],
  ['head.conv5.1.num_batches_tracked', { dtype: 'int64', shape: [], data: new BigInt64Array([7n]) }],
]);
const PTH = saveTorch(SD, 'deeplab_resnest50_ade-00000000');
const SHA1 = createHash('sha1').update(PTH).digest('hex');
const NAME = 'deeplab_resnest50_ade';
const STEM = `${NAME}-${SHA1.slice(0, 8)}`;
const OTHER_SHA1 = (SHA1[0] === '0' ? '1' : '0') + SHA1.slice(1);

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

const freshDir = tempDirsPerTest(test, 'resnest-toolkit-');

test('loadWeightsFile reads through the wrapper (stored, deflated) and checks a given sha1', async () => {
  const dir = freshDir();
  const files: Record<string, Uint8Array> = { 'a.pth': PTH, 'stored.zip': STORED, 'deflated.zip': DEFLATED };
  for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
  for (const n of Object.keys(files)) {
    assertStateDictsEqual(await loadWeightsFile(join(dir, n)), SD, n);
    assertStateDictsEqual(await loadWeightsFile(join(dir, n), { sha1: SHA1.toUpperCase() }), SD, `${n} with its sha1`);
    const err = await loadWeightsFile(join(dir, n), { sha1: OTHER_SHA1 }).then(() => undefined, (e: Error) => e);
    assert.instance(err, FormatError, n);
    const named = n.endsWith('.zip') ? `${join(dir, n)}:${STEM}.pth: ` : `${join(dir, n)}: `;
    assert.ok(err!.message.startsWith(named), err!.message);
    assert.ok(err!.message.endsWith(`sha1 mismatch: expected ${OTHER_SHA1}, got ${SHA1}`), err!.message);
  }
  const bad = await loadWeightsFile(join(dir, 'a.pth'), { sha1: 'abc' }).then(() => undefined, (e: Error) => e);
  assert.instance(bad, ArgumentError);
});

test('loadWeightsFile: a damaged wrapped .pth is a FormatError naming the zip', async () => {
  const dir = freshDir();
  const badCrc = wrapZip([{ name: 'x.pth', data: PTH, deflate: true, crc: crc32(PTH) ^ 1 }]);
  writeFileSync(join(dir, 'w.zip'), badCrc);
  const err = await loadWeightsFile(join(dir, 'w.zip')).then(() => undefined, (e: Error) => e);
  assert.instance(err, FormatError);
  assert.ok(err!.message.startsWith(`${join(dir, 'w.zip')}: zip: record 'x.pth' is damaged`), err!.message);
});

// --- downloads, from a local server ---

const served = new Map<string, Uint8Array>([
  [`/models/${STEM}.zip`, DEFLATED],
  [`/stored/${STEM}.zip`, STORED],
  [`/models/${NAME}-${OTHER_SHA1.slice(0, 8)}.zip`, DEFLATED], // the wrong .pth for that name
  [`/html/${STEM}.zip`, new TextEncoder().encode('<html>moved</html>')],
  [`/two/${STEM}.zip`, wrapZip([{ name: 'a.pth', data: PTH }, { name: 'b.pth', data: PTH }])],
]);
const hits = new Map<string, number>();
let base = '';

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const body = served.get(path);
  if (!body) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'application/zip', 'content-length': body.length });
  res.end(body);
}
serveDuringSuite(test, handle, (b) => (base = b));

async function rejects(p: Promise<unknown>, cls: abstract new (...a: never[]) => Error = DownloadError): Promise<Error> {
  const e = await p.then(() => undefined, (err: Error) => err);
  assert.ok(e, 'expected a rejection');
  assert.instance(e, cls);
  return oneLine(e!);
}

test('toolkitUrl: the toolkit\'s folder, {name}-{sha1[:8]}.zip; names and digests are checked', () => {
  assert.is(
    toolkitUrl('deeplab_resnest50_ade', '2225f09d0f40b9a168d9091652194bc35ec2a5a9', 'https://s3.us-west-1.wasabisys.com/encoding/models'),
    'https://s3.us-west-1.wasabisys.com/encoding/models/deeplab_resnest50_ade-2225f09d.zip',
  );
  assert.is(toolkitUrl('fcn_resnest50_ade', '4ABA491AAF8E4866A9C9981B210E3E3266AC1F2A', 'http://127.0.0.1:9/m/'), 'http://127.0.0.1:9/m/fcn_resnest50_ade-4aba491a.zip');
  assert.throws(() => toolkitUrl('../etc', SHA1), (e: unknown) => e instanceof ArgumentError);
  assert.throws(() => toolkitUrl('a/b', SHA1), (e: unknown) => e instanceof ArgumentError);
  assert.throws(() => toolkitUrl(NAME, SHA1.slice(0, 39)), (e: unknown) => e instanceof ArgumentError);
});

test('toolkitUrl: $RESNEST_SEGMENTATION_URL replaces the toolkit\'s folder, else its S3 one', () => {
  const saved = process.env.RESNEST_SEGMENTATION_URL;
  try {
    delete process.env.RESNEST_SEGMENTATION_URL;
    assert.is(toolkitUrl(NAME, SHA1), `https://s3.us-west-1.wasabisys.com/encoding/models/${STEM}.zip`);
    process.env.RESNEST_SEGMENTATION_URL = 'https://mirror.example/seg/';
    assert.is(toolkitUrl(NAME, SHA1), `https://mirror.example/seg/${STEM}.zip`);
  } finally {
    if (saved === undefined) delete process.env.RESNEST_SEGMENTATION_URL;
    else process.env.RESNEST_SEGMENTATION_URL = saved;
  }
});

test('first call downloads, extracts and verifies the .pth (the zip is not kept); the second makes no request', async () => {
  for (const folder of ['models', 'stored']) {
    const dir = freshDir();
    const path = `/${folder}/${STEM}.zip`;
    const before = hits.get(path) ?? 0;
    const p = await toolkitCheckpoint(NAME, SHA1, { dir, baseUrl: `${base}/${folder}` });
    assert.is(p, join(dir, `${STEM}.pth`));
    assert.ok(readFileSync(p).equals(PTH), folder);
    assert.equal(readdirSync(dir).sort(), [`.${STEM}.pth.json`, `${STEM}.pth`]);
    const record = JSON.parse(readFileSync(join(dir, `.${STEM}.pth.json`), 'utf8')) as { size: number; sha1: string };
    assert.is(record.size, PTH.length);
    assert.is(record.sha1, SHA1);
    assert.is(hits.get(path), before + 1);
    assert.is(await toolkitCheckpoint(NAME, SHA1, { dir, baseUrl: `${base}/${folder}` }), p);
    assert.is(hits.get(path), before + 1, 'second call made no request');
    assertStateDictsEqual(await loadWeightsFile(p, { sha1: SHA1 }), SD, folder);
  }
});

test('$RESNEST_SEGMENTATION_URL points toolkitCheckpoint at a mirror', async () => {
  const saved = process.env.RESNEST_SEGMENTATION_URL;
  try {
    process.env.RESNEST_SEGMENTATION_URL = `${base}/stored`;
    const dir = freshDir();
    const before = hits.get(`/stored/${STEM}.zip`) ?? 0;
    assert.ok(readFileSync(await toolkitCheckpoint(NAME, SHA1, { dir })).equals(PTH));
    assert.is(hits.get(`/stored/${STEM}.zip`), before + 1);
  } finally {
    if (saved === undefined) delete process.env.RESNEST_SEGMENTATION_URL;
    else process.env.RESNEST_SEGMENTATION_URL = saved;
  }
});

test('a .pth with another sha1 is refused, naming the URL and both digests, and nothing is left', async () => {
  const dir = freshDir();
  const url = `${base}/models/${NAME}-${OTHER_SHA1.slice(0, 8)}.zip`;
  const err = await rejects(toolkitCheckpoint(NAME, OTHER_SHA1, { dir, baseUrl: `${base}/models` }));
  assert.is(err.message, `${url}: sha1 mismatch of '${STEM}.pth': expected ${OTHER_SHA1}, got ${SHA1}`);
  assert.equal(readdirSync(dir), []);
});

test('a download that is not the wrapper is refused and leaves nothing', async () => {
  for (const [folder, says] of [['html', 'not a zip archive'], ['two', 'holds something other than one .pth']] as const) {
    const dir = freshDir();
    const err = await rejects(toolkitCheckpoint(NAME, SHA1, { dir, baseUrl: `${base}/${folder}` }));
    assert.ok(err.message.startsWith(`${base}/${folder}/${STEM}.zip: `) && err.message.includes(says), err.message);
    assert.equal(readdirSync(dir), []);
  }
  const dir = freshDir();
  const err = await rejects(toolkitCheckpoint(NAME, SHA1, { dir, baseUrl: `${base}/models`, maxBytes: 1000 }));
  assert.match(err.message, /too large/);
  assert.equal(readdirSync(dir), []);
});

test('a truncated or changed cached .pth is downloaded again; a damaged one that cannot be fetched is named', async () => {
  const dir = freshDir();
  const opts = { dir, baseUrl: `${base}/models` };
  const path = `/models/${STEM}.zip`;
  const p = await toolkitCheckpoint(NAME, SHA1, opts);
  writeFileSync(p, PTH.subarray(0, 500));
  let before = hits.get(path)!;
  assert.is(await toolkitCheckpoint(NAME, SHA1, opts), p);
  assert.ok(readFileSync(p).equals(PTH));
  assert.is(hits.get(path), before + 1, 'the truncated copy was fetched again');

  // No record (cached by hand, or before records): hashed once, then trusted.
  const flipped = Buffer.from(PTH);
  flipped[200] ^= 1;
  writeFileSync(p, flipped);
  writeFileSync(join(dir, `.${STEM}.pth.json`), 'not json');
  before = hits.get(path)!;
  await toolkitCheckpoint(NAME, SHA1, opts);
  assert.ok(readFileSync(p).equals(PTH));
  assert.is(hits.get(path), before + 1, 'the changed copy failed its sha1 and was fetched again');
  assert.equal(readdirSync(dir).sort(), [`.${STEM}.pth.json`, `${STEM}.pth`]);

  writeFileSync(p, PTH.subarray(0, 500));
  const err = await rejects(toolkitCheckpoint(NAME, SHA1, { dir, baseUrl: `${base}/missing` }));
  assert.ok(err.message.includes(`the cached ${p} is damaged (500 bytes, the extracted file had ${PTH.length}), and fetching it again failed: HTTP 404`), err.message);
});

test.run();
