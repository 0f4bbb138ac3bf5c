#!/usr/bin/env python3
"""Parity fixtures from the seed's PyTorch reference.

Run: /usr/bin/python3 scripts/make_fixtures.py [--reference ../shared/reference]
(Debian's python3-torch 1.13). Writes test/fixtures/parity/.

Whole networks are too large to commit, so their weights are synthetic and reproducible:
every state-dict tensor is drawn from a counter-based hash keyed by its name, a rule that
test/helpers/synthetic.ts implements identically. A fixture then holds only the expected
outputs (logits, stage features, one SplAtConv2d's intermediates) as safetensors, plus a
line in manifest.json with the configuration. Small modules are also saved as real
checkpoints (.pth zip, .pth legacy, .safetensors) to test the loaders end to end.
"""
import argparse
import json
import os
import sys

import torch

from fixture_io import canonicalize_legacy_keys, randomise_bn, write_safetensors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'parity')
MASK = 0xFFFFFFFF


# ---- the synthetic-weight rule (mirrored in test/helpers/synthetic.ts) ----------------------

def fnv1a(s):
    h = 0x811C9DC5
    for ch in s.encode('utf-8'):
        h = ((h ^ ch) * 0x01000193) & MASK
    return h


def hash32(x):
    """lowbias32 over an int64 tensor of 32-bit values (products wrap mod 2^64; we keep 32 bits)."""
    x = (x ^ (x >> 16)) & MASK
    x = (x * 0x7FEB352D) & MASK
    x = (x ^ (x >> 15)) & MASK
    x = (x * 0x846CA68B) & MASK
    return (x ^ (x >> 16)) & MASK


def uniform(key, n, lo, hi, seed):
    base = (fnv1a(key) ^ seed) & MASK
    idx = (torch.arange(n, dtype=torch.int64) + base) & MASK
    u = hash32(idx).to(torch.float64) / 4294967296.0
    return (lo + (hi - lo) * u).to(torch.float32)


def synthetic_value(key, shape, keys, seed):
    n = 1
    for d in shape:
        n *= d
    prefix = key[: key.rfind('.') + 1]
    is_bn = (prefix + 'running_mean') in keys
    name = key[len(prefix):]
    if name == 'running_mean':
        lo, hi = -0.1, 0.1
    elif name == 'running_var':
        lo, hi = 0.5, 1.5
    elif name == 'weight' and is_bn and key.endswith('.bn3.weight'):
        lo, hi = 0.1, 0.4  # small last-BN gammas keep deep residual stacks well conditioned, as in trained nets
    elif name == 'weight' and is_bn:
        lo, hi = 0.5, 1.5
    elif name == 'bias' and is_bn:
        lo, hi = -0.2, 0.2
    elif name == 'bias':
        lo, hi = -0.1, 0.1
    elif name == 'weight' and len(shape) == 4:
        a = (6.0 / (shape[1] * shape[2] * shape[3])) ** 0.5
        lo, hi = -a, a
    elif name == 'weight' and len(shape) == 2:
        a = (3.0 / shape[1]) ** 0.5
        lo, hi = -a, a
    else:
        raise ValueError('no synthetic rule for ' + key)
    return uniform(key, n, lo, hi, seed).reshape(shape)


def fill_synthetic(model, seed):
    sd = model.state_dict()
    keys = set(sd.keys())
    new = {}
    for k, v in sd.items():
        if k.endswith('num_batches_tracked'):
            new[k] = v
        else:
            new[k] = synthetic_value(k, list(v.shape), keys, seed)
    model.load_state_dict(new)


def synthetic_input(shape, seed):
    n = 1
    for d in shape:
        n *= d
    return uniform('__input__', n, -1.0, 1.0, seed).reshape(shape)


# ---- writing -----------------------------------------------------------------------------------

# ---- fixtures ------------------------------------------------------------------------------------

RESNEST = dict(radix=2, groups=1, bottleneck_width=64, deep_stem=True, stem_width=32, avg_down=True, avd=True, avd_first=False)
FAST = dict(deep_stem=True, stem_width=32, avg_down=True, avd=True, avd_first=True)

