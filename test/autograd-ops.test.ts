// Per-op gradients against torch.autograd (float64 reference of float32 inputs, from
// scripts/make_grad_fixtures.py): every case's forward output and every input's gradient
// of sum(out · gout), on each CPU backend and on webgpu (there the same bits twice: no float
// atomics). A backend that does not train raises one NotSupportedError naming op and kernel.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as F from '../src/ops/index.js';
import { tensor as makeTensor, type Tensor } from '../src/tensor/tensor.js';
import { NotSupportedError } from '../src/errors.js';
import type { Backend } from '../src/backend/backend.js';
import { gradKernel } from '../src/ops/op.js';
import { loadSafetensors } from '../src/io/safetensors.js';
import { toFloat32 } from '../src/io/raw.js';
import { FIXTURES, relErr } from './helpers/fixtures.js';
import { testBackends } from './helpers/backends.js';
import { initBackend } from '../src/backend/registry.js';
import { tidy } from '../src/tensor/scope.js';

interface GradCase {
  name: string;
  op: string;
  params: Record<string, unknown>;
  inputs: Record<string, number[]>;
  grad: string[];
}

const dir = join(FIXTURES, 'grad');
const cases = (JSON.parse(readFileSync(join(dir, 'ops.json'), 'utf8')) as { ops: GradCase[] }).ops;
const file = join(dir, 'ops.safetensors');
const raw = loadSafetensors(new Uint8Array(readFileSync(file)), file);
const values = (key: string) => {
  const t = raw.get(key);
  if (!t) throw new Error(`fixture has no ${key}`);
  return toFloat32(t, key);
};
const num = (c: GradCase, k: string, d: number) => (c.params[k] as number | undefined) ?? d;
const dims = (v: unknown) => (v === null || v === undefined ? null : (v as number | number[]));

/** The op of a case, on named input tensors. */
function forward(c: GradCase, x: Record<string, Tensor>, labels: () => number[]): Tensor {
  const p = c.params;
  const pool = { stride: num(c, 'stride', num(c, 'kernel_size', 1)), padding: num(c, 'padding', 0), ceilMode: !!p.ceil_mode };
  switch (c.op) {
    case 'conv2d':
    case 'conv2d_residual_relu':
      return F.conv2d(x.x!, x.w!, x.b ?? null, {
        stride: num(c, 'stride', 1), padding: num(c, 'padding', 0), dilation: num(c, 'dilation', 1), groups: num(c, 'groups', 1),
        ...(c.op === 'conv2d_residual_relu' ? { residual: x.r!, act: 'relu' as const } : {}),
      });
    case 'rfconv2d':
      return F.rfConv2d(x.x!, x.w!, x.b ?? null, p.average_mode ? 'average' : 'normal', {
        stride: num(c, 'stride', 1), padding: num(c, 'padding', 0), dilation: num(c, 'dilation', 1), groups: num(c, 'groups', 1),
      });
    case 'conv2d_rectify_residual_relu':
      return F.conv2d(x.x!, x.w!, x.b!, {
        stride: num(c, 'stride', 1), padding: num(c, 'padding', 0), dilation: num(c, 'dilation', 1), groups: num(c, 'groups', 1),
        rectify: p.average_mode ? 'average' : 'normal', residual: x.r!, act: 'relu',
      });
    case 'batch_norm_train':
      return F.batchNorm(x.x!, x.rm!, x.rv!, x.weight!, x.bias!, { training: true, momentum: num(c, 'momentum', 0.1), eps: num(c, 'eps', 1e-5) });
    case 'relu': return F.relu(x.x!);
    case 'sigmoid': return F.sigmoid(x.x!);
    case 'softmax': return F.softmax(x.x!, num(c, 'dim', -1));
    case 'log_softmax': return F.logSoftmax(x.x!, num(c, 'dim', -1));
    case 'rsoftmax': return F.rSoftmax(x.x!, num(c, 'radix', 1), num(c, 'cardinality', 1));
    case 'radix_gap': return F.radixGap(x.x!, num(c, 'radix', 1));
    case 'radix_attend': return F.radixAttend(x.x!, x.att!, num(c, 'radix', 1));
    case 'add': return F.add(x.a!, x.b!);
    case 'sub': return F.sub(x.a!, x.b!);
    case 'mul': return F.mul(x.a!, x.b!);
    case 'div': return F.div(x.a!, x.b!);
    case 'sum': return F.sum(x.x!, dims(p.dim), !!p.keepdim);
    case 'mean': return F.mean(x.x!, dims(p.dim), !!p.keepdim);
    case 'avg_pool2d':
      return F.avgPool2d(x.x!, num(c, 'kernel_size', 1), { ...pool, countIncludePad: p.count_include_pad === undefined ? true : !!p.count_include_pad });
    case 'max_pool2d': return F.maxPool2d(x.x!, num(c, 'kernel_size', 1), pool);
    case 'adaptive_avg_pool2d': return F.adaptiveAvgPool2d(x.x!, 1);
    case 'linear': return F.linear(x.x!, x.w!, x.b ?? null);
    case 'interpolate':
      return F.interpolate(x.x!, {
        size: p.size as [number, number] | undefined, scaleFactor: p.scale_factor as number | undefined,
        mode: p.mode as 'nearest' | 'bilinear', alignCorners: p.align_corners as boolean | undefined,
      });
    case 'views': {
      const v = x.x!;
      return F.cat([v.narrow(1, 0, 2).transpose(2, 3).reshape(2, -1), v.narrow(1, 2, 1).flatten(1), v.permute(0, 3, 1, 2).reshape(2, -1)], 1);
    }
    case 'cross_entropy':
      return F.crossEntropy(x.logits!, labels(), { labelSmoothing: num(c, 'label_smoothing', 0), ...(p.ignore_index === undefined ? {} : { ignoreIndex: num(c, 'ignore_index', 0) }) });
    case 'soft_cross_entropy': return F.softCrossEntropy(x.logits!, x.targets!);
    default: throw new Error(`no runner for op ${c.op}`);
  }
}

