// The webgpu backend's training kernels (the gradients of its forward kernels, the optimizers'
// updates), loaded with the backend in a chunk of their own so that inference never fetches
// their WGSL. WGSL has no float atomics: every kernel here owns its outputs (gathers rather
// than scatters), so a step gives the same bits every time.

import { inputGradientConv, type Backend, type Conv2dGeometry, type Ref, type TrainingKernels } from '../backend.js';
import { BackendError } from '../../errors.js';
import type { GpuBuf } from './buffer-pool.js';
import type { Binding, Runtime } from './runtime.js';
import { interpolateBackwardProgram, resizeValues } from './kernels/interpolate.js';
import {
  activationBackwardProgram, adamwStepProgram, batchNormGradInputProgram, batchNormGradStatsProgram, channelMomentsProgram, channelSumProgram,
  convGradInputProgram, convGradWeightProgram, flipTransposeProgram, poolBackwardProgram,
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
  /** The backend's forward convolution (a stride-1 conv's input gradient is one; a pointwise conv's weight gradient too) and strided copy. */
  conv2d: Backend<GpuBuf>['conv2d'];
  copy: Backend<GpuBuf>['copy'];
}

/** The conv gradient kernels' geometry parameters. */
function convValues(g: Conv2dGeometry): Record<string, number> {
  return { c: g.c, h: g.h, w: g.w, o: g.o, kh: g.kh, kw: g.kw, sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW, dh: g.dilH, dw: g.dilW, groups: g.groups, oh: g.oh, ow: g.ow };
}

export function gradientKernels({ rt, wg, fb, chunks, bind, groupsFor, conv2d, copy }: GradientContext) {
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
      const t = inputGradientConv(g);
      if (g.strideH === 1 && g.strideW === 1 && t.padH >= 0 && t.padW >= 0) {
        // dX = dY convolved with the flipped, transposed weights: the forward's conv kernel
        // (tiled on GPUs), which also splits a large batch into bindings.
        const wt = rt.alloc(nw * fb);
        rt.dispatch(flipTransposeProgram(wg), [bind(w, 0, nw), { buf: wt, offset: 0, extent: nw }],
          { n: nw, c: g.c, o: g.o, groups: g.groups, kh: g.kh, kw: g.kw }, groupsFor(nw));
        conv2d(t, dy, { buf: wt, offset: 0 }, null, null, null, 'none', dx);
        rt.free(wt); // later users of the buffer are encoded after the conv
        return;
      }
      whole('conv2d backward', Math.max(nx, ny, nw));
      const per = (g.c / g.groups) % 4 === 0 ? 4 : 1;
      rt.dispatch(convGradInputProgram(wg, per), [bind(dy, 0, ny), bind(w, 0, nw), bind(dx, 0, nx)], { n: nx / per, ...convValues(g) }, groupsFor(nx / per));
    },
    conv2dBackwardWeight(g, x, dy, dw) {
      const nx = g.n * g.c * g.h * g.w, ny = g.n * g.o * g.oh * g.ow, nw = g.o * (g.c / g.groups) * g.kh * g.kw;
      const plane = g.oh * g.ow, k = g.n * plane;
      const pointwise = g.kh === 1 && g.kw === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0 && g.groups === 1;
      if (pointwise && Math.max(g.o, g.c) * k * fb <= rt.maxBind) {
        // dW [o, c] = dY [o, (b, p)] · X [(b, p), c]: the forward's pointwise conv (tiled on GPUs)
        // with dY as its weights and X as one image of n·p channels and c pixels.
        const dyT = rt.alloc(ny * fb), xT = plane === 1 ? null : rt.alloc(nx * fb);
        copy([g.o, g.n, plane], { buf: dy.buf, offset: dy.offset, strides: [plane, g.o * plane, 1] }, { buf: dyT, offset: 0, strides: [k, plane, 1] }, 'float32');
        if (xT) copy([g.n, plane, g.c], { buf: x.buf, offset: x.offset, strides: [g.c * plane, 1, plane] }, { buf: xT, offset: 0, strides: [plane * g.c, g.c, 1] }, 'float32');
        const t: Conv2dGeometry = { n: 1, c: k, h: 1, w: g.c, o: g.o, kh: 1, kw: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilH: 1, dilW: 1, groups: 1, oh: 1, ow: g.c };
        conv2d(t, xT ? { buf: xT, offset: 0 } : x, { buf: dyT, offset: 0 }, null, null, null, 'none', dw);
        // Later users of these buffers are encoded after the conv.
        rt.free(dyT);
        if (xT) rt.free(xT);
        return;
      }
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