# name, layers, ResNet kwargs, input shape, record splat intermediates at, record features
NETWORKS = [
    ('resnest_r2c1w64', [2, 2, 2, 2], dict(RESNEST), [2, 3, 37, 41], 'layer3.0.conv2', True),
    ('fast_r4c2w40', [1, 1, 1, 1], dict(FAST, radix=4, groups=2, bottleneck_width=40), [1, 3, 33, 35], 'layer3.0.conv2', False),
    ('fast_r1c4w24', [1, 1, 1, 1], dict(FAST, radix=1, groups=4, bottleneck_width=24), [1, 3, 33, 35], 'layer3.0.conv2', False),
    ('fast_r2c2w40', [1, 2, 1, 1], dict(FAST, radix=2, groups=2, bottleneck_width=40), [2, 3, 32, 32], None, False),
    ('resnet_r0', [1, 1, 1, 1], dict(radix=0), [2, 3, 32, 32], None, False),
    ('resnetd_r0c2', [1, 2, 1, 1], dict(radix=0, groups=2, deep_stem=True, stem_width=32, avg_down=True), [1, 3, 35, 33], None, False),
    ('dilated4_r2', [2, 2, 2, 2], dict(RESNEST, dilated=True), [1, 3, 29, 31], None, True),
    ('dilation2_r2', [2, 2, 2, 2], dict(RESNEST, dilation=2), [1, 3, 31, 29], None, False),
    ('noavd_r2', [1, 2, 1, 1], dict(radix=2, avd=False, avg_down=False, deep_stem=False), [1, 3, 36, 36], None, False),
    ('r4_stem64', [1, 1, 1, 1], dict(RESNEST, radix=4, stem_width=64), [1, 3, 40, 24], None, False),
    ('finaldrop_lastgamma', [1, 1, 1, 1], dict(RESNEST, final_drop=0.2, last_gamma=True), [1, 3, 32, 32], None, False),
    ('r1_avdfirst_dilated', [2, 2, 2, 2], dict(FAST, radix=1, groups=1, dilated=True), [1, 3, 27, 25], None, False),
    ('tiny_odd', [1, 1, 1, 1], dict(RESNEST), [1, 3, 17, 19], None, False),
    ('batch3', [1, 1, 1, 1], dict(FAST, radix=2, groups=1), [3, 3, 21, 45], None, False),
    # Rectified convolution (rfconv.py): the stem convs and every Bottleneck's conv2, normal and
    # average mode, radix 0/1/2, dilation 1/2/4, deep stem on and off, odd sizes.
    ('rfconv_r2_deep', [1, 1, 1, 1], dict(RESNEST, rectified_conv=True), [1, 3, 33, 35], 'layer3.0.conv2', False),
    ('rfconv_avg_r2c2_dilation2', [1, 1, 1, 1], dict(RESNEST, groups=2, bottleneck_width=40, dilation=2, rectified_conv=True,
                                                     rectify_avg=True), [2, 3, 27, 33], None, False),
    ('rfconv_avg_r1_stem7', [1, 1, 1, 1], dict(radix=1, groups=2, bottleneck_width=32, avd=True, rectified_conv=True,
                                               rectify_avg=True), [1, 3, 29, 27], 'layer2.0.conv2', False),
    ('rfconv_r1_dilated', [1, 1, 1, 1], dict(FAST, radix=1, groups=4, bottleneck_width=24, dilated=True, rectified_conv=True),
     [1, 3, 25, 31], None, False),
    ('rfconv_r0_dilation4', [1, 1, 1, 1], dict(radix=0, deep_stem=True, stem_width=16, avg_down=True, dilation=4,
                                               rectified_conv=True), [1, 3, 31, 29], None, False),
    ('rfconv_avg_r0_stem7', [1, 2, 1, 1], dict(radix=0, groups=2, rectified_conv=True, rectify_avg=True), [2, 3, 35, 37], None, False),
]

