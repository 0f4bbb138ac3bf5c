// Optimizers with torch.optim's update rules and state layout: SGD (momentum, Nesterov,
// weight decay per parameter group, dampening 0) and AdamW. state_dict() has PyTorch's
// shape — `state` keyed by the parameter's index across groups, `param_groups` with each
// group's hyper-parameters and its indices — so training checkpoints round-trip with it.

import { ArgumentError, FormatError, ShapeError } from '../errors.js';
import { isRawTensor, toFloat32, type RawTensor } from '../io/raw.js';
import { gradKernel } from '../ops/op.js';
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
  /**
   * This group's rate as a multiple of the schedule's (setLr): the segmentation toolkit trains
   * its heads at 10× the backbone's rate. Not part of state_dict (torch.optim has no such key).
   */
  lrScale?: number;
}

type PyValue = number | boolean | null | string | number[] | PyValue[] | RawTensor | { [k: string]: PyValue };

/**
 * Where loadStateDict's input came from: with `file`, every problem is a FormatError naming it
 * (a checkpoint read from disk); without, an ArgumentError (an object the caller built).
 */
export interface LoadStateOptions {
  file?: string;
}

/** torch.optim's state_dict(): per-parameter state by index, and the groups. */
export interface OptimizerState {
  state: Map<number, Record<string, RawTensor>>;
  param_groups: Record<string, PyValue>[];
}

abstract class Optimizer<H extends { lr: number; weightDecay: number }> {
  readonly groups: (H & { params: readonly Tensor[]; lrScale?: number })[];

  constructor(params: readonly Tensor[] | readonly ParamGroup[], defaults: H) {
    const list = params.length && 'params' in (params[0] as object) ? (params as ParamGroup[]) : [{ params: params as Tensor[] }];
    const seen = new Set<Tensor>();
    this.groups = list.map((g) => {
      for (const p of g.params) {
        if (seen.has(p)) throw new ArgumentError('optimizer: a parameter appears in more than one group');
        seen.add(p);
        if (p.dtype !== 'float32') throw new ShapeError(`optimizer: parameter ${fmt(p.shape)} is ${p.dtype}, not float32`);
      }
      const merged = { ...defaults } as H & { params: readonly Tensor[]; lrScale?: number };
      for (const [k, v] of Object.entries(g)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
      if (g.lrScale !== undefined && g.lr === undefined) merged.lr = defaults.lr * g.lrScale;
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

  /** Sets the learning rate of every group, times its lrScale (schedules call this each iteration). */
  setLr(lr: number): void {
    for (const g of this.groups) g.lr = lr * (g.lrScale ?? 1);
  }

  abstract step(): void;

  /** torch.optim's state_dict(), read synchronously (js, wasm). */
  stateDict(): OptimizerState {
    return this.stateWith((t) => t.dataSync() as Float32Array);
  }

  /** state_dict() from any backend (webgpu reads back asynchronously): what checkpoints save. */
  async exportStateDict(): Promise<OptimizerState> {
    const tensors = this.stateTensors();
    const values = await Promise.all(tensors.map((t) => t.data()));
    const byTensor = new Map(tensors.map((t, i) => [t, values[i] as Float32Array]));
    return this.stateWith((t) => byTensor.get(t)!);
  }

  /** The tensors state_dict() holds. */
  protected abstract stateTensors(): Tensor[];
  /** state_dict() with each state tensor's values from `read`. */
  protected abstract stateWith(read: (t: Tensor) => Float32Array): OptimizerState;
}

const rawOf = (t: Tensor, read: (t: Tensor) => Float32Array): RawTensor => ({ dtype: 'float32', shape: [...t.shape], data: read(t) });

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
        gradKernel(p.backend, 'sgdStep', 'SGD step')(p.ref, p.grad.ref, buf?.ref ?? null, p.size, g.lr, g.momentum,
          g.weightDecay, g.nesterov, first);
      }
    }
  }

  protected stateTensors(): Tensor[] {
    return [...this.buffers.values()];
  }

