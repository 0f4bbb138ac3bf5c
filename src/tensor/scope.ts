// Memory scopes, as in tfjs's tidy(): tensors created inside fn are disposed when it
// returns, except those it returns (or passes to keep()). The js backend would be fine
// with the garbage collector; wasm and webgpu memory are not, so model code runs in scopes.

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** What must outlive the scope with this one (a tensor's autograd graph), among `inScope`. */
  dependents?(inScope: (d: Disposable) => boolean): Iterable<Disposable>;
}

const scopes: Set<Disposable>[] = [];

export function track(t: Disposable): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Excludes a tensor from disposal by the enclosing scopes. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if ('dispose' in value && 'isDisposed' in value) {
    into.add(value as Disposable);
    return;
  }
  const items = value instanceof Map ? value.values() : Array.isArray(value) ? value : Object.values(value);
  for (const v of items) collect(v, into, depth + 1);
}

/**
 * Runs fn; disposes every tensor it created that is not part of its result, and every
 * autograd node that no surviving tensor leads to.
 */
export function tidy<T>(fn: () => T): T {
  // Checked before running: an async fn's tensors would outlive the scope (leak).
  if (fn.constructor.name === 'AsyncFunction') throw new TypeError('tidy(fn): fn must be synchronous; await outside the scope');
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    for (const t of scope) t.dispose();
    throw e;
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy(fn): fn must be synchronous; await outside the scope');
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  for (const t of [...survivors]) {
    for (const d of t.dependents?.((x) => scope.has(x)) ?? []) survivors.add(d);
  }
  for (const t of scope) {
    if (survivors.has(t)) track(t);
    else t.dispose();
  }
  return result;
}
