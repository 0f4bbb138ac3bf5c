"""Continue a `resnest train` run in PyTorch DistributedDataParallel, and hand it back.

When one machine is not enough (the seed trained on 64 GPUs), move the run to PyTorch:

    resnest train ... --checkpoint-dir ck            # here, for as long as it makes sense
    torchrun --nproc_per_node 8 scripts/train_ddp.py --resume ck/last.pth --data DIR \\
        --checkpoint-dir ck2 [--until-epoch E] [--backend nccl]
    resnest train ... --resume ck2/last.pth           # back here (same flags as the first run)

The checkpoint is {"model", "optimizer", "epoch", "step", "args"} (src/train/checkpoint.ts):
the seed's ResNet is built from args["arch"] and loaded strictly; torch.optim.SGD over
recipe.param_groups loads the optimizer state (the same momentum buffers); the schedule
continues from "step" with recipe.lr_at; "args" carries the recipe's settings, which this
script applies the same way (label smoothing, mixup, random-resized crop, flip,
normalisation). The global batch (batch_size x accumulate) is split over the processes, so
each optimizer step is the step the single-process run would take on the same samples. The
data order and augmentation draws are PyTorch's, not ours: only the state carries over.
Checkpoints are written by rank 0 atomically (temp file + rename) after each epoch, and on
SIGINT/SIGTERM at the next step boundary.

Needs Debian's python3-torch and python3-torchvision; data: an IDX directory (Fashion-MNIST).
"""
import argparse, gzip, math, os, signal, sys
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get('RESNEST_REFERENCE', os.path.join(HERE, '..', '..', 'shared', 'reference')))
from resnest_ref import recipe  # noqa: E402
from resnest_ref.resnet import ResNet, Bottleneck  # noqa: E402


def read_idx(path):
    b = gzip.open(path).read() if path.endswith('.gz') else open(path, 'rb').read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], 'big') for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def idx_split(d, prefix):
    def find(stem):
        for name in (stem, stem + '.gz'):
            if os.path.exists(os.path.join(d, name)):
                return os.path.join(d, name)
        raise SystemExit(f'{d}: no {stem}[.gz]')
    return read_idx(find(f'{prefix}-images-idx3-ubyte')), read_idx(find(f'{prefix}-labels-idx1-ubyte')).astype(np.int64)


def subset_of(x, y, n):
    """`resnest train --subset n`: samples floor(i * N / n)."""
    if not n or n >= len(y):
        return x, y
    idx = np.array([(i * len(y)) // n for i in range(n)])
    return x[idx], y[idx]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--resume', required=True, help='a checkpoint written by resnest train --checkpoint-dir')
    ap.add_argument('--data', required=True, help='the IDX directory the run trains on')
    ap.add_argument('--checkpoint-dir', required=True)
    ap.add_argument('--until-epoch', type=int, help='stop after this many epochs in all (default: the run\'s epochs)')
    ap.add_argument('--backend', default='gloo', help='gloo (CPU) or nccl (GPUs)')
    ap.add_argument('--threads', type=int, default=1, help='torch threads per process')
    a = ap.parse_args()

    dist.init_process_group(a.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(a.threads)
    device = torch.device(f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}' if a.backend == 'nccl' else 'cpu')

    ck = torch.load(a.resume, map_location='cpu')
    args = ck['args']
    kwargs = dict(args['arch'])
    model = ResNet(Bottleneck, **kwargs)
    model.load_state_dict(ck['model'], strict=True)
    model.to(device)
    opt = torch.optim.SGD(recipe.param_groups(model, args['weight_decay'], args['no_bias_decay']), lr=args['lr'],
                          momentum=args['momentum'], nesterov=args['nesterov'])
    opt.load_state_dict(ck['optimizer'])
    ddp = torch.nn.parallel.DistributedDataParallel(model)

    x, y = subset_of(*idx_split(a.data, 'train'), args.get('subset'))
    spe, epochs = args['steps_per_epoch'], args['epochs']
    per_step = args['batch_size'] * args['accumulate']
    if math.ceil(len(y) / per_step) != spe:
        raise SystemExit(f'{a.data}: {len(y)} samples make {math.ceil(len(y) / per_step)} steps per epoch, the run has {spe}')
    if per_step % world:
        raise SystemExit(f'the global batch {per_step} does not split over {world} processes')
    until = a.until_epoch or epochs
    total, warmup = spe * epochs, int(args['warmup_epochs'] * spe)
    size = args['size']
    tf = transforms.Compose([
        transforms.RandomResizedCrop(size, scale=(args['crop_scale'], 1.0)) if args.get('augment', True) else transforms.Resize(size),
        transforms.RandomHorizontalFlip() if args.get('augment', True) else transforms.Lambda(lambda im: im),
        transforms.AutoAugment() if args.get('auto_augment') else transforms.Lambda(lambda im: im),
        transforms.ColorJitter(*[args['color_jitter']] * 3) if args.get('color_jitter') else transforms.Lambda(lambda im: im),
        transforms.Grayscale(3), transforms.ToTensor(), transforms.Normalize(args['mean'], args['std']),
    ])
    from PIL import Image

    stop = {'now': False}
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.__setitem__('now', True))

    def save(epoch, step):
        if rank != 0:
            return
        os.makedirs(a.checkpoint_dir, exist_ok=True)
        path = os.path.join(a.checkpoint_dir, 'last.pth')
        tmp = f'{path}.{os.getpid()}.tmp'
        torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'epoch': epoch, 'step': step, 'args': args}, tmp)
        os.replace(tmp, path)
        print(f'checkpoint: {path} (epoch {epoch + 1}, step {step - epoch * spe + 1})', flush=True)

    step, epoch = ck['step'], ck['epoch']
    g = torch.Generator().manual_seed(args['seed'] * 1000 + epoch)
    ddp.train()
    while epoch < until:
        order = torch.randperm(len(y), generator=g).numpy()
        losses = []
        for s in range(step - epoch * spe, spe):
            if stop['now']:
                save(epoch, step)
                return
            lr = recipe.lr_at(step, total, warmup, args['lr']) if args['lr_schedule'] == 'cosine' else args['lr']
            for grp in opt.param_groups:
                grp['lr'] = lr
            idx = order[s * per_step:(s + 1) * per_step]
            mine = idx[rank::world]  # this process's share of the global batch
            xb = torch.stack([tf(Image.fromarray(x[i])) for i in mine]).to(device)
            yb = torch.from_numpy(y[mine]).to(device)
            opt.zero_grad()
            if args['mixup'] > 0:
                xm, t, _ = recipe.mixup(xb, yb, kwargs['num_classes'], args['mixup'], args['label_smoothing'])
                loss = recipe.soft_cross_entropy(ddp(xm), t)
            else:
                loss = F.cross_entropy(ddp(xb), yb, label_smoothing=args['label_smoothing'])
            loss.backward()  # DDP averages the gradients over the processes: the global batch's mean
            opt.step()
            losses.append(float(loss))
            step += 1
            if rank == 0 and (s % 10 == 0 or s == spe - 1):
                print(f'epoch {epoch + 1}/{epochs} step {s + 1}/{spe}  loss {float(loss):.4f}  lr {lr:.3g}', flush=True)
        epoch += 1
        if rank == 0:
            print(f'epoch {epoch}/{epochs}: mean loss {np.mean(losses):.4f}', flush=True)
        save(epoch, step)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
