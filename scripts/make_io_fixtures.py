"""Writes the checkpoint/tensor-file fixtures in test/fixtures/io/ (run: /usr/bin/python3 scripts/make_io_fixtures.py).

Every tensor's dtype, shape and two float64 checksums go to expected.json, so the tests can
check values without a second copy of the data: sum(x) and sum(|x| * (i + 1)) over the
row-major flattened tensor.
"""
import io
import json
import os
import pickle
import pickletools
import re
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
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


# ---------------------------------------------------------------- hostile checkpoints
# Each payload creates an empty file MARKER in the current directory: harmless, and visible.
# Every file below is a real torch.save output (zip and legacy layouts); main() proves that
# plain torch.load of each one runs its payload, and the tests prove resnest-ts refuses it,
# naming the first global outside the allow-list.

MARKER = 'resnest-hostile-marker'
SHELL = f'touch {MARKER}'
PYCODE = f"open('{MARKER}', 'w').close()"
PAYLOADS = {  # name: (callable, its argument, (module, name) written by hand in raw routes)
    'system': (os.system, SHELL, ('os', 'system')),
    'eval': (eval, PYCODE, ('builtins', 'eval')),
    'exec': (exec, PYCODE, ('builtins', 'exec')),
    'popen': (subprocess.Popen, ['touch', MARKER], ('subprocess', 'Popen')),
}
ALLOWED = {'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor',
           'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state'}


class Reduce:
    """__reduce__ → (fn, (arg,)): what pickle writes for any object that asks for it."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


class Raw:
    """Opcodes written verbatim by RawPickler: routes pickle itself never emits for __reduce__."""

    def __init__(self, data):
        self.data = data


class RawPickler(pickle._Pickler):
    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, Raw):
            self.write(obj.data)
            return
        super().save(obj, save_persistent_id)


class RawPickleModule:
    """A pickle_module for torch.save whose Pickler can embed Raw opcodes."""
    Pickler = RawPickler
    Unpickler = pickle.Unpickler
    dump = staticmethod(pickle.dump)
    load = staticmethod(pickle.load)


def op_str(s):
    b = s.encode()
    return b'X' + struct.pack('<I', len(b)) + b


def op_arg(arg):
    """Pushes arg: a str, or a list of str."""
    if isinstance(arg, str):
        return op_str(arg)
    return b']' + b'(' + b''.join(op_str(x) for x in arg) + b'e'


def op_global(module, name):
    return b'c' + f'{module}\n{name}\n'.encode()


def op_stack_global(module, name):
    return op_str(module) + op_str(name) + b'\x93'


def raw_route(route, payload):
    fn, arg, (module, name) = PAYLOADS[payload]
    if route == 'newobj_build':
        # OrderedDict() via NEWOBJ, then BUILD {'__setstate__': fn}, then BUILD arg: the second
        # BUILD finds the instance attribute __setstate__ and calls fn(arg).
        return Raw(op_global('collections', 'OrderedDict') + b')\x81' + b'}' + op_str('__setstate__')
                   + op_stack_global(module, name) + b's' + b'b' + op_arg(arg) + b'b')
    if route == 'obj':  # MARK fn arg OBJ → fn(arg)
        return Raw(b'(' + op_global(module, name) + op_arg(arg) + b'o')
    if route == 'inst':  # MARK arg INST module name → fn(arg)
        return Raw(b'(' + op_arg(arg) + b'i' + f'{module}\n{name}\n'.encode())
    raise ValueError(route)


ROUTES = {  # route: (how the payload is built, pickle protocol, description)
    'reduce': ('GLOBAL + REDUCE (an object whose __reduce__ returns the callable)', 2),
    'reduce_p4': ('STACK_GLOBAL + REDUCE (the same object, pickle protocol 4)', 4),
    'newobj_build': ('NEWOBJ of the allow-listed OrderedDict, then BUILD with a __setstate__ reached by STACK_GLOBAL', 2),
    'obj': ('OBJ: MARK, GLOBAL callable, argument, OBJ', 2),
    'inst': ('INST: MARK, argument, INST module name', 2),
}


def pickle_globals(data, start=0):
    """Globals referenced by the pickle at data[start:], in order (GLOBAL, INST, STACK_GLOBAL)."""
    out, strings = [], []
    for op, arg, _ in pickletools.genops(io.BytesIO(data[start:])):
        if op.name in ('GLOBAL', 'INST'):
            out.append(arg.replace(' ', '.'))
        elif op.name == 'STACK_GLOBAL':
            out.append(f'{strings[-2]}.{strings[-1]}')
        if isinstance(arg, str):
            strings.append(arg)
    return out


def main_pickle_globals(path, legacy):
    with open(path, 'rb') as f:
        data = f.read()
    if not legacy:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith('/data.pkl'))
            return pickle_globals(z.read(name))
    buf = io.BytesIO(data)
    for _ in range(3):
        pickle.load(buf)
    return pickle_globals(data, buf.tell())


def torch_load_runs_payload(path):
    """Plain torch.load(path) in an empty directory: does the marker appear?"""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            try:
                torch.load(path)
            except Exception:
                pass  # the payload ran (or not) before anything failed
            for _ in range(100):  # Popen runs `touch` asynchronously
                if os.path.exists(MARKER):
                    return True
                time.sleep(0.05)
            return False
        finally:
            os.chdir(cwd)


def weights_only_refuses(path):
    try:
        torch.load(path, weights_only=True)
        return False
    except pickle.UnpicklingError:
        return True


def make_hostile(save):
    out_dir = os.path.join(OUT, 'hostile')
    os.makedirs(out_dir, exist_ok=True)
    records = []
    for route, (how, protocol) in ROUTES.items():
        for payload, (fn, arg, _) in PAYLOADS.items():
            value = Reduce(fn, arg) if route.startswith('reduce') else raw_route(route, payload)
            for legacy in (False, True):
                name = f'{route}_{payload}_{"legacy" if legacy else "zip"}.pth'
                path = os.path.join(out_dir, name)
                torch.save({'weight': torch.ones(2), 'payload': value}, path, pickle_module=RawPickleModule,
                           pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
                if legacy:
                    canonicalize_legacy_keys(path)
                refs = main_pickle_globals(path, legacy)
                refused = next(g for g in refs if g not in ALLOWED and not re.fullmatch(r'torch\.\w+Storage', g))
                ran = torch_load_runs_payload(path)
                assert ran, f'{name}: torch.load did not run the payload'
                records.append({'file': f'hostile/{name}', 'format': 'legacy' if legacy else 'zip', 'route': route,
                                'how': how, 'payload': payload, 'globals': refs, 'refused_global': refused,
                                'torch_load_ran_payload': ran, 'weights_only_refuses': weights_only_refuses(path)})
                print(f'  {name:36s} refs {", ".join(refs)}; torch.load ran it: {ran}')
    with open(os.path.join(out_dir, 'hostile.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'python': sys.version.split()[0], 'marker': MARKER,
                   'note': 'torch_load_ran_payload: plain torch.load(file) created the marker file (checked when generated)',
                   'files': records}, f, indent=1)
        f.write('\n')


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
    make_hostile(save)

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
