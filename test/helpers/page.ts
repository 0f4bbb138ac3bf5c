// The step-through page as a learner gets it, for the tests that drive it in headless
// Chromium: built once per test process by scripts/build-web.mjs (several test files read the
// same build/site), served by scripts/demo.mjs (with or without COOP/COEP), opened in a fresh
// profile, with every console error and page error collected for the test to assert on.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CHROMIUM } from './browser.js';

const root = process.cwd();
export const ARTIFACTS = join(root, 'build', 'artifacts');
/** Chromium's flags for WebGPU on a software adapter (SwiftShader), where this Chromium has one. */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader'];

let site: { status: number | null; stdout: string; stderr: string } | null = null;

/** Runs scripts/build-web.mjs the first time a test process asks; later calls return that run. */
export function buildSite(): { status: number | null; stdout: string; stderr: string } {
  if (!site) {
    const r = spawnSync(process.execPath, [join('scripts', 'build-web.mjs')], { cwd: root, encoding: 'utf8' });
    site = { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  return site;
}

/** `npm run demo`'s server on a free port; resolves with its URL once it prints it. */
export function serve(isolated: boolean): Promise<{ url: string; server: ChildProcess }> {
  const server = spawn(process.execPath, [join('scripts', 'demo.mjs'), '--port', '0', ...(isolated ? [] : ['--no-isolation'])], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve({ url: m[1]!, server });
    });
    server.on('exit', (code) => reject(new Error(`demo server exited (${code}): ${out}`)));
  });
}

export interface SiteOptions {
  /** Served with COOP/COEP (wasm threads); default true. */
  isolated?: boolean;
  /** Extra Chromium flags (e.g. WEBGPU_ARGS). */
  args?: string[];
  viewport?: { width: number; height: number };
}

/**
 * Builds the site (once), serves it, opens it in Chromium and waits until the page has loaded
 * its model and first image; `fn` gets the page and the console errors so far (and later).
 */
export async function withSitePage<T>(opts: SiteOptions, fn: (page: Page, errors: string[]) => Promise<T>): Promise<T> {
  const built = buildSite();
  if (built.status !== 0) throw new Error(`build-web.mjs failed: ${built.stderr}`);
  const { url, server } = await serve(opts.isolated ?? true);
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'resnest-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport: opts.viewport ?? { width: 1280, height: 900 },
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', ...(opts.args ?? [])],
    });
    const errors: string[] = [];
    try {
      const page = context.pages()[0] ?? await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(url);
      await page.waitForSelector('body[data-ready=true]', { timeout: 120_000 });
      return await fn(page, errors);
    } finally {
      await context.close();
    }
  } finally {
    server.kill();
    rmSync(profile, { recursive: true, force: true });
  }
}
