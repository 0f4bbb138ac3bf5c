// Each op's ONNX translation, in a table typed over op names like the backward rules
// (src/ops/table.ts): an op added to OpName without an entry here, or with an entry whose
// parameters do not match its definition's, does not compile. An op that has no ONNX form
// says so with NOT_EXPORTABLE and the reason. Each rule gets the recorder (values of the
// operands, reshapes that respect a symbolic batch, activations, reductions), the operands,
// the output and the very parameters the kernel got.

import type { Activation } from '../backend/backend.js';
import type { OpName } from '../ops/op.js';
import type { ParamsOf } from '../ops/table.js';
import { rectifyFactor } from '../ops/rectify.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Value } from './graph.js';
import type { OnnxRecorder } from './record.js';

export type ExportRule<P> = (r: OnnxRecorder, inputs: readonly (Tensor | null)[], out: Tensor, p: P) => Value;

/** An op with no ONNX form, and why (the error a trace that meets it gives). */
export class NotExportable {
  constructor(readonly reason: string) {}
}

const unary = (onnx: string): ExportRule<unknown> => (r, [a], out) => r.graph.node(onnx, [r.value(a!)], {}, out.shape);
const binary = (onnx: string): ExportRule<unknown> => (r, [a, b], out) => r.graph.node(onnx, [r.value(a!), r.value(b!)], {}, out.shape);
const withAct = (r: OnnxRecorder, v: Value, act: Activation): Value =>
  act === 'relu' ? r.graph.node('Relu', [v], {}, v.shape) : act === 'sigmoid' ? r.graph.node('Sigmoid', [v], {}, v.shape) : v;

