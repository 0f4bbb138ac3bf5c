// A step-through of one SplAtConv2d on one image: every tensor of split attention with its
// real values, as the seed computes them (splat.py), for learners and for `resnest explain`.
// The model runs its ordinary forward; hooks on the block's modules record what each one
// produced, so what is shown is what ran.

import { ArgumentError } from '../../errors.js';
import * as F from '../../ops/index.js';
import type { Tensor } from '../../tensor/tensor.js';
import { tidy } from '../../tensor/scope.js';
import { topIndices } from '../../util/top.js';
import type { ResNet } from './resnet.js';
import { Bottleneck } from './resnet.js';
import { SplAtConv2d } from './splat.js';

/** A tensor of one image: its shape (without the batch) and values. */
export interface Plane {
  shape: number[];
  data: Float32Array;
}

export interface SplitAttentionTrace {
  /** The Bottleneck, e.g. 'layer2.0' (its conv2 is the SplAtConv2d). */
  block: string;
  radix: number;
  cardinality: number;
  /** C: channels of each split and of the output. */
  channels: number;
  /** fc1's width (the seed's inter_channels). */
  inter: number;
  input: Plane;
  /** The grouped conv's output before bn0: [radix·C, H, W]. */
  conv: Plane;
  /** bn0(conv(x)) before the relu (the conv's output again where the block has no bn0). */
  bn0: Plane;
  /** relu(bn0(conv(x))): [radix·C, H, W], split r = channels [r·C, (r+1)·C). */
  splits: Plane;
  /** Per split, the mean of each channel over the map: radix arrays of C. */
  splitMeans: number[][];
  /** Σ_r split_r: [C, H, W]. */
  sum: Plane;
  /** adaptive_avg_pool2d(sum, 1): C numbers. */
  gap: number[];
  fc1: number[];
  bn1: number[];
  relu: number[];
  /** fc2's logits: radix·C (radix-major after rSoftMax's transpose). */
  fc2: number[];
  /**
   * fc2's logits regrouped as the attention: radix arrays of C, fc2PerSplit[r][j] the logit that
   * r-softmax turns into attention[r][j]. fc2 comes out (cardinality, radix, C/cardinality)-major,
   * so with cardinality > 1 this is not a plain slicing of `fc2`. With radix 1, [fc2].
   */
  fc2PerSplit: number[][];
  /** rSoftMax's output: radix arrays of C (the sigmoid gate when radix = 1). */
  attention: number[][];
  /** Σ_r attention_r · split_r: [C, H, W]. */
  output: Plane;
  /** The whole network's top classes for the image. */
  top: { index: number; label: string; probability: number }[];
}

/** Names of the blocks whose conv2 is a SplAtConv2d ('layer1.0', …). */
export function splitAttentionBlocks(model: ResNet): string[] {
  return [...model.namedModules()].filter(([, m]) => m instanceof Bottleneck && m.conv2 instanceof SplAtConv2d).map(([name]) => name);
}

function blockOf(model: ResNet, block: string): SplAtConv2d {
  const names = splitAttentionBlocks(model);
  if (!names.includes(block)) {
    const valid = names.length ? names.join(', ') : 'none: this network has no split attention (radix 0)';
    throw new ArgumentError(`explain: no split-attention block '${block}' (blocks: ${valid})`);
  }
  const splat = (model.getSubmodule(block) as Bottleneck).conv2 as SplAtConv2d;
  if ((splat.bn0 && splat.bn0.foldedInto) || (splat.bn1 && splat.bn1.foldedInto)) {
    throw new ArgumentError(`explain: ${block}'s BatchNorms are folded into its convs; load the model unfused (loadModel(…, { fuse: false }))`);
  }
  return splat;
}

const plane = (t: Tensor, data: Float32Array): Plane => ({ shape: t.shape.slice(1), data });

/**
 * Runs `x` ([1, 3, H, W]) through `model` and returns `block`'s SplAtConv2d step by step.
 * The model must be in eval mode with its BatchNorms unfolded.
 */
