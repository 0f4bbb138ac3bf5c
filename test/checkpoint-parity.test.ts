// Real checkpoints written by torch.save (zip and legacy formats) and a safetensors file of
// the same state dict load into our Bottleneck and reproduce PyTorch's output.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../src/backend/backend.js';
import { testBackends } from './helpers/backends.js';
import { loadCheckpoint } from '../src/io/checkpoint.js';
import { toFloat32 } from '../src/io/raw.js';
import { AvgPool2d, BatchNorm2d, Conv2d, Sequential } from '../src/nn/layers.js';
import { Bottleneck } from '../src/models/resnest/resnet.js';
import { tensor } from '../src/tensor/tensor.js';
import { tidy } from '../src/tensor/scope.js';
import { FIXTURES, manifest, relErr } from './helpers/fixtures.js';

const spec = manifest().modules.find((m) => m.name === 'bottleneck_r2c2') as Record<string, number & boolean>;
const file = (suffix: string) => join(FIXTURES, 'parity', `bottleneck_r2c2.${suffix}`);
const load = (suffix: string) => loadCheckpoint(new Uint8Array(readFileSync(file(suffix))), file(suffix));

function block(backend: Backend): Bottleneck {
  const planes = spec.planes, inplanes = spec.inplanes;
  const down = new Sequential([
    new AvgPool2d(spec.stride, { stride: spec.stride, ceilMode: true, countIncludePad: false }, backend),
    new Conv2d(inplanes, planes * 4, 1, { bias: false }, backend),
    new BatchNorm2d(planes * 4, 1e-5, backend),
  ], backend);
  return new Bottleneck(inplanes, planes, {
    stride: spec.stride, downsample: down, radix: spec.radix, cardinality: spec.cardinality,
    bottleneckWidth: spec.bottleneck_width, avd: spec.avd, avdFirst: spec.avd_first, isFirst: spec.is_first,
  }, backend);
}

const io = load('io.safetensors');
const want = toFloat32(io.get('output')!);

for (const { name, backend, tolerance } of await testBackends()) {
  const x = tensor(toFloat32(io.get('input')!), io.get('input')!.shape, { backend });
  for (const suffix of ['zip.pth', 'legacy.pth', 'weights.safetensors']) {
    test(`${name}: Bottleneck from ${suffix} matches PyTorch`, async () => {
      const sd = load(suffix);
      assert.ok(sd.has('conv2.fc1.bias') && sd.has('downsample.1.weight') && sd.has('bn1.num_batches_tracked'));
      const b = block(backend);
      b.loadStateDict(sd);
      const y = tidy(() => b.call(x));
      assert.equal([...y.shape], spec.output);
      const err = relErr(await y.data(), want);
      assert.ok(err <= tolerance, `unfused: ${err}`);
      b.fuse();
      const yf = tidy(() => b.call(x));
      const errF = relErr(await yf.data(), want);
      assert.ok(errF <= tolerance, `fused: ${errF}`);
      console.log(`    ${name.padEnd(7)} ${suffix.padEnd(20)} unfused ${err.toExponential(2)}  fused ${errF.toExponential(2)}`);
    });
  }
}

test('the three files hold identical tensors', () => {
  const [a, b, c] = ['zip.pth', 'legacy.pth', 'weights.safetensors'].map(load);
  assert.equal([...a!.keys()].sort(), [...c!.keys()].sort());
  for (const [k, t] of a!) {
    assert.equal(b!.get(k)!.shape, t.shape, k);
    assert.equal(Array.from(b!.get(k)!.data as ArrayLike<number | bigint>), Array.from(t.data as ArrayLike<number | bigint>), k);
    assert.equal(Array.from(c!.get(k)!.data as ArrayLike<number | bigint>), Array.from(t.data as ArrayLike<number | bigint>), k);
  }
});

test.run();
