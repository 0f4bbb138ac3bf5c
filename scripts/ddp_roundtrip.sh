#!/bin/sh
# The hand-over to PyTorch DistributedDataParallel and back, on a Fashion-MNIST subset with
# two CPU processes (gloo):
#   1. resnest train: epoch 1 of 3, stopping with a checkpoint (--until-epoch 1);
#   2. torchrun (2 processes): scripts/train_ddp.py continues epoch 2 from that checkpoint;
#   3. resnest train --resume: epoch 3 from PyTorch's checkpoint, then the model;
#   4. PyTorch loads the final .pth strictly into the seed's ResNet and evaluates it.
# Usage: sh scripts/ddp_roundtrip.sh [/usr/share/datasets/fashion-mnist]  (needs python3-torch)
set -e
DATA=${1:-/usr/share/datasets/fashion-mnist}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
FLAGS="--arch scripts/default-arch.json --data $DATA --subset 2048 --epochs 3 --batch-size 64 --base-lr 0.1 --momentum 0.9 --nesterov
  --weight-decay 5e-4 --no-bias-decay --label-smoothing 0.1 --lr-schedule cosine --warmup-epochs 1 --crop-scale 0.6 --seed 1 --threads 2"
node dist/cli.js train $FLAGS --checkpoint-dir "$T/ours" --until-epoch 1 --save "$T/never.pth"
# Two processes as torchrun would start them (Debian's torchrun 1.13 fails on Python 3.11 in its
# log redirection, so the environment it sets is set here).
for RANK in 1 0; do
  RANK=$RANK LOCAL_RANK=$RANK WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29531 \
    /usr/bin/python3 scripts/train_ddp.py --resume "$T/ours/last.pth" --data "$DATA" \
    --checkpoint-dir "$T/torch" --until-epoch 2 &
done
wait
node dist/cli.js train $FLAGS --checkpoint-dir "$T/ours" --resume "$T/torch/last.pth" --save "$T/final.pth"
/usr/bin/python3 - "$T/final.pth" "$T/ours/last.pth" "$DATA" <<'PY'
import gzip, json, os, sys, numpy as np, torch
sys.path.insert(0, os.environ.get('RESNEST_REFERENCE', '../shared/reference'))
from resnest_ref import recipe
from resnest_ref.resnet import ResNet, Bottleneck
final, last, data = sys.argv[1:4]
card = json.load(open(final[:-4] + '.json'))
m = ResNet(Bottleneck, **card['resnet'])
m.load_state_dict(torch.load(final), strict=True)
ck = torch.load(last)
opt = torch.optim.SGD(recipe.param_groups(m, 5e-4), lr=0.1, momentum=0.9, nesterov=True)
opt.load_state_dict(ck['optimizer'])
def idx(p):
    b = gzip.open(p).read(); nd = b[3]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape([int.from_bytes(b[4 + 4 * i:8 + 4 * i], 'big') for i in range(nd)])
x, y = idx(data + '/t10k-images-idx3-ubyte.gz'), idx(data + '/t10k-labels-idx1-ubyte.gz')
pre = card['preprocess']
m.eval()
with torch.no_grad():
    t = (torch.tensor(x, dtype=torch.float32) / 255)[:, None].expand(-1, 3, -1, -1)
    t = (t - torch.tensor(pre['mean'])[None, :, None, None]) / torch.tensor(pre['std'])[None, :, None, None]
    acc = float(sum((m(t[i:i + 500]).argmax(1).numpy() == y[i:i + 500]).sum() for i in range(0, len(y), 500)) / len(y))
print(f'round trip: PyTorch loads the final model strictly (accuracy {acc:.4f}, ours {card["accuracy"]:.4f}) and the optimizer state '
      f'(epoch {ck["epoch"]}, step {ck["step"]}, {len(ck["optimizer"]["state"])} momentum buffers)')
PY
