// Downloads against a local server that misbehaves on purpose, beyond test/download.test.ts:
// a progress bar on a (pseudo-)terminal and silence otherwise, two *processes* downloading
// the same file at once, bodies cut off without a Content-Length, redirects to errors, and
// concurrent downloads that fail their hash. Nothing may be left in the cache on failure.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { downloadToCache } from '../src/io/download.js';
import { DownloadError } from '../src/errors.js';
import { serveDuringSuite, tempDirsPerTest } from './helpers/http.js';

const BODY = randomBytes(256 * 1024);
const SHA = createHash('sha256').update(BODY).digest('hex');
const NAME = `resnest50-${SHA.slice(0, 8)}.pth`;
const hits = new Map<string, number>();
let base = '';

// Responses held back until `barrier` requests have arrived, so that concurrent downloads
// really overlap however slowly the processes start.
let barrier = 0;
let held: (() => void)[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const slowly = (withLength: boolean, parts = 8, ms = 60) => {
    res.writeHead(200, withLength ? { 'content-length': BODY.length } : {});
    const step = BODY.length / parts;
    let i = 0;
    const tick = () => {
      if (i === parts) return void res.end();
      res.write(BODY.subarray(i * step, ++i * step));
      setTimeout(tick, ms);
    };
    tick();
  };
  switch (path) {
    case `/slow/${NAME}`:
      return slowly(true);
    case `/together/${NAME}`:
      held.push(() => slowly(true));
      if (held.length >= barrier) {
        for (const go of held) go();
        held = [];
      }
      return;
    case '/chunked.pth':
      return slowly(false, 4, 20);
    case '/chunked-cut.pth':
      // Transfer-Encoding: chunked, two chunks, then the connection drops mid-body.
      res.writeHead(200);
      res.write(BODY.subarray(0, 1000));
      return void res.write(BODY.subarray(1000, 2000), () => setTimeout(() => res.socket?.destroy(), 30));
    case '/endless.pth': {
      // A body that never ends (chunked, no length): only a size cap stops it.
      res.writeHead(200);
      const pump = () => {
        if (res.destroyed || res.writableEnded) return;
        res.write(BODY.subarray(0, 16 * 1024), () => setImmediate(pump));
      };
      res.on('close', () => res.destroy());
      return pump();
    }
    case '/huge.pth':
      // Announces a terabyte; refused from the header, before any of it is written to disk.
      res.writeHead(200, { 'content-length': String(1e12) });
      res.write(BODY.subarray(0, 1000));
      res.on('close', () => res.destroy());
      return;
    case '/redirect.pth':
      res.writeHead(302, { location: '/gone.pth' });
      return void res.end();
    case '/loop.pth':
      res.writeHead(302, { location: '/loop.pth' });
      return void res.end();
    case '/gone.pth':
      res.writeHead(410);
      return void res.end('gone');
    default:
      res.writeHead(404);
      res.end();
  }
}

const fresh = tempDirsPerTest(test, 'resnest-udl-');
serveDuringSuite(test, handle, (b) => (base = b));

async function fails(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, DownloadError);
    assert.match((e as Error).message, pattern);
    assert.not.ok((e as Error).message.includes('\n'));
    return;
  }
  assert.unreachable('expected a DownloadError');
}

// Children import the built module next to this test.
const MODULE = new URL('../src/io/download.js', import.meta.url).href;

function childScript(dir: string, body: string): string {
  const file = join(dir, '..', `child-${randomBytes(4).toString('hex')}.mjs`);
  writeFileSync(file, `import { downloadToCache } from ${JSON.stringify(MODULE)};\n${body}\n`);
  return file;
}

