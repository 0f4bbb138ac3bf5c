// Fuzz worker: runs cases of one parser in its own isolate, with the allocation tracker
// installed before any parser module loads. The main thread watches the shared "case
// started at" slot and terminates this worker if a case hangs.

import { parentPort, workerData } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { AllocationBoundError, beginCase, endCase, installAllocationTracker } from './alloc.js';

installAllocationTracker();
const { Rng } = await import('./prng.js');
const { findTarget, makeCase } = await import('./targets.js');
const { ResnestError } = await import('../../src/errors.js');

export interface Job {
  parser: string;
  seed: number;
  from: number;
  to: number;
  /** Date.now() after which no new case starts. */
  deadline: number;
  slowMs: number;
  rssBound: number;
}

export interface CaseFailure {
  index: number;
  kinds: string[];
  message: string;
  ms: number;
  allocBytes: number;
  heapBytes: number;
}

export interface Progress {
  type: 'progress' | 'done';
  /** Index of the next case to run. */
  next: number;
  cases: number;
  ok: number;
  typed: number;
  errorKinds: Record<string, number>;
  maxMs: number;
  /** The case that took maxMs. */
  slowest: number;
  maxAllocBytes: number;
  maxHeapBytes: number;
  failures: CaseFailure[];
}

const { sab } = workerData as { sab: SharedArrayBuffer };
const state = new Int32Array(sab, 0, 2); // [case index, running]
const started = new Float64Array(sab, 8, 1); // Date.now() when the running case began

function runJob(job: Job): void {
  const t = findTarget(job.parser);
  if (!t) throw new Error(`unknown parser ${job.parser}`);
  let batch = fresh(job.from);
  let lastPost = Date.now();
  let i = job.from;
  for (; i < job.to; i++) {
    if (Date.now() > job.deadline) break;
    let c: ReturnType<typeof makeCase>;
    try {
      c = makeCase(t, Rng.forCase(job.seed, job.parser, i));
    } catch (e) {
      // A bug in the fuzzer's own mutators, not in a parser: stop loudly.
      throw new Error(`fuzz harness: generating case ${i} of ${job.parser} failed: ${String((e as Error)?.stack ?? e)}`);
    }
    const bound = t.allocBound(c.bytes.length);
    Atomics.store(state, 0, i);
    started[0] = Date.now();
    Atomics.store(state, 1, 1);
    const heap0 = getHeapStatistics().used_heap_size;
    const rss0 = process.memoryUsage.rss();
    beginCase(bound);
    const t0 = performance.now();
    let err: unknown;
    let threw = false;
    try {
      t.run(c.bytes, `case${i}.${t.ext}`);
    } catch (e) {
      threw = true;
      err = e;
    }
    const ms = performance.now() - t0;
    const alloc = endCase();
    const heap = getHeapStatistics().used_heap_size - heap0;
    const rss = process.memoryUsage.rss() - rss0;
    Atomics.store(state, 1, 0);

    batch.cases++;
    const kinds: string[] = [];
    let message = '';
    if (alloc.exceeded || err instanceof AllocationBoundError) {
      kinds.push('alloc');
      message = (alloc.exceeded ?? (err as Error)).message;
    } else if (threw && !(err instanceof ResnestError)) {
      kinds.push('exception');
      message = String((err as Error)?.stack ?? err);
    }
    if (heap > t.heapBound(c.bytes.length)) {
      kinds.push('heap');
      message ||= `JS heap grew by ${heap} bytes, over the bound of ${t.heapBound(c.bytes.length)}`;
    }
    if (rss > job.rssBound) {
      kinds.push('rss');
      message ||= `RSS grew by ${rss} bytes, over the bound of ${job.rssBound}`;
    }
    if (ms > job.slowMs) {
      kinds.push('slow');
      message ||= `took ${ms.toFixed(0)} ms (limit ${job.slowMs} ms)`;
    }
    if (kinds.length) {
      batch.failures.push({ index: i, kinds, message, ms, allocBytes: alloc.total, heapBytes: heap });
    } else if (threw) {
      batch.typed++;
      const k = (err as Error).constructor.name;
      batch.errorKinds[k] = (batch.errorKinds[k] ?? 0) + 1;
    } else {
      batch.ok++;
    }
    if (ms > batch.maxMs) {
      batch.maxMs = ms;
      batch.slowest = i;
    }
    batch.maxAllocBytes = Math.max(batch.maxAllocBytes, alloc.total);
    batch.maxHeapBytes = Math.max(batch.maxHeapBytes, heap);
    if (Date.now() - lastPost > 250 || batch.failures.length) {
      parentPort!.postMessage({ ...batch, type: 'progress', next: i + 1 } satisfies Progress);
      batch = fresh(i + 1);
      lastPost = Date.now();
    }
  }
  parentPort!.postMessage({ ...batch, type: 'done', next: i } satisfies Progress);
}

function fresh(next: number): Progress {
  return { type: 'progress', next, cases: 0, ok: 0, typed: 0, errorKinds: {}, maxMs: 0, slowest: -1, maxAllocBytes: 0, maxHeapBytes: 0, failures: [] };
}

parentPort!.on('message', (job: Job) => runJob(job));
parentPort!.postMessage({ type: 'ready' });
