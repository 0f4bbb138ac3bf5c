// The reference training kernels: the backward pass of each forward kernel written as the
// definition reads, plus the optimizers' updates in torch.optim's float32 operation order.

import type { Conv2dGeometry, Pool2dGeometry, PoolKind, Ref, TrainingKernels } from '../backend.js';
import { im2col, im2colWalk } from './conv.js';
import { interpolateBackward } from './interpolate.js';
import { sgemm } from './gemm.js';
import { forEachAvgWindow } from './pool.js';

type F32 = Float32Array;
type R = Ref<F32>;
const f = Math.fround;

/** wt[gi][kk, oo] = w[gi·og + oo, kk]: each group's weight transposed to [k, og]. */
function transposedWeights(g: Conv2dGeometry, w: R): F32 {
  const og = g.o / g.groups, k = (g.c / g.groups) * g.kh * g.kw;
  const wt = new Float32Array(g.o * k);
  for (let gi = 0; gi < g.groups; gi++) {
    for (let oo = 0; oo < og; oo++) {
      const src = w.offset + (gi * og + oo) * k, dst = gi * og * k;
      for (let kk = 0; kk < k; kk++) wt[dst + kk * og + oo] = w.buf[src + kk]!;
    }
  }
  return wt;
}

/** The adjoint of im2col: adds col [cg·kh·kw, oh·ow] back into the input planes. */
function col2im(g: Conv2dGeometry, col: Float64Array, cg: number, dx: Float64Array, off: number): void {
  im2colWalk(g, off, cg, (j, i) => {
    if (i >= 0) dx[i] += col[j]!;
  });
}

const isDirect = (g: Conv2dGeometry) =>
  g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;

function conv2dBackwardInput(g: Conv2dGeometry, dy: R, w: R, dx: R): void {
  const { n, c, h, o, groups, oh, ow } = g;
  const cg = c / groups, og = o / groups, k = cg * g.kh * g.kw, p = oh * ow;
  const wt = transposedWeights(g, w);
  // Sums in float64: this is the reference the other backends' gradients are held to.
  const col = new Float64Array(k * p), acc = new Float64Array(cg * h * g.w);
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const dyOff = dy.offset + (b * o + gi * og) * p;
      const dxOff = dx.offset + (b * c + gi * cg) * h * g.w;
      sgemm(k, p, og, wt, gi * og * k, og, dy.buf, dyOff, p, col, 0, p);
      acc.fill(0);
      col2im(g, col, cg, acc, 0);
      dx.buf.set(acc, dxOff);
    }
  }
}

function conv2dBackwardWeight(g: Conv2dGeometry, x: R, dy: R, dw: R): void {
  const { n, c, h, o, groups, oh, ow } = g;
  const cg = c / groups, og = o / groups, k = cg * g.kh * g.kw, p = oh * ow;
  const col = new Float32Array(k * p), colT = new Float32Array(p * k), part = new Float64Array(og * k);
  const acc = new Float64Array(o * k);
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < groups; gi++) {
      const xOff = x.offset + (b * c + gi * cg) * h * g.w;
      if (isDirect(g)) col.set(x.buf.subarray(xOff, xOff + k * p));
      else im2col(g, x.buf, xOff, cg, col);
      for (let kk = 0; kk < k; kk++) for (let q = 0; q < p; q++) colT[q * k + kk] = col[kk * p + q]!;
      sgemm(og, k, p, dy.buf, dy.offset + (b * o + gi * og) * p, p, colT, 0, k, part, 0, k);
      const dst = gi * og * k;
      for (let i = 0; i < og * k; i++) acc[dst + i] += part[i]!;
    }
  }
  dw.buf.set(acc, dw.offset);
}

function channelSum(x: R, out: R, n: number, c: number, hw: number): void {
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let b = 0; b < n; b++) {
      const base = x.offset + (b * c + j) * hw;
      for (let i = base; i < base + hw; i++) s += x.buf[i]!;
    }
    out.buf[out.offset + j] = s;
  }
}

function channelMoments(x: R, mean: R, variance: R, n: number, c: number, hw: number): void {
  const m = n * hw;
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let b = 0; b < n; b++) {
      const base = x.offset + (b * c + j) * hw;
      for (let i = base; i < base + hw; i++) s += x.buf[i]!;
    }
    const mu = s / m;
    let v = 0;
    for (let b = 0; b < n; b++) {
      const base = x.offset + (b * c + j) * hw;
      for (let i = base; i < base + hw; i++) v += (x.buf[i]! - mu) ** 2;
    }
    mean.buf[mean.offset + j] = mu;
    variance.buf[variance.offset + j] = v / m;
  }
}

