// The webgpu backend's training kernels (the gradients of its forward kernels, the optimizers'
// updates), loaded with the backend in a chunk of their own so that inference never fetches
// their WGSL. WGSL has no float atomics: every kernel here owns its outputs (gathers rather
// than scatters), so a step gives the same bits every time.

import type { Conv2dGeometry, Ref, TrainingKernels } from '../backend.js';
import { BackendError } from '../../errors.js';
import type { GpuBuf } from './buffer-pool.js';
import type { Binding, Runtime } from './runtime.js';
import { interpolateBackwardProgram, resizeValues } from './kernels/interpolate.js';
import {
  activationBackwardProgram, adamwStepProgram, batchNormGradInputProgram, batchNormGradStatsProgram, channelMomentsProgram, channelSumProgram,
  convGradInputProgram, convGradWeightProgram, poolBackwardProgram,
  radixAttendGradAttentionProgram, radixAttendGradInputProgram, rSoftmaxBackwardProgram, sgdStepProgram, softmaxBackwardProgram,
} from './kernels/grad.js';

/** What the kernels need of the backend that loads them. */
export interface GradientContext {
  rt: Runtime;
  wg: number;
  /** Bytes per stored float. */
  fb: number;
  chunks: (what: string, units: number, perUnit: number[], fixed: number[], run: (first: number, count: number) => void) => void;
  bind: (r: Ref<GpuBuf>, offset: number, extent: number) => Binding;
  groupsFor: (threads: number) => number;
}

/** The conv gradient kernels' geometry parameters. */
function convValues(g: Conv2dGeometry): Record<string, number> {
  return { c: g.c, h: g.h, w: g.w, o: g.o, kh: g.kh, kw: g.kw, sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW, dh: g.dilH, dw: g.dilW, groups: g.groups, oh: g.oh, ow: g.ow };
}

