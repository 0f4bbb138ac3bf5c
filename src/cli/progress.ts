// Progress of a long run: on a terminal one line redrawn in place (epoch, a bar, step, loss,
// accuracy, images/s, ETA); otherwise plain lines every few steps, for logs and pipes.

export interface ProgressState {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  lr: number;
  accuracy: number | null;
  imagesPerS: number;
  dataMs: number;
  /** Seconds left for the whole run. */
  etaS: number;
}

const clock = (s: number) => {
  if (!Number.isFinite(s)) return '--:--';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return `${h ? `${h}:` : ''}${String(m).padStart(h ? 2 : 1, '0')}:${String(sec).padStart(2, '0')}`;
};

export class Progress {
  private drawn = false;
  constructor(private readonly out: NodeJS.WriteStream, private readonly quiet = false) {}

  get tty(): boolean {
    return !!this.out.isTTY;
  }

  step(s: ProgressState): void {
    if (this.quiet) return;
    const acc = s.accuracy === null ? '' : `  acc ${(100 * s.accuracy).toFixed(2)}%`;
    if (this.tty) {
      const width = 24, done = Math.round((width * s.step) / s.steps);
      const bar = '█'.repeat(done) + '░'.repeat(width - done);
      const line = `epoch ${s.epoch}/${s.epochs} ${bar} ${s.step}/${s.steps}  loss ${s.loss.toFixed(4)}${acc}  ${s.imagesPerS.toFixed(0)} img/s  ETA ${clock(s.etaS)}`;
      this.out.write(`\r${line.slice(0, (this.out.columns || 120) - 1)}\x1b[K`);
      this.drawn = true;
      return;
    }
    if (s.step === s.steps || s.step === 1 || (s.step - 1) % 10 === 0) {
      this.out.write(`epoch ${s.epoch}/${s.epochs} step ${s.step}/${s.steps}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toPrecision(3)}  ${s.imagesPerS.toFixed(1)} img/s  data ${s.dataMs.toFixed(1)} ms/step  ETA ${clock(s.etaS)}\n`);
    }
  }

  /** A line that stays (epoch summaries, checkpoints). */
  line(text: string): void {
    if (this.quiet) return;
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    this.out.write(`${text}\n`);
  }
}
