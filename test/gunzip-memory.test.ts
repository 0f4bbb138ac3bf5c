// gunzip's memory: the live ArrayBuffer bytes (measured after a forced GC, so garbage chunks
// do not count) stay within 1.25× the output limit, for an output just under the limit, for
// one whose gzip trailer does not give its size (two members), and for a bomb. Samples are
// taken at every large typed-array allocation (where collecting chunks and then concatenating
// them doubles the memory) and every 32 decompressed chunks.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { gunzip } from '../src/data/idx.js';
import { ResourceLimitError } from '../src/errors.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const LIMIT = 16 << 20;

/** Runs `f` with sampling on, and returns its result (or error) with the peak of live ArrayBuffer bytes above the start. */
async function peakOf<T>(f: () => Promise<T>): Promise<{ peak: number; value?: T; error?: unknown }> {
  const RealU8 = globalThis.Uint8Array;
  const RealDS = globalThis.DecompressionStream;
  gc();
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const sample = (extra = 0) => {
    gc();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers + extra - base);
  };
  globalThis.Uint8Array = new Proxy(RealU8, {
    construct(target, args, newTarget) {
      // Counted as if it existed already: the moment when both copies are alive.
      if (typeof args[0] === 'number' && args[0] >= 1 << 20) sample(args[0]);
      return Reflect.construct(target, args, newTarget === globalThis.Uint8Array ? target : newTarget);
    },
  });
  globalThis.DecompressionStream = class {
    readonly writable: WritableStream<BufferSource>;
    readonly readable: ReadableStream<Uint8Array>;
    constructor(format: CompressionFormat) {
      const inner = new RealDS(format);
      let n = 0;
      const tap = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          if (++n % 32 === 0) sample();
          ctl.enqueue(chunk);
        },
      });
      inner.readable.pipeTo(tap.writable).catch(() => {});
      this.writable = inner.writable;
      this.readable = tap.readable;
    }
  } as unknown as typeof DecompressionStream;
  try {
    const value = await f();
    sample();
    return { peak, value };
  } catch (error) {
    return { peak, error };
  } finally {
    globalThis.Uint8Array = RealU8;
    globalThis.DecompressionStream = RealDS;
  }
}

// Compressible but not constant, so a wrong byte anywhere shows.
const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i >> 10) * 7 + (i & 3));
const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

test('an output just under the limit: decompressed exactly, live memory ≤ 1.25 × the limit', async () => {
  const data = payload(LIMIT - 4096);
  const gz = new Uint8Array(gzipSync(data));
  const r = await peakOf(() => gunzip(gz, 'big.gz', LIMIT));
  assert.is(r.error, undefined, String(r.error));
  assert.ok(Buffer.from(r.value!).equals(Buffer.from(data)));
  assert.ok(r.peak <= 1.25 * LIMIT, `peak ${MiB(r.peak)} for a ${MiB(LIMIT)} limit`);
});

test('two gzip members (the trailer gives only the last one\'s size): exact, live memory ≤ 1.25 × the limit', async () => {
  const data = payload(LIMIT - 4096);
  const cut = 5_000_000;
  const gz = new Uint8Array(Buffer.concat([gzipSync(data.subarray(0, cut)), gzipSync(data.subarray(cut))]));
  const r = await peakOf(() => gunzip(gz, 'two.gz', LIMIT));
  assert.is(r.error, undefined, String(r.error));
  assert.ok(Buffer.from(r.value!).equals(Buffer.from(data)));
  assert.ok(r.peak <= 1.25 * LIMIT, `peak ${MiB(r.peak)} for a ${MiB(LIMIT)} limit`);
});

test('a gzip bomb (4 × the limit of zeros; also with a trailer that claims exactly the limit) is refused within 1.25 × the limit', async () => {
  const bomb = new Uint8Array(gzipSync(new Uint8Array(4 * LIMIT), { level: 9 }));
  const liar = bomb.slice();
  new DataView(liar.buffer).setUint32(liar.length - 4, LIMIT, true);
  for (const [name, gz] of [['bomb.gz', bomb], ['liar.gz', liar]] as const) {
    const r = await peakOf(() => gunzip(gz, name, LIMIT));
    assert.instance(r.error, ResourceLimitError);
    assert.match((r.error as Error).message, new RegExp(`^${name.replace('.', '\\.')}: decompresses to more than ${LIMIT} bytes$`));
    assert.ok(r.peak <= 1.25 * LIMIT, `${name}: peak ${MiB(r.peak)} for a ${MiB(LIMIT)} limit`);
  }
});

test.run();
