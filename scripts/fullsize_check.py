#!/usr/bin/env python3
"""Full-size parity check (not in CI): a zoo network at its real resolution with random
weights from PyTorch, saved with torch.save, run through `resnest infer`, compared.

    npm run build
    /usr/bin/python3 scripts/fullsize_check.py [--arch resnest50] [--size 224] [--batch 1]
        [--legacy] [--backend js] [--reference ../shared/reference]

Prints the relative error max|ours - torch| / max|torch| (target <= 1e-4) and the wall time
of the CLI run; exits non-zero when the target is missed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from fixture_io import randomise_bn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='resnest50')
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--batch', type=int, default=1)
    ap.add_argument('--legacy', action='store_true', help='save with the pre-1.6 format')
    ap.add_argument('--backend', default='js')
    ap.add_argument('--reference', default=os.path.join(ROOT, '..', 'shared', 'reference'))
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.reference))
    import resnest_ref as R

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    factory = getattr(R, args.arch, None) or getattr(R.ablation, args.arch)
    model = factory()
    randomise_bn(model, gen)
    model.eval()
    x = torch.randn(args.batch, 3, args.size, args.size, generator=gen)
    with torch.no_grad():
        want = model(x).numpy()

    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, args.arch + '.pth')
        torch.save(model.state_dict(), weights, _use_new_zipfile_serialization=not args.legacy)
        np.save(os.path.join(tmp, 'x.npy'), x.numpy())
        out = os.path.join(tmp, 'y.npy')
        cmd = ['node', os.path.join(ROOT, 'dist', 'cli.js'), 'infer', '--arch', args.arch, '--weights', weights,
               '--input', os.path.join(tmp, 'x.npy'), '--output', out, '--backend', args.backend]
        t0 = time.time()
        subprocess.run(cmd, check=True)
        wall = time.time() - t0
        got = np.load(out)

    err = float(np.abs(got - want).max() / np.abs(want).max())
    fmt = 'legacy' if args.legacy else 'zip'
    print(f'{args.arch} @{args.size} batch {args.batch} ({fmt} .pth, {args.backend}): '
          f'relative error {err:.2e} (max |torch| {np.abs(want).max():.3f}), CLI wall time {wall:.1f} s')
    sys.exit(0 if err <= 1e-4 else 1)


if __name__ == '__main__':
    main()
