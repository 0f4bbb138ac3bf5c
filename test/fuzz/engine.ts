// Runs fuzz jobs in worker threads: one worker per parser at a time, `jobs` parsers in
// parallel. A watchdog terminates a worker whose case runs past `hangMs` and resumes the
// parser after that case in a fresh worker, so a hang costs one case, not the run. Failing
// inputs are regenerated here (cases are deterministic) and written to `outDir`.

import { Worker } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Rng } from './prng.js';
import { findTarget, makeCase, TARGETS } from './targets.js';
import type { CaseFailure, Job, Progress } from './worker.js';

export interface FuzzOptions {
  seed: number;
  /** Cases per parser. */
  count: number;
  /** First case index (to rerun one case: from = i, count = 1). */
  from?: number;
  /** Wall-clock budget for the whole run, shared among the parsers. */
  seconds?: number;
  parsers?: string[];
  jobs?: number;
  /** A case slower than this is a failure (default 2000 ms). */
  slowMs?: number;
  /** A case still running after this long is a hang: its worker is terminated (default 10 000 ms). */
  hangMs?: number;
  /** Process RSS growth during one case counted as a failure (default 1 GiB; a backstop). */
  rssBound?: number;
  /** Worker heap limit; running out of it is a failure of the running case (default 1536 MB). */
  workerHeapMb?: number;
  /** Where failing inputs go (default: not saved). */
  outDir?: string;
  onParserDone?: (s: ParserSummary) => void;
}

export interface Failure extends CaseFailure {
  file?: string;
  seedName: string;
  ops: string[];
}

export interface ParserSummary {
  parser: string;
  cases: number;
  ok: number;
  typed: number;
  errorKinds: Record<string, number>;
  failures: Failure[];
  maxMs: number;
  /** The case that took maxMs. */
  slowest: number;
  maxAllocBytes: number;
  maxHeapBytes: number;
  seconds: number;
}

const WORKER = new URL('./worker.js', import.meta.url);

export async function runFuzz(opts: FuzzOptions): Promise<ParserSummary[]> {
  const parsers = opts.parsers ?? TARGETS.map((t) => t.name);
  for (const p of parsers) if (!findTarget(p)) throw new Error(`unknown parser '${p}' (parsers: ${TARGETS.map((t) => t.name).join(', ')})`);
  const jobs = Math.max(1, Math.min(opts.jobs ?? availableParallelism(), parsers.length));
  const start = Date.now();
  const queue = [...parsers];
  const results: ParserSummary[] = [];
  const slot = async () => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      // Each parser gets an equal share of what is left of the budget.
      const left = opts.seconds === undefined ? Infinity : start + opts.seconds * 1000 - Date.now();
      const share = left / Math.ceil((queue.length + 1) / jobs);
      const s = await fuzzParser(p, opts, Date.now() + Math.max(0, share));
      results.push(s);
      opts.onParserDone?.(s);
    }
  };
  await Promise.all(Array.from({ length: jobs }, slot));
  return parsers.map((p) => results.find((r) => r.parser === p)!);
}