const maxAbs = (v: ArrayLike<number>) => Array.from(v).reduce((m, a) => Math.max(m, Math.abs(a)), 0);

/** max over channels of 1/√(var + ε) of the batch statistics of x [N, C, …]. */
function maxInvStd(x: Tensor): number {
  const v = x.dataSync(), [n, c] = x.shape as [number, number];
  const hw = x.size / (n * c);
  let best = 0;
  for (let j = 0; j < c; j++) {
    const vals: number[] = [];
    for (let b = 0; b < n; b++) for (let i = 0; i < hw; i++) vals.push(v[(b * c + j) * hw + i]!);
    const mu = vals.reduce((a, q) => a + q, 0) / vals.length;
    const variance = vals.reduce((a, q) => a + (q - mu) ** 2, 0) / vals.length;
    best = Math.max(best, 1 / Math.sqrt(variance + 1e-5));
  }
  return best;
}

const ops = new Set(cases.map((c) => c.op));

test('a backend without an op\'s training kernel: one NotSupportedError naming the op, the kernel and the backend', () => {
  const bare = { name: 'bare' } as unknown as Backend<unknown>;
  assert.throws(() => gradKernel(bare, 'conv2dBackwardInput', 'conv2d backward'),
    (e: unknown) => e instanceof NotSupportedError && (e as Error).message === 'conv2d backward: the bare backend has no conv2dBackwardInput kernel (it does not train)');
  const trains = { name: 'trains', training: { sgdStep: () => {} } } as unknown as Backend<unknown>;
  assert.type(gradKernel(trains, 'sgdStep', 'SGD step'), 'function');
});
const jsBackend = await initBackend('js');

