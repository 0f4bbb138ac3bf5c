// npm run demo -- [--port N] [--no-isolation]: serves build/site/ on 127.0.0.1 with the
// cross-origin isolation headers (COOP/COEP) that let the wasm backend use threads.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDemoServer } from './demo-server.mjs';

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
const server = createDemoServer(root, { isolated });
server.on('error', (e) => {
  console.error(`demo: cannot listen on 127.0.0.1:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use (try --port 0)' : e.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`resnest-ts step-through page: http://127.0.0.1:${server.address().port}/ (${isolated ? 'cross-origin isolated: wasm threads' : 'no COOP/COEP: one wasm thread'})`);
});