# Exact zoo configurations (the TypeScript side builds them by name).
ZOO = [
    ('zoo_resnest50', 'resnest50', [3, 4, 6, 3], dict(RESNEST), [1, 3, 32, 32]),
    ('zoo_resnest14d', 'resnest14d', [1, 1, 1, 1], dict(RESNEST), [1, 3, 48, 40]),
    ('zoo_resnest50_fast_4s2x40d', 'resnest50_fast_4s2x40d', [3, 4, 6, 3], dict(FAST, radix=4, groups=2, bottleneck_width=40), [1, 3, 32, 32]),
    ('zoo_resnet50d', 'resnet50d', [3, 4, 6, 3], dict(radix=0, deep_stem=True, stem_width=32, avg_down=True), [1, 3, 32, 32]),
]


# The seed's state-dict keys and shapes, to compare with ours key for key.
KEY_ARCHS = [
    ('resnest50', [3, 4, 6, 3], dict(RESNEST)),
    ('resnest101', [3, 4, 23, 3], dict(RESNEST, stem_width=64)),
    ('resnest50_fast_4s2x40d', [3, 4, 6, 3], dict(FAST, radix=4, groups=2, bottleneck_width=40)),
    ('resnest50_fast_1s4x24d', [3, 4, 6, 3], dict(FAST, radix=1, groups=4, bottleneck_width=24)),
    ('resnet50', [3, 4, 6, 3], dict(radix=0)),
    ('resnet50d', [3, 4, 6, 3], dict(radix=0, deep_stem=True, stem_width=32, avg_down=True)),
]


def run_network(R, name, layers, kwargs, in_shape, splat_at, features, num_classes, seed):
    model = R.ResNet(R.Bottleneck, layers, num_classes=num_classes, **kwargs)
    fill_synthetic(model, seed)
    model.eval()
    x = synthetic_input(in_shape, seed)
    out = {}
    hooks = []
    if splat_at:
        splat = dict(model.named_modules())[splat_at]
        for sub in ['conv', 'bn0', 'fc1', 'bn1', 'fc2', 'rsoftmax']:
            def hook(_m, _i, o, sub=sub):
                out['splat.' + sub] = o.detach().clone()
            hooks.append(getattr(splat, sub).register_forward_hook(hook))
        hooks.append(splat.register_forward_hook(lambda _m, _i, o: out.__setitem__('splat.out', o.detach().clone())))
    if features:
        for stage in ['maxpool', 'layer1', 'layer2', 'layer3', 'layer4']:
            def fhook(_m, _i, o, stage=stage):
                out['features.' + ('stem' if stage == 'maxpool' else stage)] = o.detach().clone()
            hooks.append(getattr(model, stage).register_forward_hook(fhook))
    with torch.no_grad():
        out['logits'] = model(x)
    for h in hooks:
        h.remove()
    write_safetensors(os.path.join(OUT, name + '.safetensors'), out)
    return {
        'name': name, 'layers': layers, 'kwargs': kwargs, 'input': in_shape, 'seed': seed,
        'num_classes': num_classes, 'splat_at': splat_at,
        'outputs': {k: list(v.shape) for k, v in out.items()},
        'max_abs_logit': float(out['logits'].abs().max()),
    }


def module_checkpoints(R):
    """A Bottleneck with split attention and an avg_down shortcut, saved as real checkpoints."""
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(7)
    down = torch.nn.Sequential(
        torch.nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),
        torch.nn.Conv2d(48, 64, 1, bias=False),
        torch.nn.BatchNorm2d(64),
    )
    block = R.Bottleneck(48, 16, stride=2, downsample=down, radix=2, cardinality=2, bottleneck_width=64,
                         avd=True, avd_first=False, is_first=True, norm_layer=torch.nn.BatchNorm2d)
    randomise_bn(block, gen)
    block.eval()
    x = torch.randn(2, 48, 9, 11, generator=gen)
    with torch.no_grad():
        y = block(x)
    sd = block.state_dict()
    base = os.path.join(OUT, 'bottleneck_r2c2')
    torch.save(sd, base + '.zip.pth')
    torch.save(sd, base + '.legacy.pth', _use_new_zipfile_serialization=False)
    canonicalize_legacy_keys(base + '.legacy.pth')
    write_safetensors(base + '.weights.safetensors', {k: v for k, v in sd.items()})
    write_safetensors(base + '.io.safetensors', {'input': x, 'output': y})
    return {
        'name': 'bottleneck_r2c2', 'inplanes': 48, 'planes': 16, 'stride': 2, 'radix': 2, 'cardinality': 2,
        'bottleneck_width': 64, 'avd': True, 'avd_first': False, 'is_first': True, 'avg_down': True,
        'input': list(x.shape), 'output': list(y.shape), 'max_abs_output': float(y.abs().max()),
    }


