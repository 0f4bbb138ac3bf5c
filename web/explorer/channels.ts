// What one channel is across a split-attention block: its cardinal group, the mean of its
// map in every split, the GAP value, the fc2 logit and attention weight of every split, and the
// mean of its output map. The linked highlighting shows exactly these numbers.

import type { SplitAttentionTrace } from '../../src/models/resnest/explain.js';

export interface ChannelFacts {
  channel: number;
  group: number;
  /** Its index inside its cardinal group. */
  inGroup: number;
  perGroup: number;
  splitMeans: number[];
  gap: number;
  logits: number[];
  attention: number[];
  /** Mean of the output map (attention is one number per channel, so Σ_r a_r · mean_r). */
  outputMean: number;
}

export function perGroup(t: SplitAttentionTrace): number {
  return t.channels / t.cardinality;
}

export function channelFacts(t: SplitAttentionTrace, c: number): ChannelFacts {
  const per = perGroup(t);
  const [, h, w] = t.output.shape as [number, number, number];
  let s = 0;
  for (let i = 0; i < h * w; i++) s += t.output.data[c * h * w + i]!;
  return {
    channel: c, group: Math.floor(c / per), inGroup: c % per, perGroup: per,
    splitMeans: t.splitMeans.map((m) => m[c]!),
    gap: t.gap[c]!,
    logits: t.fc2PerSplit.map((l) => l[c]!),
    attention: t.attention.map((a) => a[c]!),
    outputMean: s / (h * w),
  };
}

/** Per-channel means of a [channels, h, w] map. */
export function channelMeans(data: Float32Array, shape: readonly number[]): number[] {
  const [c, h, w] = shape as [number, number, number];
  return Array.from({ length: c }, (_, j) => {
    let s = 0;
    for (let i = 0; i < h * w; i++) s += data[j * h * w + i]!;
    return s / (h * w);
  });
}

/** The channel a person meets first: the most active one in the output. */
export function firstChannel(t: SplitAttentionTrace): number {
  const m = channelMeans(t.output.data, t.output.shape);
  return m.indexOf(Math.max(...m));
}
