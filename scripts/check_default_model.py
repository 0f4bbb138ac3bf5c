"""PyTorch's view of the shipped default model: build the seed's ResNet from the card's
"resnet" arguments, load models/default.pth strictly (float16 storage, loaded into float32
parameters), apply the card's preprocessing to the Fashion-MNIST test split and report the
accuracy next to the card's (ours, on the same file).

    /usr/bin/python3 scripts/check_default_model.py [models/default.pth] [/usr/share/datasets/fashion-mnist]
"""
import gzip, json, os, sys
import numpy as np
import torch
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get('RESNEST_REFERENCE', os.path.join(HERE, '..', '..', 'shared', 'reference')))
from resnest_ref.resnet import ResNet, Bottleneck  # noqa: E402

weights = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', 'models', 'default.pth')
data = sys.argv[2] if len(sys.argv) > 2 else '/usr/share/datasets/fashion-mnist'
card = json.load(open(weights[:-4] + '.json'))


def idx(path):
    b = gzip.open(path).read()
    nd = b[3]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape([int.from_bytes(b[4 + 4 * i:8 + 4 * i], 'big') for i in range(nd)])


model = ResNet(Bottleneck, **card['resnet'])
sd = torch.load(weights)
dtypes = sorted({str(t.dtype) for t in sd.values()})
model.load_state_dict(sd, strict=True)
model.eval()
pre = card['preprocess']
assert pre['size'] == pre['resize'] == 28, 'Fashion-MNIST images are used at their own size here'
x = idx(os.path.join(data, 't10k-images-idx3-ubyte.gz'))
y = idx(os.path.join(data, 't10k-labels-idx1-ubyte.gz'))
mean = torch.tensor(pre['mean'], dtype=torch.float32)[None, :, None, None]
std = torch.tensor(pre['std'], dtype=torch.float32)[None, :, None, None]
correct = 0
torch.set_num_threads(2)
with torch.no_grad():
    for i in range(0, len(y), 500):
        t = (torch.tensor(x[i:i + 500], dtype=torch.float32) / 255)[:, None].expand(-1, 3, -1, -1)
        correct += int((model((t - mean) / std).argmax(1).numpy() == y[i:i + 500]).sum())
print(json.dumps({'file': weights, 'bytes': os.path.getsize(weights), 'storage': dtypes, 'strict_load': True,
                  'accuracy_torch': correct / len(y), 'accuracy_ours': card['accuracy'], 'n': len(y)}))
