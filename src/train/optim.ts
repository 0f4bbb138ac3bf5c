// Optimizers with torch.optim's update rules and state layout: SGD (momentum, Nesterov,
// weight decay per parameter group, dampening 0) and AdamW. state_dict() has PyTorch's
// shape — `state` keyed by the parameter's index across groups, `param_groups` with each
// group's hyper-parameters and its indices — so training checkpoints round-trip with it.

import { ArgumentError, ShapeError } from '../errors.js';
import type { RawTensor } from '../io/raw.js';
import { trainingKernels } from '../ops/op.js';
import { keep } from '../tensor/scope.js';
import { fmt } from '../tensor/shape.js';
import { zeros, type Tensor } from '../tensor/tensor.js';

export interface ParamGroup {
  params: readonly Tensor[];
  /** Overrides of the optimizer's defaults for this group (lr, weightDecay, …). */
  lr?: number;
  weightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
}

type PyValue = number | boolean | null | string | number[] | PyValue[] | RawTensor | { [k: string]: PyValue };

/** torch.optim's state_dict(): per-parameter state by index, and the groups. */
export interface OptimizerState {
  state: Map<number, Record<string, RawTensor>>;
  param_groups: Record<string, PyValue>[];
}

abstract class Optimizer<H extends { lr: number; weightDecay: number }> {
  readonly groups: (H & { params: readonly Tensor[] })[];

  constructor(params: readonly Tensor[] | readonly ParamGroup[], defaults: H) {
    const list = params.length && 'params' in (params[0] as object) ? (params as ParamGroup[]) : [{ params: params as Tensor[] }];
    const seen = new Set<Tensor>();
    this.groups = list.map((g) => {
      for (const p of g.params) {
        if (seen.has(p)) throw new ArgumentError('optimizer: a parameter appears in more than one group');
        seen.add(p);
        if (p.dtype !== 'float32') throw new ShapeError(`optimizer: parameter ${fmt(p.shape)} is ${p.dtype}, not float32`);
      }
      const merged = { ...defaults } as H & { params: readonly Tensor[] };
      for (const [k, v] of Object.entries(g)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
      return merged;
    });
  }

  /** Every parameter in group order: the indices of state_dict(). */
  get params(): Tensor[] {
    return this.groups.flatMap((g) => [...g.params]);
  }

  /** Drops every parameter's gradient (set_to_none, PyTorch 2's default). */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** Sets the learning rate of every group (schedules call this each iteration). */
  setLr(lr: number): void {
    for (const g of this.groups) g.lr = lr;
  }

  abstract step(): void;
}

function raw(t: Tensor): RawTensor {
  return { dtype: 'float32', shape: [...t.shape], data: t.dataSync() as Float32Array };
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

interface SgdHyper {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

/** torch.optim.SGD with dampening 0 (the recipe's Nesterov SGD). */
export class SGD extends Optimizer<SgdHyper> {
  private readonly buffers = new Map<Tensor, Tensor>();

  constructor(params: readonly Tensor[] | readonly ParamGroup[], opts: SgdOptions) {
    super(params, { lr: opts.lr, momentum: opts.momentum ?? 0, weightDecay: opts.weightDecay ?? 0, nesterov: !!opts.nesterov });
    for (const g of this.groups) {
      if (g.nesterov && g.momentum <= 0) throw new ArgumentError('SGD: Nesterov momentum requires a momentum > 0');
      if (!(g.lr >= 0)) throw new ArgumentError(`SGD: invalid learning rate ${g.lr}`);
    }
  }

  step(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        const first = g.momentum !== 0 && !this.buffers.has(p);
        let buf: Tensor | null = null;
        if (g.momentum !== 0) {
          buf = this.buffers.get(p) ?? keep(zeros(p.shape, { backend: p.backend }));
          this.buffers.set(p, buf);
        }
        trainingKernels(p.backend, 'SGD step').sgdStep(p.ref, p.grad.ref, buf?.ref ?? null, p.size, g.lr, g.momentum,
          g.weightDecay, g.nesterov, first);
      }
    }
  }

  stateDict(): OptimizerState {
    const state = new Map<number, Record<string, RawTensor>>();
    this.params.forEach((p, i) => {
      const b = this.buffers.get(p);
      if (b) state.set(i, { momentum_buffer: raw(b) });
    });
    let at = 0;
    const param_groups = this.groups.map((g) => ({
      lr: g.lr, momentum: g.momentum, dampening: 0, weight_decay: g.weightDecay, nesterov: g.nesterov, maximize: false,
      foreach: null, differentiable: false, params: g.params.map(() => at++),
    }));
    return { state, param_groups };
  }

  /** Loads torch.optim.SGD's state_dict() (same parameter layout). */
  loadStateDict(sd: OptimizerState): void {
    loadGroups(this, sd, ['lr', 'momentum', 'weight_decay', 'nesterov']);
    const params = this.params;
    for (const [i, s] of sd.state) {
      const p = params[i];
      const b = s.momentum_buffer;
      if (!p) throw new ArgumentError(`SGD.loadStateDict: state for parameter ${i}, but there are ${params.length}`);
      if (!b) continue;
      this.buffers.get(p)?.dispose();
      this.buffers.set(p, keep(stateTensor(p, b, `state.${i}.momentum_buffer`)));
    }
  }
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW (no amsgrad): decoupled weight decay. */
export class AdamW extends Optimizer<AdamWHyper> {
  private readonly moments = new Map<Tensor, { step: number; expAvg: Tensor; expAvgSq: Tensor }>();

  constructor(params: readonly Tensor[] | readonly ParamGroup[], opts: AdamWOptions = {}) {
    const [beta1, beta2] = opts.betas ?? [0.9, 0.999];
    super(params, { lr: opts.lr ?? 1e-3, beta1, beta2, eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? 1e-2 });
  }

  step(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        let m = this.moments.get(p);
        if (!m) {
          m = { step: 0, expAvg: keep(zeros(p.shape, { backend: p.backend })), expAvgSq: keep(zeros(p.shape, { backend: p.backend })) };
          this.moments.set(p, m);
        }
        m.step++;
        trainingKernels(p.backend, 'AdamW step').adamwStep(p.ref, p.grad.ref, m.expAvg.ref, m.expAvgSq.ref, p.size, g.lr,
          g.beta1, g.beta2, g.eps, g.weightDecay, m.step);
      }
    }
  }

