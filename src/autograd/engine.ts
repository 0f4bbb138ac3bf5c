// backward(): walks the tape from a root in reverse topological order, runs each node's
// rule once all gradients for its output have arrived, sums gradients that meet (an input
// used twice, a residual branch), and accumulates into the leaves' .grad. Rules run with
// recording off (no higher-order gradients); every node is freed as soon as it has run, so
// the peak is the forward's saved tensors, falling as the backward proceeds.

import { BackendError, ShapeError } from '../errors.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { keep, tidy } from '../tensor/scope.js';
import { full, Tensor } from '../tensor/tensor.js';
import { noGrad, type GradNode } from './tape.js';

/** Sees each node's backward as it runs: its time (rule and gradient accumulation) and which inputs wanted gradients. */
export type BackwardObserver = (node: GradNode, ms: number, needs: readonly boolean[]) => void;
let backwardObserver: BackwardObserver | null = null;

/** Runs fn with `o` told of every node backward() runs (a training profile). */
export function observeBackward<T>(o: BackwardObserver, fn: () => T): T {
  const was = backwardObserver;
  backwardObserver = o;
  try {
    return fn();
  } finally {
    backwardObserver = was;
  }
}

/** a + b into a new contiguous tensor (gradient accumulation; no recording). */
function addInto(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.shape, 'float32', a.backend);
  a.backend.binary('add', a.shape, a.stridedRef, b.stridedRef, out.ref);
  return out;
}

/** Nodes reachable from root, each after every node that feeds gradient into it. */
function order(root: GradNode): GradNode[] {
  const post: GradNode[] = [];
  const seen = new Set<GradNode>();
  // Iterative DFS: ResNet graphs are thousands of nodes deep in chains.
  const stack: [GradNode, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [n, i] = top;
    if (i < n.edges.length) {
      top[1]++;
      const e = n.edges[i];
      if (e && 'node' in e && !seen.has(e.node)) {
        seen.add(e.node);
        stack.push([e.node, 0]);
      }
    } else {
      stack.pop();
      post.push(n);
    }
  }
  return post.reverse();
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (!sameShape(g.shape, leaf.shape)) {
    throw new ShapeError(`backward: gradient ${fmt(g.shape)} does not match leaf ${fmt(leaf.shape)}`);
  }
  if (leaf.grad && !leaf.grad.isDisposed) {
    const sum = addInto(leaf.grad, g);
    leaf.grad.dispose();
    leaf.grad = keep(sum);
  } else {
    const c = g.contiguous();
    leaf.grad = keep(c === g ? g.detach() : c);
  }
}

export function backward(root: Tensor, gradOutput?: Tensor): void {
  root.assertLive();
  if (!root.requiresGrad) {
    throw new ShapeError(`backward: tensor ${fmt(root.shape)} does not require grad and has no grad_fn`);
  }
  if (!gradOutput && root.size !== 1) {
    throw new ShapeError(`backward: gradients can be implied only for scalar outputs, got ${fmt(root.shape)}: pass one`);
  }
  if (gradOutput && !sameShape(gradOutput.shape, root.shape)) {
    throw new ShapeError(`backward: gradient ${fmt(gradOutput.shape)} does not match output ${fmt(root.shape)}`);
  }
  if (gradOutput && gradOutput.backend !== root.backend) {
    throw new BackendError(`backward: gradient lives on ${gradOutput.backend.name}, output on ${root.backend.name}`);
  }
  noGrad(() => {
    const seed = gradOutput ? gradOutput.detach() : full(root.shape, 1, { backend: root.backend });
    if (!root.gradFn) {
      accumulateLeaf(root, seed);
      seed.dispose();
      return;
    }
    const pending = new Map<GradNode, Tensor>([[root.gradFn, keep(seed)]]);
    const nodes = order(root.gradFn);
    try {
      for (const node of nodes) {
        const g = pending.get(node);
        pending.delete(node);
        if (!g) {
          node.dispose();
          continue;
        }
        const t0 = backwardObserver ? performance.now() : 0;
        const ctx = node.context();
        const grads = tidy(() => node.rule(ctx, g));
        node.edges.forEach((edge, i) => {
          const gi = grads[i];
          if (!edge || !gi) return;
          const want = 'node' in edge ? edge.node.shape : edge.leaf.shape;
          if (!sameShape(gi.shape, want)) {
            throw new ShapeError(`backward of '${node.name}': gradient ${fmt(gi.shape)} for input ${i} does not match its shape ${fmt(want)}`);
          }
          if ('leaf' in edge) {
            accumulateLeaf(edge.leaf, gi);
            return;
          }
          const have = pending.get(edge.node);
          if (have) {
            pending.set(edge.node, keep(addInto(have, gi)));
            have.dispose();
          } else {
            pending.set(edge.node, keep(gi.detach()));
          }
        });
        for (const t of grads) t?.dispose();
        g.dispose();
        backwardObserver?.(node, performance.now() - t0, ctx.needs);
        node.dispose();
      }
    } finally {
      for (const t of pending.values()) t.dispose();
      for (const n of nodes) n.dispose();
    }
  });
}
