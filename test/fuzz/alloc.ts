// Allocation accounting for fuzz cases. Installed in the fuzz worker before any parser is
// imported, it replaces the global ArrayBuffer and typed-array constructors by proxies, and
// wraps %TypedArray%.prototype.slice / ArrayBuffer.prototype.slice, so every buffer a parser
// (or jpeg-js) asks for is counted *before* it is allocated. A case that asks for more than
// its bound gets an AllocationBoundError instead of the memory: a parser that would allocate
// 1 GB for a 1 KB input is caught without the machine ever allocating it. Views (subarray,
// `new Uint8Array(buffer, offset, length)`) allocate nothing and are not counted.
// JS-heap growth (arrays, maps, strings) is measured separately by the worker.

export class AllocationBoundError extends Error {
  constructor(readonly requested: number, readonly total: number, readonly bound: number) {
    super(`allocation of ${requested} bytes would bring this case to ${total} bytes, over its bound of ${bound}`);
    this.name = 'AllocationBoundError';
  }
}

interface CaseState {
  bound: number;
  total: number;
  largest: number;
  exceeded?: AllocationBoundError;
}

let current: CaseState | undefined;
let installed = false;

function account(bytes: number): void {
  const c = current;
  if (!c || !(bytes > 0)) return;
  c.total += bytes;
  if (bytes > c.largest) c.largest = bytes;
  if (c.total > c.bound) {
    const e = new AllocationBoundError(bytes, c.total, c.bound);
    c.exceeded ??= e;
    throw e;
  }
}

/** Bytes a typed-array constructor call will allocate (0 for views over an existing buffer). */
function typedBytes(args: unknown[], bytesPer: number): number {
  const a = args[0];
  if (a === undefined || a === null) return 0;
  if (typeof a === 'number') return a * bytesPer;
  if (a instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && a instanceof SharedArrayBuffer)) return 0;
  if (typeof a === 'object' && 'length' in (a as object)) return Number((a as { length: number }).length) * bytesPer;
  return 0; // an iterable of unknown length: counted by the heap check instead
}

const TYPED = [
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
] as const;

/** Replaces the global constructors by counting proxies (idempotent; per worker / process). */
export function installAllocationTracker(): void {
  if (installed) return;
  installed = true;
  const g = globalThis as unknown as Record<string, unknown>;
  const AB = ArrayBuffer;
  g.ArrayBuffer = new Proxy(AB, {
    construct(target, args, newTarget) {
      account(Number(args[0]) || 0);
      return Reflect.construct(target, args, newTarget === g.ArrayBuffer ? target : newTarget);
    },
  });
  for (const name of TYPED) {
    const Ctor = g[name] as { new (...a: unknown[]): unknown; BYTES_PER_ELEMENT: number };
    const proxy: unknown = new Proxy(Ctor, {
      construct(target, args, newTarget) {
        account(typedBytes(args, target.BYTES_PER_ELEMENT));
        return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
      },
    });
    g[name] = proxy;
  }
  const TA = Object.getPrototypeOf(Int8Array.prototype) as { slice: (this: ArrayLike<unknown> & { BYTES_PER_ELEMENT: number }, s?: number, e?: number) => unknown };
  const slice = TA.slice;
  TA.slice = function (this: ArrayLike<unknown> & { BYTES_PER_ELEMENT: number }, s?: number, e?: number) {
    account(sliceLength(this.length, s, e) * this.BYTES_PER_ELEMENT);
    return slice.call(this, s, e);
  };
  const abSlice = AB.prototype.slice;
  AB.prototype.slice = function (this: ArrayBuffer, s?: number, e?: number) {
    account(sliceLength(this.byteLength, s, e));
    return abSlice.call(this, s, e);
  };
}

function sliceLength(len: number, s = 0, e = len): number {
  const rel = (x: number) => (x < 0 ? Math.max(len + x, 0) : Math.min(x, len));
  return Math.max(0, rel(Math.trunc(e)) - rel(Math.trunc(s) || 0));
}

export function beginCase(bound: number): void {
  current = { bound, total: 0, largest: 0 };
}

/** Ends the case: total bytes asked for, the largest single request, and a bound violation if any. */
export function endCase(): { total: number; largest: number; exceeded?: AllocationBoundError } {
  const c = current ?? { total: 0, largest: 0 };
  current = undefined;
  return { total: c.total, largest: c.largest, ...(('exceeded' in c && c.exceeded) ? { exceeded: c.exceeded } : {}) };
}