function run(cmd: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout.on('data', (d: Buffer) => (out += d));
    c.stderr.on('data', (d: Buffer) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

test('progress bar on a terminal: redrawn in place, ends at 100% and a newline', async () => {
  const dir = fresh();
  const script = childScript(dir, `
    Object.defineProperty(process.stderr, 'isTTY', { value: true });
    Object.defineProperty(process.stderr, 'columns', { value: 80 });
    const p = await downloadToCache(process.env.URL, { dir: process.env.DIR, progress: true, sha256Prefix: process.env.SHA });
    process.stdout.write(p);`);
  const r = await run(process.execPath, [script], { URL: `${base}/slow/${NAME}`, DIR: dir, SHA: SHA.slice(0, 8) });
  rmSync(script);
  assert.is(r.code, 0, r.err);
  assert.is(r.out, join(dir, NAME));
  const frames = r.err.split('\r').filter(Boolean);
  assert.ok(frames.length >= 2, `frames: ${JSON.stringify(r.err)}`);
  for (const f of frames) assert.ok(f.startsWith(NAME), f);
  assert.match(frames[frames.length - 1]!, /100% \|█+\| 0\.3\/0\.3 MB/);
  assert.ok(r.err.endsWith('\n'));
  assert.ok(frames.every((f) => f.replace(/\x1b\[K|\n/g, '').length <= 79), 'fits the terminal');
});

test('progress bar through a real pseudo-terminal (script(1)), when available', async () => {
  if (spawnSync('script', ['--version']).status !== 0) return void console.log('    (script(1) not available: skipped)');
  const dir = fresh();
  const script = childScript(dir, `await downloadToCache(process.env.URL, { dir: process.env.DIR, progress: true });`);
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(script)}`;
  const r = await run('script', ['-qec', cmd, '/dev/null'], { URL: `${base}/slow/${NAME}`, DIR: dir });
  rmSync(script);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /\r.*resnest50-.*100%/);
  assert.equal(readdirSync(dir).sort(), [`.${NAME}.json`, NAME]);
});

test('quiet when stderr is not a terminal, also on failure', async () => {
  const dir = fresh();
  const script = childScript(dir, `
    await downloadToCache(process.env.URL, { dir: process.env.DIR, progress: true });
    await downloadToCache(process.env.BAD, { dir: process.env.DIR, progress: true }).catch(() => {});`);
  const r = await run(process.execPath, [script], { URL: `${base}/chunked.pth`, BAD: `${base}/chunked-cut.pth`, DIR: dir });
  rmSync(script);
  assert.is(r.code, 0, r.err);
  assert.is(r.err, '');
  assert.equal(readdirSync(dir).sort(), ['.chunked.pth.json', 'chunked.pth']);
});

test('two processes downloading the same file at once: one complete file, no leftovers', async () => {
  const dir = fresh();
  const script = childScript(dir, `
    const p = await downloadToCache(process.env.URL, { dir: process.env.DIR, sha256Prefix: process.env.SHA });
    process.stdout.write(p);`);
  const env = { URL: `${base}/together/${NAME}`, DIR: dir, SHA: SHA.slice(0, 8) };
  barrier = 3;
  const [a, b, c] = await Promise.all([run(process.execPath, [script], env), run(process.execPath, [script], env), downloadToCache(env.URL, { dir, sha256Prefix: env.SHA })]);
  rmSync(script);
  assert.is(a.code, 0, a.err);
  assert.is(b.code, 0, b.err);
  assert.is(a.out, c);
  assert.is(b.out, c);
  assert.ok(readFileSync(c).equals(BODY));
  assert.equal(readdirSync(dir).sort(), [`.${NAME}.json`, NAME]);
  assert.is(hits.get(`/together/${NAME}`), 3, 'all three were downloading at once');
});

test('concurrent downloads that fail their hash leave nothing behind', async () => {
  const dir = fresh();
  const url = `${base}/slow/${NAME}`;
  await Promise.all([1, 2, 3].map(() => fails(downloadToCache(url, { dir, sha256Prefix: 'deadbeef' }), /sha256 mismatch: expected prefix deadbeef/)));
  assert.equal(readdirSync(dir), []);
});

test('a chunked body (no Content-Length) cut off mid-transfer is a network error; nothing cached', async () => {
  const dir = fresh();
  await fails(downloadToCache(`${base}/chunked-cut.pth`, { dir }), /network error/);
  assert.equal(readdirSync(dir), []);
  // A complete chunked body is fine (no length to check; the hash is what protects it).
  const p = await downloadToCache(`${base}/chunked.pth`, { dir, sha256Prefix: SHA.slice(0, 8) });
  assert.ok(readFileSync(p).equals(BODY));
});

test('size cap: an endless body and an announced terabyte are refused; nothing cached', async () => {
  const dir = fresh();
  await fails(downloadToCache(`${base}/endless.pth`, { dir, maxBytes: 200_000 }), /too large: more than the limit of 200000 bytes/);
  assert.equal(readdirSync(dir), []);
  // The default cap (2 GiB) applies without the option.
  await fails(downloadToCache(`${base}/huge.pth`, { dir }), /too large: Content-Length 1000000000000 bytes exceeds the limit of 2147483648/);
  assert.equal(readdirSync(dir), []);
  // A body exactly at the cap is fine.
  const p = await downloadToCache(`${base}/chunked.pth`, { dir, maxBytes: BODY.length });
  assert.ok(readFileSync(p).equals(BODY));
});

test('redirects: to an HTTP error, and in a loop', async () => {
  const dir = fresh();
  await fails(downloadToCache(`${base}/redirect.pth`, { dir }), /HTTP 410/);
  await fails(downloadToCache(`${base}/loop.pth`, { dir, timeoutMs: 5000 }), /loop\.pth: more than 20 redirects$/);
  assert.equal(readdirSync(dir), []);
});

test.run();
