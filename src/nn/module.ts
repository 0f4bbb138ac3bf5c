// Module: a tree of named children, parameters and buffers, like torch.nn.Module, so that
// the dotted path of every tensor is its state-dict key (`layer1.0.conv2.fc1.bias`).

import { ArgumentError, ShapeError, StateDictError } from '../errors.js';
import type { Backend } from '../backend/backend.js';
import { getBackend } from '../backend/registry.js';
import { keep, tidy } from '../tensor/scope.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { Tensor, zeros, tensor } from '../tensor/tensor.js';
import { toFloat32, type RawTensor } from '../io/raw.js';
import { fnv1a } from '../util/random.js';
import { foldedForGood, unfold } from './fusion.js';

export type ForwardHook = (module: Module, input: Tensor, output: Tensor) => void;

export interface FuseOptions {
  /** Replace weights by their folded values and drop the BatchNorms (no way back). */
  inPlace?: boolean;
}

export interface LoadResult {
  missing: string[];
  unexpected: string[];
}

/** Counts changes to what a forward computes (fusion, mode, replaced tensors) in any module tree. */
let structureVersion = 0;

export abstract class Module {
  /** Bumped by fuse, unfuse, train/eval, replaced or dropped tensors: an InferenceGraph records again. */
  static get structureVersion(): number {
    return structureVersion;
  }

  /** Modules start in eval mode (inference); train() switches the tree to training. */
  training = false;
  readonly backend: Backend;
  private readonly params = new Map<string, Tensor | null>();
  private readonly buffers = new Map<string, Tensor | null>();
  private readonly children = new Map<string, Module>();
  private readonly hooks: ForwardHook[] = [];
  /** Keys accepted by loadStateDict outside the tensors (BatchNorm's num_batches_tracked): see loadExtra. */
  protected readonly ignoredKeys = new Set<string>();

  constructor(backend?: Backend) {
    this.backend = backend ?? getBackend();
  }

  abstract forward(x: Tensor, extra?: unknown): Tensor;

  /**
   * What `module(x)` is in PyTorch: forward, then the forward hooks. Runs in a memory scope,
   * so every intermediate tensor of forward is freed when it returns; model code never
   * disposes by hand. Hooks see live tensors; to keep one, take `t.retain()`.
   */
  call(x: Tensor, extra?: unknown): Tensor {
    return tidy(() => {
      const y = this.forward(x, extra);
      for (const h of this.hooks) h(this, x, y);
      return y;
    });
  }

  /**
   * x → step₁ → step₂ → …, freeing each intermediate result once the next step has made its
   * own (the seed's `x = f(x)` chains, without holding every stage until forward returns).
   * Steps are modules (called with hooks) or functions; null steps are skipped.
   */
  protected sequence(x: Tensor, ...steps: (Module | ((t: Tensor) => Tensor) | null)[]): Tensor {
    let y = x;
    for (const step of steps) {
      if (!step) continue;
      const next = step instanceof Module ? step.call(y) : step(y);
      if (y !== x && next !== y) y.dispose();
      y = next;
    }
    return y;
  }

  /** Whether forward hooks are registered (a caller fusing this module's output with the next step's must not then). */
  get hasForwardHooks(): boolean {
    return this.hooks.length > 0;
  }

