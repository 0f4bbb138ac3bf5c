import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { cacheDir, checkUrl, downloadToCache, pretrainedFileName } from '../src/io/download.js';
import { ArgumentError, DownloadError, FileError } from '../src/errors.js';
import { serveDuringSuite, tempDirsPerTest } from './helpers/http.js';

const GOOD = randomBytes(300 * 1024);
const GOOD_SHA = createHash('sha256').update(GOOD).digest('hex');
const PREFIX = GOOD_SHA.slice(0, 8);
const GOOD_NAME = `resnest50-${PREFIX}.pth`;

const hits = new Map<string, number>();
let base = '';

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const send = (body: Buffer) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  };
  switch (path) {
    case `/good/${GOOD_NAME}`:
    case '/mismatch/resnest50-00000000.pth':
      return send(GOOD);
    case '/to-plain-http.pth':
      res.writeHead(302, { location: 'http://example.invalid/resnest50.pth' });
      return void res.end();
    case '/to-ftp.pth':
      res.writeHead(301, { location: 'ftp://127.0.0.1/resnest50.pth' });
      return void res.end();
    case '/missing.pth':
      res.writeHead(404);
      return void res.end('not found');
    case '/broken.pth':
      res.writeHead(500);
      return void res.end('oops');
    case '/short.pth':
      res.writeHead(200, { 'content-length': 5000 });
      // Let the 1000 bytes leave before cutting the connection.
      return void res.write(GOOD.subarray(0, 1000), () => setTimeout(() => res.socket?.destroy(), 20));
    case '/stall.pth':
      res.writeHead(200, { 'content-length': GOOD.length });
      return void res.flushHeaders();
    case '/drip.pth':
      // Some data, then nothing: a download that is under way when it gets cancelled.
      res.writeHead(200, { 'content-length': GOOD.length });
      return void res.write(GOOD.subarray(0, 64 * 1024));
    case '/steady.pth': {
      // Slower overall than the idle timeout, but never idle for long.
      res.writeHead(200, { 'content-length': GOOD.length });
      const step = GOOD.length / 6;
      let i = 0;
      const tick = () => {
        if (i === 6) return void res.end();
        res.write(GOOD.subarray(i * step, ++i * step));
        setTimeout(tick, 100);
      };
      return tick();
    }
    default:
      res.writeHead(404);
      res.end();
  }
}

const freshDir = tempDirsPerTest(test, 'resnest-dl-');
serveDuringSuite(test, handle, (b) => (base = b));

async function rejects(p: Promise<unknown>): Promise<DownloadError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, DownloadError);
    return e as DownloadError;
  }
  assert.unreachable('expected the download to reject');
  throw new Error('unreachable');
}

async function expectFailure(
  path: string,
  cause: string | RegExp,
  opts: { timeoutMs?: number; sha256Prefix?: string } = {},
): Promise<void> {
  const dir = freshDir();
  const err = await rejects(downloadToCache(base + path, { dir, ...opts }));
  if (typeof cause === 'string') assert.ok(err.message.includes(cause), err.message);
  else assert.match(err.message, cause);
  assert.ok(err.message.includes(base + path), `message names the URL: ${err.message}`);
  assert.not.ok(err.message.includes('\n'), 'one-line message');
  assert.equal(readdirSync(dir), [], 'no partial or final file left behind');
}

test('cacheDir honours RESNEST_HOME, else ~/.cache/resnest-ts', () => {
  assert.is(cacheDir({ RESNEST_HOME: '/opt/weights' }), '/opt/weights');
  assert.is(cacheDir({}), join(homedir(), '.cache', 'resnest-ts'));
});

test('pretrainedFileName is the last path segment', () => {
  assert.is(pretrainedFileName('https://example.com/models/resnest50-528c19ca.pth?dl=1#x'), 'resnest50-528c19ca.pth');
  assert.throws(() => pretrainedFileName('not a url'), (e: unknown) => e instanceof DownloadError);
  assert.throws(() => pretrainedFileName('https://example.com/models/'), (e: unknown) => e instanceof DownloadError);
});

