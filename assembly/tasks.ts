// Dynamic work sharing: threads claim task indices from one counter in the argument block
// instead of taking every nth task. A thread that is slowed down — a busy core, a vCPU the
// host takes away, a little core on a phone — then simply does fewer tasks, where a fixed
// split would make the whole dispatch wait for it.

import { TASK_COUNTER_SLOT } from '../src/backend/wasm/ids';

/** Byte offset in the argument block of the task counter; the JS side zeroes it before each dispatch. */
const TASK_COUNTER: usize = <usize>TASK_COUNTER_SLOT * 4;

/** The next unclaimed task index (0, 1, 2, … across all threads of this dispatch). */
@inline export function claim(args: usize): i32 {
  if (ASC_FEATURE_THREADS) return atomic.add<i32>(args + TASK_COUNTER, 1);
  const t = load<i32>(args + TASK_COUNTER);
  store<i32>(args + TASK_COUNTER, t + 1);
  return t;
}
