#!/usr/bin/env python3
"""Gradient and training-step fixtures from the seed's PyTorch reference.

Run: /usr/bin/python3 scripts/make_grad_fixtures.py [--reference ../shared/reference] [--ops-only]
(Debian's python3-torch 1.13; one CPU thread; deterministic: two runs give identical bytes).
Writes test/fixtures/grad/:

- ops.json + ops.safetensors: single-op backward cases. For case `n`, `n.<input>` holds each
  input (float32; integer labels as int32), `n.out` the forward output, `n.gout` the upstream
  gradient and `n.grad.<input>` = d sum(out * gout) / d input. Forward and backward run in
  float64 on the float32 inputs, results are cast to float32. Ops with a scalar result
  (params "scalar": true; also sum/mean over all dims) store out and gout as 0-d tensors, with
  gout = 1 for the losses. batch_norm_train cases also store `n.running_mean`/`n.running_var`
  after the call.
- networks.json + <name>.safetensors: one training step of the seed's ResNet (Bottleneck) per
  configuration, model.train(), synthetic float32 weights (make_fixtures.fill_synthetic) and
  input (make_fixtures.synthetic_input, not stored: regenerate it from "seed" and "input"),
  computed in float64 (the reference; PyTorch's own float32 distance from it is recorded as
  torch_f32_vs_f64_*), with a seed whose ReLU masks and max-pool choices are stable
  (kinks_stable),
  labels = arange(N) % num_classes, loss = cross_entropy(label_smoothing=0.1), then one step of
  recipe.make_optimizer. Stored: loss, labels, grad.<key> (+ idx.<key>, gradmax.<key>,
  gradsum.<key> when sampled), every BN's running stats and num_batches_tracked (int32) after the
  forward, param.<key> after the step (same indices as the grad) and delta_max.<key>. Tensors
  (parameters, gradients and running stats) over FULL_MAX elements are sampled at SAMPLE fixed
  flat indices (sorted randperm(n, Generator().manual_seed(0))[:SAMPLE]), stored as idx.<key>.
- train_cli.json + train_cli.safetensors + inputs.npy + labels.npy: two in-order SGD steps
  (batch 4) of a tiny ResNeSt for the `resnest train` CLI test: the two losses, the final
  parameters (sampled as above), running stats and num_batches_tracked.
- recipe.json + recipe.safetensors: recipe.mixup with given lam (images and soft targets),
  smooth_targets, and lr_at over a 40-step schedule with 7 warm-up steps.
- optim.json + optim.safetensors: torch.optim.SGD / AdamW over three steps with given
  gradients, two parameter groups: parameters after each step, the final state, and
  state_dict()'s param_groups.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

# make_fixtures has a main() guard: importing it only defines the synthetic-weight rule.
from make_fixtures import fill_synthetic, fnv1a, synthetic_input
from fixture_io import write_safetensors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'grad')

FULL_MAX = 256  # tensors with at most this many elements are stored whole
SAMPLE = 96       # elements sampled from larger ones (keeps test/fixtures under its ~5 MB budget)
NUM_CLASSES = 7
LABEL_SMOOTHING = 0.1


def dump_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)
        f.write('\n')


def f32(t):
    return t.detach().to(torch.float32).contiguous()


# ---- single ops -----------------------------------------------------------------------------

class OpCases:
    def __init__(self):
        self.tensors = {}
        self.cases = []

    def add(self, name, op, fn, inputs, grad, params=None, scalar=False):
        """inputs: ordered dict of float32 / int32 tensors; fn(dict of float64 / int64 tensors) -> out
        or (out, {extra name: tensor})."""
        assert not any(c['name'] == name for c in self.cases), name
        params = dict(params or {})
        if scalar:
            params['scalar'] = True
        x64 = {}
        for k, v in inputs.items():
            if v.dtype.is_floating_point:
                x64[k] = v.to(torch.float64).requires_grad_(k in grad)
            else:
                x64[k] = v.to(torch.int64)
        res = fn(x64)
        out, extra = res if isinstance(res, tuple) else (res, {})
        if scalar:
            gout = torch.ones((), dtype=torch.float32)
        else:
            g = torch.Generator().manual_seed(fnv1a(name + '.gout'))
            gout = torch.rand(out.shape, generator=g, dtype=torch.float32) * 2 - 1
        grads = torch.autograd.grad((out * gout.to(torch.float64)).sum(), [x64[k] for k in grad])
        for k, v in inputs.items():
            self.tensors[name + '.' + k] = v.contiguous()
        self.tensors[name + '.out'] = f32(out)
        self.tensors[name + '.gout'] = gout
        for k, gr in zip(grad, grads):
            self.tensors[name + '.grad.' + k] = f32(gr)
        for k, v in extra.items():
            self.tensors[name + '.' + k] = f32(v)
        self.cases.append({'name': name, 'op': op, 'params': params,
                           'inputs': {k: list(v.shape) for k, v in inputs.items()}, 'grad': list(grad)})


def rng(name):
    return torch.Generator().manual_seed(fnv1a(name))


def uni(g, shape, lo=-2.0, hi=2.0):
    return torch.rand(shape, generator=g, dtype=torch.float32) * (hi - lo) + lo


def conv_cases(oc):
    # name, x, w, bias?, stride, padding, dilation, groups
    specs = [
        ('conv_3x3_s1_p1', [2, 4, 6, 6], [6, 4, 3, 3], True, 1, 1, 1, 1),
        ('conv_3x3_s2_p1_odd', [2, 3, 9, 7], [4, 3, 3, 3], False, 2, 1, 1, 1),
        ('conv_3x3_p0', [1, 3, 5, 6], [2, 3, 3, 3], True, 1, 0, 1, 1),
        ('conv_1x1', [2, 8, 5, 5], [6, 8, 1, 1], True, 1, 0, 1, 1),
        ('conv_1x1_s2', [1, 6, 7, 6], [4, 6, 1, 1], False, 2, 0, 1, 1),
        ('conv_7x7_s2_p3', [2, 3, 13, 11], [4, 3, 7, 7], False, 2, 3, 1, 1),
        ('conv_dil2_p2', [2, 4, 9, 7], [4, 4, 3, 3], True, 1, 2, 2, 1),
        ('conv_g2_p1', [2, 4, 7, 7], [6, 2, 3, 3], True, 1, 1, 1, 2),
        ('conv_g4_s2_odd', [2, 8, 9, 7], [8, 2, 3, 3], False, 2, 1, 1, 4),
        ('conv_depthwise', [2, 6, 6, 5], [6, 1, 3, 3], True, 1, 1, 1, 6),
        ('conv_depthwise_x2', [1, 4, 5, 5], [8, 1, 3, 3], True, 1, 1, 1, 4),
        ('conv_g2_dil2_s2', [2, 6, 9, 9], [4, 3, 3, 3], True, 2, 2, 2, 2),
    ]
    for name, xs, ws, bias, stride, padding, dilation, groups in specs:
        g = rng(name)
        inputs = {'x': uni(g, xs), 'w': uni(g, ws)}
        if bias:
            inputs['b'] = uni(g, [ws[0]])
        p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        oc.add(name, 'conv2d', lambda d, p=p: F.conv2d(d['x'], d['w'], d.get('b'), **p), inputs, list(inputs), p)

    for name, xs, ws, stride, padding in [('conv_res_relu_3x3', [2, 4, 6, 5], [6, 4, 3, 3], 1, 1),
                                          ('conv_res_relu_1x1_s2', [2, 5, 7, 6], [3, 5, 1, 1], 2, 0)]:
        g = rng(name)
        x, w, b = uni(g, xs), uni(g, ws), uni(g, [ws[0]])
        p = dict(stride=stride, padding=padding, dilation=1, groups=1)
        oshape = list(F.conv2d(x, w, b, **p).shape)
        inputs = {'x': x, 'w': w, 'b': b, 'r': uni(g, oshape)}
        oc.add(name, 'conv2d_residual_relu',
               lambda d, p=p: F.relu(F.conv2d(d['x'], d['w'], d['b'], **p) + d['r']), inputs, ['x', 'w', 'b', 'r'], p)


def rfconv_cases(oc, R):
    """RFConv2d (rfconv.py): (conv + bias) * factor; and the fused form a folded BatchNorm
    gives, relu(conv * factor + shift + residual)."""
    # name, x, w, bias?, stride, padding, dilation, groups, average_mode
    specs = [
        ('rfconv_3x3_p1', [2, 4, 6, 6], [6, 4, 3, 3], True, 1, 1, 1, 1, False),
        ('rfconv_avg_3x3_s2_odd', [2, 3, 9, 7], [4, 3, 3, 3], False, 2, 1, 1, 1, True),
        ('rfconv_avg_p0', [1, 3, 5, 6], [2, 3, 3, 3], True, 1, 0, 1, 1, True),
        ('rfconv_7x7_s2_p3', [2, 3, 13, 11], [4, 3, 7, 7], False, 2, 3, 1, 1, False),
        ('rfconv_dil2_g2', [2, 4, 9, 7], [4, 2, 3, 3], True, 1, 2, 2, 2, False),
        ('rfconv_avg_dil4_p4', [1, 4, 7, 9], [4, 4, 3, 3], False, 1, 4, 4, 1, True),
    ]
    for name, xs, ws, bias, stride, padding, dilation, groups, avg in specs:
        g = rng(name)
        inputs = {'x': uni(g, xs), 'w': uni(g, ws)}
        if bias:
            inputs['b'] = uni(g, [ws[0]])
        p = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)

        def rf(d, p=p, avg=avg):
            m = R.rfconv.RFConv2d(d['x'].shape[1], d['w'].shape[0], d['w'].shape[2:], bias=False, average_mode=avg, **p)
            y = F.conv2d(d['x'], d['w'], d.get('b'), **p)
            return y * R.rfconv.rectify_factor(d['x'].shape[2], d['x'].shape[3], m.kernel_size, m.stride, m.padding,
                                               m.dilation, avg, dtype=y.dtype) if m.rectify else y
        oc.add(name, 'rfconv2d', rf, inputs, list(inputs), dict(p, average_mode=avg))

    for name, xs, ws, avg in [('rfconv_fused_relu', [2, 4, 6, 5], [6, 4, 3, 3], False),
                              ('rfconv_avg_fused_relu', [2, 3, 7, 6], [5, 3, 3, 3], True)]:
        g = rng(name)
        x, w, b = uni(g, xs), uni(g, ws), uni(g, [ws[0]])
        p = dict(stride=1, padding=1, dilation=1, groups=1)
        oshape = list(F.conv2d(x, w, b, **p).shape)
        inputs = {'x': x, 'w': w, 'b': b, 'r': uni(g, oshape)}

        def fused(d, p=p, avg=avg):
            f = R.rfconv.rectify_factor(d['x'].shape[2], d['x'].shape[3], 3, 1, 1, 1, avg, dtype=d['x'].dtype)
            return F.relu(F.conv2d(d['x'], d['w'], None, **p) * f + d['b'].view(1, -1, 1, 1) + d['r'])
        oc.add(name, 'conv2d_rectify_residual_relu', fused, inputs, ['x', 'w', 'b', 'r'], dict(p, average_mode=avg))


def norm_and_activation_cases(oc):
    for name, shape in [('bn_train_4d', [3, 4, 5, 6]), ('bn_train_1x1', [2, 3, 1, 1]), ('bn_train_2d', [6, 5])]:
        g = rng(name)
        c = shape[1]
        inputs = {'x': uni(g, shape), 'weight': uni(g, [c], 0.5, 1.5), 'bias': uni(g, [c], -0.2, 0.2),
                  'rm': uni(g, [c], -0.1, 0.1), 'rv': uni(g, [c], 0.5, 1.5)}
        p = dict(training=True, momentum=0.1, eps=1e-5)

        def bn(d, p=p):
            rm, rv = d['rm'].detach().clone(), d['rv'].detach().clone()
            y = F.batch_norm(d['x'], rm, rv, d['weight'], d['bias'], **p)
            return y, {'running_mean': rm, 'running_var': rv}
        oc.add(name, 'batch_norm_train', bn, inputs, ['x', 'weight', 'bias'], p)

    g = rng('relu')
    x = uni(g, [3, 4, 5])
    x.view(-1)[::6] = 0.0  # exact zeros: PyTorch's relu gradient at 0 is 0
    oc.add('relu', 'relu', lambda d: F.relu(d['x']), {'x': x}, ['x'])
    oc.add('sigmoid', 'sigmoid', lambda d: torch.sigmoid(d['x']), {'x': uni(rng('sigmoid'), [3, 4, 5], -4, 4)}, ['x'])

    for op, fn in [('softmax', F.softmax), ('log_softmax', F.log_softmax)]:
        for tag, shape, dim in [('2d', [4, 7], 1), ('4d_dim1', [2, 3, 4, 5], 1), ('4d_dimm1', [2, 3, 4, 5], -1)]:
            name = '%s_%s' % (op, tag)
            oc.add(name, op, lambda d, fn=fn, dim=dim: fn(d['x'], dim=dim), {'x': uni(rng(name), shape, -3, 3)},
                   ['x'], {'dim': dim})


def splat_cases(oc, R):
    # rSoftMax: input as fc2 gives it, [batch, card * radix * rest, 1, 1]; output [batch, card * radix * rest]
    # for radix > 1 (radix-major: view (B, card, radix, rest) -> transpose -> softmax over radix -> flatten),
    # but the sigmoid of the input, shape unchanged [batch, C, 1, 1], for radix 1.
    for radix, card, batch, rest in [(2, 1, 3, 4), (2, 2, 2, 3), (4, 2, 2, 2), (1, 2, 2, 3)]:
        name = 'rsoftmax_r%dc%d' % (radix, card)
        m = R.splat.rSoftMax(radix, card)
        oc.add(name, 'rsoftmax', lambda d, m=m: m(d['x']), {'x': uni(rng(name), [batch, card * radix * rest, 1, 1], -3, 3)},
               ['x'], {'radix': radix, 'cardinality': card})

    def gap(d, radix):
        x = d['x']
        return F.adaptive_avg_pool2d(sum(torch.split(x, x.shape[1] // radix, dim=1)), 1)

    def attend(d, radix):
        x, att = d['x'], d['att']
        if radix == 1:
            return att * x
        c = x.shape[1] // radix
        return sum(a * s for a, s in zip(torch.split(att, c, dim=1), torch.split(x, c, dim=1)))

    for radix, c, h, w in [(1, 3, 4, 5), (2, 3, 4, 3), (4, 2, 3, 3)]:
        name = 'radix_gap_r%d' % radix
        oc.add(name, 'radix_gap', lambda d, r=radix: gap(d, r), {'x': uni(rng(name), [2, radix * c, h, w])}, ['x'],
               {'radix': radix})
        name = 'radix_attend_r%d' % radix
        g = rng(name)
        inputs = {'x': uni(g, [2, radix * c, h, w]), 'att': uni(g, [2, radix * c, 1, 1], 0, 1)}
        oc.add(name, 'radix_attend', lambda d, r=radix: attend(d, r), inputs, ['x', 'att'], {'radix': radix})


def elementwise_cases(oc):
    shapes = [([2, 3, 4, 5], [3, 1, 1]), ([2, 3, 4, 5], [1, 3, 1, 5]), ([5], [2, 3, 4, 5]), ([2, 3, 1, 1], [2, 3, 4, 5]),
              ([4, 5], [1])]
    fns = {'add': torch.add, 'sub': torch.sub, 'mul': torch.mul, 'div': torch.div}
    for op, fn in fns.items():
        for i, (sa, sb) in enumerate(shapes):
            name = '%s_bcast%d' % (op, i)
            g = rng(name)
            a, b = uni(g, sa), uni(g, sb)
            if op == 'div':  # divisor away from 0: |b| in [0.5, 2.5), random sign
                b = (b.abs() + 0.5) * torch.where(uni(g, sb) < 0, -1.0, 1.0)
            oc.add(name, op, lambda d, fn=fn: fn(d['a'], d['b']), {'a': a, 'b': b}, ['a', 'b'])

    for op, fn in [('sum', torch.sum), ('mean', torch.mean)]:
        for i, (dim, keep) in enumerate([(None, False), ([1], False), ([2, 3], True), ([0, 2], False), ([-1], True)]):
            name = '%s_%d' % (op, i)
            f = (lambda d, fn=fn: fn(d['x'])) if dim is None else (lambda d, fn=fn, dim=dim, keep=keep: fn(d['x'], dim=dim, keepdim=keep))
            oc.add(name, op, f, {'x': uni(rng(name), [2, 3, 4, 5])}, ['x'], {'dim': dim, 'keepdim': keep})


def pool_cases(oc):
    # avg_pool2d with ceil_mode and padding: a window that starts inside but runs past the padded edge is
    # divided by its size clipped to the padded input (count_include_pad) or to the real input.
    avg = [
        ('avg_k3s2p1_cip', [2, 3, 8, 7], dict(kernel_size=3, stride=2, padding=1, ceil_mode=False, count_include_pad=True)),
        ('avg_k2s2_ceil_nocip_odd', [1, 3, 7, 5], dict(kernel_size=2, stride=2, padding=0, ceil_mode=True, count_include_pad=False)),
        ('avg_k3s1p1', [2, 2, 5, 4], dict(kernel_size=3, stride=1, padding=1, ceil_mode=False, count_include_pad=True)),
        ('avg_k3s2p1_ceil_cip', [1, 2, 8, 7], dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)),
        ('avg_k3s2p1_ceil_nocip', [1, 2, 8, 7], dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ]
    for name, shape, p in avg:
        oc.add(name, 'avg_pool2d', lambda d, p=p: F.avg_pool2d(d['x'], **p), {'x': uni(rng(name), shape)}, ['x'], p)

    # max_pool2d: padding is -inf. With ties (the small-integer inputs) PyTorch's CPU kernel sends the gradient
    # to the FIRST maximum of the window in row-major order (it only replaces on a strictly greater value);
    # overlapping windows accumulate into the same element.
    mx = [
        ('max_k3s2p1', [2, 3, 8, 7], dict(kernel_size=3, stride=2, padding=1, ceil_mode=False), False),
        ('max_k3s2p1_ceil', [1, 2, 8, 7], dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), False),
        ('max_k2s2_ceil_odd', [1, 2, 7, 5], dict(kernel_size=2, stride=2, padding=0, ceil_mode=True), False),
        ('max_k3s2p1_ties', [2, 3, 7, 7], dict(kernel_size=3, stride=2, padding=1, ceil_mode=False), True),
        ('max_k2s2_ties', [1, 2, 6, 6], dict(kernel_size=2, stride=2, padding=0, ceil_mode=False), True),
        ('max_k3s1p1_ties', [1, 2, 5, 6], dict(kernel_size=3, stride=1, padding=1, ceil_mode=False), True),
    ]
    for name, shape, p, ties in mx:
        g = rng(name)
        x = torch.randint(0, 3, shape, generator=g).to(torch.float32) if ties else uni(g, shape)
        oc.add(name, 'max_pool2d', lambda d, p=p: F.max_pool2d(d['x'], **p), {'x': x}, ['x'], p)

    for name, shape in [('adaptive_avg_1', [2, 3, 5, 7]), ('adaptive_avg_1_sq', [1, 4, 4, 4])]:
        oc.add(name, 'adaptive_avg_pool2d', lambda d: F.adaptive_avg_pool2d(d['x'], 1), {'x': uni(rng(name), shape)},
               ['x'], {'output_size': 1})


def misc_cases(oc, R):
    for name, xs, ws, bias in [('linear_2d', [5, 7], [4, 7], True), ('linear_3d', [2, 3, 7], [3, 7], True),
                               ('linear_nobias', [5, 7], [4, 7], False)]:
        g = rng(name)
        inputs = {'x': uni(g, xs), 'w': uni(g, ws)}
        if bias:
            inputs['b'] = uni(g, [ws[0]])
        oc.add(name, 'linear', lambda d: F.linear(d['x'], d['w'], d.get('b')), inputs, list(inputs))

    def views(d):
        x = d['x']
        return torch.cat([x.narrow(1, 0, 2).transpose(2, 3).reshape(2, -1), x.narrow(1, 2, 1).flatten(1),
                          x.permute(0, 3, 1, 2).reshape(2, -1)], dim=1)
    oc.add('views_cat', 'views', views, {'x': uni(rng('views_cat'), [2, 3, 4, 5])}, ['x'])

    for s in (0.0, 0.1):
        name = 'cross_entropy_ls%g' % s
        g = rng(name)
        inputs = {'logits': uni(g, [6, 7], -3, 3), 'labels': torch.randint(0, 7, [6], generator=g).to(torch.int32)}
        oc.add(name, 'cross_entropy', lambda d, s=s: F.cross_entropy(d['logits'], d['labels'], label_smoothing=s),
               inputs, ['logits'], {'label_smoothing': s}, scalar=True)

    # Per pixel, as segmentation trains: logits [N, K, H, W], labels [N, H, W] with the toolkit's
    # ignore index -1 on some pixels (the mean is over the others).
    for s in (0.0, 0.1):
        name = 'cross_entropy_pixels_ignore_ls%g' % s
        g = rng(name)
        labels = torch.randint(-1, 5, [2, 3, 4], generator=g)
        inputs = {'logits': uni(g, [2, 5, 3, 4], -3, 3), 'labels': labels.to(torch.int32)}
        oc.add(name, 'cross_entropy', lambda d, s=s: F.cross_entropy(d['logits'], d['labels'], label_smoothing=s, ignore_index=-1),
               inputs, ['logits'], {'label_smoothing': s, 'ignore_index': -1}, scalar=True)

    name, lam, eps = 'soft_cross_entropy_mixup', 0.3, 0.1
    g = rng(name)
    logits = uni(g, [6, 7], -3, 3)
    labels = torch.randint(0, 7, [6], generator=g)
    t = R.recipe.smooth_targets(labels, 7, eps)
    targets = lam * t + (1 - lam) * t.flip(0)  # float32, as R.recipe.mixup mixes them
    oc.add(name, 'soft_cross_entropy', lambda d: R.recipe.soft_cross_entropy(d['logits'], d['targets']),
           {'logits': logits, 'targets': targets}, ['logits'], {'lam': lam, 'eps': eps, 'num_classes': 7}, scalar=True)


def resize_cases(oc):
    # F.interpolate as the segmentation heads use it (bilinear, align_corners=True), PyTorch's default
    # bilinear, a scale factor, an output of one pixel, and nearest (a doubling, and sizes whose float32
    # scale times the index is never near an integer, where float64 and float32 could floor differently).
    specs = [
        ('interp_bilinear_ac_up', [2, 3, 5, 4], dict(size=(9, 7), mode='bilinear', align_corners=True)),
        ('interp_bilinear_ac_down', [1, 2, 9, 8], dict(size=(4, 5), mode='bilinear', align_corners=True)),
        ('interp_bilinear_ac_from1', [1, 3, 1, 1], dict(size=(3, 4), mode='bilinear', align_corners=True)),
        ('interp_bilinear_up', [2, 3, 5, 4], dict(size=(9, 7), mode='bilinear', align_corners=False)),
        ('interp_bilinear_down', [1, 2, 9, 8], dict(size=(4, 5), mode='bilinear', align_corners=False)),
        ('interp_bilinear_to1', [1, 2, 3, 4], dict(size=(1, 1), mode='bilinear', align_corners=False)),
        ('interp_bilinear_scale2', [1, 2, 4, 5], dict(scale_factor=2.0, mode='bilinear', align_corners=False)),
        ('interp_nearest_up2', [1, 2, 4, 5], dict(scale_factor=2.0, mode='nearest')),
        ('interp_nearest_size', [2, 2, 4, 6], dict(size=(7, 4), mode='nearest')),
    ]
    for name, shape, p in specs:
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in p.items()}
        oc.add(name, 'interpolate', lambda d, p=p: F.interpolate(d['x'], **p), {'x': uni(rng(name), shape)}, ['x'], params)


def write_ops(R):
    oc = OpCases()
    conv_cases(oc)
    norm_and_activation_cases(oc)
    splat_cases(oc, R)
    elementwise_cases(oc)
    pool_cases(oc)
    misc_cases(oc, R)
    rfconv_cases(oc, R)
    resize_cases(oc)
    write_safetensors(os.path.join(OUT, 'ops.safetensors'), oc.tensors)
    dump_json(os.path.join(OUT, 'ops.json'), {
        'torch': torch.__version__,
        'notes': 'forward and backward in float64 on the float32 inputs, stored as float32; grad.<input> = '
                 'd sum(out * gout) / d input; scalar results (sum/mean over all dims, losses) are 0-d tensors, '
                 'gout = 1 for "scalar": true cases',
        'ops': oc.cases})
    return len(oc.cases)


# ---- whole networks ---------------------------------------------------------------------------

DEEP = dict(deep_stem=True, avg_down=True, avd=True)

# name, layers, ResNet kwargs (besides layers / num_classes / block), input shape, seed.
# final_drop stays 0 everywhere: dropout makes a step random, so it is checked elsewhere.
NETWORKS = [
    ('r2c1_deep_avgdown', [1, 1, 1, 1], dict(radix=2, groups=1, bottleneck_width=8, stem_width=8, **DEEP), [4, 3, 32, 32], 3001),
    ('r4c2_avdfirst', [1, 1, 1, 1], dict(radix=4, groups=2, bottleneck_width=8, stem_width=12, avd_first=True, **DEEP), [4, 3, 32, 32], 3002),
    ('r1c4_dilated', [1, 1, 1, 2], dict(radix=1, groups=4, bottleneck_width=8, dilated=True, avd=True, avg_down=True), [4, 3, 32, 32], 3003),
    ('r0c1_plain_l2', [2, 1, 1, 1], dict(radix=0, groups=1, bottleneck_width=16), [2, 3, 40, 36], 3004),
    ('r2c2_dilation2', [1, 1, 1, 2], dict(radix=2, groups=2, bottleneck_width=8, stem_width=16, dilation=2, deep_stem=True, avd=True), [4, 3, 32, 32], 3005),
    ('r2c4_lastgamma', [1, 1, 1, 1], dict(radix=2, groups=4, bottleneck_width=8, stem_width=8, deep_stem=True, last_gamma=True), [4, 3, 32, 32], 3006),
    ('r0c2_dilation4_avgdown', [1, 1, 1, 1], dict(radix=0, groups=2, bottleneck_width=8, stem_width=8, dilation=4, **DEEP), [4, 3, 32, 32], 3007),
    # DropBlock in layers 3-4 (after bn1, bn0 / bn2 and bn3) with given noise: k = 3 at 3x3, k = 2 at 2x2
    ('r2c1_dropblock', [1, 1, 2, 1], dict(radix=2, groups=1, bottleneck_width=8, stem_width=8, dropblock_prob=0.3, **DEEP), [4, 3, 48, 48], 3008),
    ('r0c1_dropblock', [1, 1, 1, 1], dict(radix=0, groups=1, bottleneck_width=8, dropblock_prob=0.3, **DEEP), [4, 3, 48, 48], 3009),
    # Rectified convolution (RFConv2d in the stem and conv2): normal / average mode, radix 0/1/2, 3x3 and 7x7 stems
    ('rfconv_r2c2_deep', [1, 1, 1, 1], dict(radix=2, groups=2, bottleneck_width=8, stem_width=8, rectified_conv=True, **DEEP),
     [4, 3, 32, 32], 3010),
    ('rfconv_avg_r0_dilation2', [1, 1, 1, 1], dict(radix=0, groups=1, bottleneck_width=8, dilation=2, rectified_conv=True,
                                                   rectify_avg=True), [2, 3, 36, 36], 3011),
    ('rfconv_avg_r1c2_deep', [1, 1, 1, 1], dict(radix=1, groups=2, bottleneck_width=8, stem_width=8, rectified_conv=True,
                                                rectify_avg=True, **DEEP), [4, 3, 28, 28], 3012),
]


def sample_idx(n):
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:SAMPLE].sort().values


def build(R, layers, kwargs, seed, in_shape=None):
    model = R.resnet.ResNet(R.resnet.Bottleneck, layers, num_classes=NUM_CLASSES, **kwargs)
    fill_synthetic(model, seed)
    model.train()
    if kwargs.get('dropblock_prob', 0) > 0:
        set_dropblock_noise(R, model, in_shape, seed)
    return model


def set_dropblock_noise(R, model, in_shape, seed):
    """Gives every DropBlock2D its uniform noise [1, C, H, W] (module.noise), keyed by its path:
    the masks are then fixed, and the TypeScript side sets the same noise (noise.<path>)."""
    shapes = {}
    hooks = [m.register_forward_pre_hook(lambda m, i, name=name: shapes.__setitem__(name, i[0].shape))
             for name, m in model.named_modules() if isinstance(m, R.dropblock.DropBlock2D)]
    saved = copy.deepcopy(model.state_dict())  # the dry run must not move the running stats
    with torch.no_grad():
        model(synthetic_input(in_shape, seed))
    model.load_state_dict(saved)
    for h in hooks:
        h.remove()
    for name, m in model.named_modules():
        if isinstance(m, R.dropblock.DropBlock2D):
            g = torch.Generator().manual_seed(fnv1a(name) ^ seed)
            m.noise = torch.rand((1, *shapes[name][1:]), generator=g)


def bn_buffers(model):
    """Running stats (sampled at idx.<key> over FULL_MAX elements, as parameters) and num_batches_tracked."""
    out = {}
    for k, v in model.state_dict().items():
        if k.endswith('running_mean') or k.endswith('running_var'):
            if v.numel() <= FULL_MAX:
                out[k] = f32(v)
            else:
                i = sample_idx(v.numel())
                out[k] = f32(v[i])
                out['idx.' + k] = i.to(torch.int32)
        elif k.endswith('num_batches_tracked'):
            out[k] = v.to(torch.int32)  # int64 0-d in torch
    return out


def forward_backward(model, x, labels):
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), labels, label_smoothing=LABEL_SMOOTHING)
    loss.backward()
    return loss


def make_opt(R, model, lr):
    return R.recipe.make_optimizer(model, lr=lr, momentum=0.9, weight_decay=1e-4, nesterov=True, no_bias_decay=True)


def rel_diff(a32, a64, floor):
    """max|a32 - a64| / max|a64| over tensors whose max|a64| is above floor."""
    worst = 0.0
    for k in a64:
        m = a64[k].abs().max().item()
        if m > floor:
            worst = max(worst, (a32[k].double() - a64[k]).abs().max().item() / m)
    return worst


SEED_TRIES = 40
PERTURB = 1e-6  # relative size of the perturbations a fixture's kinks must survive
PERTURB_RUNS = 2


def kinks(model, x):
    """Every ReLU's mask (input > 0) and every max-pool's choice of maximum on one forward."""
    out = []

    def relu_hook(_m, inp):
        out.append(inp[0].detach() > 0)

    def pool_hook(m, inp):
        out.append(F.max_pool2d(inp[0].detach(), m.kernel_size, m.stride, m.padding, return_indices=True)[1])

    hooks = [mod.register_forward_pre_hook(relu_hook) for mod in model.modules() if isinstance(mod, torch.nn.ReLU)]
    hooks += [mod.register_forward_pre_hook(pool_hook) for mod in model.modules() if isinstance(mod, torch.nn.MaxPool2d)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return out


def kinks_stable(model, x, seed):
    """Whether perturbing every weight and input by a relative PERTURB (float32's rounding, with
    room) leaves every ReLU mask and max-pool choice of the float64 forward unchanged. A ReLU
    input or a window's runner-up that close to the edge makes the gradient depend on the last
    bits of the forward (one flipped element moves upstream gradients by percents), which no
    float32 implementation can match: such a fixture would test rounding, not gradients."""
    m64 = copy.deepcopy(model).double()
    ref = kinks(m64, x.double())
    g = torch.Generator().manual_seed(seed)
    for _ in range(PERTURB_RUNS):
        mp = copy.deepcopy(m64)
        with torch.no_grad():
            for t in mp.state_dict().values():
                if t.dtype == torch.float64:
                    t.mul_(1 + PERTURB * (2 * torch.rand(t.shape, generator=g, dtype=torch.float64) - 1))
        xp = x.double() * (1 + PERTURB * (2 * torch.rand(x.shape, generator=g, dtype=torch.float64) - 1))
        if any(not torch.equal(a, b) for a, b in zip(ref, kinks(mp, xp))):
            return False
    return True


def pick_seed(R, layers, kwargs, in_shape, seed):
    """The first seed from `seed` on whose forward every kink is stable (kinks_stable)."""
    for s in range(seed, seed + SEED_TRIES):
        if kinks_stable(build(R, layers, kwargs, s, in_shape), synthetic_input(in_shape, s), s):
            return s
    raise RuntimeError(f'no seed in [{seed}, {seed + SEED_TRIES}) keeps the kinks of {layers} {kwargs} stable')


def run_network(R, name, layers, kwargs, in_shape, seed):
    seed = pick_seed(R, layers, kwargs, in_shape, seed)
    model = build(R, layers, kwargs, seed, in_shape)
    model64 = copy.deepcopy(model).double()
    x = synthetic_input(in_shape, seed)
    labels = torch.arange(in_shape[0]) % NUM_CLASSES
    keys = [k for k, _ in model.named_parameters()]
    before = {k: p.detach().clone() for k, p in model.named_parameters()}

    # float32 in PyTorch: only to say how far float32 itself lands from the reference
    loss = forward_backward(model, x, labels)
    grads32 = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    make_opt(R, model, 0.1).step()
    delta32 = {k: p.detach() - before[k] for k, p in model.named_parameters()}

    # the reference: the same float32 weights and input, computed in float64, stored as float32
    loss64 = forward_backward(model64, x.double(), labels)
    t = {'loss': f32(loss64).reshape(1), 'labels': labels.to(torch.int32)}
    idx = {}
    for k, p in model64.named_parameters():
        g = p.grad.reshape(-1)
        if g.numel() <= FULL_MAX:
            t['grad.' + k] = f32(p.grad)
        else:
            idx[k] = sample_idx(g.numel())
            t['grad.' + k] = f32(g[idx[k]])
            t['idx.' + k] = idx[k].to(torch.int32)
            t['gradmax.' + k] = f32(g.abs().max()).reshape(1)
            t['gradsum.' + k] = f32(g.sum()).reshape(1)
    t.update(bn_buffers(model64))
    grads64 = {k: p.grad.detach().clone() for k, p in model64.named_parameters()}
    top = max(g.abs().max().item() for g in grads64.values())
    zero = [k for k in keys if grads64[k].abs().max().item() <= 1e-6 * top]
    make_opt(R, model64, 0.1).step()
    noises = [name for name, m in model.named_modules() if isinstance(m, R.dropblock.DropBlock2D)]
    for path in noises:
        t['noise.' + path] = f32(model.get_submodule(path).noise).reshape(-1)
    for k, p in model64.named_parameters():
        v = p.detach()
        t['param.' + k] = f32(v.reshape(-1)[idx[k]]) if k in idx else f32(v)
        t['delta_max.' + k] = f32((v - before[k].double()).abs().max()).reshape(1)
    delta64 = {k: p.detach() - before[k].double() for k, p in model64.named_parameters()}

    path = os.path.join(OUT, name + '.safetensors')
    write_safetensors(path, t)
    return {
        'name': name, 'layers': layers, 'kwargs': kwargs, 'num_classes': NUM_CLASSES, 'input': in_shape, 'seed': seed,
        'label_smoothing': LABEL_SMOOTHING, 'lr': 0.1, 'momentum': 0.9, 'weight_decay': 1e-4, 'nesterov': True,
        'no_bias_decay': True, 'param_keys': keys,
        'num_params': sum(p.numel() for p in model.parameters()),
        'loss': loss.item(),
        'torch_f32_vs_f64_grad': float('%.3g' % rel_diff(grads32, grads64, 1e-6 * top)),
        'torch_f32_vs_f64_step': float('%.3g' % rel_diff(delta32, delta64, 1e-6 * max(d.abs().max().item() for d in delta64.values()))),
        'torch_f32_vs_f64_loss': float('%.3g' % abs(loss.item() - loss64.item())),
        'zero_grad_params': zero,
        'dropblock_noise': noises,
        'bytes': os.path.getsize(path),
    }


# ---- the `resnest train` CLI fixture --------------------------------------------------------

CLI = dict(layers=[1, 1, 1, 1], kwargs=dict(radix=2, groups=1, bottleneck_width=8, deep_stem=True, stem_width=8,
                                            avg_down=True, avd=True),
           weights_seed=5, input_seed=7, input=[8, 3, 24, 24], batch_size=4, lr=0.02)


def train_two_steps(R, model, x, labels):
    opt = make_opt(R, model, CLI['lr'])
    losses = []
    b = CLI['batch_size']
    for i in range(0, x.shape[0], b):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[i:i + b]), labels[i:i + b], label_smoothing=LABEL_SMOOTHING)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def write_train_cli(R):
    x = synthetic_input(CLI['input'], CLI['input_seed'])
    seed = next(s for s in range(CLI['weights_seed'], CLI['weights_seed'] + SEED_TRIES)
                if kinks_stable(build(R, CLI['layers'], CLI['kwargs'], s), x, s))
    model = build(R, CLI['layers'], CLI['kwargs'], seed)
    model64 = copy.deepcopy(model).double()
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    labels = torch.arange(CLI['input'][0]) % NUM_CLASSES
    losses = train_two_steps(R, model, x, labels)
    losses64 = train_two_steps(R, model64, x.double(), labels)

    # the reference is the float64 run (as for the networks)
    t = {'losses': torch.tensor(losses64, dtype=torch.float32)}
    for k, p in model64.named_parameters():
        v = p.detach().reshape(-1)
        t['moved.' + k] = f32((p.detach() - before[k].double()).abs().max()).reshape(1)
        if v.numel() <= FULL_MAX:
            t['param.' + k] = f32(p)
        else:
            i = sample_idx(v.numel())
            t['param.' + k] = f32(v[i])
            t['idx.' + k] = i.to(torch.int32)
    t.update(bn_buffers(model64))
    write_safetensors(os.path.join(OUT, 'train_cli.safetensors'), t)
    np.save(os.path.join(OUT, 'inputs.npy'), x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, 'labels.npy'), labels.numpy().astype(np.int64))

    d32 = {k: p.detach() - before[k] for k, p in model.named_parameters()}
    d64 = {k: p.detach() - before[k].double() for k, p in model64.named_parameters()}
    floor = 1e-6 * max(d.abs().max().item() for d in d64.values())
    dump_json(os.path.join(OUT, 'train_cli.json'), {
        'layers': CLI['layers'], 'kwargs': CLI['kwargs'], 'num_classes': NUM_CLASSES,
        'weights_seed': seed, 'input_seed': CLI['input_seed'], 'input': CLI['input'],
        'inputs_file': 'inputs.npy', 'labels_file': 'labels.npy',
        'epochs': 1, 'batch_size': CLI['batch_size'], 'steps': 2, 'shuffle': False, 'augmentation': None,
        'lr': CLI['lr'], 'lr_schedule': 'constant', 'momentum': 0.9, 'nesterov': True, 'weight_decay': 1e-4,
        'no_bias_decay': True, 'label_smoothing': LABEL_SMOOTHING,
        'losses': losses64, 'losses_f32': losses,
        'param_keys': [k for k, _ in model.named_parameters()],
        'torch_f32_vs_f64_params': float('%.3g' % rel_diff(d32, d64, floor)),
        'notes': 'torch_f32_vs_f64_params = max over parameters of max|moved32 - moved64| / max|moved64| after the '
                 'two steps (moved = final - initial; moved.<key> = max |moved64|); values are the float64 run; '
                 'param.<key> sampled at idx.<key> when over %d elements' % FULL_MAX,
    })
    return losses


# ---- optimizers --------------------------------------------------------------------------------

OPTIM_CASES = [
    ('sgd_momentum_wd', 'SGD', dict(lr=0.1, momentum=0.9, weight_decay=1e-2)),
    ('sgd_nesterov', 'SGD', dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    ('sgd_plain', 'SGD', dict(lr=0.2)),
    ('adamw_default', 'AdamW', dict(lr=1e-2)),
    ('adamw_wd', 'AdamW', dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
]
OPTIM_STEPS = 3


def write_optim():
    """torch.optim over OPTIM_STEPS steps with given gradients: two parameters ([5, 3] and [4]) in
    two groups (the second with weight_decay 0), the parameters after each step, the state
    after the last, and state_dict()'s layout."""
    t, cases = {}, []
    for name, cls, kw in OPTIM_CASES:
        g = torch.Generator().manual_seed(fnv1a(name))
        p0 = [torch.rand(5, 3, generator=g) * 2 - 1, torch.rand(4, generator=g) * 2 - 1]
        params = [torch.nn.Parameter(p.clone()) for p in p0]
        opt = getattr(torch.optim, cls)([{'params': [params[0]]}, {'params': [params[1]], 'weight_decay': 0.0}], **kw)
        for i, p in enumerate(p0):
            t[f'{name}.p{i}'] = p
        for step in range(OPTIM_STEPS):
            for i, p in enumerate(params):
                p.grad = torch.rand(p.shape, generator=g) * 2 - 1
                t[f'{name}.step{step}.grad{i}'] = p.grad.clone()
            opt.step()
            for i, p in enumerate(params):
                t[f'{name}.step{step}.p{i}'] = p.detach().clone()
        sd = opt.state_dict()
        for idx, st in sd['state'].items():
            for k, v in st.items():
                if v is None:  # SGD without momentum keeps momentum_buffer = None
                    continue
                t[f'{name}.state.{idx}.{k}'] = v.detach().clone().to(torch.float32).reshape(-1)
        groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in pg.items()} for pg in sd['param_groups']]
        cases.append({'name': name, 'optimizer': cls, 'kwargs': {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()},
                      'steps': OPTIM_STEPS, 'param_groups': groups,
                      'state_keys': {str(i): sorted(k for k, v in st.items() if v is not None) for i, st in sd['state'].items()}})
    write_safetensors(os.path.join(OUT, 'optim.safetensors'), t)
    dump_json(os.path.join(OUT, 'optim.json'), {'torch': torch.__version__, 'cases': cases})
    return len(cases)


