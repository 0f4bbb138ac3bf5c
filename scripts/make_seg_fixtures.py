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
"""
import argparse
import json
import os
import sys

import torch

from make_fixtures import fill_synthetic, synthetic_input
from fixture_io import write_safetensors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'seg')
SAMPLE = 2048

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
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': manifest}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