async function fuzzParser(parser: string, opts: FuzzOptions, deadline: number): Promise<ParserSummary> {
  const from = opts.from ?? 0;
  const to = from + opts.count;
  const slowMs = opts.slowMs ?? 2000;
  const hangMs = opts.hangMs ?? Math.max(10_000, 2 * slowMs);
  const sum: ParserSummary = { parser, cases: 0, ok: 0, typed: 0, errorKinds: {}, failures: [], maxMs: 0, slowest: -1, maxAllocBytes: 0, maxHeapBytes: 0, seconds: 0 };
  const t0 = Date.now();
  let next = from;
  const record = (f: CaseFailure) => sum.failures.push(save(parser, opts, f));
  while (next < to && Date.now() <= deadline) {
    next = await new Promise<number>((resolve, reject) => {
      const sab = new SharedArrayBuffer(16);
      const state = new Int32Array(sab, 0, 2);
      const started = new Float64Array(sab, 8, 1);
      const w = new Worker(WORKER, { workerData: { sab }, resourceLimits: { maxOldGenerationSizeMb: opts.workerHeapMb ?? 1536 } });
      let resumeAt = next;
      let finished = false;
      let started_ = false;
      // A worker that never started is the environment's failure (e.g. build/ rebuilt under
      // the run), not a case's: stop the run instead of blaming case `next`.
      const startFailed = (why: string) => {
        finished = true;
        clearInterval(watchdog);
        void w.terminate();
        reject(new Error(`fuzz harness: worker for ${parser} failed to start: ${why}`));
      };
      const finish = (n: number) => {
        if (finished) return;
        finished = true;
        clearInterval(watchdog);
        void w.terminate();
        resolve(n);
      };
      // A case that dies with its worker (hang, out of memory, crash) is a failure; resume after it.
      const lost = (kind: string, message: string) => {
        const running = Atomics.load(state, 1) === 1;
        const index = running ? Atomics.load(state, 0) : resumeAt;
        sum.cases++;
        record({ index, kinds: [kind], message, ms: running ? Date.now() - started[0]! : 0, allocBytes: 0, heapBytes: 0 });
        finish(index + 1);
      };
      const watchdog = setInterval(() => {
        if (Atomics.load(state, 1) === 1 && Date.now() - started[0]! > hangMs) {
          lost('hang', `still running after ${hangMs} ms: worker terminated`);
        }
      }, Math.min(100, hangMs / 4));
      w.on('message', (m: Progress | { type: 'ready' }) => {
        if (m.type === 'ready') {
          started_ = true;
          const job: Job = { parser, seed: opts.seed, from: next, to, deadline, slowMs, rssBound: opts.rssBound ?? 1 << 30 };
          w.postMessage(job);
          return;
        }
        sum.cases += m.cases;
        sum.ok += m.ok;
        sum.typed += m.typed;
        for (const [k, v] of Object.entries(m.errorKinds)) sum.errorKinds[k] = (sum.errorKinds[k] ?? 0) + v;
        if (m.maxMs > sum.maxMs) {
          sum.maxMs = m.maxMs;
          sum.slowest = m.slowest;
        }
        sum.maxAllocBytes = Math.max(sum.maxAllocBytes, m.maxAllocBytes);
        sum.maxHeapBytes = Math.max(sum.maxHeapBytes, m.maxHeapBytes);
        for (const f of m.failures) {
          record(f);
          if (f.ms > sum.maxMs) {
            sum.maxMs = f.ms;
            sum.slowest = f.index;
          }
        }
        resumeAt = m.next;
        if (m.type === 'done') finish(m.next);
      });
      w.on('error', (e: Error & { code?: string }) => {
        if (!started_) return startFailed(`${e.code ?? ''} ${e.message}`);
        if (e.message.startsWith('fuzz harness')) {
          finished = true;
          clearInterval(watchdog);
          void w.terminate();
          reject(e);
          return;
        }
        lost(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'heap' : 'crash', `worker died: ${e.code ?? ''} ${e.message}`);
      });
      w.on('exit', (code) => {
        if (!finished && !started_) startFailed(`exited with code ${code}`);
        else if (!finished) lost('crash', `worker exited with code ${code}`);
      });
    });
  }
  sum.seconds = (Date.now() - t0) / 1000;
  return sum;
}

/** Regenerates the failing input and writes it (plus a .txt with the cause) under outDir. */
function save(parser: string, opts: FuzzOptions, f: CaseFailure): Failure {
  const t = findTarget(parser)!;
  const c = makeCase(t, Rng.forCase(opts.seed, parser, f.index));
  const out: Failure = { ...f, seedName: c.seed, ops: c.ops };
  if (opts.outDir) {
    const dir = join(opts.outDir, parser);
    mkdirSync(dir, { recursive: true });
    const base = join(dir, `seed${opts.seed}-case${f.index}`);
    writeFileSync(`${base}.${t.ext}`, c.bytes);
    writeFileSync(`${base}.txt`, [
      `parser: ${parser}`, `seed: ${opts.seed}`, `case: ${f.index}`, `failure: ${f.kinds.join(', ')}`,
      `time: ${f.ms.toFixed(1)} ms`, `typed-array bytes asked for: ${f.allocBytes}`, `heap growth: ${f.heapBytes}`,
      `input: ${c.bytes.length} bytes, from seed ${c.seed}`, `mutations:`, ...c.ops.map((o) => `  ${o}`),
      `reproduce: npm run fuzz -- --parser ${parser} --seed ${opts.seed} --index ${f.index}`,
      `replay the file: node build/test/fuzz/run.js --parser ${parser} --replay ${base}.${t.ext}`,
      '', f.message, '',
    ].join('\n'));
    out.file = `${base}.${t.ext}`;
  }
  return out;
}

/** The summary table: one row per parser. */
export function formatTable(rows: ParserSummary[]): string {
  const mb = (n: number) => (n / (1 << 20)).toFixed(1);
  const head = ['parser', 'cases', 'typed errors', 'successes', 'failures', 'max ms/case', 'max alloc MB', 'max heap MB', 'time s'];
  const body = rows.map((r) => [r.parser, r.cases, r.typed, r.ok, r.failures.length, r.maxMs.toFixed(1), mb(r.maxAllocBytes), mb(r.maxHeapBytes), r.seconds.toFixed(1)].map(String));
  const total = ['total', ...[1, 2, 3, 4].map((i) => String(body.reduce((s, r) => s + Number(r[i]), 0))),
    Math.max(0, ...rows.map((r) => r.maxMs)).toFixed(1), mb(Math.max(0, ...rows.map((r) => r.maxAllocBytes))), mb(Math.max(0, ...rows.map((r) => r.maxHeapBytes))), ''];
  const all = [head, ...body, total];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line), w.map((n) => '-'.repeat(n)).join('  '), line(total)].join('\n');
}