def op_cases():
    """Single ops against torch.nn.functional, including the pooling corner cases."""
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(11)
    r = lambda *shape: torch.randn(*shape, generator=g)
    t, cases = {}, []

    def case(name, fn, inputs, **params):
        out = fn(*[inputs[k] for k in inputs], **params)
        for k, v in inputs.items():
            if v is not None:
                t[name + '.' + k] = v
        t[name + '.out'] = out
        cases.append({'name': name, 'inputs': {k: list(v.shape) for k, v in inputs.items() if v is not None}, 'params': params})

    case('conv_group_dil', F.conv2d, {'x': r(2, 6, 7, 9), 'w': r(4, 3, 3, 3), 'b': r(4)}, stride=2, padding=1, dilation=2, groups=2)
    case('conv_1x1_s2', F.conv2d, {'x': r(1, 5, 7, 6), 'w': r(3, 5, 1, 1), 'b': None}, stride=2)
    case('conv_7x7_s2', F.conv2d, {'x': r(1, 3, 11, 13), 'w': r(4, 3, 7, 7), 'b': None}, stride=2, padding=3)
    case('conv_depthwise', F.conv2d, {'x': r(2, 4, 5, 5), 'w': r(8, 1, 3, 3), 'b': r(8)}, padding=1, groups=4)
    for ceil in (False, True):
        for cip in (False, True):
            case('avg_k3s2p1_ceil%d_cip%d' % (ceil, cip), F.avg_pool2d, {'x': r(1, 2, 8, 7)},
                 kernel_size=3, stride=2, padding=1, ceil_mode=ceil, count_include_pad=cip)
        case('max_k3s2p1_ceil%d' % ceil, F.max_pool2d, {'x': r(1, 2, 8, 7)}, kernel_size=3, stride=2, padding=1, ceil_mode=ceil)
    case('avg_k2s2_ceil_odd', F.avg_pool2d, {'x': r(1, 3, 7, 5)}, kernel_size=2, stride=2, ceil_mode=True, count_include_pad=False)
    case('avg_k3s1p1', F.avg_pool2d, {'x': r(2, 2, 4, 5)}, kernel_size=3, stride=1, padding=1)
    case('softmax_dim1', F.softmax, {'x': r(2, 5, 3)}, dim=1)
    case('linear', F.linear, {'x': r(3, 7), 'w': r(4, 7), 'b': r(4)})
    case('adaptive_avg', F.adaptive_avg_pool2d, {'x': r(2, 3, 5, 7)}, output_size=1)
    write_safetensors(os.path.join(OUT, 'ops.safetensors'), t)
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reference', default=os.path.join(ROOT, '..', 'shared', 'reference'))
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.reference))
    import resnest_ref as R
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    manifest = {'torch': torch.__version__, 'networks': [], 'zoo': [], 'modules': []}
    for i, (name, layers, kwargs, in_shape, splat_at, feats) in enumerate(NETWORKS):
        manifest['networks'].append(run_network(R, name, layers, kwargs, in_shape, splat_at, feats, 10, 1000 + i))
        print('wrote', name)
    for i, (name, arch, layers, kwargs, in_shape) in enumerate(ZOO):
        entry = run_network(R, name, layers, kwargs, in_shape, None, False, 1000, 2000 + i)
        entry['arch'] = arch
        manifest['zoo'].append(entry)
        print('wrote', name)
    keys = {}
    for arch, layers, kwargs in KEY_ARCHS:
        model = R.ResNet(R.Bottleneck, layers, **kwargs)
        keys[arch] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    with open(os.path.join(OUT, 'state_dict_keys.json'), 'w') as f:
        json.dump(keys, f, separators=(',', ':'))
    manifest['modules'].append(module_checkpoints(R))
    manifest['ops'] = op_cases()
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
