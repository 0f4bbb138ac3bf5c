// The graph being written: nodes, initializers, unique names, shared shape constants, and the
// module scope that names the nodes (`layer1.0.conv2.fc1/Conv`).

import { BackendError } from '../errors.js';
import type { Attr, OnnxDType, OnnxNode, OnnxTensor } from './onnx-model.js';

/** An ONNX value (graph input, node output or initializer) with its static shape. */
export interface Value {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: OnnxDType;
}

function int64(values: readonly number[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(v));
}

/** Nodes and initializers, with unique names and cached shape constants. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly names = new Set<string>();
  private readonly int64Cache = new Map<string, Value>();
  /** Dotted path of the module whose forward is running (names the nodes). */
  scope = '';

  unique(hint: string): string {
    let name = hint, k = 1;
    while (this.names.has(name)) name = `${hint}_${k++}`;
    this.names.add(name);
    return name;
  }

  reserve(name: string): void {
    if (this.names.has(name)) throw new BackendError(`ONNX export: the name '${name}' is used twice`);
    this.names.add(name);
  }

  /** Appends one node with one output of `shape`; null inputs are omitted optional inputs. */
  node(opType: string, inputs: readonly (Value | null)[], attrs: Record<string, Attr>, shape: readonly number[],
    dtype: OnnxDType = 'float32'): Value {
    const name = this.unique(this.scope ? `${this.scope}/${opType}` : opType);
    let n = inputs.length;
    while (n > 0 && inputs[n - 1] === null) n--;
    this.nodes.push({ opType, name, inputs: inputs.slice(0, n).map((v) => v?.name ?? ''), outputs: [name], attrs });
    return { name, shape: [...shape], dtype };
  }

  initializer(data: Float32Array | Int32Array | BigInt64Array, dims: readonly number[], hint: string): Value {
    const dtype: OnnxDType = data instanceof BigInt64Array ? 'int64' : data instanceof Int32Array ? 'int32' : 'float32';
    const name = this.unique(hint);
    this.initializers.push({ name, dtype, dims: [...dims], data });
    return { name, shape: [...dims], dtype };
  }

  /** A 1-D int64 constant (shapes, axes, pads, slice bounds), shared by every node that uses it. */
  ints(values: readonly number[]): Value {
    const key = values.join(',');
    let v = this.int64Cache.get(key);
    if (!v) {
      v = this.initializer(int64(values), [values.length], 'const_i64');
      this.int64Cache.set(key, v);
    }
    return v;
  }
}

