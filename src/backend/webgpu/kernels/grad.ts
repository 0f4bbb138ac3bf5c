// Gradient kernels of the forward kernels in elementwise.ts and norm.ts, one thread per output
// element (activations) or per softmax row: each writes only its own elements, so no atomics
// are needed and the same inputs give the same bits.

import type { Activation } from '../../backend.js';
import { elementHead, type ProgramSpec } from '../program.js';

const DX: Record<Exclude<Activation, 'none'>, string> = { relu: 'select(0.0, g, y > 0.0)', sigmoid: 'g * y * (1.0 - y)' };

/** dx = dy · act'(·) from the activation's output y. */
export function activationBackwardProgram(act: Exclude<Activation, 'none'>, wg: number): ProgramSpec {
  return {
    key: `activation_backward/${act}/${wg}`,
    params: [['n', 'u32']],
    storage: [{ name: 't_y', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `${elementHead(wg)}  let y = f32(t_y[p.t_y_off + i]);
  let g = f32(t_dy[p.t_dy_off + i]);
  t_dx[p.t_dx_off + i] = SF(${DX[act]});
}`,
  };
}

/** Over the middle axis of [outer, dim, inner], from the output y: softmax dx = y·(dy − Σ dy·y); log-softmax dx = dy − exp(y)·Σ dy. */
export function softmaxBackwardProgram(log: boolean, wg: number): ProgramSpec {
  return {
    key: `softmax_backward/${log}/${wg}`,
    params: [['n', 'u32'], ['dim', 'u32'], ['inner', 'u32']],
    storage: [{ name: 't_y', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `${elementHead(wg)}  let start = (i / p.inner) * p.dim * p.inner + i % p.inner;
  var s = 0.0;
  for (var d = 0u; d < p.dim; d++) {
    let k = start + d * p.inner;
    s += f32(t_dy[p.t_dy_off + k])${log ? '' : ' * f32(t_y[p.t_y_off + k])'};
  }
  for (var d = 0u; d < p.dim; d++) {
    let k = start + d * p.inner;
    let y = f32(t_y[p.t_y_off + k]);
    let g = f32(t_dy[p.t_dy_off + k]);
    t_dx[p.t_dx_off + k] = SF(${log ? 'g - exp(y) * s' : 'y * (g - s)'});
  }
}`,
  };
}


/** r-softmax's gradient: one thread per (b, group, t); y, dy radix-major [b, radix, card, rest], dx [b, card, radix, rest]. */
export function rSoftmaxBackwardProgram(wg: number): ProgramSpec {
  return {
    key: `rsoftmax_backward/${wg}`,
    params: [['n', 'u32'], ['card', 'u32'], ['radix', 'u32'], ['rest', 'u32']],
    storage: [{ name: 't_y', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `${elementHead(wg)}  let t = i % p.rest;
  let ci = (i / p.rest) % p.card;
  let base = (i / (p.rest * p.card)) * p.card * p.radix * p.rest;
  var dot = 0.0;
  for (var r = 0u; r < p.radix; r++) {
    let at = base + (r * p.card + ci) * p.rest + t;
    dot += f32(t_y[p.t_y_off + at]) * f32(t_dy[p.t_dy_off + at]);
  }
  for (var r = 0u; r < p.radix; r++) {
    let at = base + (r * p.card + ci) * p.rest + t;
    t_dx[p.t_dx_off + base + (ci * p.radix + r) * p.rest + t] = SF(f32(t_y[p.t_y_off + at]) * (f32(t_dy[p.t_dy_off + at]) - dot));
  }
}`,
  };
}

/** Per channel of [n, c, hw], one thread each: the mean and the biased variance (two passes). */
export function channelMomentsProgram(wg: number): ProgramSpec {
  return {
    key: `channel_moments/${wg}`,
    params: [['n', 'u32'], ['images', 'u32'], ['hw', 'u32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_mean', type: 'float', write: true }, { name: 't_var', type: 'float', write: true }],
    body: `${elementHead(wg)}  let m = f32(p.images * p.hw);
  var s = 0.0;
  for (var b = 0u; b < p.images; b++) {
    let base = p.t_x_off + (b * p.n + i) * p.hw;
    for (var k = 0u; k < p.hw; k++) { s += f32(t_x[base + k]); }
  }
  let mu = s / m;
  var v = 0.0;
  for (var b = 0u; b < p.images; b++) {
    let base = p.t_x_off + (b * p.n + i) * p.hw;
    for (var k = 0u; k < p.hw; k++) { let d = f32(t_x[base + k]) - mu; v += d * d; }
  }
  t_mean[p.t_mean_off + i] = SF(mu);
  t_var[p.t_var_off + i] = SF(v / m);
}`,
  };
}

/** Training batch norm's weight and bias gradients, one thread per channel: dweight = Σ dy·x̂, dbias = Σ dy. */
export function batchNormGradStatsProgram(wg: number): ProgramSpec {
  return {
    key: `bn_grad_stats/${wg}`,
    params: [['n', 'u32'], ['images', 'u32'], ['hw', 'u32'], ['eps', 'f32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_mean', type: 'float' }, { name: 't_var', type: 'float' },
      { name: 't_dw', type: 'float', write: true }, { name: 't_db', type: 'float', write: true }],
    body: `${elementHead(wg)}  let mu = f32(t_mean[p.t_mean_off + i]);
  var sdy = 0.0;
  var sdyx = 0.0;
  for (var b = 0u; b < p.images; b++) {
    let base = (b * p.n + i) * p.hw;
    for (var k = 0u; k < p.hw; k++) {
      let d = f32(t_dy[p.t_dy_off + base + k]);
      sdy += d;
      sdyx += d * (f32(t_x[p.t_x_off + base + k]) - mu);
    }
  }
  t_dw[p.t_dw_off + i] = SF(sdyx / sqrt(f32(t_var[p.t_var_off + i]) + p.eps));
  t_db[p.t_db_off + i] = SF(sdy);
}`,
  };
}

/** Training batch norm's input gradient, one thread per element: w/σ·(dy − dbias/m − x̂·dweight/m). */
export function batchNormGradInputProgram(wg: number): ProgramSpec {
  return {
    key: `bn_grad_input/${wg}`,
    params: [['n', 'u32'], ['c', 'u32'], ['hw', 'u32'], ['m', 'f32'], ['eps', 'f32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_mean', type: 'float' }, { name: 't_var', type: 'float' },
      { name: 't_w', type: 'float' }, { name: 't_dw', type: 'float' }, { name: 't_db', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `${elementHead(wg)}  let j = (i / p.hw) % p.c;
  let invstd = 1.0 / sqrt(f32(t_var[p.t_var_off + j]) + p.eps);
  let xhat = (f32(t_x[p.t_x_off + i]) - f32(t_mean[p.t_mean_off + j])) * invstd;
  let g = f32(t_dy[p.t_dy_off + i]) - f32(t_db[p.t_db_off + j]) / p.m - xhat * (f32(t_dw[p.t_dw_off + j]) / p.m);
  t_dx[p.t_dx_off + i] = SF(f32(t_w[p.t_w_off + j]) * invstd * g);
}`,
  };
}

/** torch.optim.SGD's update in place (dampening 0); `buf`: with a momentum buffer. */
export function sgdStepProgram(buf: boolean, wg: number): ProgramSpec {
  return {
    key: `sgd_step/${buf}/${wg}`,
    params: [['n', 'u32'], ['lr', 'f32'], ['momentum', 'f32'], ['wd', 'f32'], ['nesterov', 'u32'], ['first', 'u32']],
    storage: [{ name: 't_p', type: 'float', write: true }, { name: 't_g', type: 'float' }, ...(buf ? [{ name: 't_b', type: 'float' as const, write: true }] : [])],
    body: `${elementHead(wg)}  let pi = f32(t_p[p.t_p_off + i]);
  var d = f32(t_g[p.t_g_off + i]) + p.wd * pi;
${buf ? `  let bi = select(p.momentum * f32(t_b[p.t_b_off + i]) + d, d, p.first != 0u);
  t_b[p.t_b_off + i] = SF(bi);
  d = select(bi, d + p.momentum * bi, p.nesterov != 0u);
` : ''}  t_p[p.t_p_off + i] = SF(pi - p.lr * d);
}`,
  };
}

/** torch.optim.AdamW's update in place; decay = 1 − lr·wd, step = lr / (1 − β1^t), bc2 = √(1 − β2^t), from the host. */
export function adamwStepProgram(wg: number): ProgramSpec {
  return {
    key: `adamw_step/${wg}`,
    params: [['n', 'u32'], ['decay', 'f32'], ['step', 'f32'], ['bc2', 'f32'], ['b1', 'f32'], ['b2', 'f32'], ['c1', 'f32'], ['c2', 'f32'], ['eps', 'f32']],
    storage: [{ name: 't_p', type: 'float', write: true }, { name: 't_g', type: 'float' }, { name: 't_m', type: 'float', write: true },
      { name: 't_v', type: 'float', write: true }],
    body: `${elementHead(wg)}  let g = f32(t_g[p.t_g_off + i]);
  let pi = f32(t_p[p.t_p_off + i]) * p.decay;
  let m = f32(t_m[p.t_m_off + i]) * p.b1 + g * p.c1;
  let v = f32(t_v[p.t_v_off + i]) * p.b2 + (g * g) * p.c2;
  t_m[p.t_m_off + i] = SF(m);
  t_v[p.t_v_off + i] = SF(v);
  t_p[p.t_p_off + i] = SF(pi - p.step * (m / (sqrt(v) / p.bc2 + p.eps)));
}`,
  };
}

/** radixAttend's input gradient, one thread per element of x [b, radix·c, hw]: dx = atten[ch] · dy[b, j]. */
export function radixAttendGradInputProgram(wg: number): ProgramSpec {
  return {
    key: `radix_attend_dx/${wg}`,
    params: [['n', 'u32'], ['radix', 'u32'], ['c', 'u32'], ['hw', 'u32']],
    storage: [{ name: 't_a', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `${elementHead(wg)}  let ch = i / p.hw;
  let b = ch / (p.radix * p.c);
  let j = ch % p.c;
  t_dx[p.t_dx_off + i] = SF(f32(t_a[p.t_a_off + ch]) * f32(t_dy[p.t_dy_off + (b * p.c + j) * p.hw + i % p.hw]));
}`,
  };
}

/** radixAttend's attention gradient, one thread per (b, r, j): Σ_p x · dy. */
export function radixAttendGradAttentionProgram(wg: number): ProgramSpec {
  return {
    key: `radix_attend_da/${wg}`,
    params: [['n', 'u32'], ['radix', 'u32'], ['c', 'u32'], ['hw', 'u32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_da', type: 'float', write: true }],
    body: `${elementHead(wg)}  let b = i / (p.radix * p.c);
  let j = i % p.c;
  var s = 0.0;
  for (var k = 0u; k < p.hw; k++) { s += f32(t_x[p.t_x_off + i * p.hw + k]) * f32(t_dy[p.t_dy_off + (b * p.c + j) * p.hw + k]); }
  t_da[p.t_da_off + i] = SF(s);
}`,
  };
}

/**
 * pool2d's gradient by gathering, one thread per input pixel: the windows that hold it (their
 * range inverted from the stride), each tested exactly as the forward builds it — max: is this
 * pixel the one the CPU kernels pick (the first maximum; a NaN wins, the last one), avg: dy / the
 * window's count.
 */
export function poolBackwardProgram(max: boolean, wg: number): ProgramSpec {
  return {
    key: `pool_backward/${max}/${wg}`,
    params: [['n', 'u32'], ['h', 'i32'], ['w', 'i32'], ['kh', 'i32'], ['kw', 'i32'], ['sh', 'i32'], ['sw', 'i32'], ['ph', 'i32'], ['pw', 'i32'],
      ['oh', 'i32'], ['ow', 'i32'], ['include', 'u32']],
    storage: [...(max ? [{ name: 't_x', type: 'float' as const }] : []), { name: 't_dy', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `${elementHead(wg)}  let ix = i32(i % u32(p.w));
  let iy = i32((i / u32(p.w)) % u32(p.h));
  let plane = i / u32(p.w * p.h);
  let oy0 = max((iy + p.ph - p.kh + p.sh) / p.sh, 0);
  let oy1 = min((iy + p.ph) / p.sh, p.oh - 1);
  let ox0 = max((ix + p.pw - p.kw + p.sw) / p.sw, 0);
  let ox1 = min((ix + p.pw) / p.sw, p.ow - 1);
  var acc = 0.0;
  for (var oy = oy0; oy <= oy1; oy++) {
    for (var ox = ox0; ox <= ox1; ox++) {
      let ys = oy * p.sh - p.ph;
      let xs = ox * p.sw - p.pw;
      let g = f32(t_dy[p.t_dy_off + plane * u32(p.oh * p.ow) + u32(oy * p.ow + ox)]);
${max ? `      let y0 = max(ys, 0);
      let y1 = min(ys + p.kh, p.h);
      let x0 = max(xs, 0);
      let x1 = min(xs + p.kw, p.w);
      if (iy < y0 || iy >= y1 || ix < x0 || ix >= x1) { continue; }
      let base = p.t_x_off + plane * u32(p.h * p.w);
      var m = f32(t_x[base + u32(y0 * p.w + x0)]);
      var at = y0 * p.w + x0;
      for (var yy = y0; yy < y1; yy++) {
        for (var xx = x0; xx < x1; xx++) {
          let v = f32(t_x[base + u32(yy * p.w + xx)]);
          if (v > m || v != v) { m = v; at = yy * p.w + xx; }
        }
      }
      if (at == iy * p.w + ix) { acc += g; }` : `      let ye = min(ys + p.kh, p.h + p.ph);
      let xe = min(xs + p.kw, p.w + p.pw);
      let y0 = max(ys, 0);
      let y1 = min(ye, p.h);
      let x0 = max(xs, 0);
      let x1 = min(xe, p.w);
      if (iy < y0 || iy >= y1 || ix < x0 || ix >= x1) { continue; }
      let count = select((y1 - y0) * (x1 - x0), (ye - ys) * (xe - xs), p.include != 0u);
      acc += g / f32(count);`}
    }
  }
  t_dx[p.t_dx_off + i] = SF(acc);
}`,
  };
}

const CONV_PARAMS: ProgramSpec['params'] = [['n', 'u32'], ['c', 'i32'], ['h', 'i32'], ['w', 'i32'], ['o', 'i32'], ['kh', 'i32'], ['kw', 'i32'],
  ['sh', 'i32'], ['sw', 'i32'], ['ph', 'i32'], ['pw', 'i32'], ['dh', 'i32'], ['dw', 'i32'], ['groups', 'i32'], ['oh', 'i32'], ['ow', 'i32']];

/**
 * conv2d's input gradient: for each dx element, the taps of every output that read it, in a
 * fixed order. A thread owns `per` consecutive input channels of a group at one pixel, so each
 * dy value it loads serves `per` sums.
 */
export function convGradInputProgram(wg: number, per: 1 | 4): ProgramSpec {
  const r = [...Array(per).keys()];
  return {
    key: `conv_dx/${wg}/${per}`,
    params: CONV_PARAMS,
    storage: [{ name: 't_dy', type: 'float' }, { name: 't_w', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `${elementHead(wg)}  let ix = i32(i % u32(p.w));
  let iy = i32((i / u32(p.w)) % u32(p.h));
  let ci = i32((i / u32(p.w * p.h)) % u32(p.c / ${per})) * ${per};
  let b = i32(i / u32(p.w * p.h * (p.c / ${per})));
  let cg = p.c / p.groups;
  let og = p.o / p.groups;
  let grp = ci / cg;
  let cc = ci % cg;
  // The taps (ky, kx) outside, their division done once; inside, the group's outputs at fixed strides.
  let o0 = grp * og;
  let taps = u32(p.kh * p.kw);
  let wstep = u32(cg) * taps;
  let dstep = u32(p.oh * p.ow);
${r.map((k) => `  var acc${k} = 0.0;`).join('\n')}
  for (var ky = 0; ky < p.kh; ky++) {
    let ty = iy + p.ph - ky * p.dh;
    if (ty < 0 || ty % p.sh != 0 || ty / p.sh >= p.oh) { continue; }
    for (var kx = 0; kx < p.kw; kx++) {
      let tx = ix + p.pw - kx * p.dw;
      if (tx < 0 || tx % p.sw != 0 || tx / p.sw >= p.ow) { continue; }
      var wi = p.t_w_off + u32(((o0 * cg + cc) * p.kh + ky) * p.kw + kx);
      var di = p.t_dy_off + u32(((b * p.o + o0) * p.oh + ty / p.sh) * p.ow + tx / p.sw);
      for (var k = 0; k < og; k++) {
        let dv = f32(t_dy[di]);
${r.map((k) => `        acc${k} += f32(t_w[wi${k ? ` + ${k}u * taps` : ''}]) * dv;`).join('\n')}
        wi += wstep;
        di += dstep;
      }
    }
  }
  let plane = u32(p.h * p.w);
  let at = p.t_dx_off + (u32(b * p.c + ci) * u32(p.h) + u32(iy)) * u32(p.w) + u32(ix);
${r.map((k) => `  t_dx[at${k ? ` + ${k}u * plane` : ''}] = SF(acc${k});`).join('\n')}
}`,
  };
}

/**
 * The weights of the conv that computes a stride-1 conv's input gradient: w [o, c/groups, kh,
 * kw] flipped in both taps and transposed within each group, wt [c, o/groups, kh, kw].
 */
export function flipTransposeProgram(wg: number): ProgramSpec {
  return {
    key: `flip_transpose/${wg}`,
    params: [['n', 'u32'], ['c', 'i32'], ['o', 'i32'], ['groups', 'i32'], ['kh', 'i32'], ['kw', 'i32']],
    storage: [{ name: 't_w', type: 'float' }, { name: 't_wt', type: 'float', write: true }],
    body: `${elementHead(wg)}  let kx = i32(i % u32(p.kw));
  let ky = i32((i / u32(p.kw)) % u32(p.kh));
  let og = p.o / p.groups;
  let cg = p.c / p.groups;
  let oo = i32((i / u32(p.kw * p.kh)) % u32(og));
  let ci = i32(i / u32(p.kw * p.kh * og));
  let grp = ci / cg;
  let src = (((grp * og + oo) * cg + ci % cg) * p.kh + p.kh - 1 - ky) * p.kw + p.kw - 1 - kx;
  t_wt[p.t_wt_off + i] = t_w[p.t_w_off + u32(src)];
}`,
  };
}

/**
 * conv2d's weight gradient: Σ over images and output pixels of dy · the input it read. A thread
 * owns `per` weights — one tap of one input channel for `per` consecutive outputs of a group —
 * so each input value it loads serves `per` sums (a thread per weight spends more on starting
 * than on summing where the maps are small).
 */
export function convGradWeightProgram(wg: number, per: 1 | 4): ProgramSpec {
  const r = [...Array(per).keys()];
  return {
    key: `conv_dw/${wg}/${per}`,
    params: [...CONV_PARAMS, ['images', 'i32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_dw', type: 'float', write: true }],
    body: `${elementHead(wg)}  let kx = i32(i % u32(p.kw));
  let ky = i32((i / u32(p.kw)) % u32(p.kh));
  let cg = p.c / p.groups;
  let cc = i32((i / u32(p.kw * p.kh)) % u32(cg));
  let o = i32(i / u32(p.kw * p.kh * cg)) * ${per};
  let ci = (o / (p.o / p.groups)) * cg + cc;
  let plane = u32(p.oh * p.ow);
  // The output rows and columns whose tap lands inside the input, found once: the loops inside are branch-free.
  let ay = p.ph - ky * p.dh;
  let ax = p.pw - kx * p.dw;
  let oy0 = select(0, (ay + p.sh - 1) / p.sh, ay > 0);
  let oy1 = select(0, min(p.oh, (p.h - 1 + ay) / p.sh + 1), p.h - 1 + ay >= 0);
  let ox0 = select(0, (ax + p.sw - 1) / p.sw, ax > 0);
  let ox1 = select(0, min(p.ow, (p.w - 1 + ax) / p.sw + 1), p.w - 1 + ax >= 0);
${r.map((k) => `  var acc${k} = 0.0;`).join('\n')}
  for (var b = 0; b < p.images; b++) {
    for (var oy = oy0; oy < oy1; oy++) {
      var di = p.t_dy_off + u32(((b * p.o + o) * p.oh + oy) * p.ow + ox0);
      var xi = p.t_x_off + u32(((b * p.c + ci) * p.h + oy * p.sh - ay) * p.w + ox0 * p.sw - ax);
      for (var ox = ox0; ox < ox1; ox++) {
        let xv = f32(t_x[xi]);
${r.map((k) => `        acc${k} += f32(t_dy[di${k ? ` + ${k}u * plane` : ''}]) * xv;`).join('\n')}
        di += 1u;
        xi += u32(p.sw);
      }
    }
  }
  let step = u32(cg * p.kh * p.kw);
  let at = p.t_dw_off + u32(o) * step + i % step;
${r.map((k) => `  t_dw[at${k ? ` + ${k}u * step` : ''}] = SF(acc${k});`).join('\n')}
}`,
  };
}

/** out[j] = Σ_{b, p} x[b, j, p], one thread per channel (bias gradients). */
export function channelSumProgram(wg: number): ProgramSpec {
  return {
    key: `channel_sum/${wg}`,
    params: [['n', 'u32'], ['images', 'u32'], ['hw', 'u32']],
    storage: [{ name: 't_x', type: 'float' }, { name: 't_y', type: 'float', write: true }],
    body: `${elementHead(wg)}  var s = 0.0;
  for (var b = 0u; b < p.images; b++) {
    let base = p.t_x_off + (b * p.n + i) * p.hw;
    for (var k = 0u; k < p.hw; k++) { s += f32(t_x[base + k]); }
  }
  t_y[p.t_y_off + i] = SF(s);
}`,
  };
}
