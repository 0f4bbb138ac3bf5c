// What every GPU backend test checks: the op cases it runs against the js reference — each
// op's code paths (broadcasts, views, every conv flavour, pools with ceil mode and padding, the
// split-attention kernels) on small odd shapes; `on` makes the inputs, so a test can choose
// values its storage format holds exactly — and int32 storage, which no float format touches.

import type { Backend } from '../../src/backend/backend.js';
import * as F from '../../src/ops/index.js';
import * as assert from 'uvu/assert';
import { full, tensor, type Tensor } from '../../src/tensor/tensor.js';

export type OnBackend = (b: Backend, shape: number[], seed?: number) => Tensor;

export function opCases(on: OnBackend): [string, (b: Backend) => Tensor][] {
  return [
    ['relu', (b) => F.relu(on(b, [1000]))],
    ['sigmoid', (b) => F.sigmoid(on(b, [300]))],
    ['rsqrt', (b) => F.rsqrt(F.addScalar(F.relu(on(b, [300])), 0.5))],
    ['add broadcast', (b) => F.add(on(b, [3, 1, 5]), on(b, [4, 1], 2))],
    ['div broadcast', (b) => F.div(on(b, [2, 3, 4, 5]), F.addScalar(F.relu(on(b, [3, 1, 1], 3)), 1))],
    ['transpose copy', (b) => on(b, [3, 4, 5]).permute(2, 0, 1).contiguous()],
    ['cat', (b) => F.cat([on(b, [2, 3, 4]), on(b, [2, 5, 4], 2)], 1)],
    ['conv 3×3 grouped strided', (b) => F.conv2d(on(b, [2, 8, 11, 13]), on(b, [16, 4, 3, 3], 2), on(b, [16], 3), { padding: 1, groups: 2, stride: 2, act: 'relu' })],
    ['conv 1×1 + residual', (b) => F.conv2d(on(b, [2, 70, 5, 5]), on(b, [80, 70, 1, 1], 2), on(b, [80], 3), { residual: on(b, [2, 80, 5, 5], 4), act: 'relu' })],
    ['conv dilated', (b) => F.conv2d(on(b, [1, 3, 17, 19]), on(b, [5, 3, 3, 3], 2), null, { padding: 2, dilation: 2, act: 'sigmoid' })],
    ['conv 1×1 strided', (b) => F.conv2d(on(b, [1, 6, 9, 9]), on(b, [7, 6, 1, 1], 2), null, { stride: 2 })],
    ['batch norm + relu', (b) => F.batchNorm(on(b, [2, 3, 4, 5]), on(b, [3], 2), F.addScalar(F.relu(on(b, [3], 3)), 1), on(b, [3], 4), on(b, [3], 5), 1e-5, 'relu')],
    ['max pool ceil', (b) => F.maxPool2d(on(b, [2, 3, 9, 10]), 3, { stride: 2, padding: 1, ceilMode: true })],
    ['avg pool ceil excl. pad', (b) => F.avgPool2d(on(b, [2, 3, 9, 10]), 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false })],
    ['avg pool incl. pad', (b) => F.avgPool2d(on(b, [1, 2, 7, 6]), 2, { stride: 2, padding: 1, ceilMode: true })],
    ['global avg pool', (b) => F.adaptiveAvgPool2d(on(b, [2, 3, 9, 10]))],
    ['softmax', (b) => F.softmax(on(b, [2, 5, 7]), 1)],
    ['r-softmax', (b) => F.rSoftmax(on(b, [3, 48]), 4, 2)],
    ['linear', (b) => F.linear(on(b, [3, 20]), on(b, [7, 20], 2), on(b, [7], 3))],
    ['interpolate bilinear align_corners up', (b) => F.interpolate(on(b, [2, 3, 5, 7]), { size: [13, 9], mode: 'bilinear', alignCorners: true })],
    ['interpolate bilinear from 1×1', (b) => F.interpolate(on(b, [1, 5, 1, 1]), { size: [6, 4], mode: 'bilinear', alignCorners: true })],
    ['interpolate bilinear half-pixel down', (b) => F.interpolate(on(b, [1, 3, 11, 10]), { size: [4, 7], mode: 'bilinear' })],
    ['interpolate bilinear ×2', (b) => F.interpolate(on(b, [1, 2, 5, 6]), { scaleFactor: 2, mode: 'bilinear' })],
    ['interpolate nearest', (b) => F.interpolate(on(b, [2, 2, 4, 6]), { size: [7, 4] })],
    // Forward kernels training leans on, on every backend with or without a tape.
    ['sum over two dims', (b) => F.sum(on(b, [3, 4, 5]), [0, 2])],
    ['mean', (b) => F.mean(on(b, [2, 3, 7]), 2, true)],
    ['log-softmax', (b) => F.logSoftmax(on(b, [2, 5, 7]), 1)],
    ['cross-entropy with label smoothing', (b) => F.crossEntropy(on(b, [6, 7]), [0, 3, 6, 1, 1, 2], { labelSmoothing: 0.1 })],
    ['radix gap', (b) => F.radixGap(on(b, [2, 12, 5, 5]), 2)],
    ['radix attend', (b) => F.radixAttend(on(b, [2, 12, 5, 5]), on(b, [2, 12], 2), 2)],
  ];
}

/** int32 tensors on `b`: written, read back as Int32Array (extremes included), copied through a view, filled. */
export async function assertInt32Storage(b: Backend): Promise<void> {
  const i = tensor(Int32Array.from([1, -2, 3, 2147483647, -2147483648, 0]), [2, 3], { backend: b });
  const back = await i.data();
  assert.instance(back, Int32Array);
  assert.equal(Array.from(back), [1, -2, 3, 2147483647, -2147483648, 0]);
  assert.equal(Array.from(await i.transpose(0, 1).data()), [1, 2147483647, -2, -2147483648, 3, 0]);
  assert.equal(Array.from(await full([3], -7, { dtype: 'int32', backend: b }).data()), [-7, -7, -7]);
}
