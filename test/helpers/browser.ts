// Running a bundled test page in headless Chromium (Debian's, or $CHROMIUM_PATH; nothing is
// downloaded): the page's entry is bundled with esbuild and served on 127.0.0.1 with the
// extra files and headers a test asks for, then `fn` drives it through playwright-core.

import { createServer } from 'node:http';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface PageOptions {
  entry: string;
  /** Extra routes: URL path → file contents (or a function of the path returning them). */
  files?: (path: string) => Uint8Array | string | undefined;
  headers?: Record<string, string>;
  args?: string[];
}

/** null when there is no Chromium here (the caller prints why it skips). */
export async function withPage<T>(opts: PageOptions, fn: (page: Page, logs: string[]) => Promise<T>): Promise<T | null> {
  if (!existsSync(CHROMIUM)) return null;
  const bundle = await build({
    entryPoints: [opts.entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false,
    logLevel: 'warning', external: ['node:*', 'webgpu'],
  });
  const script = bundle.outputFiles[0]!.text;
  const headers = opts.headers ?? {};
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const body = url === '/' ? '<!doctype html><script type="module" src="/page.js"></script>'
      : url === '/page.js' ? script : opts.files?.(url);
    if (body === undefined) return void res.writeHead(404, headers).end();
    const type = url === '/' ? 'text/html' : url.endsWith('.js') ? 'text/javascript' : url.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream';
    res.writeHead(200, { ...headers, 'content-type': type }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions', ...(opts.args ?? [])],
  });
  const logs: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return await fn(page, logs);
  } finally {
    await browser.close();
    server.close();
  }
}
