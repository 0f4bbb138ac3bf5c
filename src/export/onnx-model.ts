// ONNX's ModelProto as plain objects, and their protobuf encoding (field numbers from
// onnx/onnx.proto). Only what an inference graph needs: nodes with attributes, initializers
// (raw little-endian data), typed inputs and outputs, one opset import.

import { littleEndianBytes, ProtoWriter } from './protobuf.js';

export type OnnxDType = 'float32' | 'int32' | 'int64';

/** An attribute value, tagged by its ONNX type. */
export type Attr = { i: number } | { f: number } | { ints: readonly number[] } | { floats: readonly number[] } | { s: string };

export interface OnnxNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

export interface OnnxTensor {
  name: string;
  dtype: OnnxDType;
  dims: readonly number[];
  data: Float32Array | Int32Array | BigInt64Array;
}

export interface OnnxValueInfo {
  name: string;
  dtype: OnnxDType;
  /** Concrete sizes, or a name for a symbolic dimension ('N'). */
  shape: readonly (number | string)[];
}

export interface OnnxModel {
  irVersion: number;
  opset: number;
  producerName: string;
  producerVersion: string;
  graphName: string;
  docString?: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  metadata?: Record<string, string>;
}

/** TensorProto.DataType */
export const DATA_TYPE: Record<OnnxDType, number> = { float32: 1, int32: 6, int64: 7 };

/** AttributeProto.AttributeType */
const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** The IR version that goes with an ai.onnx opset (ONNX's release table). */
export function irVersionForOpset(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

function attribute(name: string, a: Attr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('i' in a) w.varint(20, ATTR_TYPE.INT).varint(3, a.i);
  else if ('f' in a) w.varint(20, ATTR_TYPE.FLOAT).float(2, a.f);
  else if ('s' in a) w.varint(20, ATTR_TYPE.STRING).string(4, a.s);
  else if ('ints' in a) w.varint(20, ATTR_TYPE.INTS).packedVarints(8, a.ints);
  else w.varint(20, ATTR_TYPE.FLOATS).packedFloats(7, a.floats);
  return w;
}

function node(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name).string(4, n.opType);
  for (const [k, a] of Object.entries(n.attrs)) w.message(5, attribute(k, a));
  return w;
}

export function tensorProto(t: OnnxTensor): ProtoWriter {
  const w = new ProtoWriter();
  if (t.dims.length) w.packedVarints(1, t.dims);
  w.varint(2, DATA_TYPE[t.dtype]).string(8, t.name);
  return w.bytes(9, littleEndianBytes(t.data));
}

function valueInfo(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new ProtoWriter().varint(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().varint(1, DATA_TYPE[v.dtype]).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Serialises a model to the bytes of an .onnx file. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const graph = new ProtoWriter();
  for (const n of m.nodes) graph.message(1, node(n));
  graph.string(2, m.graphName);
  for (const t of m.initializers) graph.message(5, tensorProto(t));
  if (m.docString) graph.string(10, m.docString);
  for (const v of m.inputs) graph.message(11, valueInfo(v));
  for (const v of m.outputs) graph.message(12, valueInfo(v));

  const model = new ProtoWriter()
    .varint(1, m.irVersion)
    .string(2, m.producerName)
    .string(3, m.producerVersion)
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').varint(2, m.opset));
  for (const [key, value] of Object.entries(m.metadata ?? {})) model.message(14, new ProtoWriter().string(1, key).string(2, value));
  return model.finish();
}
