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
