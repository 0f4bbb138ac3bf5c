// Bundled by test/webgpu-browser.test.ts and loaded into headless Chromium: runs named
// parity fixtures on the page's navigator.gpu, fetching the manifest and the expected
// outputs from the test server. window.runParity(names) resolves to per-output errors.

import '../../src/index.js';
import { initBackend } from '../../src/backend/registry.js';
import type { WebGpuBackend } from '../../src/backend/webgpu/index.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { toFloat32 } from '../../src/io/raw.js';
import type { Manifest } from '../helpers/compare.js';
import { runNetworkFixture } from '../helpers/run-fixture.js';

export interface PageResult {
  adapter?: string;
  results?: { name: string; errs: Record<string, number> }[];
  error?: string;
}

async function runParity(names: string[]): Promise<PageResult> {
  const backend = (await initBackend('webgpu')) as WebGpuBackend;
  const m = (await (await fetch('/fixtures/manifest.json')).json()) as Manifest;
  const results: PageResult['results'] = [];
  for (const name of names) {
    const fx = [...m.networks, ...m.zoo].find((f) => f.name === name);
    if (!fx) throw new Error(`no fixture '${name}'`);
    const bytes = new Uint8Array(await (await fetch(`/fixtures/${name}.safetensors`)).arrayBuffer());
    const ref = new Map([...loadSafetensors(bytes, name)].map(([k, t]) => [k, toFloat32(t, k)]));
    results.push({ name, errs: await runNetworkFixture(fx, backend, ref) });
  }
  return { adapter: backend.adapterName, results };
}

(globalThis as { runParity?: unknown }).runParity = (names: string[]) =>
  runParity(names).catch((e: unknown) => ({ error: String((e as Error)?.stack ?? e) }));
