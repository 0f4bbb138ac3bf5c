// A pool of workers over one shared WebAssembly.Memory. A dispatch writes the kernel id and
// its argument block's address into a control block, bumps a generation counter and wakes
// the workers; every thread (the caller is thread 0) runs the same export on its share of
// the output, and the caller waits until all have finished. Workers spin before sleeping,
// because a forward pass is a hundred short dispatches with JS in between.

import { BackendError } from '../../errors.js';

const GEN = 0, PENDING = 1, KERNEL = 2, ARGS = 3, NTH = 4;
export const CONTROL_BYTES = 64;
/**
 * How long an idle worker spins (wall time) before it sleeps. Waking a sleeping worker costs
 * more than the wake-up: on a VM its vCPU has been handed back and must be rescheduled. A
 * count of 20000 loads (tens of µs) put the worker to sleep in most gaps between a forward
 * pass's dispatches; ResNeSt-50 on 2 threads ran 154 → 137–141 ms with 5 ms (1 ms: 151).
 */
const SPIN_MS = 5;

type Dispatch = (kernel: number, args: number, tid: number, nth: number) => void;

// The worker's whole program, started from a string so that no extra file must be found.
const WORKER_SOURCE = `
const start = async ({ module, memory, control, tid, spinMs }) => {
  const { exports } = await WebAssembly.instantiate(module, { env: { memory, abort() { throw new Error('abort'); } } });
  const c = new Int32Array(memory.buffer, control, 16);
  // Read the generation before saying ready: the first dispatch may follow at once.
  let gen = Atomics.load(c, ${GEN});
  post('ready');
  for (;;) {
    const until = performance.now() + spinMs;
    for (let i = 1; Atomics.load(c, ${GEN}) === gen; i++) {
      if ((i & 255) === 0 && performance.now() > until) break;
    }
    if (Atomics.load(c, ${GEN}) === gen) Atomics.wait(c, ${GEN}, gen);
    gen = Atomics.load(c, ${GEN});
    const kernel = Atomics.load(c, ${KERNEL});
    if (kernel < 0) break;
    const nth = c[${NTH}];
    if (tid < nth) {
      try { exports.dispatch(kernel, c[${ARGS}], tid, nth); } catch (e) { post('error:' + e); }
    }
    if (Atomics.sub(c, ${PENDING}, 1) === 1) Atomics.notify(c, ${PENDING});
  }
};
let post;
if (typeof WorkerGlobalScope !== 'undefined') {
  post = (m) => self.postMessage(m);
  self.onmessage = (e) => start(e.data);
} else {
  // Node worker_threads; a dynamic import works whether Node evaluates this as CommonJS or ESM.
  import('node:worker_threads').then(({ parentPort }) => {
    post = (m) => parentPort.postMessage(m);
    parentPort.once('message', start);
  });
}
`;

interface AnyWorker {
  postMessage(msg: unknown): void;
  terminate(): unknown;
  unref?(): void;
}

async function spawn(): Promise<{ worker: AnyWorker; onMessage: (fn: (m: unknown) => void) => void }> {
  // Node and Deno (which reports process.versions.node too) take node:worker_threads, whose
  // workers can be unref'd: a Deno web Worker would keep the runtime alive after the work is done.
  if (typeof process !== 'undefined' && process.versions?.node) {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    return { worker, onMessage: (fn) => worker.on('message', fn) };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(url, { type: 'module' });
  return { worker, onMessage: (fn) => worker.addEventListener('message', (e) => fn((e as MessageEvent).data)) };
}

export class ThreadPool {
  private readonly control: Int32Array;
  private readonly canBlock: boolean;
  private workerError: string | null = null;

  private constructor(memory: WebAssembly.Memory, controlPtr: number, private readonly workers: AnyWorker[],
    private readonly run: Dispatch) {
    this.control = new Int32Array(memory.buffer, controlPtr, 16);
    this.canBlock = mainThreadMayWait(this.control);
  }

  /** Starts `threads − 1` workers (the caller is the last thread). */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, controlPtr: number, threads: number,
    run: Dispatch): Promise<ThreadPool> {
    const workers: AnyWorker[] = [];
    const ready: Promise<void>[] = [];
    let pool: ThreadPool | undefined;
    for (let tid = 1; tid < threads; tid++) {
      const { worker, onMessage } = await spawn();
      workers.push(worker);
      ready.push(new Promise<void>((resolve, reject) => {
        onMessage((m) => {
          if (m === 'ready') resolve();
          else if (typeof m === 'string' && m.startsWith('error:')) {
            if (pool) pool.workerError = m.slice(6);
            else reject(new BackendError(`wasm worker ${tid} failed: ${m.slice(6)}`));
          }
        });
      }));
      worker.postMessage({ module, memory, control: controlPtr, tid, spinMs: SPIN_MS });
    }
    await Promise.all(ready);
    for (const w of workers) w.unref?.(); // Node: an idle pool must not keep the process alive
    pool = new ThreadPool(memory, controlPtr, workers, run);
    return pool;
  }

  get size(): number {
    return this.workers.length + 1;
  }

  /** Runs kernel on `nth` threads (≤ size) and returns when all are done. */
  dispatch(kernel: number, args: number, nth: number): void {
    const c = this.control;
    Atomics.store(c, KERNEL, kernel);
    Atomics.store(c, ARGS, args);
    Atomics.store(c, NTH, nth);
    Atomics.store(c, PENDING, this.workers.length);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
    this.run(kernel, args, 0, nth);
    for (let i = 0; Atomics.load(c, PENDING) > 0; i++) {
      if (this.canBlock && i > 20000) {
        const v = Atomics.load(c, PENDING);
        if (v > 0) Atomics.wait(c, PENDING, v, 1000);
      }
    }
    if (this.workerError) {
      const e = this.workerError;
      this.workerError = null;
      throw new BackendError(`wasm worker failed: ${e}`);
    }
  }

  /** Ends the workers; resolves once they are gone, so their control block may be reused. */
  async stop(): Promise<void> {
    const c = this.control;
    Atomics.store(c, KERNEL, -1);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Browsers forbid Atomics.wait on the main thread; there the caller spins instead. */
function mainThreadMayWait(c: Int32Array): boolean {
  try {
    Atomics.wait(c, 15, 1, 0); // value differs: returns 'not-equal' at once where waiting is allowed
    return true;
  } catch {
    return false;
  }
}