export async function explainBlock(model: ResNet, x: Tensor, block: string, opts: { labels?: readonly string[] | null; top?: number } = {}): Promise<SplitAttentionTrace> {
  if (x.rank !== 4 || x.shape[0] !== 1) throw new ArgumentError(`explain: one image [1, 3, H, W], got [${x.shape.join(', ')}]`);
  const splat = blockOf(model, block);
  const seen = new Map<string, Tensor>();
  const keep = (name: string) => (_m: unknown, input: Tensor, out: Tensor) => {
    if (name === 'input') seen.set(name, input.retain());
    else seen.set(name, out.retain());
  };
  const remove = [
    splat.registerForwardHook(keep('input')),
    splat.registerForwardHook(keep('output')),
    splat.conv.registerForwardHook(keep('conv')),
    splat.fc1.registerForwardHook(keep('fc1')),
    splat.fc2.registerForwardHook(keep('fc2')),
    splat.rsoftmax.registerForwardHook(keep('attention')),
  ];
  if (splat.bn0) remove.push(splat.bn0.registerForwardHook(keep('bn0')));
  if (splat.bn1) remove.push(splat.bn1.registerForwardHook(keep('bn1')));
  let probs: Tensor;
  try {
    probs = tidy(() => F.softmax(model.call(x), 1));
  } finally {
    remove.forEach((r) => r());
  }
  const { radix, cardinality, channels: c } = splat;
  // The parts forward computes with ops rather than modules, recomputed by the same ops.
  const derived = tidy(() => {
    const splits = F.relu(seen.get(splat.bn0 ? 'bn0' : 'conv')!);
    const gap = F.radixGap(splits, radix);
    const relu = F.relu(seen.get(splat.bn1 ? 'bn1' : 'fc1')!);
    return { splits, gap, relu };
  });
  try {
    const read = async (t: Tensor) => (await t.data()) as Float32Array;
    const list = async (t: Tensor) => Array.from(await read(t));
    // The sum of the splits and their channel means on the host: inference backends need no reductions for them.
    const splits = await read(derived.splits);
    const hw = splits.length / (radix * c);
    const sum = new Float32Array(c * hw);
    const means: number[] = [];
    for (let r = 0; r < radix; r++) {
      for (let j = 0; j < c; j++) {
        let m = 0;
        for (let i = 0; i < hw; i++) {
          const v = splits[(r * c + j) * hw + i]!;
          sum[j * hw + i] += v;
          m += v;
        }
        means.push(m / hw);
      }
    }
    const att = await list(seen.get('attention')!);
    const fc2 = await list(seen.get('fc2')!);
    const p = await read(probs);
    const labels = opts.labels ?? null;
    const order = topIndices(p, opts.top ?? 5);
    const bn1 = seen.get('bn1');
    return {
      block, radix, cardinality, channels: c, inter: splat.fc1.outChannels,
      input: plane(seen.get('input')!, await read(seen.get('input')!)),
      conv: plane(seen.get('conv')!, await read(seen.get('conv')!)),
      bn0: plane(seen.get(splat.bn0 ? 'bn0' : 'conv')!, await read(seen.get(splat.bn0 ? 'bn0' : 'conv')!)),
      splits: plane(derived.splits, splits),
      splitMeans: Array.from({ length: radix }, (_, r) => means.slice(r * c, (r + 1) * c)),
      sum: { shape: [c, ...derived.splits.shape.slice(2)], data: sum },
      gap: await list(derived.gap),
      fc1: await list(seen.get('fc1')!),
      bn1: bn1 ? await list(bn1) : await list(seen.get('fc1')!),
      relu: await list(derived.relu),
      fc2,
      fc2PerSplit: fc2PerSplit(fc2, radix, cardinality),
      attention: Array.from({ length: radix }, (_, r) => att.slice(r * c, (r + 1) * c)),
      output: plane(seen.get('output')!, await read(seen.get('output')!)),
      top: order.map((i) => ({ index: i, label: labels?.[i] ?? `class ${i}`, probability: p[i]! })),
    };
  } finally {
    for (const t of seen.values()) t.dispose();
    for (const t of Object.values(derived)) t.dispose();
    probs.dispose();
  }
}

/**
 * fc2's logits in the attention's order (radix-major): r-softmax views them as (cardinality,
 * radix, C/cardinality) and transposes the first two axes, so logit [k, r, j] becomes
 * weight r·C + k·(C/cardinality) + j.
 */
export function fc2PerSplit(fc2: readonly number[], radix: number, cardinality: number): number[][] {
  const c = fc2.length / radix, per = c / cardinality;
  return Array.from({ length: radix }, (_, r) => Array.from({ length: c }, (_, i) => {
    const k = Math.floor(i / per), j = i % per;
    return fc2[(k * radix + r) * per + j]!;
  }));
}

/** The trace as `resnest explain --json` prints it: the fields outside checks read, then the rest (without the maps). */
export function traceJson(t: SplitAttentionTrace): Record<string, unknown> {
  return {
    block: t.block, radix: t.radix, cardinality: t.cardinality, channels: t.channels, gap: t.gap, attention: t.attention, top: t.top,
    inter: t.inter, split_means: t.splitMeans, fc1: t.fc1, bn1: t.bn1, relu: t.relu, fc2: t.fc2, fc2_per_split: t.fc2PerSplit,
    shapes: { input: t.input.shape, splits: t.splits.shape, sum: t.sum.shape, output: t.output.shape },
  };
}
