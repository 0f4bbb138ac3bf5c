// Named backends, created on first use. The active backend is where new tensors live; ops
// run on the backend of their inputs.

import { ArgumentError, BackendError } from '../errors.js';
import type { Backend } from './backend.js';

type Factory = () => Backend | Promise<Backend>;

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

/** Creates (once) and returns a backend; asynchronous because wasm and webgpu must load. */
export async function initBackend(name: string): Promise<Backend> {
  const have = instances.get(name);
  if (have) return have;
  const factory = factories.get(name);
  if (!factory) throw new ArgumentError(`unknown backend '${name}' (available: ${backendNames().join(', ')})`);
  const backend = await factory();
  instances.set(name, backend);
  return backend;
}

/** Makes `name` the backend for new tensors. */
export async function setBackend(name: string): Promise<Backend> {
  active = await initBackend(name);
  return active;
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
  const made = factory();
  if (made instanceof Promise) {
    throw new BackendError(`the default backend '${defaultName}' loads asynchronously: await setBackend('${defaultName}') first`);
  }
  instances.set(defaultName, made);
  active = made;
  return made;
}
