// Every parity fixture on Deno's own WebGPU (navigator.gpu, wgpu underneath), to within the
// webgpu tolerance. Runs from the build output, at the repository root:
//
//     node scripts/build.mjs && node_modules/deno/deno run -A build/test/deno/parity.js
//
// Exit 0: all pass; 1: a fixture failed; 3: no adapter (the line says why).

import '../../src/index.js';
import { initBackend } from '../../src/backend/registry.js';
import type { WebGpuBackend } from '../../src/backend/webgpu/index.js';
import { expected, manifest } from '../helpers/fixtures.js';
import { runAllFixtures } from '../helpers/run-fixture.js';

const TOLERANCE = 1e-3;

// No process.exit: the script must end by itself once its work is done.
let backend: WebGpuBackend | null = null;
try {
  backend = (await initBackend('webgpu')) as WebGpuBackend;
} catch (e) {
  console.log(`deno parity: no adapter: ${(e as Error).message}`);
  process.exitCode = 3;
}
if (backend) {
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  console.log(`deno parity on ${backend.adapterName} (navigator.gpu: ${nav?.gpu ? 'yes' : 'no'})`);
  const m = manifest();
  const total = m.networks.length + m.zoo.length;
  const failed = await runAllFixtures([...m.networks, ...m.zoo], backend, expected, TOLERANCE, (l) => console.log(l));
  console.log(`deno parity: ${total - failed} of ${total} fixtures within ${TOLERANCE}`);
  backend.dispose?.();
  process.exitCode = failed ? 1 : 0;
}
