// The demo server under requests any web page could send it: a bad percent-escape (an <img>
// on any site can ask for one), a foreign Host (DNS rebinding), paths out of its folder,
// other methods. Each gets its status and the server goes on serving.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Server } from 'node:http';

type DemoServer = { createDemoServer(root: string, o?: { isolated?: boolean }): Server; fileFor(root: string, url: string): string | null; hostName(h: unknown): string | null };
const demo = (await import(pathToFileURL(join(process.cwd(), 'scripts', 'demo-server.mjs')).href)) as DemoServer;

/** One raw HTTP/1.1 request, exactly as written (no client-side validation), and its status line and body. */
function raw(port: number, request: string): Promise<{ status: number; body: string; headers: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let data = '';
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('data', (d) => (data += d));
    s.on('error', reject);
    s.on('close', () => {
      const [head, body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head ?? '')?.[1] ?? 0), body, headers: head ?? '' });
    });
    s.end(request);
  });
}

async function withServer(fn: (port: number, root: string) => Promise<void>): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'resnest-demo-'));
  const root = join(base, 'site');
  mkdirSync(join(root, 'js'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<p>page</p>');
  writeFileSync(join(root, 'js', 'main.js'), 'x = 1;');
  writeFileSync(join(base, 'secret.txt'), 'outside');
  mkdirSync(join(base, 'site-other'));
  writeFileSync(join(base, 'site-other', 'x.txt'), 'sibling');
  const server = demo.createDemoServer(root);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as { port: number }).port, root);
  } finally {
    await new Promise((r) => server.close(r));
    rmSync(base, { recursive: true, force: true });
  }
}

const get = (path: string, host = '127.0.0.1', method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

test('a malformed percent-escape is a 400 and the server keeps serving', () =>
  withServer(async (port) => {
    for (const bad of ['/%E0%A4%A', '/%', '/%zz', '/%C0%AF']) {
      const r = await raw(port, get(bad));
      assert.is(r.status, 400, `${bad}: ${r.headers}`);
    }
    const ok = await raw(port, get('/'));
    assert.is(ok.status, 200);
    assert.is(ok.body, '<p>page</p>');
    assert.match(ok.headers, /cross-origin-embedder-policy: require-corp/i);
  }));

test('only loopback Host names are answered (DNS rebinding): a foreign or missing Host is 421', () =>
  withServer(async (port) => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST', '127.0.0.1']) {
      assert.is((await raw(port, get('/js/main.js', host))).status, 200, host);
    }
    for (const host of [`evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `localhost.:${port}`, `192.168.1.5:${port}`, 'a b']) {
      const r = await raw(port, get('/', host));
      assert.is(r.status, 421, host);
      assert.not.match(r.body, /page/);
    }
    const none = await raw(port, 'GET / HTTP/1.0\r\n\r\n');
    assert.is(none.status, 421);
  }));

test('paths outside the folder, NUL bytes and other methods are refused; HEAD has no body', () =>
  withServer(async (port, root) => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%5csecret.txt', '/../site-other/x.txt', '/js/..%2f..%2f..%2fsecret.txt']) {
      const r = await raw(port, get(p));
      assert.ok(r.status === 404 || r.status === 400, `${p}: ${r.status}`);
      assert.not.match(r.body, /outside|sibling/, p);
    }
    assert.is((await raw(port, get('/index.html%00.js'))).status, 400);
    assert.is((await raw(port, get('/js'))).status, 404, 'a folder is not a file');
    assert.is((await raw(port, get('/', '127.0.0.1', 'POST'))).status, 405);
    const head = await raw(port, get('/js/main.js', '127.0.0.1', 'HEAD'));
    assert.is(head.status, 200);
    assert.is(head.body, '');
    assert.match(head.headers, /content-type: text\/javascript/i);
    assert.is(demo.fileFor(root, '/../../etc/passwd'), join(root, 'etc', 'passwd'), 'dot-dot segments stop at the folder');
    assert.is(demo.hostName('127.0.0.1:99999x'), null);
  }));

test.run();