export const EXPORT: { readonly [K in OpName]: ExportRule<ParamsOf<K>> | NotExportable } = {
  relu: unary('Relu'),
  sigmoid: unary('Sigmoid'),
  exp: unary('Exp'),
  neg: unary('Neg'),
  sqrt: unary('Sqrt'),
  rsqrt: (r, [a], out) => r.graph.node('Reciprocal', [r.graph.node('Sqrt', [r.value(a!)], {}, out.shape)], {}, out.shape),
  addScalar: (r, [a], out, s) => r.graph.node('Add', [r.value(a!), r.scalar(s)], {}, out.shape),
  mulScalar: (r, [a], out, s) => r.graph.node('Mul', [r.value(a!), r.scalar(s)], {}, out.shape),
  add: binary('Add'),
  sub: binary('Sub'),
  mul: binary('Mul'),
  div: binary('Div'),

  sum: (r, [a], out, { dims, keepdim }) => r.reduce('ReduceSum', r.value(a!), [...dims], keepdim, out.shape),
  expand: (r, [a], out) => {
    // With a symbolic batch the batch dimension is broadcast from the input, not fixed.
    const target = r.opts.dynamicBatch !== null && a!.shape.length === out.shape.length ? [1, ...out.shape.slice(1)] : [...out.shape];
    return r.graph.node('Expand', [r.value(a!), r.graph.ints(target)], {}, out.shape);
  },
  cat: (r, inputs, out, { dim }) => r.graph.node('Concat', inputs.map((t) => r.value(t!)), { axis: { i: dim } }, out.shape),

  conv2d: (r, [x, w, bias, residual], out, { g: geo, act, rectify }) => {
    const g = r.graph;
    // A rectified conv: Conv without bias, × the factor map (a constant), + the bias.
    let y = g.node('Conv', [r.value(x!), r.value(w!), rectify || !bias ? null : r.value(bias)], {
      dilations: { ints: [geo.dilH, geo.dilW] }, group: { i: geo.groups }, kernel_shape: { ints: [geo.kh, geo.kw] },
      pads: { ints: [geo.padH, geo.padW, geo.padH, geo.padW] }, strides: { ints: [geo.strideH, geo.strideW] },
    }, out.shape);
    if (rectify) {
      y = g.node('Mul', [y, g.initializer(rectifyFactor(geo, rectify), [1, 1, geo.oh, geo.ow], 'rectify')], {}, out.shape);
      if (bias) y = g.node('Add', [y, r.reshape(r.value(bias), [geo.o, 1, 1])], {}, out.shape);
    }
    if (residual) y = g.node('Add', [y, r.value(residual)], {}, out.shape);
    return withAct(r, y, act);
  },
  batchNorm: (r, [a, mean, variance, weight, bias], out, { eps, act }) => {
    const x = r.value(a!);
    const nchw = x.shape.length >= 3 ? x : r.reshape(x, [...x.shape, 1]);
    const bn = r.graph.node('BatchNormalization', [nchw, r.value(weight!), r.value(bias!), r.value(mean!), r.value(variance!)], { epsilon: { f: eps } }, nchw.shape);
    return r.reshape(withAct(r, bn, act), out.shape);
  },
  batchNormTrain: new NotExportable('batch norm in train mode (batch statistics) has no ONNX inference form: export an eval-mode model'),

  maxPool2d: (r, [a], out, { g }) => r.pool('max', g, r.value(a!), out.shape),
  avgPool2d: (r, [a], out, { g }) => r.pool('avg', g, r.value(a!), out.shape),
  adaptiveAvgPool2d: (r, [a], out) => r.graph.node('GlobalAveragePool', [r.value(a!)], {}, out.shape),

  // Resize with PyTorch's coordinates: align_corners, or half pixels (ONNX clamps a negative
  // source to 0 in linear mode, as PyTorch does; 'pytorch_half_pixel' would map an output of
  // length 1 to 0 where PyTorch takes the centre), nearest as floor(dst · in/out). A scale
  // factor goes in as Resize's scales (output floor(in · factor), coordinates / factor, as
  // PyTorch computes them); a size as its sizes, with the batch and channels from the input.
  interpolate: (r, [a], out, { g, factors }) => {
    const graph = r.graph, x = r.value(a!);
    const attrs = {
      mode: { s: g.mode === 'nearest' ? 'nearest' : 'linear' },
      coordinate_transformation_mode: { s: g.alignCorners ? 'align_corners' : g.mode === 'nearest' ? 'asymmetric' : 'half_pixel' },
      nearest_mode: { s: 'floor' },
    };
    if (factors) return graph.node('Resize', [x, null, graph.initializer(Float32Array.of(1, 1, ...factors), [4], 'scales')], attrs, out.shape);
    const nc = graph.node('Slice', [graph.node('Shape', [x], {}, [4], 'int64'), graph.ints([0]), graph.ints([2])], {}, [2], 'int64');
    const sizes = graph.node('Concat', [nc, graph.ints([g.oh, g.ow])], { axis: { i: 0 } }, [4], 'int64');
    return graph.node('Resize', [x, null, null, sizes], attrs, out.shape);
  },

  softmax: (r, [a], out, { axis }) => r.graph.node('Softmax', [r.value(a!)], { axis: { i: axis } }, out.shape),
  logSoftmax: (r, [a], out, { axis }) => r.graph.node('LogSoftmax', [r.value(a!)], { axis: { i: axis } }, out.shape),
  rSoftmax: (r, [a], out, { batch, cardinality, radix, rest }) => {
    const g = r.graph;
    const s = g.node('Softmax', [r.reshape(r.value(a!), [batch, cardinality, radix, rest])], { axis: { i: 2 } }, [batch, cardinality, radix, rest]);
    const t = g.node('Transpose', [s], { perm: { ints: [0, 2, 1, 3] } }, [batch, radix, cardinality, rest]);
    return r.reshape(t, out.shape);
  },

  linear: (r, [a, w, bias], out) => {
    const g = r.graph, x = r.value(a!);
    if (x.shape.length === 2) return g.node('Gemm', [x, r.value(w!), bias ? r.value(bias) : null], { transB: { i: 1 } }, out.shape);
    const wt = g.node('Transpose', [r.value(w!)], { perm: { ints: [1, 0] } }, [w!.shape[1]!, w!.shape[0]!]);
    const y = g.node('MatMul', [x, wt], {}, out.shape);
    return bias ? g.node('Add', [y, r.value(bias)], {}, out.shape) : y;
  },
  radixGap: (r, [a], out, { n, radix, c, h, w }) => {
    let s = r.value(a!);
    if (radix > 1) s = r.reduce('ReduceSum', r.reshape(s, [n, radix, c, h, w]), [1], false, [n, c, h, w]);
    return r.graph.node('GlobalAveragePool', [s], {}, out.shape);
  },
  radixAttend: (r, [a, b], out, { n, radix, c, h, w }) => {
    if (radix <= 1) return r.graph.node('Mul', [r.value(a!), r.reshape(r.value(b!), [n, c, 1, 1])], {}, out.shape);
    const prod = r.graph.node('Mul', [r.reshape(r.value(a!), [n, radix, c, h, w]), r.reshape(r.value(b!), [n, radix, c, 1, 1])], {}, [n, radix, c, h, w]);
    return r.reduce('ReduceSum', prod, [1], false, out.shape);
  },
};
