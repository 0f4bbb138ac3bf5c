// The demo page's file server, kept apart from demo.mjs so that tests can serve any folder.
// It listens on loopback only, and any web page the user visits can still reach it: so it
// answers only requests addressed to a loopback name (a DNS-rebinding page sends its own
// host name), serves only GET/HEAD of plain files below its folder, and no request — a bad
// percent-escape, an odd path — can throw out of the handler and stop it.
import { createServer } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.png': 'image/png', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml' };
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The host name of a Host header without its port; null when the header is absent or malformed. */
export function hostName(header) {
  if (typeof header !== 'string') return null;
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(header);
  return m ? m[1].toLowerCase() : null;
}

/** A path below root for a request URL, or null: undecodable, a NUL byte, or outside root. */
export function fileFor(root, url) {
  let path;
  try {
    path = decodeURIComponent(new URL(url ?? '/', 'http://x').pathname);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  const rel = normalize(path).replace(/^([/\\]|\.\.[/\\])+/, '');
  const file = join(root, rel === '' ? 'index.html' : rel);
  return file === root || file.startsWith(root + sep) ? file : null;
}

export function createDemoServer(root, { isolated = true } = {}) {
  const headers = isolated ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
  const answer = (res, status, text) => res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(text);
  return createServer((req, res) => {
    try {
      if (!LOOPBACK_HOSTS.has(hostName(req.headers.host))) return answer(res, 421, 'this server answers only http://127.0.0.1, localhost or [::1]');
      if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'only GET and HEAD');
      const file = fileFor(root, req.url);
      if (file === null) return answer(res, 400, 'bad path');
      if (!existsSync(file) || !statSync(file).isFile()) return answer(res, 404, 'not found');
      const body = readFileSync(file);
      res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      if (!res.headersSent) answer(res, 500, 'server error');
      else res.destroy();
    }
  });
}