function batchNormBackward(x: R, dy: R, mean: R, variance: R, weight: R, eps: number,
  n: number, c: number, hw: number, dx: R, dweight: R, dbias: R): void {
  const m = n * hw;
  for (let j = 0; j < c; j++) {
    const mu = mean.buf[mean.offset + j]!, invstd = 1 / Math.sqrt(variance.buf[variance.offset + j]! + eps);
    let sdy = 0, sdyx = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + j) * hw;
      for (let i = 0; i < hw; i++) {
        const d = dy.buf[dy.offset + base + i]!;
        sdy += d;
        sdyx += d * (x.buf[x.offset + base + i]! - mu);
      }
    }
    const dw = sdyx * invstd;
    dweight.buf[dweight.offset + j] = dw;
    dbias.buf[dbias.offset + j] = sdy;
    const scale = weight.buf[weight.offset + j]! * invstd;
    for (let b = 0; b < n; b++) {
      const base = (b * c + j) * hw;
      for (let i = 0; i < hw; i++) {
        const xhat = (x.buf[x.offset + base + i]! - mu) * invstd;
        dx.buf[dx.offset + base + i] = scale * (dy.buf[dy.offset + base + i]! - sdy / m - xhat * (dw / m));
      }
    }
  }
}

function activationBackward(act: 'relu' | 'sigmoid', y: R, dy: R, dx: R, numel: number): void {
  const Y = y.buf, D = dy.buf, X = dx.buf;
  if (act === 'relu') {
    for (let i = 0; i < numel; i++) X[dx.offset + i] = Y[y.offset + i]! > 0 ? D[dy.offset + i]! : 0;
  } else {
    for (let i = 0; i < numel; i++) {
      const v = Y[y.offset + i]!;
      X[dx.offset + i] = D[dy.offset + i]! * v * (1 - v);
    }
  }
}

/** Runs fn(base, stride) for every line of the middle axis of [outer, dim, inner]. */
function lines(outer: number, dim: number, inner: number, fn: (base: number, stride: number) => void): void {
  for (let a = 0; a < outer; a++) for (let i = 0; i < inner; i++) fn(a * dim * inner + i, inner);
}

function softmaxBackward(log: boolean, y: R, dy: R, dx: R, outer: number, dim: number, inner: number): void {
  if (log) return logSoftmaxBackward(y, dy, dx, outer, dim, inner);
  lines(outer, dim, inner, (base, st) => {
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += dy.buf[dy.offset + base + d * st]! * y.buf[y.offset + base + d * st]!;
    for (let d = 0; d < dim; d++) {
      const at = base + d * st;
      dx.buf[dx.offset + at] = y.buf[y.offset + at]! * (dy.buf[dy.offset + at]! - dot);
    }
  });
}

function logSoftmaxBackward(y: R, dy: R, dx: R, outer: number, dim: number, inner: number): void {
  lines(outer, dim, inner, (base, st) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += dy.buf[dy.offset + base + d * st]!;
    for (let d = 0; d < dim; d++) {
      const at = base + d * st;
      dx.buf[dx.offset + at] = dy.buf[dy.offset + at]! - Math.exp(y.buf[y.offset + at]!) * s;
    }
  });
}

function rSoftmaxBackward(y: R, dy: R, dx: R, batch: number, card: number, radix: number, rest: number): void {
  for (let b = 0; b < batch; b++) {
    const base = b * card * radix * rest;
    for (let ci = 0; ci < card; ci++) {
      for (let t = 0; t < rest; t++) {
        // y, dy at [b, r, ci, t]; dx at [b, ci, r, t].
        let dot = 0;
        for (let r = 0; r < radix; r++) {
          const at = base + (r * card + ci) * rest + t;
          dot += y.buf[y.offset + at]! * dy.buf[dy.offset + at]!;
        }
        for (let r = 0; r < radix; r++) {
          const at = base + (r * card + ci) * rest + t;
          dx.buf[dx.offset + base + (ci * radix + r) * rest + t] = y.buf[y.offset + at]! * (dy.buf[dy.offset + at]! - dot);
        }
      }
    }
  }
}

function pool2dBackward(kind: PoolKind, g: Pool2dGeometry, x: R, dy: R, dx: R): void {
  if (kind === 'max') maxPool2dBackward(g, x, dy, dx);
  else avgPool2dBackward(g, dy, dx);
}

