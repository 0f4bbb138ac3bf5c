// The backends a test suite runs on: every registered one (or $RESNEST_TEST_BACKENDS, a comma
// list), each with its parity tolerance. A backend that cannot start here (no WebGPU
// adapter) is skipped with the reason printed — unless $RESNEST_REQUIRE_BACKENDS names it.

import '../../src/index.js';
import type { Backend } from '../../src/backend/backend.js';
import { backendNames, initBackend } from '../../src/backend/registry.js';

export interface TestBackend {
  name: string;
  backend: Backend;
  /** max |ours − torch| / max |torch| allowed on this backend. */
  tolerance: number;
}

const TOLERANCES: Record<string, number> = { js: 1e-4, wasm: 1e-4, webgpu: 1e-3 };

export async function testBackends(): Promise<TestBackend[]> {
  const wanted = process.env.RESNEST_TEST_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean) ?? backendNames();
  const required = new Set(process.env.RESNEST_REQUIRE_BACKENDS?.split(',').map((s) => s.trim()) ?? []);
  const out: TestBackend[] = [];
  for (const name of wanted) {
    try {
      out.push({ name, backend: await initBackend(name), tolerance: TOLERANCES[name] ?? 1e-4 });
    } catch (e) {
      if (required.has(name)) throw e;
      console.log(`  (skipping backend '${name}': ${(e as Error).message})`);
    }
  }
  return out;
}
