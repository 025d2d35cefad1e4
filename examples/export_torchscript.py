#!/usr/bin/env python3
"""Exports a PyTorch model as TorchScript for fedge.

fedge trains any TorchScript module whose forward takes a [N, 1, 28, 28] float
tensor scaled to [0, 1] and returns [N, 10] logits. Its parameters and its
buffers (BatchNorm running statistics) are federated. Usage:

    /usr/bin/python3 examples/export_torchscript.py [--batchnorm] model.pt
    fedge-sim --model=model.pt --clients=10 --rounds=20

--batchnorm exports SmallBnNet, the same network with BatchNorm after the
convolution and the first fully connected layer.
"""
import sys

import torch
from torch import nn


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 14 * 14, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv(x)), 2)
        x = x.reshape(x.size(0), -1)
        return self.fc2(torch.relu(self.fc1(x)))


class SmallBnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.fc1 = nn.Linear(8 * 14 * 14, 64)
        self.bn2 = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv(x))), 2)
        x = x.reshape(x.size(0), -1)
        return self.fc2(torch.relu(self.bn2(self.fc1(x))))


def main() -> int:
    args = sys.argv[1:]
    batchnorm = "--batchnorm" in args
    args = [a for a in args if a != "--batchnorm"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    torch.manual_seed(0)
    net = SmallBnNet() if batchnorm else SmallNet()
    torch.jit.script(net).save(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
