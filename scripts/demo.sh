#!/usr/bin/env bash
# The main demo: sets up, builds, then runs a real multi-process federated
# simulation: 10 clients on Fashion-MNIST (Dirichlet alpha 0.5 label skew),
# FedAvg over ZeroMQ, 20 rounds of the 784-200-200-10 MLP.
# Extra arguments go to fedge-sim (see build/bin/fedge-sim --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec ./build/bin/fedge-sim --model=mlp --clients=10 --rounds=20 --partition=dirichlet:0.5 \
  --local_epochs=1 --batch_size=32 --lr=0.05 --seed=0 --out=sim-out "$@"
