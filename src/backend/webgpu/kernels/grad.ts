// Gradient kernels of the forward kernels in elementwise.ts and norm.ts, one thread per output
// element (activations) or per softmax row: each writes only its own elements, so no atomics
// are needed and the same inputs give the same bits.

import type { Activation } from '../../backend.js';
import { ENTRY, type ProgramSpec } from '../program.js';

const DX: Record<Exclude<Activation, 'none'>, string> = { relu: 'select(0.0, g, y > 0.0)', sigmoid: 'g * y * (1.0 - y)' };

/** dx = dy · act'(·) from the activation's output y. */
export function activationBackwardProgram(act: Exclude<Activation, 'none'>, wg: number): ProgramSpec {
  return {
    key: `activation_backward/${act}/${wg}`,
    params: [['n', 'u32']],
    storage: [{ name: 't_y', type: 'float' }, { name: 't_dy', type: 'float' }, { name: 't_dx', type: 'float', write: true }],
    body: `const WG = ${wg}u;
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let y = f32(t_y[p.t_y_off + i]);
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
    body: `const WG = ${wg}u;
${ENTRY} {
  let i = flat_id(wid, nwg) * WG + lid;
  if (i >= p.n) { return; }
  let start = (i / p.inner) * p.dim * p.inner + i % p.inner;
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