export function gradientKernels({ rt, wg, fb, chunks, bind, groupsFor }: GradientContext) {
  /** Per-channel reductions read a whole [n, c, hw] tensor in one binding. */
  const whole = (what: string, numel: number) => {
    if (numel * fb > rt.maxBind) throw new BackendError(`${what}: a ${numel}-element tensor is larger than one WebGPU binding (${rt.maxBind} bytes) on this adapter`);
  };
  return {
    activationBackward(act, y, dy, dx, numel) {
      const spec = activationBackwardProgram(act, wg);
      chunks(`${act} backward`, numel, [1, 1, 1], [], (first, n) =>
        rt.dispatch(spec, [bind(y, first, n), bind(dy, first, n), bind(dx, first, n)], { n }, groupsFor(n)));
    },
    softmaxBackward(log, y, dy, dx, outer, dim, inner) {
      const spec = softmaxBackwardProgram(log, wg), per = dim * inner;
      chunks('softmax backward', outer, [per, per, per], [], (first, count) =>
        rt.dispatch(spec, [bind(y, first * per, count * per), bind(dy, first * per, count * per), bind(dx, first * per, count * per)],
          { n: count * inner, dim, inner }, groupsFor(count * inner)));
    },
    rSoftmaxBackward(y, dy, dx, batch, card, radix, rest) {
      const per = card * radix * rest;
      chunks('rsoftmax backward', batch, [per, per, per], [], (first, count) =>
        rt.dispatch(rSoftmaxBackwardProgram(wg), [bind(y, first * per, count * per), bind(dy, first * per, count * per), bind(dx, first * per, count * per)],
          { n: count * card * rest, card, radix, rest }, groupsFor(count * card * rest)));
    },
    channelMoments(x, mean, variance, n, c, hw) {
      whole('batch_norm (training)', n * c * hw);
      rt.dispatch(channelMomentsProgram(wg), [bind(x, 0, n * c * hw), bind(mean, 0, c), bind(variance, 0, c)], { n: c, images: n, hw }, groupsFor(c));
    },
    batchNormBackward(x, dy, mean, variance, weight, eps, n, c, hw, dx, dweight, dbias) {
      const all = n * c * hw;
      whole('batch_norm backward', all);
      rt.dispatch(batchNormGradStatsProgram(wg), [bind(x, 0, all), bind(dy, 0, all), bind(mean, 0, c), bind(variance, 0, c), bind(dweight, 0, c), bind(dbias, 0, c)],
        { n: c, images: n, hw, eps }, groupsFor(c));
      rt.dispatch(batchNormGradInputProgram(wg), [bind(x, 0, all), bind(dy, 0, all), bind(mean, 0, c), bind(variance, 0, c), bind(weight, 0, c),
        bind(dweight, 0, c), bind(dbias, 0, c), bind(dx, 0, all)], { n: all, c, hw, m: n * hw, eps }, groupsFor(all));
    },
    sgdStep(p, grad, buf, numel, lr, momentum, weightDecay, nesterov, first) {
      const spec = sgdStepProgram(!!buf && momentum !== 0, wg);
      chunks('SGD step', numel, buf ? [1, 1, 1] : [1, 1], [], (at, n) =>
        rt.dispatch(spec, [bind(p, at, n), bind(grad, at, n), ...(buf && momentum !== 0 ? [bind(buf, at, n)] : [])],
          { n, lr, momentum, wd: weightDecay, nesterov: nesterov ? 1 : 0, first: first ? 1 : 0 }, groupsFor(n)));
    },
    adamwStep(p, grad, expAvg, expAvgSq, numel, lr, beta1, beta2, eps, weightDecay, step) {
      const f = Math.fround;
      const values = { decay: f(1 - lr * weightDecay), step: f(lr / (1 - beta1 ** step)), bc2: f(Math.sqrt(1 - beta2 ** step)), b1: beta1, b2: beta2, c1: f(1 - beta1), c2: f(1 - beta2), eps };
      chunks('AdamW step', numel, [1, 1, 1, 1], [], (at, n) =>
        rt.dispatch(adamwStepProgram(wg), [bind(p, at, n), bind(grad, at, n), bind(expAvg, at, n), bind(expAvgSq, at, n)], { n, ...values }, groupsFor(n)));
    },
    radixAttendBackward(x, atten, dy, dx, datten, batch, radix, c, hw) {
      const all = batch * radix * c * hw;
      whole('radix_attend backward', all);
      rt.dispatch(radixAttendGradInputProgram(wg), [bind(atten, 0, batch * radix * c), bind(dy, 0, batch * c * hw), bind(dx, 0, all)],
        { n: all, radix, c, hw }, groupsFor(all));
      rt.dispatch(radixAttendGradAttentionProgram(wg), [bind(x, 0, all), bind(dy, 0, batch * c * hw), bind(datten, 0, batch * radix * c)],
        { n: batch * radix * c, radix, c, hw }, groupsFor(batch * radix * c));
    },
    pool2dBackward(kind, g, x, dy, dx) {
      const max = kind === 'max', inPer = g.h * g.w, outPer = g.oh * g.ow;
      chunks(`${kind}_pool2d backward`, g.planes, max ? [inPer, outPer, inPer] : [outPer, inPer], [], (first, count) =>
        rt.dispatch(poolBackwardProgram(max, wg), [...(max ? [bind(x, first * inPer, count * inPer)] : []), bind(dy, first * outPer, count * outPer),
          bind(dx, first * inPer, count * inPer)], {
          n: count * inPer, h: g.h, w: g.w, kh: g.kh, kw: g.kw, sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW, oh: g.oh, ow: g.ow,
          include: g.countIncludePad ? 1 : 0,
        }, groupsFor(count * inPer)));
    },
    conv2dBackwardInput(g, dy, w, dx) {
      const nx = g.n * g.c * g.h * g.w, ny = g.n * g.o * g.oh * g.ow, nw = g.o * (g.c / g.groups) * g.kh * g.kw;
      whole('conv2d backward', Math.max(nx, ny, nw));
      const per = (g.c / g.groups) % 4 === 0 ? 4 : 1;
      rt.dispatch(convGradInputProgram(wg, per), [bind(dy, 0, ny), bind(w, 0, nw), bind(dx, 0, nx)], { n: nx / per, ...convValues(g) }, groupsFor(nx / per));
    },
    conv2dBackwardWeight(g, x, dy, dw) {
      const nx = g.n * g.c * g.h * g.w, ny = g.n * g.o * g.oh * g.ow, nw = g.o * (g.c / g.groups) * g.kh * g.kw;
      whole('conv2d backward', Math.max(nx, ny, nw));
      const per = (g.o / g.groups) % 4 === 0 ? 4 : 1;
      rt.dispatch(convGradWeightProgram(wg, per), [bind(x, 0, nx), bind(dy, 0, ny), bind(dw, 0, nw)], { n: nw / per, images: g.n, ...convValues(g) },
        groupsFor(nw / per));
    },
    channelSum(x, out, n, c, hw) {
      whole('bias gradient', n * c * hw);
      rt.dispatch(channelSumProgram(wg), [bind(x, 0, n * c * hw), bind(out, 0, c)], { n: c, images: n, hw }, groupsFor(c));
    },
    interpolateBackward(g, dy, dx) {
      const spec = interpolateBackwardProgram(wg), inPer = g.ih * g.iw, outPer = g.oh * g.ow;
      chunks('interpolate backward', g.planes, [outPer, inPer], [], (first, count) =>
        rt.dispatch(spec, [bind(dy, first * outPer, count * outPer), bind(dx, first * inPer, count * inPer)], resizeValues(g, count * inPer),
          groupsFor(count * inPer)));
    },
  } satisfies TrainingKernels<GpuBuf>;
}
