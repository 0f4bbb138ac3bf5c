// Named backends, created on first use. The active backend is where new tensors live; ops
// run on the backend of their inputs.

import { ArgumentError, BackendError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';

type Factory = (opts: BackendOptions) => Backend | Promise<Backend>;

const factories = new Map<string, Factory>();
const instances = new Map<string, Backend>();
let active: Backend | undefined;
let defaultName = 'js';

export function registerBackend(name: string, factory: Factory, opts: { makeDefault?: boolean } = {}): void {
  factories.set(name, factory);
  if (opts.makeDefault) defaultName = name;
}

export function backendNames(): string[] {
  return [...factories.keys()];
}

/**
 * Creates (once) and returns a backend; asynchronous because wasm and webgpu must load.
 * Options given to an existing backend reconfigure it (e.g. its thread count).
 */
export async function initBackend(name: string, opts: BackendOptions = {}): Promise<Backend> {
  const have = instances.get(name);
  if (have) {
    if (Object.keys(opts).length) await have.configure?.(opts);
    return have;
  }
  const factory = factories.get(name);
  if (!factory) throw new ArgumentError(`unknown backend '${name}' (available: ${backendNames().join(', ')})`);
  const backend = await factory(opts);
  instances.set(name, backend);
  return backend;
}

/** Makes `name` the backend for new tensors. */
export async function setBackend(name: string, opts: BackendOptions = {}): Promise<Backend> {
  active = await initBackend(name, opts);
  return active;
}

/** The name of the backend used when none is set (the fastest available on this machine). */
export function defaultBackendName(): string {
  return defaultName;
}

/** Initialises the default backend (wasm where it runs) unless one is set: `await ready()` once before building models. */
export async function ready(): Promise<Backend> {
  return active ?? setBackend(defaultName);
}

/** The active backend; the default one is created synchronously only if it needs no loading. */
export function getBackend(name?: string): Backend {
  if (name !== undefined) {
    const b = instances.get(name);
    if (!b) throw new BackendError(`backend '${name}' is not initialised: await initBackend('${name}') first`);
    return b;
  }
  if (active) return active;
  const factory = factories.get(defaultName);
  if (!factory) throw new BackendError(`no backend registered as default ('${defaultName}')`);
  const made = factory({});
  if (made instanceof Promise) {
    throw new BackendError(`the default backend '${defaultName}' loads asynchronously: call \`await ready()\` first (or setBackend('js') for the synchronous reference backend)`);
  }
  instances.set(defaultName, made);
  active = made;
  return made;
}
