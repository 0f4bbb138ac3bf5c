"""File writers shared by the fixture scripts: safetensors by hand (the package is not in
Debian) and a canonical form of torch's legacy format, so regenerated fixtures are identical."""
import io
import json
import pickle
import struct
from collections import OrderedDict

import torch

SAFETENSORS_DTYPES = {
    torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64',
    torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8', torch.bool: 'BOOL',
}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, sd, metadata=None):
    header, blobs, offset = OrderedDict(), [], 0
    if metadata:
        header['__metadata__'] = metadata
    for k, t in sd.items():
        b = tensor_bytes(t)
        header[k] = {'dtype': SAFETENSORS_DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


class _Inert(dict):
    pass


class _KeyScanner(pickle.Unpickler):
    """Reads a legacy main pickle without calling anything in it, recording storage keys."""

    def __init__(self, f):
        super().__init__(f)
        self.storages = OrderedDict()

    def find_class(self, module, name):
        if module == 'torch' and name.endswith('Storage'):
            return getattr(torch, name)
        return _Inert if (module, name) == ('collections', 'OrderedDict') else (lambda *a, **k: _Inert())

    def persistent_load(self, pid):
        itemsize = torch.empty(0, dtype=pid[1].dtype).element_size()
        self.storages.setdefault(pid[2], itemsize)
        return None


def canonicalize_legacy_keys(path):
    """Legacy torch.save names storages by memory address and writes them sorted by name;
    renames them 0, 1, ... in order of first use (same length, so the pickle keeps its
    layout) and rewrites the key list and storage blocks in that order, for a reproducible file."""
    with open(path, 'rb') as f:
        data = f.read()
    buf = io.BytesIO(data)
    for _ in range(3):  # magic, protocol version, sys_info
        pickle.load(buf)
    scanner = _KeyScanner(buf)
    scanner.load()
    main_end = buf.tell()
    listed = pickle.load(buf)
    blocks = {}
    for k in listed:
        (n,) = struct.unpack('<q', buf.read(8))
        blocks[k] = struct.pack('<q', n) + buf.read(n * scanner.storages[k])
    assert buf.read() == b''
    rename = {k: str(i).zfill(len(k)) for i, k in enumerate(scanner.storages)}
    head = data[:main_end]
    for k, new in rename.items():
        old = k.encode()
        head = head.replace(b'X' + struct.pack('<I', len(old)) + old, b'X' + struct.pack('<I', len(new)) + new.encode())
    order = sorted(listed, key=lambda k: rename[k])
    with open(path, 'wb') as f:
        f.write(head + pickle.dumps([rename[k] for k in order], protocol=2) + b''.join(blocks[k] for k in order))


def randomise_bn(module, gen):
    """BatchNorm that is never the identity: random running statistics and affine parameters."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1, generator=gen)
            m.running_var.uniform_(0.5, 1.5, generator=gen)
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.uniform_(-0.2, 0.2, generator=gen)