function maxPool2dBackward(g: Pool2dGeometry, x: R, dy: R, dx: R): void {
  const { planes, h, w, kh, kw, strideH, strideW, padH, padW, oh, ow } = g;
  dx.buf.fill(0, dx.offset, dx.offset + planes * h * w);
  let o = dy.offset;
  for (let pl = 0; pl < planes; pl++) {
    const base = pl * h * w;
    for (let y = 0; y < oh; y++) {
      const y0 = Math.max(y * strideH - padH, 0), y1 = Math.min(y * strideH - padH + kh, h);
      for (let xo = 0; xo < ow; xo++, o++) {
        const x0 = Math.max(xo * strideW - padW, 0), x1 = Math.min(xo * strideW - padW + kw, w);
        let m = -Infinity, arg = base + y0 * w + x0;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const v = x.buf[x.offset + base + iy * w + ix]!;
            if (v > m || v !== v) {
              m = v;
              arg = base + iy * w + ix;
            }
          }
        }
        dx.buf[dx.offset + arg] += dy.buf[o]!;
      }
    }
  }
}

function avgPool2dBackward(g: Pool2dGeometry, dy: R, dx: R): void {
  const { planes, h, w } = g;
  dx.buf.fill(0, dx.offset, dx.offset + planes * h * w);
  forEachAvgWindow(g, (p, o, y0, y1, x0, x1, count) => {
    const base = dx.offset + p * h * w, v = dy.buf[dy.offset + o]! / count;
    for (let iy = y0; iy < y1; iy++) for (let ix = x0; ix < x1; ix++) dx.buf[base + iy * w + ix] += v;
  });
}

function radixAttendBackward(x: R, atten: R, dy: R, dx: R, datten: R, batch: number, radix: number, c: number, hw: number): void {
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < radix; r++) {
      for (let j = 0; j < c; j++) {
        const ch = b * radix * c + r * c + j;
        const a = atten.buf[atten.offset + ch]!;
        const xs = x.offset + ch * hw, xd = dx.offset + ch * hw, ds = dy.offset + (b * c + j) * hw;
        let s = 0;
        for (let p = 0; p < hw; p++) {
          const d = dy.buf[ds + p]!;
          s += x.buf[xs + p]! * d;
          dx.buf[xd + p] = a * d;
        }
        datten.buf[datten.offset + ch] = s;
      }
    }
  }
}

function sgdStep(p: R, grad: R, buf: R | null, numel: number, lr: number, momentum: number,
  weightDecay: number, nesterov: boolean, first: boolean): void {
  const P = p.buf, G = grad.buf;
  const m = f(momentum), wd = f(weightDecay), step = f(lr);
  for (let i = 0; i < numel; i++) {
    const pi = P[p.offset + i]!;
    let d = wd ? f(G[grad.offset + i]! + f(wd * pi)) : G[grad.offset + i]!;
    if (buf && momentum) {
      const bi = first ? d : f(f(m * buf.buf[buf.offset + i]!) + d);
      buf.buf[buf.offset + i] = bi;
      d = nesterov ? f(d + f(m * bi)) : bi;
    }
    P[p.offset + i] = f(pi - f(step * d));
  }
}

function adamwStep(p: R, grad: R, expAvg: R, expAvgSq: R, numel: number, lr: number,
  beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void {
  const decay = f(1 - lr * weightDecay);
  const bc1 = 1 - beta1 ** step, bc2Sqrt = Math.sqrt(1 - beta2 ** step);
  const stepSize = f(lr / bc1);
  for (let i = 0; i < numel; i++) {
    const g = grad.buf[grad.offset + i]!;
    const pi = f(p.buf[p.offset + i]! * decay);
    const m = f(f(expAvg.buf[expAvg.offset + i]! * f(beta1)) + f(g * f(1 - beta1)));
    const v = f(f(expAvgSq.buf[expAvgSq.offset + i]! * f(beta2)) + f(f(g * g) * f(1 - beta2)));
    expAvg.buf[expAvg.offset + i] = m;
    expAvgSq.buf[expAvgSq.offset + i] = v;
    const denom = f(f(f(Math.sqrt(v)) / f(bc2Sqrt)) + f(eps));
    p.buf[p.offset + i] = f(pi - f(stepSize * f(m / denom)));
  }
}

export const trainingKernels: TrainingKernels<F32> = {
  conv2dBackwardInput, conv2dBackwardWeight, channelSum, channelMoments, batchNormBackward, activationBackward,
  softmaxBackward, rSoftmaxBackward, pool2dBackward, interpolateBackward, radixAttendBackward, sgdStep, adamwStep,
};