test('good download: content and hash, then a cache hit without a request', async () => {
  const dir = join(freshDir(), 'nested', 'cache');
  const url = `${base}/good/${GOOD_NAME}`;
  const before = hits.get(`/good/${GOOD_NAME}`) ?? 0;
  const p = await downloadToCache(url, { dir, sha256Prefix: PREFIX });
  assert.is(p, join(dir, GOOD_NAME));
  const got = readFileSync(p);
  assert.ok(got.equals(GOOD));
  assert.ok(createHash('sha256').update(got).digest('hex').startsWith(PREFIX));
  assert.equal(readdirSync(dir).sort(), [`.${GOOD_NAME}.json`, GOOD_NAME]);
  const record = JSON.parse(readFileSync(join(dir, `.${GOOD_NAME}.json`), 'utf8')) as Record<string, unknown>;
  assert.equal(record, { size: GOOD.length, sha256: GOOD_SHA, mtimeMs: statSync(p).mtimeMs });
  assert.is(hits.get(`/good/${GOOD_NAME}`), before + 1);

  assert.is(await downloadToCache(url, { dir, sha256Prefix: PREFIX }), p);
  assert.is(hits.get(`/good/${GOOD_NAME}`), before + 1, 'second call made no request');
});

const RECORD = (name: string) => `.${name}.json`;
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

test('a cached file that fails the expected digest (no record yet) is downloaded again, then recorded', async () => {
  const dir = freshDir();
  writeFileSync(join(dir, GOOD_NAME), 'stale');
  const before = hits.get(`/good/${GOOD_NAME}`) ?? 0;
  const p = await downloadToCache(`${base}/good/${GOOD_NAME}`, { dir, sha256Prefix: PREFIX });
  assert.ok(readFileSync(p).equals(GOOD));
  assert.is(hits.get(`/good/${GOOD_NAME}`), before + 1);
  assert.equal(readdirSync(dir).sort(), [RECORD(GOOD_NAME), GOOD_NAME]);
});

test('a cached file shorter than its record is downloaded again, even with no digest to check', async () => {
  const dir = freshDir();
  const url = `${base}/good/${GOOD_NAME}`;
  const p = await downloadToCache(url, { dir });
  writeFileSync(p, GOOD.subarray(0, 1000)); // what a crashed copy or a full disk leaves
  const before = hits.get(`/good/${GOOD_NAME}`)!;
  assert.is(await downloadToCache(url, { dir }), p);
  assert.ok(readFileSync(p).equals(GOOD));
  assert.is(hits.get(`/good/${GOOD_NAME}`), before + 1);
});

test('a cached file changed in place (same size, new mtime) is hashed against its record and downloaded again', async () => {
  const dir = freshDir();
  const url = `${base}/good/${GOOD_NAME}`;
  const p = await downloadToCache(url, { dir });
  const flipped = Buffer.from(GOOD);
  flipped[1234] ^= 1;
  writeFileSync(p, flipped);
  utimesSync(p, new Date(), new Date(Date.now() + 5000));
  const before = hits.get(`/good/${GOOD_NAME}`)!;
  await downloadToCache(url, { dir });
  assert.ok(readFileSync(p).equals(GOOD));
  assert.is(hits.get(`/good/${GOOD_NAME}`), before + 1);
  await downloadToCache(url, { dir });
  assert.is(hits.get(`/good/${GOOD_NAME}`), before + 1, 'the new copy is recorded: a cache hit again');
});

test('a damaged cached file whose download now fails: one error naming the cached file and the failure', async () => {
  const dir = freshDir();
  writeFileSync(join(dir, 'resnest50-00000000.pth'), 'stale');
  const err = await rejects(downloadToCache(`${base}/missing.pth`, { dir, fileName: 'resnest50-00000000.pth', sha256Prefix: '00000000' }));
  assert.match(err.message, /^http:\/\/127\.0\.0\.1:\d+\/missing\.pth: the cached .*resnest50-00000000\.pth is damaged \(sha256 mismatch: expected prefix 00000000, got [0-9a-f]{64}\), and fetching it again failed: HTTP 404/);
  assert.not.ok(err.message.includes('\n'));
});