  protected stateWith(read: (t: Tensor) => Float32Array): OptimizerState {
    const state = new Map<number, Record<string, RawTensor>>();
    this.params.forEach((p, i) => {
      const b = this.buffers.get(p);
      if (b) state.set(i, { momentum_buffer: rawOf(b, read) });
    });
    let at = 0;
    const param_groups = this.groups.map((g) => ({
      lr: g.lr, momentum: g.momentum, dampening: 0, weight_decay: g.weightDecay, nesterov: g.nesterov, maximize: false,
      foreach: null, differentiable: false, params: g.params.map(() => at++),
    }));
    return { state, param_groups };
  }

  /**
   * Loads torch.optim.SGD's state_dict() (same parameter layout). Every value is checked
   * before anything changes; float64/float16 buffers are converted to float32 as
   * load_state_dict casts them to the parameters' dtype.
   */
  loadStateDict(sd: OptimizerState, opts: LoadStateOptions = {}): void {
    const c = new StateCheck('SGD', opts.file);
    const groups = c.groups(this, sd, (g, at) => {
      const where = `param_groups[${at}]`;
      const h = {
        lr: c.number(g.lr, `${where}.lr`, 0), momentum: c.number(g.momentum, `${where}.momentum`, 0),
        weightDecay: c.number(g.weight_decay, `${where}.weight_decay`, 0), nesterov: c.bool(g, at, 'nesterov'),
      };
      c.only(g, at, 'dampening', 0, 'SGD here has no dampening');
      c.only(g, at, 'maximize', false, 'maximize is not supported');
      const momentum = h.momentum ?? this.groups[at]!.momentum;
      if ((h.nesterov ?? this.groups[at]!.nesterov) && momentum <= 0) c.fail(`param_groups[${at}]: nesterov needs a momentum > 0, got ${momentum}`);
      return h;
    });
    const buffers = c.state(this, sd, (p, s, at) => {
      const b = c.tensor(p, s, at, 'momentum_buffer', false);
      return b && { b };
    });
    groups.forEach((h, i) => assignDefined(this.groups[i]!, h));
    for (const [p, { b }] of buffers) {
      this.buffers.get(p)?.dispose();
      this.buffers.set(p, keep(stateTensor(p, b)));
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
        gradKernel(p.backend, 'adamwStep', 'AdamW step')(p.ref, p.grad.ref, m.expAvg.ref, m.expAvgSq.ref, p.size, g.lr,
          g.beta1, g.beta2, g.eps, g.weightDecay, m.step);
      }
    }
  }

  /**
   * Loads torch.optim.AdamW's state_dict() (same parameter layout), checked as SGD's is:
   * `step` a number or a one-element tensor, finite and ≥ 0; exp_avg_sq ≥ 0.
   */
  loadStateDict(sd: OptimizerState, opts: LoadStateOptions = {}): void {
    const c = new StateCheck('AdamW', opts.file);
    const groups = c.groups(this, sd, (g, at) => {
      const where = `param_groups[${at}]`;
      const h: Partial<AdamWHyper> = {
        lr: c.number(g.lr, `${where}.lr`, 0), eps: c.number(g.eps, `${where}.eps`, 0), weightDecay: c.number(g.weight_decay, `${where}.weight_decay`, 0),
      };
      const betas = g.betas;
      if (betas !== undefined) {
        if (!Array.isArray(betas) || betas.length !== 2) c.fail(`${where}.betas must be a pair of numbers, got ${show(betas)}`);
        [h.beta1, h.beta2] = (betas as unknown[]).map((b, i) => c.number(b, `${where}.betas[${i}]`, 0, 1)!);
      }
      c.only(g, at, 'amsgrad', false, 'amsgrad is not supported');
      c.only(g, at, 'maximize', false, 'maximize is not supported');
      return h;
    });
    const moments = c.state(this, sd, (p, s, at) => {
      const expAvg = c.tensor(p, s, at, 'exp_avg', true), expAvgSq = c.tensor(p, s, at, 'exp_avg_sq', true);
      const sq = expAvgSq.find((v) => !(v >= 0));
      if (sq !== undefined) c.fail(`state.${at}.exp_avg_sq holds ${sq}; a running mean of squares is ≥ 0`);
      let step: unknown = s.step;
      if (isRawTensor(step) && step.data.length === 1 && step.dtype !== 'bool') step = Number(step.data[0]);
      if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) c.fail(`state.${at}.step must be a finite number ≥ 0, got ${show(s.step)}`);
      return { step: step as number, expAvg, expAvgSq };
    });
    groups.forEach((h, i) => assignDefined(this.groups[i]!, h));
    for (const [p, m] of moments) {
      const old = this.moments.get(p);
      old?.expAvg.dispose();
      old?.expAvgSq.dispose();
      this.moments.set(p, { step: m.step, expAvg: keep(stateTensor(p, m.expAvg)), expAvgSq: keep(stateTensor(p, m.expAvgSq)) });
    }
  }

  protected stateTensors(): Tensor[] {
    return [...this.moments.values()].flatMap((m) => [m.expAvg, m.expAvgSq]);
  }

  protected stateWith(read: (t: Tensor) => Float32Array): OptimizerState {
    const state = new Map<number, Record<string, RawTensor>>();
    this.params.forEach((p, i) => {
      const m = this.moments.get(p);
      if (m) state.set(i, { step: { dtype: 'float32', shape: [], data: Float32Array.of(m.step) }, exp_avg: rawOf(m.expAvg, read), exp_avg_sq: rawOf(m.expAvgSq, read) });
    });
    let at = 0;
    const param_groups = this.groups.map((g) => ({
      lr: g.lr, betas: [g.beta1, g.beta2], eps: g.eps, weight_decay: g.weightDecay, amsgrad: false, foreach: null,
      maximize: false, capturable: false, params: g.params.map(() => at++),
    }));
    return { state, param_groups };
  }
}

