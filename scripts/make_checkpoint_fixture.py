"""test/fixtures/grad/torch_checkpoint.pth: a training checkpoint as PyTorch writes it, in the
layout `resnest train --checkpoint-dir` and scripts/train_ddp.py use:
{"model": state_dict, "optimizer": SGD(recipe.param_groups).state_dict(), "epoch", "step", "args"},
for a small module tree (conv + BatchNorm + linear, so both parameter groups and
num_batches_tracked appear) after two Nesterov SGD steps. The test reads it with
readCheckpoint and loads the optimizer state into our SGD.

    /usr/bin/python3 scripts/make_checkpoint_fixture.py
"""
import os, sys
import torch
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get('RESNEST_REFERENCE', os.path.join(HERE, '..', '..', 'shared', 'reference')))
from resnest_ref import recipe  # noqa: E402


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn1(self.conv1(x))).mean((2, 3)))


torch.manual_seed(0)
m = Tiny()
opt = recipe.make_optimizer(m, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
for _ in range(2):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(m(torch.randn(4, 3, 6, 6)), torch.tensor([0, 1, 2, 0])).backward()
    opt.step()
ck = {'model': m.state_dict(), 'optimizer': opt.state_dict(), 'epoch': 1, 'step': 7,
      'args': {'epochs': 3, 'steps_per_epoch': 5, 'seed': 4, 'lr': 0.1, 'nesterov': True, 'mean': [0.5, 0.5, 0.5]}}
out = os.path.join(HERE, '..', 'test', 'fixtures', 'grad', 'torch_checkpoint.pth')
torch.save(ck, out)
print(out, os.path.getsize(out), 'bytes; groups', [len(g['params']) for g in opt.state_dict()['param_groups']])