test('the whole sha256, where known, is checked: a matching prefix is not enough', async () => {
  const dir = freshDir();
  const url = `${base}/good/${GOOD_NAME}`;
  const wrong = PREFIX + (GOOD_SHA[8] === '0' ? '1' : '0') + GOOD_SHA.slice(9);
  const err = await rejects(downloadToCache(url, { dir, sha256: wrong, sha256Prefix: PREFIX }));
  assert.ok(err.message.endsWith(`sha256 mismatch: expected ${wrong}, got ${GOOD_SHA}`), err.message);
  assert.equal(readdirSync(dir), []);
  const p = await downloadToCache(url, { dir, sha256: GOOD_SHA.toUpperCase(), sha256Prefix: PREFIX });
  assert.ok(readFileSync(p).equals(GOOD));
  // A cached file is held to the whole digest too.
  const before = hits.get(`/good/${GOOD_NAME}`)!;
  await rejects(downloadToCache(url, { dir, sha256: wrong }));
  assert.is(hits.get(`/good/${GOOD_NAME}`), before + 1, 'the cached copy failed the digest and was fetched again');
  try {
    await downloadToCache(url, { dir, sha256: 'abc' });
    assert.unreachable('a malformed digest is an argument error');
  } catch (e) {
    assert.instance(e, ArgumentError);
  }
});

test('plain http:// is refused except to loopback hosts or when allowed; redirects are checked before connecting', async () => {
  const dir = freshDir();
  const refused = /plain http:\/\/ is refused: anyone on the way could alter the file/;
  const err = await rejects(downloadToCache('http://example.invalid/resnest50.pth', { dir }));
  assert.match(err.message, refused);
  const redirected = await rejects(downloadToCache(`${base}/to-plain-http.pth`, { dir }));
  assert.match(redirected.message, /to-plain-http\.pth: redirected to http:\/\/example\.invalid\/resnest50\.pth: plain http:\/\/ is refused/);
  assert.match((await rejects(downloadToCache(`${base}/to-ftp.pth`, { dir, allowHttp: true }))).message, /unsupported scheme ftp:/);
  assert.equal(readdirSync(dir), []);
  for (const u of ['https://example.com/w.pth', 'http://127.0.0.1:8000/w.pth', 'http://127.1.2.3/w.pth', 'http://localhost/w.pth', 'http://[::1]:80/w.pth']) checkUrl(u, false);
  checkUrl('http://example.com/w.pth', true);
  for (const u of ['http://example.com/w.pth', 'http://127.0.0.1.example.com/w.pth', 'http://10.0.0.1/w.pth']) assert.throws(() => checkUrl(u, false), refused, u);
  assert.throws(() => checkUrl('file:///etc/passwd', true), /unsupported scheme file:/);
});

test("downloading into a folder removes a dead process's old .partial files, not a live one's", async () => {
  const dir = freshDir();
  const dead = `${GOOD_NAME}.${deadPid()}.0123456789ab.partial`;
  const live = `${GOOD_NAME}.${process.ppid}.ba9876543210.partial`;
  for (const n of [dead, live]) {
    writeFileSync(join(dir, n), 'half');
    utimesSync(join(dir, n), new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
  }
  await downloadToCache(`${base}/good/${GOOD_NAME}`, { dir, sha256Prefix: PREFIX });
  assert.equal(readdirSync(dir).sort(), [RECORD(GOOD_NAME), GOOD_NAME, live].sort());
});

test('fileName option names the cached file', async () => {
  const dir = freshDir();
  const p = await downloadToCache(`${base}/good/${GOOD_NAME}`, { dir, fileName: 'weights.pth' });
  assert.is(p, join(dir, 'weights.pth'));
  assert.ok(readFileSync(p).equals(GOOD));
  try {
    await downloadToCache(`${base}/good/${GOOD_NAME}`, { dir, fileName: '../escape.pth' });
    assert.unreachable('path separators in fileName must be refused');
  } catch (e) {
    assert.instance(e, FileError);
  }
});

test('HTTP 404', () => expectFailure('/missing.pth', 'HTTP 404'));
test('HTTP 500', () => expectFailure('/broken.pth', 'HTTP 500'));

test('body shorter than Content-Length', () =>
  expectFailure('/short.pth', /truncated: got \d+ of 5000 bytes/));

test('headers, then silence: idle timeout', () =>
  expectFailure('/stall.pth', 'timed out after 0.3 s without data', { timeoutMs: 300 }));

test('data, then silence: idle timeout', () =>
  expectFailure('/drip.pth', 'timed out after 0.3 s without data', { timeoutMs: 300 }));

test('the timeout is between chunks, not for the whole download', async () => {
  const dir = freshDir();
  const p = await downloadToCache(`${base}/steady.pth`, { dir, timeoutMs: 300 });
  assert.ok(readFileSync(p).equals(GOOD));
});

test('sha256 mismatch', () =>
  expectFailure('/mismatch/resnest50-00000000.pth', `sha256 mismatch: expected prefix 00000000, got ${GOOD_SHA}`, {
    sha256Prefix: '00000000',
  }));

test('connection refused', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const dir = freshDir();
  const err = await rejects(downloadToCache(`http://127.0.0.1:${port}/x.pth`, { dir }));
  assert.match(err.message, /network error: .*ECONNREFUSED/);
  assert.equal(readdirSync(dir), []);
});

