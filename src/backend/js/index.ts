// The reference backend: plain TypeScript over Float32Array/Int32Array. Every other
// backend is tested against this one and against PyTorch.

import type { Backend, DType, HostArray, Ref } from '../backend.js';
import { registerBackend } from '../registry.js';
import { conv2d, linear } from './conv.js';
import { binary, copy, unary } from './elementwise.js';
import { pool2d, reduceRows } from './pool.js';
import { batchNorm, radixAttend, radixGap, rSoftmax, softmax } from './attention.js';
import { trainingKernels } from './training.js';
import { interpolate } from './interpolate.js';

type Buf = Float32Array | Int32Array;

export function createJsBackend(): Backend<Buf> {
  // Float kernels are typed over Float32Array; ops only hand them float32 tensors (the
  // interface's kernels are methods, so that narrower operand type is accepted).
  return {
    name: 'js',
    asyncRead: false,
    alloc: (n: number, dtype: DType) => (dtype === 'int32' ? new Int32Array(n) : new Float32Array(n)),
    free: () => {},
    write: (dst: Ref<Buf>, data: HostArray) => dst.buf.set(data, dst.offset),
    readSync: (src: Ref<Buf>, n: number) => src.buf.slice(src.offset, src.offset + n),
    read: async (src: Ref<Buf>, n: number) => src.buf.slice(src.offset, src.offset + n),
    fill: (dst: Ref<Buf>, n: number, value: number) => void dst.buf.fill(value, dst.offset, dst.offset + n),
    copy,
    unary, binary, conv2d, linear, batchNorm, pool2d, reduceRows, softmax, interpolate, radixGap, rSoftmax, radixAttend,
    training: trainingKernels,
  } satisfies Backend<Buf>;
}

registerBackend('js', createJsBackend);
