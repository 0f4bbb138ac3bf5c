// Work sharing with affinity: a dispatch's `total` tasks are cut into contiguous segments, one
// per thread; a thread claims its own segment's tasks from the front and, once it is empty,
// the others' from the back. Kernels number their tasks so that consecutive tasks cover
// consecutive output pixels, so each thread writes the same part of every activation from
// layer to layer and the next kernel finds most of its input in its own core's cache: where
// the two cores share no cache (vCPUs on different core complexes, as a VM host may place
// them for a while), a dynamic split made every second line a cross-core transfer. Claiming
// stays dynamic: a thread slowed down elsewhere (a busy core, a vCPU the host takes away)
// simply does fewer tasks, and only the stolen ones lose their locality.

import { CLAIM_SEGMENTS, CLAIM_SLOT } from '../src/backend/wasm/ids';

/**
 * Fewest pixels an image's map needs before the kernels around the convs split it by pixels
 * (pools, split attention): from there on the convs' own blocking gives each thread a pixel
 * range (conv.ts cuts such a map into column blocks of at least NC/2 = 128 pixels,
 * winograd.ts into blocks of at most 64 tiles); below, the convs split output channels, and
 * so do those kernels.
 */
export const PIXEL_SPLIT_MIN: i32 = 256;

/**
 * Where part b of `parts` of [0, total) starts, rounded up to a multiple of `align` (a power
 * of two): parts differ by at most `align`, where equal parts with a short last one would
 * leave the thread that owns the last segment with less to do (a 28×28 map in six column
 * blocks of 136 pixels is 408 against 376). No part is longer than ⌈total / parts⌉ rounded
 * up to `align`; some may be empty.
 */
@inline export function partStart(b: i32, total: i32, parts: i32, align: i32): i32 {
  if (b >= parts) return total;
  return min(total, (<i32>((<i64>b * total + parts - 1) / parts) + align - 1) & ~(align - 1));
}

/**
 * Planes (or channels) a task takes where a kernel splits [planes, planeFloats] into runs: at
 * least minFloats floats, so that on small maps (2×2 and 1×1 planes at training batch sizes) a
 * task is not one claim per plane, and two threads write into the same cache line only at a
 * run's edge (alternate planes made every line shared).
 */
@inline export function planesPerTask(planeFloats: i32, minFloats: i32): i32 {
  return max(1, (minFloats + planeFloats - 1) / max(planeFloats, 1));
}

/**
 * Channels a task of the per-channel kernels (batch statistics, batch norm's gradient, batch
 * norm on small maps) owns: at least CHANNEL_BLOCK_FLOATS floats of each image, a multiple of
 * 4 on 1×1 maps (the four-channel paths), and more while c leaves eight blocks, up to
 * CHANNEL_BLOCK_MOST_FLOATS. A task reads its block image by image, so each block is a
 * contiguous stretch of every image: stretches of 256 floats (5 channels of 7×7) left the
 * sweeps waiting on memory at every jump to the next image, and batch norm's gradient of
 * [128, 256, 7²] took 4.5× its forward.
 */
export const CHANNEL_BLOCK_FLOATS: i32 = 256;
export const CHANNEL_BLOCK_MOST_FLOATS: i32 = 2048;
@inline export function channelBlock(hw: i32, c: i32): i32 {
  const least = planesPerTask(hw, CHANNEL_BLOCK_FLOATS), most = planesPerTask(hw, CHANNEL_BLOCK_MOST_FLOATS);
  return min(most, max(least, ((c + 7) / 8 + 3) & ~3));
}
/** Scratch bytes a thread needs for one channel block: 32 a channel (float64 sums, float32 coefficients). */
export const CHANNEL_SCRATCH: i32 = CHANNEL_BLOCK_MOST_FLOATS * 32;

/** Byte offset in the argument block of segment 0's claim word; the JS side zeroes all of them before each dispatch. */
const CLAIMS: usize = <usize>CLAIM_SLOT * 4;

/** First task of segment s of `total` split `segments` ways. */
@inline function segmentStart(s: i32, total: i32, segments: i32): i32 {
  return <i32>((<i64>s * total) / segments);
}

/** The segment holding task t. */
@inline function segmentOf(t: i32, total: i32, segments: i32): i32 {
  let s = <i32>(((<i64>t + 1) * segments - 1) / total);
  while (s > 0 && segmentStart(s, total, segments) > t) s--;
  while (s + 1 < segments && segmentStart(s + 1, total, segments) <= t) s++;
  return s;
}

/**
 * A task of segment s, from the front (its owner) or the back (a thief), or -1 once the
 * segment is empty. The segment's word counts tasks taken from the front (low half) and from
 * the back (high half); one compare-exchange takes either. Only threaded builds get here.
 */
function claimIn(args: usize, s: i32, total: i32, segments: i32, front: bool): i32 {
  const lo = segmentStart(s, total, segments), size = segmentStart(s + 1, total, segments) - lo;
  const at = args + CLAIMS + <usize>s * 8;
  // (The builds without threads compile this too, so the atomics sit behind the feature flag.)
  let v = ASC_FEATURE_THREADS ? atomic.load<i64>(at) : 0;
  let f = <i32>(v & 0xffffffff), b = <i32>(v >>> 32);
  while (f + b < size) {
    const seen = ASC_FEATURE_THREADS ? atomic.cmpxchg<i64>(at, v, front ? v + 1 : v + (<i64>1 << 32)) : v;
    if (seen == v) return front ? lo + f : lo + size - 1 - b;
    v = seen;
    f = <i32>(v & 0xffffffff);
    b = <i32>(v >>> 32);
  }
  return -1;
}

/**
 * The next task for thread tid of nth (prev: the task it claimed last, or -1 for its first),
 * or `total` when none is left: its own segment first, then the others' in turn.
 */
export function claim(args: usize, tid: i32, nth: i32, total: i32, prev: i32 = -1): i32 {
  // One thread (always so in the builds without shared memory): every task in order.
  if (nth == 1 || !ASC_FEATURE_THREADS) return prev + 1 < total ? prev + 1 : total;
  if (total <= 0) return total;
  const segments = min(min(nth, CLAIM_SEGMENTS), total);
  const home = tid % segments;
  // Segments only ever empty, so a thread walks them once, from home round to home − 1.
  let s = prev < 0 ? home : segmentOf(prev, total, segments);
  do {
    const t = claimIn(args, s, total, segments, s == home);
    if (t >= 0) return t;
    s = s + 1 == segments ? 0 : s + 1;
  } while (s != home);
  return total;
}