function stateTensor(p: Tensor, data: Float32Array): Tensor {
  const t = zeros(p.shape, { backend: p.backend });
  t.backend.write(t.ref, data);
  return t;
}

function assignDefined(target: object, values: object): void {
  for (const [k, v] of Object.entries(values)) if (v !== undefined) (target as Record<string, unknown>)[k] = v;
}

/** A value as an error message shows it: short, one line. */
function show(v: unknown): string {
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof Map) return 'a dict';
  if (isRawTensor(v)) return `a ${v.dtype} tensor ${fmt(v.shape)}`;
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (typeof v === 'object' && v !== null) return 'an object';
  const text = String(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16']);

// Checks a torch.optim state_dict against an optimizer. A checkpoint is untrusted input: a
// list where a number belongs, or an int64 buffer, would otherwise train silently to NaNs or
// fail inside a kernel. Everything is checked first; the caller applies only checked values.
class StateCheck {
  /** Saved parameter id → this optimizer's parameter, filled by groups(). */
  private readonly ids = new Map<number, Tensor>();

  constructor(private readonly name: string, private readonly file: string | undefined) {}

  fail(msg: string): never {
    if (this.file !== undefined) throw new FormatError(`optimizer.${msg}`, this.file);
    throw new ArgumentError(`${this.name}.loadStateDict: ${msg}`);
  }

  /** A group's number, undefined when absent; `max` bounds it from above, exclusive. */
  number(v: unknown, where: string, min: number, max = Infinity): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v >= max) {
      this.fail(`${where} must be a finite number ≥ ${min}${max < Infinity ? ` and < ${max}` : ''}, got ${show(v)}`);
    }
    return v as number;
  }

  bool(g: Record<string, unknown>, at: number, key: string): boolean | undefined {
    const v = g[key];
    if (v !== undefined && typeof v !== 'boolean') this.fail(`param_groups[${at}].${key} must be True or False, got ${show(v)}`);
    return v as boolean | undefined;
  }

  /** A setting this optimizer has only one value of: absent or that value. */
  only(g: Record<string, unknown>, at: number, key: string, value: unknown, why: string): void {
    const v = g[key];
    if (v !== undefined && v !== value) this.fail(`param_groups[${at}].${key} is ${show(v)}: ${why}`);
  }

  /**
   * The groups (count, sizes, parameter ids) and each group's hyper-parameters; returns them
   * and records which parameter each saved id names (torch.optim's id → parameter mapping).
   */
  groups<H>(opt: Optimizer<{ lr: number; weightDecay: number }>, sd: OptimizerState, read: (g: Record<string, unknown>, at: number) => H): H[] {
    if (!sd || !Array.isArray(sd.param_groups) || !(sd.state instanceof Map)) this.fail('state_dict must have a state Map and a param_groups list');
    if (sd.param_groups.length !== opt.groups.length) this.fail(`param_groups has ${sd.param_groups.length} groups, this optimizer has ${opt.groups.length}`);
    return sd.param_groups.map((g, at) => {
      if (typeof g !== 'object' || g === null || Array.isArray(g)) this.fail(`param_groups[${at}] must be a dict, got ${show(g)}`);
      const params = opt.groups[at]!.params, ids = g.params;
      if (!Array.isArray(ids)) this.fail(`param_groups[${at}].params must be a list of parameter ids, got ${show(ids)}`);
      if ((ids as unknown[]).length !== params.length) this.fail(`param_groups[${at}] has ${(ids as unknown[]).length} parameters, this optimizer's has ${params.length}`);
      (ids as unknown[]).forEach((id, i) => {
        if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) this.fail(`param_groups[${at}].params[${i}] must be a parameter id (an integer ≥ 0), got ${show(id)}`);
        if (this.ids.has(id as number)) this.fail(`param_groups[${at}].params[${i}]: parameter id ${id} is listed twice`);
        this.ids.set(id as number, params[i]!);
      });
      return read(g as Record<string, unknown>, at);
    });
  }

  /** Each state entry, read against the parameter its id names (call groups() first). */
  state<S>(opt: Optimizer<{ lr: number; weightDecay: number }>, sd: OptimizerState, read: (p: Tensor, s: Record<string, unknown>, at: number) => S | null | undefined): Map<Tensor, S> {
    const out = new Map<Tensor, S>();
    for (const [at, s] of sd.state) {
      const p = this.ids.get(at);
      if (!p) this.fail(`state.${String(at)}: no param_groups entry lists parameter id ${String(at)} (this optimizer has ${opt.params.length} parameters)`);
      if (typeof s !== 'object' || s === null) this.fail(`state.${at} must be a dict, got ${show(s)}`);
      const v = read(p!, s as Record<string, unknown>, at);
      if (v) out.set(p!, v);
    }
    return out;
  }

  /** A state tensor as float32 with the parameter's shape; absent (or None) is allowed unless required. */
  tensor(p: Tensor, s: Record<string, unknown>, at: number, key: string, required: true): Float32Array;
  tensor(p: Tensor, s: Record<string, unknown>, at: number, key: string, required: boolean): Float32Array | undefined;
  tensor(p: Tensor, s: Record<string, unknown>, at: number, key: string, required: boolean): Float32Array | undefined {
    const r = s[key];
    const where = `state.${at}.${key}`;
    if (r === undefined || r === null) return required ? this.fail(`${where} is missing`) : undefined;
    if (!isRawTensor(r)) return this.fail(`${where} must be a tensor, got ${show(r)}`);
    if (!FLOAT_DTYPES.has(r.dtype)) this.fail(`${where} is ${r.dtype}; optimizer state is floating point`);
    if (r.shape.join() !== p.shape.join()) {
      const msg = `${where} is ${fmt(r.shape)}, its parameter is ${fmt(p.shape)}`;
      if (this.file === undefined) throw new ShapeError(`${this.name}.loadStateDict: ${msg}`);
      this.fail(msg);
    }
    const data = toFloat32(r, where);
    if (data.length !== p.size) this.fail(`${where} holds ${data.length} values for ${fmt(r.shape)}`);
    return data;
  }
}
