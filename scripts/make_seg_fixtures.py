#!/usr/bin/env python3
"""Segmentation parity fixtures from the reference's segmentation.py (FCN / DeepLabV3 on a
dilated ResNeSt, as the authors' toolkit builds them).

Run: /usr/bin/python3 scripts/make_seg_fixtures.py [--reference ../shared/reference]
(Debian's python3-torch 1.13, one thread; deterministic). Writes test/fixtures/seg/:
manifest.json and one <case>.safetensors per case.

The networks are the published ones at full size (backbone, ASPP, 150 or 59 classes) with
synthetic weights (make_fixtures.fill_synthetic; test/helpers/synthetic.ts makes the same) and
a synthetic input; their outputs are (N, classes, H, W) at the input's size, too large to
commit whole, so a case stores max|out| and SAMPLE elements at fixed flat indices (sorted
randperm(numel, Generator().manual_seed(1))[:SAMPLE]) of the main head's logits, and the same
for the auxiliary head's.

Training steps (train_<case>.safetensors, manifest "train"): one SGD step, float64, of an FCN
and a DeepLabV3 on a small dilated ResNeSt (layers [1, 1, 1, 1], the toolkit's heads at
2048/1024 channels), in train mode with the heads' dropouts off (a step must be deterministic),
loss = CE(main) + 0.2·CE(aux) with ignore_index -1 (SegmentationLosses), the toolkit's optimizer
(SGD momentum 0.9, weight decay 1e-4, head and auxlayer at 10× the rate). Stored: the labels
(int32, -1 on some pixels), the loss, and each parameter's move Δ = after − before: whole up to
STEP_FULL elements, else STEP_SAMPLE of them at idx.<key> (sorted randperm, seed 2). PyTorch's
own float32 step against this float64 one, as one vector |Δ32 − Δ64| / |Δ64| over every
parameter, is torch_f32_vs_f64_step; the test estimates the same figure from the stored elements,
each tensor's squared sums scaled by numel / stored.

Multi-scale evaluation (multi_eval.safetensors, manifest "multi_eval"): the toolkit's
MultiEvalModule (encoding/models/sseg/base.py) on the small FCN in eval mode, written out below
from its definition, at a reduced base/crop so that crops, padding, overlaps and flips all occur
on a small image: the summed scores [1, K, H, W] sampled as the inference cases are.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

from make_fixtures import fill_synthetic, synthetic_input
from fixture_io import write_safetensors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'seg')
SAMPLE = 2048
STEP_FULL, STEP_SAMPLE = 512, 256
SMALL = dict(radix=2, groups=1, bottleneck_width=8, stem_width=8, deep_stem=True, avg_down=True, avd=True)

# case, head, classes, input shape, seed, lr
TRAIN_CASES = [
    ('fcn_small', 'fcn', 5, [2, 3, 32, 32], 11, 0.01),
    ('deeplab_small', 'deeplab', 4, [2, 3, 24, 40], 12, 0.01),
]

# case, model, input shape, weight seed
CASES = [
    ('fcn50_ade_48x40', 'fcn_resnest50_ade', [1, 3, 48, 40], 3),
    ('deeplab50_ade_48x40', 'deeplab_resnest50_ade', [1, 3, 48, 40], 4),
    ('deeplab50_ade_b2_33x47', 'deeplab_resnest50_ade', [2, 3, 33, 47], 4),
    ('deeplab101_pcontext_40x40', 'deeplab_resnest101_pcontext', [1, 3, 40, 40], 5),
]


def sample(t):
    flat = t.reshape(-1)
    idx = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(1))[:SAMPLE].sort().values
    return idx.to(torch.int32), flat[idx].contiguous()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reference', default=os.path.join(ROOT, '..', 'shared', 'reference'))
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.reference))
    from resnest_ref.segmentation import segmentation_model
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for case, name, shape, seed in CASES:
        model = segmentation_model(name)
        fill_synthetic(model, seed)
        model.eval()
        x = synthetic_input(shape, seed)
        with torch.no_grad():
            main_out, aux_out = model(x)
        t = {}
        for k, v in (('main', main_out), ('aux', aux_out)):
            idx, vals = sample(v)
            t[k + '.idx'] = idx
            t[k + '.values'] = vals
            t[k + '.maxabs'] = v.abs().max().reshape(1)
        write_safetensors(os.path.join(OUT, case + '.safetensors'), t)
        manifest.append({'case': case, 'model': name, 'input': shape, 'seed': seed, 'output': list(main_out.shape),
                         'maxabs': float(main_out.abs().max()), 'sample': SAMPLE})
        print(case, list(main_out.shape), 'max|main| %.4f max|aux| %.4f' % (float(main_out.abs().max()), float(aux_out.abs().max())))
    train = [train_case(*c) for c in TRAIN_CASES]
    multi = multi_eval_case()
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': manifest, 'train': train, 'multi_eval': multi}, f, indent=1)
        f.write('\n')


def small_segnet(head, nclass, seed, dtype):
    import resnest_ref as R
    R.segmentation.BACKBONES['small'] = lambda dilated, norm_layer: R.resnet.ResNet(
        R.resnet.Bottleneck, [1, 1, 1, 1], dilated=dilated, norm_layer=norm_layer, **SMALL)
    model = {'fcn': R.segmentation.FCN, 'deeplab': R.segmentation.DeepLabV3}[head](nclass, 'small')
    fill_synthetic(model, seed)
    model.train()
    for m in model.modules():
        if isinstance(m, (torch.nn.Dropout, torch.nn.Dropout2d)):
            m.eval()
    return model.to(dtype)


def one_step(head, nclass, shape, seed, lr, labels, dtype):
    model = small_segnet(head, nclass, seed, dtype)
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    groups = [{'params': model.pretrained.parameters(), 'lr': lr},
              {'params': model.head.parameters(), 'lr': lr * 10},
              {'params': model.auxlayer.parameters(), 'lr': lr * 10}]
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, weight_decay=1e-4)
    main_out, aux_out = model(synthetic_input(shape, seed).to(dtype))
    loss = F.cross_entropy(main_out, labels, ignore_index=-1) + 0.2 * F.cross_entropy(aux_out, labels, ignore_index=-1)
    loss.backward()
    opt.step()
    return float(loss), {k: p.detach() - before[k] for k, p in model.named_parameters()}, list(before)


def train_case(case, head, nclass, shape, seed, lr):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(-1, nclass, [shape[0], shape[2], shape[3]], generator=g)
    loss64, d64, keys = one_step(head, nclass, shape, seed, lr, labels, torch.float64)
    loss32, d32, _ = one_step(head, nclass, shape, seed, lr, labels, torch.float32)
    diff = sum(float(((d32[k].double() - d64[k]) ** 2).sum()) for k in keys) ** 0.5
    norm = sum(float((d64[k] ** 2).sum()) for k in keys) ** 0.5
    t = {'labels': labels.to(torch.int32), 'loss': torch.tensor([loss64], dtype=torch.float64).float()}
    stored = 0
    for k in keys:
        flat = d64[k].reshape(-1)
        if flat.numel() <= STEP_FULL:
            t['delta.' + k] = flat.float()
        else:
            idx = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(2))[:STEP_SAMPLE].sort().values
            t['idx.' + k] = idx.to(torch.int32)
            t['delta.' + k] = flat[idx].float()
        stored += t['delta.' + k].numel()
    write_safetensors(os.path.join(OUT, 'train_' + case + '.safetensors'), t)
    params = sum(d.numel() for d in d64.values())
    print('train', case, 'params', params, 'loss %.6f (f32 %.6f)' % (loss64, loss32), 'torch f32 vs f64 step %.3g' % (diff / norm))
    return {'case': case, 'head': head, 'classes': nclass, 'input': shape, 'seed': seed, 'lr': lr, 'momentum': 0.9,
            'weight_decay': 1e-4, 'head_lr_scale': 10, 'aux_weight': 0.2, 'ignore_index': -1, 'backbone': {'layers': [1, 1, 1, 1], **SMALL},
            'loss': loss64, 'params': params, 'stored': stored, 'param_keys': keys, 'torch_f32_vs_f64_step': float('%.3g' % (diff / norm))}


MULTI = dict(case='multi_eval', head='fcn', classes=5, seed=13, input=[1, 3, 45, 62], base=64, crop=48,
             scales=[0.5, 1.0, 1.25, 1.75], flip=True)


def multi_eval(model, image, nclass, scales, base, crop, flip, pad_value):
    """MultiEvalModule.forward for one image, as the toolkit defines it."""
    up = dict(mode='bilinear', align_corners=True)
    _, _, h, w = image.shape
    stride = int(crop * 2.0 / 3.0)
    scores = torch.zeros(1, nclass, h, w, dtype=image.dtype)

    def pad(img):
        ph, pw = max(crop - img.shape[2], 0), max(crop - img.shape[3], 0)
        return torch.stack([F.pad(img[:, c], (0, pw, 0, ph), value=pad_value[c]) for c in range(3)], 1)

    def infer(img):
        out = model(img)[0]
        if flip:
            out = out + model(img.flip(3))[0].flip(3)
        return out

    for scale in scales:
        long_size = int(math.ceil(base * scale))
        if h > w:
            height, width = long_size, int(1.0 * w * long_size / h + 0.5)
            short = width
        else:
            width, height = long_size, int(1.0 * h * long_size / w + 0.5)
            short = height
        cur = F.interpolate(image, (height, width), **up)
        if long_size <= crop:
            outputs = infer(pad(cur))[:, :, :height, :width]
        else:
            pimg = pad(cur) if short < crop else cur
            _, _, ph, pw = pimg.shape
            outputs = torch.zeros(1, nclass, ph, pw, dtype=image.dtype)
            count = torch.zeros(1, 1, ph, pw, dtype=image.dtype)
            for i in range(int(math.ceil(1.0 * (ph - crop) / stride)) + 1):
                for j in range(int(math.ceil(1.0 * (pw - crop) / stride)) + 1):
                    h0, w0 = i * stride, j * stride
                    h1, w1 = min(h0 + crop, ph), min(w0 + crop, pw)
                    out = infer(pad(pimg[:, :, h0:h1, w0:w1]))
                    outputs[:, :, h0:h1, w0:w1] += out[:, :, :h1 - h0, :w1 - w0]
                    count[:, :, h0:h1, w0:w1] += 1
            assert (count == 0).sum() == 0
            outputs = (outputs / count)[:, :, :height, :width]
        scores += F.interpolate(outputs, (h, w), **up)
    return scores


def multi_eval_case():
    m = MULTI
    model = small_segnet(m['head'], m['classes'], m['seed'], torch.float64)
    model.eval()
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    pad_value = [-a / b for a, b in zip(mean, std)]
    x = synthetic_input(m['input'], m['seed']).double()
    with torch.no_grad():
        scores = multi_eval(model, x, m['classes'], m['scales'], m['base'], m['crop'], m['flip'], pad_value)
    idx, vals = sample(scores.float())
    write_safetensors(os.path.join(OUT, 'multi_eval.safetensors'), {'idx': idx, 'values': vals, 'maxabs': scores.abs().max().float().reshape(1)})
    print('multi_eval', list(scores.shape), 'max|scores| %.4f' % float(scores.abs().max()))
    return dict(m, pad_value=pad_value, backbone={'layers': [1, 1, 1, 1], **SMALL}, output=list(scores.shape))


if __name__ == '__main__':
    main()
