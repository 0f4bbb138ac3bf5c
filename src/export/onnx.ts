// ONNX export by tracing: the model's own forward runs once on the js backend while an
// OnnxRecorder (record.ts) sees every op at the op entry point; the nodes it records, with
// the weights as initializers, are the graph. Inference fusions apply as they do at run time (BatchNorm
// folded into the convs, conv + bias + residual + ReLU), so the file computes what our
// forward computes. Initializers are named by state-dict key (a folded conv's weight and
// bias by its conv's keys), nodes by the module that ran them (`layer1.0.conv2.fc1/Conv`).

import type { Backend } from '../backend/backend.js';
import { ArgumentError, NotSupportedError } from '../errors.js';
import type { RawTensor } from '../io/raw.js';
import { ResNet } from '../models/resnest/resnet.js';
import { Conv2d } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { tidy } from '../tensor/scope.js';
import { tensor } from '../tensor/tensor.js';
import { encodeModel, irVersionForOpset, type OnnxModel } from './onnx-model.js';
import { OnnxRecorder } from './record.js';
import { createJsBackend } from '../backend/js/index.js';
import { observeOps } from '../autograd/tape.js';
import { numel } from '../tensor/shape.js';

export { encodeModel, type OnnxModel } from './onnx-model.js';

export const DEFAULT_OPSET = 17;
/** Opsets the exporter writes (Softmax's single-axis form needs 13; ONNX Runtime 1.30 reads up to 22). */
export const MIN_OPSET = 13;
export const MAX_OPSET = 22;
/** The batch size a dynamic-batch export is traced at (any size works; 2 keeps batch distinguishable from size-1 dims). */
export const DYNAMIC_TRACE_BATCH = 2;
export const PRODUCER = { name: 'resnest-ts', version: '0.1.0' };

export interface OnnxExportOptions {
  /** ai.onnx opset, 13–22 (default 17). */
  opset?: number;
  /** A fixed batch size, or 'dynamic' for a symbolic batch dimension 'N' (default: the traced input's). */
  batch?: number | 'dynamic';
  /** Graph input and output names (default 'input', 'logits'). */
  inputName?: string;
  outputName?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/** Checks an opset number, with a one-line error. */
export function checkOpset(opset: number): number {
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ArgumentError(`ONNX opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`);
  }
  return opset;
}

/**
 * Traces `build(backend)`'s forward on an input of `inputShape` into an ONNX model. `build`
 * must create the module on the backend it is given (weights loaded, eval mode, fused if
 * wanted); it is used for this trace only.
 */
export function traceOnnx(build: (backend: Backend) => Module, inputShape: readonly number[], opts: OnnxExportOptions = {}): OnnxModel {
  const opset = checkOpset(opts.opset ?? DEFAULT_OPSET);
  const dynamic = opts.batch === 'dynamic';
  const batch = dynamic ? DYNAMIC_TRACE_BATCH : typeof opts.batch === 'number' ? opts.batch : inputShape[0]!;
  if (!Number.isInteger(batch) || batch < 1) throw new ArgumentError(`ONNX export: batch must be a positive integer or 'dynamic', got ${opts.batch}`);
  const shape = [batch, ...inputShape.slice(1)];
  const inputName = opts.inputName ?? 'input', outputName = opts.outputName ?? 'logits';
  if (inputName === outputName) throw new ArgumentError(`ONNX export: input and output need different names ('${inputName}')`);

  // The model runs for real on the js backend; the recorder sees its ops (record.ts).
  const rec = new OnnxRecorder({ opset, dynamicBatch: dynamic ? batch : null });
  const js = rec.guard(createJsBackend());
  const model = build(js);
  if (model.backend !== js) throw new ArgumentError('traceOnnx: build(backend) must create the model on the backend it is given');

  // Initializer names: state-dict keys, and the keys of the conv a BatchNorm was folded into.
  for (const [key, t] of model.stateDict()) rec.names.set(t.storage, key);
  for (const [path, m] of model.namedModules()) {
    if (m instanceof Conv2d && m.folded) {
      rec.names.set(m.folded.weight.storage, path ? `${path}.weight` : 'weight');
      rec.names.set(m.folded.bias.storage, path ? `${path}.bias` : 'bias');
    }
  }
  // Node names: the module whose forward is running. (The model is this trace's own: not restored.)
  model.interceptForwards((path, _m, run) => {
    const outer = rec.graph.scope;
    rec.graph.scope = path;
    try {
      return run();
    } finally {
      rec.graph.scope = outer;
    }
  });

  rec.graph.reserve(outputName);
  // A stand-in input: its values never reach the graph (reading them fails).
  const input = tensor(new Float32Array(numel(shape)).fill(0.5), shape, { backend: js });
  rec.markInput(input, inputName);
  const out = observeOps(rec, () => {
    const y = tidy(() => model.call(input));
    rec.graph.scope = '';
    const v = rec.result(y);
    rec.graph.nodes.push({ opType: 'Identity', name: outputName, inputs: [v.name], outputs: [outputName], attrs: {} });
    return y;
  });
  if (dynamic && out.shape[0] !== batch) {
    throw new NotSupportedError(`ONNX export with a dynamic batch: the output ${JSON.stringify(out.shape)} does not lead with the batch dimension`);
  }
  const y = out;
  const dims = (s: readonly number[]) => (dynamic ? ['N', ...s.slice(1)] : [...s]);
  return {
    irVersion: irVersionForOpset(opset),
    opset,
    producerName: PRODUCER.name,
    producerVersion: PRODUCER.version,
    graphName: model.constructor.name,
    docString: opts.docString,
    nodes: rec.graph.nodes,
    initializers: rec.graph.initializers,
    inputs: [{ name: inputName, dtype: 'float32', shape: dims(shape) }],
    outputs: [{ name: outputName, dtype: 'float32', shape: dims(y.shape) }],
    metadata: opts.metadata,
  };
}

export interface ResNetExportOptions extends OnnxExportOptions {
  /** Input height and width (default 224). */
  size?: number | readonly [number, number];
  /** Fold BatchNorm into the convolutions (default true), as inference runs. */
  fuse?: boolean;
}

/** A ResNet (any zoo network) as the bytes of an .onnx file. The model itself is not changed. */
export async function exportOnnx(model: ResNet, opts: ResNetExportOptions = {}): Promise<Uint8Array> {
  const sd = new Map<string, RawTensor>();
  for (const [key, t] of model.stateDict()) sd.set(key, { dtype: 'float32', shape: [...t.shape], data: (await t.data()) as Float32Array });
  const [h, w] = typeof opts.size === 'number' ? [opts.size, opts.size] : opts.size ?? [224, 224];
  const batch = typeof opts.batch === 'number' ? opts.batch : 1;
  const onnx = traceOnnx((backend) => {
    const m = new ResNet(model.layers, model.options, backend);
    m.loadStateDict(sd);
    m.eval();
    return opts.fuse ?? true ? m.fuse() : m;
  }, [batch, 3, h, w], opts);
  return encodeModel(onnx);
}
