// Bundled by test/wasm-browser.test.ts: the wasm backend in a page. window.runWasm(threads)
// builds a small split-attention network on wasm and on js and resolves to what the backend
// chose (kernel build, threads, whether the page is cross-origin isolated) and the largest
// relative difference between the two backends' logits.

import '../../src/index.js';
import { initBackend } from '../../src/backend/registry.js';
import type { WasmBackend } from '../../src/backend/wasm/index.js';
import { ResNet } from '../../src/models/resnest/resnet.js';
import { tensor } from '../../src/tensor/tensor.js';
import { tidy } from '../../src/tensor/scope.js';
import { relErr } from '../helpers/compare.js';

export interface WasmPageResult {
  variant?: string;
  threads?: number;
  isolated?: boolean;
  err?: number;
  error?: string;
}

async function runWasm(threads: number): Promise<WasmPageResult> {
  const wasm = (await initBackend('wasm', { threads })) as WasmBackend;
  const js = await initBackend('js');
  const logits = async (backend: typeof js) => {
    const model = new ResNet([1, 1, 1, 1], { radix: 2, groups: 2, bottleneckWidth: 16, deepStem: true, stemWidth: 16, avgDown: true, avd: true, numClasses: 10 }, backend);
    model.resetParameters(3).fuse();
    const x = tensor(new Float32Array(2 * 3 * 48 * 40).map((_, i) => Math.sin(i * 0.1)), [2, 3, 48, 40], { backend });
    return tidy(() => model.call(x)).data();
  };
  const err = relErr(await logits(wasm), await logits(js));
  return { variant: wasm.variant, threads: wasm.threads, isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated, err };
}

(globalThis as { runWasm?: unknown }).runWasm = (threads: number) =>
  runWasm(threads).catch((e: unknown) => ({ error: String((e as Error)?.stack ?? e) }));
