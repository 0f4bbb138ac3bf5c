// npm run demo -- [--port N] [--no-isolation]: serves build/site/ on 127.0.0.1 with the
// cross-origin isolation headers (COOP/COEP) that let the wasm backend use threads.
import { createServer } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'site');
const argv = process.argv.slice(2);
const at = argv.indexOf('--port');
const port = at >= 0 ? Number(argv[at + 1]) : 8080;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`demo: --port must be 0–65535, got '${argv[at + 1]}'`);
  process.exit(2);
}
if (!existsSync(join(root, 'index.html'))) {
  console.error(`demo: ${root} has no page; run npm run build:web first`);
  process.exit(1);
}
const isolated = !argv.includes('--no-isolation');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.png': 'image/png', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml' };
const headers = isolated ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  const file = join(root, path === '/' ? 'index.html' : path);
  if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404, headers).end('not found');
  res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' }).end(readFileSync(file));
});
server.listen(port, '127.0.0.1', () => {
  console.log(`resnest-ts step-through page: http://127.0.0.1:${server.address().port}/ (${isolated ? 'cross-origin isolated: wasm threads' : 'no COOP/COEP: one wasm thread'})`);
});
