// The tape: each op that runs with gradients on and an input that requires one leaves a
// GradNode on its output. A node holds what its backward rule needs (retained views, so a
// tidy() scope that frees the forward's tensors does not free them) and links to the nodes
// or leaves its inputs came from. Nodes are freed by backward(), or by the scope they were
// made in once no surviving tensor leads to them: a training step in a loop stays flat.
//
// This file sits under the tensor layer (tensor.ts records its views here) and knows
// tensors only as a type.

import { BackendError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { OpName } from '../ops/op.js';
import { track } from '../tensor/scope.js';

/** What a backward rule returns: one gradient per input (null where none is needed). */
export type InputGrads = readonly (Tensor | null)[];

export interface BackwardContext {
  /** Retained tensors the rule asked for, in its own order. */
  readonly saved: readonly Tensor[];
  /** needs[i]: whether input i wants a gradient (rules may skip the others). */
  readonly needs: readonly boolean[];
}

export type BackwardFn = (ctx: BackwardContext, gradOutput: Tensor) => InputGrads;

/** Where an input's gradient goes: the node that made it, or the leaf tensor itself. */
export type Edge = { node: GradNode } | { leaf: Tensor } | null;

let gradEnabled = true;

/**
 * Sees every op apply() runs and every view Tensor makes, with its operands, output and
 * parameters: the ONNX exporter records the graph this way (src/export/record.ts).
 */
export interface OpObserver {
  op(name: OpName, inputs: readonly (Tensor | null)[], out: Tensor, params: unknown): void;
  /** reshape, transpose [d0, d1], permute [dims], narrow [dim, start, length], contiguous, detach, retain. */
  view(name: string, input: Tensor, out: Tensor, params: readonly number[]): void;
  /** Whether reading t's data must fail (it stands for a graph value, not numbers). */
  isSymbolic(t: Tensor): boolean;
}

let observer: OpObserver | null = null;

/** Runs fn with `o` seeing every op and view (one observer at a time). */
export function observeOps<T>(o: OpObserver, fn: () => T): T {
  if (observer) throw new BackendError('observeOps: another observer (an ONNX trace) is already running');
  return withObserver(o, fn);
}

function withObserver<T>(o: OpObserver | null, fn: () => T): T {
  const was = observer;
  observer = o;
  try {
    return fn();
  } finally {
    observer = was;
  }
}

export function currentObserver(): OpObserver | null {
  return observer;
}

/** Runs fn unobserved: an op's kernel may make views of its own output, which are not the model's. */
export const unobserved = <T>(fn: () => T): T => withObserver(null, fn);

export function isGradEnabled(): boolean {
  return gradEnabled;
}

function withGrad<T>(on: boolean, fn: () => T): T {
  const was = gradEnabled;
  gradEnabled = on;
  try {
    return fn();
  } finally {
    gradEnabled = was;
  }
}

/** Runs fn with gradient recording off, like `with torch.no_grad():`. */
export const noGrad = <T>(fn: () => T): T => withGrad(false, fn);

/** Runs fn with gradient recording on (inside a noGrad block too). */
export const enableGrad = <T>(fn: () => T): T => withGrad(true, fn);

let nodeTag: unknown = null;

/** Runs fn with every node it records tagged `tag` (a profiler's module: who made this node). */
export function withNodeTag<T>(tag: unknown, fn: () => T): T {
  const was = nodeTag;
  nodeTag = tag;
  try {
    return fn();
  } finally {
    nodeTag = was;
  }
}

export class GradNode {
  private static ids = 0;
  readonly id = GradNode.ids++;
  /** What withNodeTag said was running when the node was recorded (null outside it). */
  readonly tag: unknown = nodeTag;
  private savedTensors: Tensor[] | null;
  private freed = false;

  constructor(
    /** The op's name, for error messages and debugging (`loss.gradFn.name`). */
    readonly name: string,
    readonly edges: readonly Edge[],
    saved: readonly Tensor[],
    readonly rule: BackwardFn,
    /** Shape of the output this node's gradient has. */
    readonly shape: readonly number[],
  ) {
    this.savedTensors = saved.map((t) => t.retain());
    track(this);
  }

  get isDisposed(): boolean {
    return this.freed;
  }

  context(): BackwardContext {
    if (!this.savedTensors) {
      throw new BackendError(`backward through '${this.name}' a second time: its saved tensors were freed by the first backward() (or by the scope that made them)`);
    }
    return { saved: this.savedTensors, needs: this.edges.map((e) => e !== null) };
  }

  /** Frees the saved tensors; the node stays in the graph but can no longer run backward. */
  dispose(): void {
    if (this.freed) return;
    this.freed = true;
    for (const t of this.savedTensors ?? []) t.dispose();
    this.savedTensors = null;
  }

  /** Nodes reachable from this one (itself included) that satisfy `within`. */
  *reachable(within: (n: GradNode) => boolean): Generator<GradNode> {
    const seen = new Set<GradNode>();
    const stack: GradNode[] = [this];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n) || !within(n)) continue;
      seen.add(n);
      yield n;
      for (const e of n.edges) if (e && 'node' in e) stack.push(e.node);
    }
  }
}

/** The edge an input contributes, or null when no gradient flows to it. */
export function edgeOf(t: Tensor | null | undefined): Edge {
  if (!t) return null;
  if (t.gradFn) return { node: t.gradFn };
  if (t.requiresGrad) return { leaf: t };
  return null;
}

/** Whether an op over these inputs must be recorded. */
export function needsGrad(inputs: readonly (Tensor | null | undefined)[]): boolean {
  return gradEnabled && inputs.some((t) => t && (t.gradFn !== null || t.requiresGrad));
}

/** A view `out` of `input`: shown to the observer, then recorded like an op. */
export function recordView(name: string, out: Tensor, input: Tensor, params: readonly number[], rule: BackwardFn): Tensor {
  observer?.view(name, input, out, params);
  return record(name, out, [input], [], rule);
}

/** Attaches a node to `out` when gradients are on and an input requires one; returns out. */
export function record(name: string, out: Tensor, inputs: readonly (Tensor | null | undefined)[], saved: readonly Tensor[], rule: BackwardFn): Tensor {
  if (!needsGrad(inputs)) return out;
  out.gradFn = new GradNode(name, inputs.map(edgeOf), saved, rule, out.shape);
  return out;
}
