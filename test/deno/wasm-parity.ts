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
import { runNetworkFixture } from './fixture-runner.js';

const TOLERANCE = 1e-4;

const backend = (await initBackend('wasm', { threads: 2 })) as WasmBackend;
console.log(`deno wasm parity: build ${backend.variant}, ${backend.threads} threads`);
const m = manifest();
let failed = 0, total = 0;
for (const fx of [...m.networks, ...m.zoo]) {
  total++;
  let line: string;
  try {
    const errs = await runNetworkFixture(fx, backend, expected(fx.name));
    const worst = Math.max(...Object.values(errs));
    if (!(worst <= TOLERANCE)) failed++;
    line = `${worst <= TOLERANCE ? 'ok  ' : 'FAIL'} ${fx.name.padEnd(28)} worst of ${Object.keys(errs).length} ${worst.toExponential(2)}`;
  } catch (e) {
    failed++;
    line = `FAIL ${fx.name.padEnd(28)} ${(e as Error).message}`;
  }
  console.log(line);
}
console.log(`deno wasm parity: ${total - failed} of ${total} fixtures within ${TOLERANCE}`);
backend.dispose?.();
process.exit(failed ? 1 : 0);