for (const { name: bk, backend } of await testBackends()) {
  const tensor = (data: ArrayLike<number>, shape: number[]) => makeTensor(data, shape, { backend });

  if (backend.asyncRead) {
    // A backend that reads back asynchronously (webgpu): every case, read with await, the same bits twice.
    for (const c of cases) {
      test(`${bk}: grad ${c.name} (${c.op}) matches torch.autograd, the same bits twice`, async () => {
        const run = async () => {
          const x: Record<string, Tensor> = {};
          for (const [k, shape] of Object.entries(c.inputs)) {
            if (c.op === 'cross_entropy' && k === 'labels') continue;
            x[k] = tensor(values(`${c.name}.${k}`), shape);
            if (c.grad.includes(k)) x[k]!.requiresGrad = true;
          }
          const out = forward(c, x, () => Array.from(values(`${c.name}.labels`)));
          const errOut = relErr((await out.data()) as Float32Array, values(`${c.name}.out`));
          out.backward(tensor(values(`${c.name}.gout`), [...out.shape]));
          const grads = await Promise.all(c.grad.map(async (k) => Float32Array.from((await x[k]!.grad!.data()) as Float32Array)));
          const stats = c.op === 'batch_norm_train' ? [(await x.rm!.data()) as Float32Array, (await x.rv!.data()) as Float32Array] : [];
          out.dispose();
          for (const t of Object.values(x)) t.dispose();
          return { errOut, grads, stats };
        };
        const a = await run(), b = await run();
        assert.ok(a.errOut < 1e-5, `forward ${a.errOut}`);
        a.stats.forEach((v, i) => {
          const k = i ? 'running_var' : 'running_mean', err = relErr(v, values(`${c.name}.${k}`));
          assert.ok(err < 1e-6, `${k}: ${err}`);
        });
        c.grad.forEach((k, i) => {
          const want = values(`${c.name}.grad.${k}`);
          let err = relErr(a.grads[i]!, want);
          if (c.op === 'batch_norm_train' && k === 'x') {
            // As on the CPU backends: measured against the size of the terms that cancel.
            const cpu = (name: string) => makeTensor(values(`${c.name}.${name}`), c.inputs[name]!, { backend: jsBackend });
            err *= maxAbs(want) / (maxAbs(values(`${c.name}.gout`)) * maxAbs(values(`${c.name}.weight`)) * maxInvStd(cpu('x')));
          }
          assert.ok(err < 1e-5, `grad ${k}: ${err}`);
          assert.equal(a.grads[i], b.grads[i], 'deterministic');
        });
      });
    }
    continue;
  }

  for (const c of cases) {
    test(`${bk}: grad ${c.name} (${c.op}) matches torch.autograd`, () => {
      tidy(() => {
        const x: Record<string, Tensor> = {};
        for (const [k, shape] of Object.entries(c.inputs)) {
          if (c.op === 'cross_entropy' && k === 'labels') continue;
          x[k] = tensor(values(`${c.name}.${k}`), shape);
          if (c.grad.includes(k)) x[k]!.requiresGrad = true;
        }
        const labels = () => Array.from(values(`${c.name}.labels`));
        const out = forward(c, x, labels);
        const want = values(`${c.name}.out`);
        assert.is(out.size, want.length, 'output size');
        const errOut = relErr(out.dataSync(), want);
        assert.ok(errOut < 1e-5, `forward ${errOut}`);
        const gout = tensor(values(`${c.name}.gout`), [...out.shape]);
        out.backward(gout);
        for (const k of c.grad) {
          const g = x[k]!.grad;
          assert.ok(g, `no gradient for ${k}`);
          const want = values(`${c.name}.grad.${k}`);
          let err = relErr(g!.dataSync(), want);
          if (c.op === 'batch_norm_train' && k === 'x') {
            // dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)) cancels almost exactly when a channel
            // has two values (bn_train_1x1); measure against the size of the cancelling terms.
            err *= maxAbs(want) / (maxAbs(gout.dataSync()) * maxAbs(x.weight!.dataSync()) * maxInvStd(x.x!));
          }
          assert.ok(err < 1e-5, `grad ${k}: ${err}`);
        }
        if (c.op === 'batch_norm_train') {
          for (const k of ['running_mean', 'running_var']) {
            const err = relErr(x[k === 'running_mean' ? 'rm' : 'rv']!.dataSync(), values(`${c.name}.${k}`));
            assert.ok(err < 1e-6, `${k}: ${err}`);
          }
        }
      });
    });
  }

  test(`${bk}: the fixtures cover every differentiable op family`, () => {
    for (const op of ['conv2d', 'rfconv2d', 'conv2d_rectify_residual_relu', 'batch_norm_train', 'max_pool2d', 'avg_pool2d', 'rsoftmax', 'radix_attend', 'cross_entropy', 'views']) {
      assert.ok(ops.has(op), op);
    }
  });
}

test.run();
