// Measuring a benchmark run: percentiles and peak resident memory. Shared by `resnest bench`
// and bench/ort-runner.ts, so both sides of a comparison are measured the same way (and this
// module imports nothing, so the ONNX Runtime side loads none of our library).

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Peak resident memory so far, in MB: the OS high-water mark (ru_maxrss) and our own samples. */
export class RssSampler {
  private peak = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
  }
  start(everyMs = 5): void {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  stop(): void {
    clearInterval(this.timer);
  }
  get sampledMb(): number {
    return this.peak / 2 ** 20;
  }
  get peakMb(): number {
    return Math.max(this.sampledMb, process.resourceUsage().maxRSS / 1024);
  }
}

export const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** Milliseconds from process start (performance.now()) at the points a run's start-up is timed. */
export interface StartupMarks {
  /** Before the backend or runtime was created. */
  t0: number;
  /** Weights read and the model or session built. */
  loaded: number;
  /** The first inference done. */
  coldStart: number;
  firstRunMs: number;
}

/**
 * The figures both sides of a comparison report, from the timed runs' milliseconds: the
 * headline (median, p90, peak RSS) and the detail (spread, start-up, sampled RSS).
 */
export function summarize(times: readonly number[], rss: RssSampler, marks: StartupMarks) {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    headline: {
      median_ms: round(percentile(sorted, 0.5), 2),
      p90_ms: round(percentile(sorted, 0.9), 2),
      peak_rss_mb: round(rss.peakMb),
    },
    detail: {
      mean_ms: round(times.reduce((a, b) => a + b, 0) / times.length, 2),
      min_ms: round(sorted[0]!, 2),
      max_ms: round(sorted[sorted.length - 1]!, 2),
      cold_start_ms: round(marks.coldStart),
      load_ms: round(marks.loaded - marks.t0),
      first_run_ms: round(marks.firstRunMs),
      rss_sampled_mb: round(rss.sampledMb),
    },
  };
}

/** What measures the SIMD peak (the wasm backend's measurePeak). */
export interface PeakMeter {
  measurePeak(threads?: number, iterations?: number): number;
}

/** The per-thread SIMD peak, GFLOP/s: the best of `rounds` runs (a slower run was interrupted). */
export function bestPeak(meter: PeakMeter, rounds = 5): number {
  return Math.max(...Array.from({ length: rounds }, () => meter.measurePeak(1, 4_000_000)));
}

/**
 * The peak measured before and after a run, kept at the higher; a warning when they differ
 * by more than 15 % (the machine was busy, so "% of peak" cannot be trusted).
 */
export function peakAround(before: number, after: number): { peak: number; warning: string | null } {
  const peak = Math.max(before, after);
  const spread = 1 - Math.min(before, after) / peak;
  return {
    peak,
    warning: spread > 0.15 ? `the SIMD peak moved from ${before.toFixed(1)} to ${after.toFixed(1)} GFLOP/s during the run: the machine was busy, so % of peak is not to be trusted; rerun on a quiet machine` : null,
  };
}
