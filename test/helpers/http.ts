// A local HTTP server that lives for one uvu suite, and temp directories removed after each
// test: the fixtures of the download tests (there is no network here, and a misbehaving
// server is the point).

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'uvu';

/** Serves `handle` on 127.0.0.1 (a free port) from before the suite until after it; `onBase` gets `http://127.0.0.1:PORT`. */
export function serveDuringSuite(suite: Test, handle: RequestListener, onBase: (base: string) => void): void {
  const server = createServer(handle);
  suite.before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onBase(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  suite.after(() => {
    server.closeAllConnections();
    server.close();
  });
}

/** A function making fresh temp directories, each removed after the test that made it. */
export function tempDirsPerTest(suite: Test, prefix: string): () => string {
  let dirs: string[] = [];
  suite.after.each(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}
