// Finding and compiling the kernels: four builds (SIMD or relaxed SIMD, with shared memory
// for threads or without), chosen by what this engine validates and whether threads are
// allowed here. The .wasm files ship next to the JS that loads them.

import { BackendError } from '../../errors.js';

export type Variant = 'simd' | 'simd-mt' | 'relaxed' | 'relaxed-mt';

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

async function bytesOf(name: string): Promise<Uint8Array<ArrayBuffer>> {
  const url = new URL(`./kernels-${name}.wasm`, import.meta.url);
  if (isNode && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    const b = await readFile(url);
    return new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
  }
  const res = await fetch(url);
  if (!res.ok) throw new BackendError(`wasm backend: cannot fetch ${url.href} (HTTP ${res.status})`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Threads need SharedArrayBuffer; browsers give it only to cross-origin-isolated pages. */
export function threadsAllowed(): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return false;
  const g = globalThis as { crossOriginIsolated?: boolean };
  return g.crossOriginIsolated !== false;
}

export async function hardwareThreads(): Promise<number> {
  if (isNode) {
    const os = await import('node:os');
    return os.availableParallelism?.() ?? os.cpus().length;
  }
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/**
 * V8 first compiles wasm with its baseline compiler and tiers hot functions up later, so a
 * long kernel called once (the first inference) runs several times slower. In Node we
 * compile these 12 KB eagerly with the optimising compiler (~40 ms), restoring V8's flags
 * right after; other engines get the default.
 */
async function optimisedModule(bytes: Uint8Array<ArrayBuffer>): Promise<WebAssembly.Module> {
  if (!isNode || (globalThis as { Deno?: unknown }).Deno) return WebAssembly.compile(bytes);
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--no-liftoff');
  v8.setFlagsFromString('--no-wasm-lazy-compilation');
  try {
    return new WebAssembly.Module(bytes);
  } finally {
    v8.setFlagsFromString('--liftoff');
    v8.setFlagsFromString('--wasm-lazy-compilation');
  }
}

/**
 * Node 20's V8 (11.3) implements relaxed SIMD but ships it behind a flag (on by default from
 * V8 11.4: Node 22, Chrome 114); the relaxed build's fused multiply-add nearly halves the
 * GEMM micro-kernel's instructions. In Node we turn the flag on before validating, so the
 * relaxed build is taken wherever the engine has it.
 */
async function enableRelaxedSimd(): Promise<void> {
  if (!isNode || (globalThis as { Deno?: unknown }).Deno) return;
  try {
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // not V8, or flags locked: the plain SIMD build runs
  }
}

export async function compileKernels(threads: boolean): Promise<{ module: WebAssembly.Module; variant: Variant }> {
  await enableRelaxedSimd();
  const suffix = threads ? '-mt' : '';
  let lastError: unknown;
  for (const kind of ['relaxed', 'simd'] as const) {
    const variant = `${kind}${suffix}` as Variant;
    try {
      const bytes = await bytesOf(variant);
      if (!WebAssembly.validate(bytes)) continue; // relaxed SIMD unsupported here: next build
      return { module: await optimisedModule(bytes), variant };
    } catch (e) {
      lastError = e;
    }
  }
  throw new BackendError(`wasm backend: no kernel build runs here (WebAssembly SIMD is required)${lastError ? `: ${(lastError as Error).message}` : ''}`);
}
