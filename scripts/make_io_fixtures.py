"""Writes the checkpoint/tensor-file fixtures in test/fixtures/io/ (run: /usr/bin/python3 scripts/make_io_fixtures.py).

Every tensor's dtype, shape and two float64 checksums go to expected.json, so the tests can
check values without a second copy of the data: sum(x) and sum(|x| * (i + 1)) over the
row-major flattened tensor.
"""
import io
import json
import os
import pickle
import struct
from collections import OrderedDict

import numpy as np
import torch

from fixture_io import canonicalize_legacy_keys, write_safetensors

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'io')


def state_dict():
    torch.manual_seed(0)
    sd = OrderedDict()
    modules = [('conv', torch.nn.Conv2d(3, 4, 3)), ('bn', torch.nn.BatchNorm2d(4)), ('fc', torch.nn.Linear(8, 5))]
    bn = modules[1][1]
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2.0)
    bn.num_batches_tracked.fill_(7)
    for prefix, m in modules:
        for k, v in m.state_dict().items():
            sd[f'{prefix}.{k}'] = v
    sd['extra.transposed'] = torch.randn(3, 5).t()  # stride (1, 5)
    base = torch.randn(20)
    sd['extra.view_a'] = base[2:8]  # two views of one storage, at offsets 2 and 10
    sd['extra.view_b'] = base[10:20].view(2, 5)
    grid = torch.randn(4, 6)
    sd['extra.strided'] = grid[1:, ::2]  # offset 6, stride (6, 2)
    sd['extra.scalar'] = torch.tensor(3.5)
    sd['extra.empty'] = torch.zeros(0, 3)
    sd['extra.half'] = torch.randn(2, 3).half()
    sd['extra.bfloat16'] = torch.randn(4).bfloat16()
    sd['extra.double'] = torch.randn(2, 2).double()
    sd['extra.int32'] = torch.arange(-3, 3, dtype=torch.int32).view(2, 3)
    sd['extra.int16'] = torch.tensor([-300, 7, 12000], dtype=torch.int16)
    sd['extra.int8'] = torch.tensor([-128, 0, 127], dtype=torch.int8)
    sd['extra.uint8'] = torch.tensor([0, 1, 255], dtype=torch.uint8)
    sd['extra.bool'] = torch.tensor([True, False, True])
    sd['extra.int64_big'] = torch.tensor([2**40 + 1, -5], dtype=torch.int64)
    return sd


def checksums(a):
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    w = np.arange(1, x.size + 1, dtype=np.float64)
    return float(np.sum(x)), float(np.sum(np.abs(x) * w))


def describe_tensor(t):
    s, ws = checksums(t.contiguous().to(torch.float64).numpy() if t.dtype != torch.bool else t.numpy())
    return {'dtype': str(t.dtype).replace('torch.', ''), 'shape': list(t.shape), 'sum': s, 'wsum': ws}


class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = state_dict()
    expected = {'tensors': {k: describe_tensor(v) for k, v in sd.items()}, 'npy': {}}

    def save(obj, name, legacy=False):
        torch.save(obj, os.path.join(OUT, name), _use_new_zipfile_serialization=not legacy)
        if legacy:
            canonicalize_legacy_keys(os.path.join(OUT, name))

    save(sd, 'sd_zip.pth')
    save(sd, 'sd_legacy.pth', legacy=True)
    save({'state_dict': sd, 'epoch': 3, 'best_acc': 0.5}, 'sd_wrapped_zip.pth')
    save({'model': OrderedDict(('module.' + k, v) for k, v in sd.items()), 'epoch': 3}, 'sd_wrapped_module_legacy.pth', legacy=True)
    save(OrderedDict(('module.' + k, v) for k, v in sd.items()), 'sd_module_zip.pth')
    write_safetensors(os.path.join(OUT, 'sd.safetensors'), sd, {'format': 'pt', 'source': 'make_io_fixtures.py'})

    hostile = {'weight': torch.ones(2), 'payload': Evil()}
    save(hostile, 'hostile_zip.pth')
    save(hostile, 'hostile_legacy.pth', legacy=True)

    rng = np.random.default_rng(0)
    arrays = {
        'f4_3d.npy': rng.standard_normal((2, 3, 4)).astype('<f4'),
        'i8_1d.npy': np.arange(-5, 7, dtype='<i8') * 1000003,
        'f8_2d.npy': rng.standard_normal((3, 3)),
        'f2_1d.npy': rng.standard_normal(5).astype('<f2'),
        'i4_2d.npy': np.arange(6, dtype='<i4').reshape(2, 3) - 2,
        'i2_1d.npy': np.array([-32768, 5, 32767], dtype='<i2'),
        'i1_1d.npy': np.array([-128, 3, 127], dtype='i1'),
        'u1_1d.npy': np.array([0, 128, 255], dtype='u1'),
        'b1_1d.npy': np.array([True, False, False, True]),
        'f4_0d.npy': np.array(2.25, dtype='<f4'),
        'f4_empty.npy': np.zeros((0, 4), dtype='<f4'),
        'fortran.npy': np.asfortranarray(rng.standard_normal((2, 3)).astype('<f4')),
        'bigendian.npy': rng.standard_normal(4).astype('>f4'),
    }
    for name, a in arrays.items():
        np.save(os.path.join(OUT, name), a)
        s, ws = checksums(np.ascontiguousarray(a).astype(np.float64))
        expected['npy'][name] = {'dtype': a.dtype.str, 'shape': list(a.shape), 'sum': s, 'wsum': ws}
    for version in ((2, 0), (3, 0)):
        name = f'f4_3d_v{version[0]}.npy'
        with open(os.path.join(OUT, name), 'wb') as f:
            np.lib.format.write_array(f, arrays['f4_3d.npy'], version=version)
        expected['npy'][name] = expected['npy']['f4_3d.npy']

    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, sort_keys=False)
        f.write('\n')


if __name__ == '__main__':
    main()