test('two concurrent downloads of the same file', async () => {
  const dir = freshDir();
  const url = `${base}/good/${GOOD_NAME}`;
  const [a, b] = await Promise.all([
    downloadToCache(url, { dir, sha256Prefix: PREFIX }),
    downloadToCache(url, { dir, sha256Prefix: PREFIX }),
  ]);
  assert.is(a, b);
  assert.ok(readFileSync(a).equals(GOOD));
  assert.equal(readdirSync(dir).sort(), [`.${GOOD_NAME}.json`, GOOD_NAME]);
});

test('progress callback: increasing byte counts ending at the total', async () => {
  const dir = freshDir();
  const calls: Array<[number, number | undefined]> = [];
  await downloadToCache(`${base}/steady.pth`, { dir, progress: (d, t) => void calls.push([d, t]) });
  assert.ok(calls.length > 2, `got ${calls.length} calls`);
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i][0] > calls[i - 1][0], 'strictly increasing');
  for (const [, t] of calls) assert.is(t, GOOD.length);
  assert.is(calls[calls.length - 1][0], GOOD.length);
});

test('AbortSignal cancels cleanly', async () => {
  const dir = freshDir();
  const ac = new AbortController();
  const err = await rejects(
    downloadToCache(`${base}/drip.pth`, { dir, signal: ac.signal, progress: (d) => void (d > 0 && ac.abort()) }),
  );
  assert.match(err.message, /aborted/);
  assert.equal(readdirSync(dir), []);

  const before = hits.get('/drip.pth');
  await rejects(downloadToCache(`${base}/drip.pth`, { dir, signal: AbortSignal.abort() }));
  assert.is(hits.get('/drip.pth'), before, 'an aborted signal makes no request');
});

// Child processes import the built module next to this test (build/src/io/download.js).
const MODULE = new URL('../src/io/download.js', import.meta.url).href;

function child(script: string, env: Record<string, string>) {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', `import { downloadToCache } from ${JSON.stringify(MODULE)};\n${script}`], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => (stdout += b));
  proc.stderr.on('data', (b: Buffer) => (stderr += b));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  return { proc, exited, out: () => stdout, err: () => stderr };
}

test('progress: true prints nothing when stderr is not a TTY', async () => {
  const dir = freshDir();
  const c = child(
    `const p = await downloadToCache(process.env.URL, { dir: process.env.DIR, progress: true }); process.stdout.write(p);`,
    { URL: `${base}/good/${GOOD_NAME}`, DIR: dir },
  );
  const { code } = await c.exited;
  assert.is(code, 0, c.err());
  assert.is(c.out(), join(dir, GOOD_NAME));
  assert.is(c.err(), '');
});

test('SIGINT during a download removes the temp file and still ends the process', async () => {
  const dir = freshDir();
  const c = child(
    `let said = false;
     downloadToCache(process.env.URL, { dir: process.env.DIR, progress: (d) => {
       if (d > 0 && !said) { said = true; process.stdout.write('started\\n'); }
     } }).then(() => process.exit(3), () => process.exit(4));`,
    { URL: `${base}/drip.pth`, DIR: dir },
  );
  await new Promise<void>((resolve, reject) => {
    c.proc.stdout.on('data', () => c.out().includes('started') && resolve());
    c.exited.then(() => reject(new Error(`child exited early: ${c.err()}`)));
  });
  assert.is(readdirSync(dir).filter((f) => f.endsWith('.partial')).length, 1, 'download under way');
  c.proc.kill('SIGINT');
  const { signal } = await c.exited;
  assert.is(signal, 'SIGINT', 'the default SIGINT behaviour is kept');
  assert.equal(readdirSync(dir), []);
});

test.run();
