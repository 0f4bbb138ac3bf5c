// Every parity fixture on the wasm backend under Deno, whose V8 has relaxed SIMD: the
// relaxed build (f32x4.relaxed_madd) with threads on Deno's Workers. Run from the build:
//
//     node scripts/build.mjs && node_modules/deno/deno run -A build/test/deno/wasm-parity.js
//
// Exit 0: all pass; 1: a fixture failed.

import '../../src/index.js';
import { initBackend } from '../../src/backend/registry.js';
import type { WasmBackend } from '../../src/backend/wasm/index.js';
import { expected, manifest } from '../helpers/fixtures.js';
import { runAllFixtures } from '../helpers/run-fixture.js';

const TOLERANCE = 1e-4;

const backend = (await initBackend('wasm', { threads: 2 })) as WasmBackend;
console.log(`deno wasm parity: build ${backend.variant}, ${backend.threads} threads`);
const m = manifest();
const total = m.networks.length + m.zoo.length;
const failed = await runAllFixtures([...m.networks, ...m.zoo], backend, expected, TOLERANCE, (l) => console.log(l));
console.log(`deno wasm parity: ${total - failed} of ${total} fixtures within ${TOLERANCE}`);
backend.dispose?.();
// No process.exit: the script must end by itself once its work is done (idle workers are unref'd).
process.exitCode = failed ? 1 : 0;
