// An inference graph: a module's forward recorded once, as the kernels it launches, and
// replayed for each new input of the same shape (as CUDA graphs, or ONNX Runtime's session
// running a fixed plan). A replay skips everything the ops do around their kernels — checks,
// shape logic, tensor objects, memory scopes, ~150 of them per ResNeSt-50 forward — which on
// a CPU costs tens of µs an op once the kernels have pushed the JS heap out of the caches.
// Backends that cannot record (js, webgpu) run the module as usual.

import type { KernelGraph } from '../backend/backend.js';
import { ArgumentError, ShapeError } from '../errors.js';
import { noGrad, observeOps, type OpObserver } from '../autograd/tape.js';
import { keep, tidy } from '../tensor/scope.js';
import { fmt } from '../tensor/shape.js';
import { Tensor, type Storage } from '../tensor/tensor.js';
import { Module } from './module.js';

export class InferenceGraph {
  private kernels: KernelGraph | null = null;
  private input: Tensor | null = null;
  private output: Tensor | null = null;
  /** Storages the recorded kernels read that the forward did not make (weights): freed ones mean the model changed. */
  private external: Storage[] = [];
  /** Module.structureVersion when recorded. */
  private version = -1;
  private disposed = false;

  /** Records `module`'s forward for inputs of `shape` (eval mode); see run(). */
  constructor(readonly module: Module, readonly shape: readonly number[]) {
    if (module.training) throw new ArgumentError('InferenceGraph: the module is in training mode: call module.eval() first');
    this.record();
  }

  /** Whether run() replays recorded kernels (false: the backend cannot record, and run() calls the module). */
  get recorded(): boolean {
    return this.kernels !== null;
  }

  /** Kernel launches a replay makes (0 when not recorded). */
  get steps(): number {
    return this.kernels?.steps ?? 0;
  }

  /** Bytes of memory the recording holds for its buffers (0 when not recorded). */
  get bytes(): number {
    return this.kernels?.bytes ?? 0;
  }

  /**
   * module(x) for an x of the recorded shape, as a new tensor: the recorded kernels run on x's
   * values. Records again first if the model changed what it computes (fuse, unfuse, train,
   * replaced or freed tensors) or the backend was reconfigured; weights loaded in place are
   * simply read as they are.
   */
  run(x: Tensor): Tensor {
    if (this.disposed) throw new ArgumentError('InferenceGraph: run() after dispose()');
    x.assertLive();
    if (x.backend !== this.module.backend) {
      throw new ArgumentError(`InferenceGraph: input on the ${x.backend.name} backend, the module on ${this.module.backend.name}`);
    }
    if (x.shape.length !== this.shape.length || x.shape.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError(`InferenceGraph: input ${fmt(x.shape)} does not match the recorded ${fmt(this.shape)}`);
    }
    if (this.module.training) throw new ArgumentError('InferenceGraph: the module is in training mode: call module.eval() first');
    if (!this.kernels) return noGrad(() => tidy(() => this.module.call(x)));
    if (!this.kernels.valid || this.version !== Module.structureVersion || this.external.some((s) => s.refs === 0)) {
      this.release();
      this.record();
    }
    const b = x.backend;
    const input = this.input!, output = this.output!;
    b.copy(x.shape, { buf: x.storage.buf, offset: x.offset, strides: x.strides }, { ...input.ref, strides: input.strides }, 'float32');
    this.kernels!.replay();
    const out = Tensor.empty(output.shape, 'float32', b);
    b.copy(output.shape, { ...output.ref, strides: output.strides }, { ...out.ref, strides: out.strides }, 'float32');
    return out;
  }

  /** Frees the recording and its buffers. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.release();
  }

  private record(): void {
    const backend = this.module.backend;
    if (!backend.capture) return;
    const made = new Set<Storage>(), read = new Set<Storage>();
    const observer: OpObserver = {
      op: (_name, inputs, out) => {
        for (const t of inputs) if (t && !made.has(t.storage)) read.add(t.storage);
        made.add(out.storage);
      },
      view: () => {},
      isSymbolic: () => false,
    };
    let input: Tensor | null = null, output: Tensor | null = null;
    this.version = Module.structureVersion;
    try {
      this.kernels = backend.capture(() => {
        input = keep(Tensor.empty(this.shape, 'float32', backend));
        made.add(input.storage);
        output = keep(noGrad(() => observeOps(observer, () => tidy(() => this.module.call(input!).contiguous()))));
      });
    } catch (e) {
      (input as Tensor | null)?.dispose();
      (output as Tensor | null)?.dispose();
      throw e;
    }
    this.input = input;
    this.output = output;
    // What the forward made and freed itself (constants written on the way) is not the model's.
    this.external = [...read].filter((s) => s.refs > 0);
  }

  private release(): void {
    this.input?.dispose();
    this.output?.dispose();
    this.kernels?.dispose();
    this.input = this.output = this.kernels = null;
    this.external = [];
  }
}
