#!/usr/bin/env python3
"""One training step of the seed's ResNet in PyTorch (CPU), timed: the peer of
`resnest bench --train`. Forward in train mode, cross-entropy with label smoothing 0.1,
backward, Nesterov SGD with the recipe's no-bias-decay groups. Prints one JSON line:
median_ms, p90_ms, images_per_s, peak_rss_mb.

Run: /usr/bin/python3 bench/torch_train_step.py --layers 1,1,1,1 --kwargs '{...}' --size 64
     --batch 16 --threads 1 [--runs 10] [--warmup 2] [--reference ../shared/reference]
"""
import argparse
import json
import os
import resource
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument('--layers', required=True)
ap.add_argument('--kwargs', required=True)
ap.add_argument('--size', type=int, required=True)
ap.add_argument('--batch', type=int, required=True)
ap.add_argument('--threads', type=int, required=True)
ap.add_argument('--runs', type=int, default=10)
ap.add_argument('--warmup', type=int, default=2)
ap.add_argument('--reference', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'reference'))
a = ap.parse_args()

import torch  # noqa: E402  (after argument errors, so that they are quick)
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(a.threads)
sys.path.insert(0, os.path.abspath(a.reference))
import resnest_ref as R  # noqa: E402

model = R.resnet.ResNet(R.resnet.Bottleneck, [int(n) for n in a.layers.split(',')], **json.loads(a.kwargs)).train()
opt = R.recipe.make_optimizer(model, lr=1e-3, momentum=0.9, weight_decay=1e-4, nesterov=True, no_bias_decay=True)
g = torch.Generator().manual_seed(1)
x = torch.rand(a.batch, 3, a.size, a.size, generator=g) * 4 - 2
classes = model.fc.out_features
labels = torch.arange(a.batch) % classes


def step():
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), labels, label_smoothing=0.1)
    loss.backward()
    opt.step()
    return (time.perf_counter() - t0) * 1000


for _ in range(a.warmup):
    step()
times = sorted(step() for _ in range(a.runs))
median = times[(len(times) + 1) // 2 - 1]
print(json.dumps({
    'median_ms': round(median, 2), 'p90_ms': round(times[min(len(times) - 1, int(0.9 * len(times) + 0.999) - 1)], 2),
    'images_per_s': round(a.batch * 1000 / median, 2),
    'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    'threads': a.threads, 'torch': torch.__version__,
}))
