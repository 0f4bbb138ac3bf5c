// The training curves as one SVG (no dependencies): loss per step (raw, faint, and a moving
// average), learning rate on its own axis, and test accuracy per epoch. Written after every
// epoch so a long run can be watched in any image viewer or browser.

import { esc } from './charts.js';

export interface Curves {
  /** Loss of every step, in order. */
  losses: number[];
  lrs: number[];
  stepsPerEpoch: number;
  /** Test accuracy (0–1) at the end of each epoch so far; null where there was none. */
  accuracies: (number | null)[];
  title: string;
}

const W = 720, H = 300, PAD = { left: 56, right: 56, top: 34, bottom: 40 };

function movingAverage(xs: number[], k: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    sum += xs[i]!;
    if (i >= k) sum -= xs[i - k]!;
    out.push(sum / Math.min(i + 1, k));
  }
  return out;
}

const f = (v: number) => (Math.round(v * 10) / 10).toString();

export function curvesSvg(c: Curves): string {
  const n = Math.max(1, c.losses.length);
  const pw = W - PAD.left - PAD.right, ph = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (pw * i) / Math.max(1, n - 1);
  const finite = c.losses.filter(Number.isFinite);
  const lossMax = Math.max(1e-9, ...finite), lossMin = Math.min(lossMax, ...finite, 0);
  const yLoss = (v: number) => PAD.top + ph * (1 - (v - lossMin) / (lossMax - lossMin || 1));
  const lrMax = Math.max(1e-12, ...c.lrs);
  const yRight = (v: number) => PAD.top + ph * (1 - v); // lr / lrMax and accuracy share [0, 1]
  // At most ~1000 points per curve: a long run's file stays small, and a pixel holds no more.
  const every = Math.max(1, Math.ceil(n / 1000));
  const path = (ys: number[], y: (v: number) => number) =>
    ys.map((v, i) => (i % every === 0 || i === ys.length - 1 ? `${i ? 'L' : 'M'}${f(x(i))},${f(y(v))}` : '')).join('');
  const smooth = movingAverage(c.losses, Math.max(1, Math.round(c.stepsPerEpoch / 10)));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${PAD.left}" y="18" font-size="13" font-weight="bold">${esc(c.title)}</text>`);
  // Axes and grid: epochs along x.
  parts.push(`<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  const epochs = Math.ceil(c.losses.length / Math.max(1, c.stepsPerEpoch));
  const tick = Math.max(1, Math.ceil(epochs / 15));
  for (let e = 0; e <= epochs; e += tick) {
    const xe = x(Math.min(n - 1, e * c.stepsPerEpoch));
    parts.push(`<line x1="${f(xe)}" y1="${PAD.top}" x2="${f(xe)}" y2="${PAD.top + ph}" stroke="#eee"/>`);
    parts.push(`<text x="${f(xe)}" y="${PAD.top + ph + 14}" text-anchor="middle" fill="#555">${e}</text>`);
  }
  parts.push(`<text x="${PAD.left + pw / 2}" y="${H - 8}" text-anchor="middle" fill="#555">epoch</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = lossMin + ((lossMax - lossMin) * k) / 4, y = yLoss(v);
    parts.push(`<text x="${PAD.left - 6}" y="${f(y + 4)}" text-anchor="end" fill="#1f77b4">${v.toFixed(2)}</text>`);
    parts.push(`<text x="${PAD.left + pw + 6}" y="${f(yRight(k / 4) + 4)}" fill="#2ca02c">${(25 * k).toFixed(0)}%</text>`);
  }
  parts.push(`<path d="${path(c.losses, yLoss)}" fill="none" stroke="#1f77b4" stroke-opacity="0.25" stroke-width="0.8"/>`);
  parts.push(`<path d="${path(smooth, yLoss)}" fill="none" stroke="#1f77b4" stroke-width="1.8"/>`);
  parts.push(`<path d="${path(c.lrs.map((v) => v / lrMax), yRight)}" fill="none" stroke="#ff7f0e" stroke-width="1.2" stroke-dasharray="4 3"/>`);
  const acc = c.accuracies.map((a, e) => [a, e] as const).filter(([a]) => a !== null) as [number, number][];
  if (acc.length) {
    const pts = acc.map(([a, e]) => [x(Math.min(n - 1, (e + 1) * c.stepsPerEpoch - 1)), yRight(a)] as const);
    parts.push(`<path d="${pts.map(([px, py], i) => `${i ? 'L' : 'M'}${f(px)},${f(py)}`).join('')}" fill="none" stroke="#2ca02c" stroke-width="1.8"/>`);
    for (const [px, py] of pts) parts.push(`<circle cx="${f(px)}" cy="${f(py)}" r="2.5" fill="#2ca02c"/>`);
    const [lastAcc] = acc[acc.length - 1]!;
    parts.push(`<text x="${PAD.left + pw}" y="${PAD.top - 6}" text-anchor="end" fill="#2ca02c">test accuracy ${(100 * lastAcc).toFixed(2)} %</text>`);
  }
  // Legend.
  const legend = [['#1f77b4', 'loss (moving average)'], ['#ff7f0e', `lr (peak ${lrMax.toPrecision(3)})`], ['#2ca02c', 'test accuracy']] as const;
  legend.forEach(([color, label], i) => {
    const lx = PAD.left + 10 + i * 170;
    parts.push(`<line x1="${lx}" y1="${PAD.top + 12}" x2="${lx + 18}" y2="${PAD.top + 12}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 22}" y="${PAD.top + 16}">${esc(label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
