#!/usr/bin/env python3
"""Exports a PyTorch model as TorchScript for fedge.

fedge trains any TorchScript module whose forward takes a [N, 1, 28, 28] float
tensor scaled to [0, 1] and returns [N, 10] logits; only its parameters are
federated. Usage:

    /usr/bin/python3 examples/export_torchscript.py model.pt
    fedge-sim --model=model.pt --clients=10 --rounds=20
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


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    torch.manual_seed(0)
    torch.jit.script(SmallNet()).save(sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
