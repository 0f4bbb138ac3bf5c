// The meta backend: tensors with shapes and no data, like PyTorch's meta device. Models
// built on it cost no memory, so the zoo can report parameter counts of ResNeSt-269 instantly.

import { BackendError } from '../errors.js';
import type { Backend } from './backend.js';

function noData(): never {
  throw new BackendError('meta tensors hold no data: build the model on the js, wasm or webgpu backend to run it');
}

export const metaBackend: Backend<null> = {
  name: 'meta',
  asyncRead: false,
  alloc: () => null,
  free: () => {},
  write: () => {},
  fill: () => {},
  read: async () => noData(),
  readSync: noData,
  copy: noData, unary: noData, binary: noData, conv2d: noData, batchNorm: noData, pool2d: noData,
  reduceRows: noData, softmax: noData, interpolate: noData, linear: noData, radixGap: noData, rSoftmax: noData,
  radixAttend: noData,
};