  stateDict(): OptimizerState {
    const state = new Map<number, Record<string, RawTensor>>();
    this.params.forEach((p, i) => {
      const m = this.moments.get(p);
      if (m) state.set(i, { step: { dtype: 'float32', shape: [], data: Float32Array.of(m.step) }, exp_avg: raw(m.expAvg), exp_avg_sq: raw(m.expAvgSq) });
    });
    let at = 0;
    const param_groups = this.groups.map((g) => ({
      lr: g.lr, betas: [g.beta1, g.beta2], eps: g.eps, weight_decay: g.weightDecay, amsgrad: false, foreach: null,
      maximize: false, capturable: false, params: g.params.map(() => at++),
    }));
    return { state, param_groups };
  }
}

function stateTensor(p: Tensor, r: RawTensor, where: string): Tensor {
  if (r.shape.join() !== p.shape.join()) throw new ShapeError(`optimizer state ${where}: ${fmt(r.shape)} does not match parameter ${fmt(p.shape)}`);
  const t = zeros(p.shape, { backend: p.backend });
  t.backend.write(t.ref, Float32Array.from(r.data as ArrayLike<number>));
  return t;
}

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function loadGroups(opt: Optimizer<{ lr: number; weightDecay: number }>, sd: OptimizerState, keys: string[]): void {
  if (sd.param_groups.length !== opt.groups.length) {
    throw new ArgumentError(`optimizer.loadStateDict: ${sd.param_groups.length} parameter groups, this optimizer has ${opt.groups.length}`);
  }
  sd.param_groups.forEach((pg, i) => {
    const group = opt.groups[i]! as unknown as Record<string, unknown>;
    const n = (pg.params as number[] | undefined)?.length;
    if (n !== opt.groups[i]!.params.length) {
      throw new ArgumentError(`optimizer.loadStateDict: group ${i} has ${n} parameters, this optimizer's has ${opt.groups[i]!.params.length}`);
    }
    for (const k of keys) if (pg[k] !== undefined) group[camel(k)] = pg[k];
  });
}