  /** fn(module, input, output) after every call; returns a function that removes the hook. */
  registerForwardHook(fn: ForwardHook): () => void {
    this.hooks.push(fn);
    return () => {
      const i = this.hooks.indexOf(fn);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /**
   * Runs every module's forward in the tree through `around(path, module, run)` (run() is the
   * module's own forward), for tools that must see each call start and end (tracing, timing);
   * an own property shadows the method. Returns a function that restores the methods.
   */
  interceptForwards(around: (path: string, m: Module, run: () => Tensor, input: Tensor) => Tensor): () => void {
    const restore: (() => void)[] = [];
    for (const [path, m] of this.namedModules()) {
      const forward = m.forward;
      (m as { forward: Module['forward'] }).forward = (x, extra) => around(path, m, () => forward.call(m, x, extra), x);
      restore.push(() => delete (m as { forward?: unknown }).forward);
    }
    return () => restore.forEach((f) => f());
  }

  /** Registers a parameter (zero-filled until initialised or loaded); null shape = absent (bias=False). */
  protected param(name: string, shape: readonly number[] | null): void {
    this.params.set(name, shape ? keep(zeros(shape, { backend: this.backend })) : null);
  }

  protected buffer(name: string, t: Tensor): void {
    this.buffers.set(name, keep(t));
  }

  /** Replaces (or adds) a parameter with an existing tensor, disposing the old one. */
  protected adoptParam(name: string, t: Tensor): void {
    const old = this.params.get(name);
    structureVersion++;
    if (old && old !== t) old.dispose();
    this.params.set(name, keep(t));
  }

  /** Removes every parameter and buffer of this module (after they were folded elsewhere). */
  protected dropTensors(): void {
    structureVersion++;
    for (const table of [this.params, this.buffers]) {
      for (const t of table.values()) t?.dispose();
      table.clear();
    }
  }

  /** Overwrites a parameter or buffer with host values (initialisation). */
  protected setParam(name: string, data: Float32Array): void {
    const t = this.tensorOf(name);
    t.backend.write(t.ref, data);
  }

  /**
   * Re-initialises every parameter as the seed does (children first, so a block can
   * override its children, e.g. last_gamma). Each tensor draws from its own stream keyed by
   * its state-dict name, so the result does not depend on construction order.
   */
  resetParameters(seed = 0): this {
    const visit = (m: Module, path: string) => {
      for (const [name, c] of m.children) visit(c, path ? `${path}.${name}` : name);
      m.initOwn((name) => (fnv1a(path ? `${path}.${name}` : name) ^ seed) >>> 0);
    };
    visit(this, '');
    this.unfuse();
    return this;
  }

  protected initOwn(_seed: (name: string) => number): void {}

  /** A parameter or buffer of this module by its state-dict name. */
  protected tensorOf(name: string): Tensor {
    const t = this.params.get(name) ?? this.buffers.get(name);
    if (!t) throw new ShapeError(`${this.constructor.name} has no tensor '${name}'`);
    return t;
  }

  protected hasTensor(name: string): boolean {
    return !!(this.params.get(name) ?? this.buffers.get(name));
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** The module at a dotted path, as torch's get_submodule('layer2.0.conv2'). */
  getSubmodule(path: string): Module {
    let m: Module = this;
    for (const part of path ? path.split('.') : []) {
      const next = m.children.get(part);
      if (!next) throw new ArgumentError(`${this.constructor.name} has no submodule '${path}' ('${part}' not found)`);
      m = next;
    }
    return m;
  }

  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** Every module in the tree with its dotted path ('' for this one), parents first. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.children) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, t] of m.params) if (t) yield [path ? `${path}.${name}` : name, t];
    }
  }

  /** Parameters then buffers of each module, parents first, as torch's state_dict(). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [path, m] of this.namedModules()) {
      for (const table of [m.params, m.buffers]) {
        for (const [name, t] of table) if (t) out.set(path ? `${path}.${name}` : name, t);
      }
    }
    return out;
  }

  parameterCount(): number {
    let n = 0;
    for (const [, t] of this.namedParameters()) n += t.size;
    return n;
  }

  /**
   * Copies a state dict in. Every key, shape and dtype is checked before anything is
   * written, so a mismatched checkpoint leaves the model as it was (only an I/O error while
   * a lazily read file is being copied could stop half-way). Size mismatches always throw;
   * missing and unexpected keys throw when strict (PyTorch's rules).
   */
  loadStateDict(sd: Map<string, RawTensor> | Record<string, RawTensor>, opts: { strict?: boolean; where?: string } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const source = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const ignored = new Set<string>();
    for (const [path, m] of this.namedModules()) for (const k of m.ignoredKeys) ignored.add(path ? `${path}.${k}` : k);
    const missing: string[] = [], mismatched: string[] = [];
    for (const [key, t] of own) {
      const src = source.get(key);
      if (!src) missing.push(key);
      else if (!sameShape(src.shape, t.shape)) {
        mismatched.push(`${key}: checkpoint ${fmt(src.shape)} vs model ${fmt(t.shape)}`);
      }
    }
    const unexpected = [...source.keys()].filter((k) => !own.has(k) && !ignored.has(k));
    if (mismatched.length || (strict && (missing.length || unexpected.length))) {
      throw new StateDictError(missing, unexpected, mismatched, opts.where ?? this.constructor.name);
    }
    // One tensor at a time: a lazily read checkpoint never has to be in memory whole.
    for (const key of own.keys()) {
      const src = source.get(key);
      if (!src) continue;
      const t = own.get(key)!;
      t.backend.write(t.ref, toFloat32(src, key));
    }
    for (const [path, m] of this.namedModules()) {
      for (const k of m.ignoredKeys) {
        const src = source.get(path ? `${path}.${k}` : k);
        if (src) m.loadExtra(k, src);
      }
    }
    this.unfuse();
    return { missing, unexpected };
  }

  /** A non-tensor entry of a checkpoint (one of ignoredKeys), e.g. a counter. */
  protected loadExtra(_name: string, _value: RawTensor): void {}

  /** Non-tensor entries this module adds to a saved state dict, after its tensors. */
  protected extraState(): [string, RawTensor][] {
    return [];
  }

  /**
   * The state dict as torch.save writes it: every parameter and buffer as float32, plus the
   * entries that are not tensors here (num_batches_tracked as int64), in PyTorch's order.
   */
  async exportStateDict(): Promise<Map<string, RawTensor>> {
    const out = new Map<string, RawTensor>();
    for (const [path, m] of this.namedModules()) {
      const key = (k: string) => (path ? `${path}.${k}` : k);
      for (const table of [m.params, m.buffers]) {
        for (const [name, t] of table) {
          if (t) out.set(key(name), { dtype: 'float32', shape: [...t.shape], data: (await t.data()) as Float32Array });
        }
      }
      for (const [name, raw] of m.extraState()) out.set(key(name), raw);
    }
    return out;
  }

  /**
   * Sets training mode on the whole tree, as torch's train(): BatchNorm uses batch
   * statistics and Dropout drops. Here it also makes every parameter require grad (and
   * eval() stops that), so inference never records a tape; freeze parts after train() with
   * requiresGrad_(false).
   */
  train(on = true): this {
    if (on) {
      const folded = [...this.namedModules()].find(([, m]) => foldedForGood(m));
      if (folded) {
        throw new ArgumentError(`${this.constructor.name}.train(): '${folded[0]}' was folded into its conv by fuse({ inPlace: true }), so its BatchNorm is gone; load the checkpoint into a fresh model to train`);
      }
    }
    structureVersion++;
    for (const [, m] of this.namedModules()) m.training = on;
    if (on) this.unfuse();
    this.requiresGrad_(on);
    return this;
  }

  /** Sets requiresGrad on every parameter of the tree (torch's requires_grad_). */
  requiresGrad_(on = true): this {
    for (const [, t] of this.namedParameters()) t.requiresGrad = on;
    return this;
  }

  /** Drops every parameter's .grad (optimizers call this as zeroGrad()). */
  zeroGrad(): void {
    for (const [, t] of this.namedParameters()) t.zeroGrad();
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Inference fusion: BatchNorm folded into the conv before it, so that conv + bias +
   * residual + ReLU run as one kernel; idempotent. By default the original parameters are
   * kept (unfuse() or loading a state dict restores the unfused model). With inPlace the
   * folded values replace the conv's weights and the BatchNorms are dropped, halving memory,
   * as torch's fuse_modules does: the model is then an inference model whose state dict
   * holds the folded weights. The folds are recorded in src/nn/fusion.ts, the module tree is
   * left as it is.
   */
  fuse(opts: FuseOptions = {}): this {
    structureVersion++;
    for (const [, m] of this.namedModules()) m.fuseOwn(opts);
    return this;
  }

  /**
   * Undoes fuse() (folds made in place stay). Every change to parameter values or tensors
   * (loadStateDict, resetParameters, train(), to(), dispose()) goes through here, since a
   * reversible fold holds copies computed from the old values.
   */
  unfuse(): void {
    structureVersion++;
    for (const [, m] of this.namedModules()) unfold(m);
  }

  /** Which conv → BatchNorm pairs of its own this module folds (foldBatchNorm in src/nn/fusion.ts). */
  protected fuseOwn(_opts: FuseOptions): void {}

  /** Copies every parameter and buffer to another backend (e.g. after loading on js). */
  async to(backend: Backend): Promise<this> {
    if (backend === this.backend) return this;
    structureVersion++;
    for (const [, m] of this.namedModules()) {
      for (const table of [m.params, m.buffers]) {
        for (const [name, t] of table) {
          if (!t) continue;
          const moved = keep(tensor(await t.data(), t.shape, { dtype: t.dtype, backend }));
          moved.requiresGrad = t.requiresGrad;
          table.set(name, moved);
          t.dispose();
        }
      }
      (m as { backend: Backend }).backend = backend;
    }
    this.unfuse();
    return this;
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    this.unfuse();
    for (const [, m] of this.namedModules()) {
      for (const table of [m.params, m.buffers]) for (const [, t] of table) t?.dispose();
    }
  }

  protected requireRank(x: Tensor, r: number, layout: string): void {
    if (x.rank !== r) throw new ShapeError(`${this.constructor.name}: input must be ${r}-D (${layout}), got ${fmt(x.shape)}`);
  }
}