# ---- the recipe's pieces ---------------------------------------------------------------------

def write_recipe(R):
    """recipe.mixup with a given lam, label smoothing's targets, and lr_at over a short schedule."""
    g = torch.Generator().manual_seed(fnv1a('recipe'))
    x = torch.rand(5, 3, 4, 3, generator=g) * 2 - 1
    labels = torch.tensor([3, 0, 6, 3, 1])
    t = {'mixup.x': x, 'mixup.labels': labels.to(torch.int32)}
    for lam in (0.3, 0.85):
        mx, mt, _ = R.recipe.mixup(x, labels, NUM_CLASSES, alpha=0.2, eps=0.1, lam=lam)
        t[f'mixup.{lam}.x'] = mx
        t[f'mixup.{lam}.targets'] = mt
    t['smooth.targets'] = R.recipe.smooth_targets(labels, NUM_CLASSES, 0.1)
    lrs = [R.recipe.lr_at(s, 40, 7, 0.4) for s in range(40)]
    write_safetensors(os.path.join(OUT, 'recipe.safetensors'), t)
    dump_json(os.path.join(OUT, 'recipe.json'), {'lams': [0.3, 0.85], 'num_classes': NUM_CLASSES, 'eps': 0.1,
                                                  'lr_at': {'total': 40, 'warmup': 7, 'base': 0.4, 'values': lrs}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reference', default=os.path.join(ROOT, '..', 'shared', 'reference'))
    ap.add_argument('--ops-only', action='store_true', help='write ops.json and ops.safetensors only')
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.reference))
    import resnest_ref as R
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    print('ops:', write_ops(R), 'cases')
    if args.ops_only:
        return
    nets = []
    for name, layers, kwargs, in_shape, seed in NETWORKS:
        nets.append(run_network(R, name, layers, kwargs, in_shape, seed))
        e = nets[-1]
        print('%-24s params %8d  loss %.5f  f32/f64 grad %.2e step %.2e  %d bytes  zero-grad %s' % (
            name, e['num_params'], e['loss'], e['torch_f32_vs_f64_grad'], e['torch_f32_vs_f64_step'], e['bytes'],
            e['zero_grad_params']))
    dump_json(os.path.join(OUT, 'networks.json'), {
        'torch': torch.__version__, 'full_max': FULL_MAX, 'sample': SAMPLE,
        'notes': 'final_drop is 0 in every config (dropout would make the step random). torch_f32_vs_f64_grad = max '
                 'over parameters of max|grad32 - grad64| / max|grad64|, skipping zero_grad_params (float64 grad at '
                 'most 1e-6 of the largest: fc1 biases feeding a training-mode BatchNorm, zero up to rounding); '
                 'torch_f32_vs_f64_step is the same for param_after - param_before.',
        'networks': nets})
    print('train_cli losses:', write_train_cli(R))
    print('optim:', write_optim(), 'cases')
    write_recipe(R)


if __name__ == '__main__':
    main()
