#!/usr/bin/python3
"""Writes three small real tasks from scikit-learn for fedge-sim.

The data sets ship inside Debian's python3-sklearn (no download). For each
task, DIR/<task>/ gets:

  train_x.npy train_y.npy test_x.npy test_y.npy   float32 features, first
      dimension = examples; targets int64 class indices (digits) or float32
  train.csv test.csv    breast_cancer only: the same values as a numeric CSV
      (sanitised feature names, then a `label` column) for fedge's CSV loader
  model.pt              an untrained TorchScript model (torch.manual_seed(seed))
  baseline.json         a centralised baseline on the same split and units

  digits         1797 x [1, 8, 8], pixels / 16; classes:10; MLP 64-64-10;
                 baseline: LogisticRegression test accuracy
  breast_cancer  569 x [30], standardised; binary; MLP 30-16-1 -> [N] logits;
                 baseline: LogisticRegression test accuracy
  diabetes       442 x [10], standardised; real; linear 10-1 -> [N];
                 baseline: least squares (with intercept) test MSE

The split is seeded (stratified for classification). Standardisation uses the
mean and std of the TRAINING split only, computed centrally here: a
preprocessing choice made for the example, not something federated clients
would do. The diabetes target is standardised too (its train mean and std are
in baseline.json), so its MSE figures, the model's and least squares', are in
standardised units (1.0 = the train variance of the target).

It prints one summary line and one fedge-sim command per task. The suggested
hyper-parameters come from --check, which trains each exported model in Python
with plain SGD (no momentum, last partial batch kept, like fedge's client):
centrally, and as FedAvg over 10 iid clients (updates weighted by example
counts) with 1 local epoch and with the suggested settings. A FedAvg round of
10 clients with 1 local epoch is far less progress than a central epoch (each
client takes a tenth of the steps, and the updates are averaged), hence the
several local epochs suggested. Usage:

    /usr/bin/python3 examples/sklearn_tasks.py --out DIR [--task digits] [--check]
"""
import argparse
import json
import os
import re
import sys

import numpy as np
import torch
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from torch import nn

TASKS = ("digits", "breast_cancer", "diabetes")
CLIENTS = 10
# Suggested fedge-sim settings (clients=10, partition=iid), from --check.
# A FedAvg round with E=1 moves about as far as a tenth of a central epoch, so
# these use a few local epochs. Over seeds 0-3 the Python FedAvg of --check
# gave, from round 20 on: digits >= 0.947 accuracy, breast_cancer >= 0.951,
# diabetes <= 1.06 x the least-squares MSE (<= 1.05 from round 30).
RECOMMENDED = {
    "digits": dict(rounds=30, lr=0.1, local_epochs=5, batch_size=32),
    "breast_cancer": dict(rounds=30, lr=0.1, local_epochs=5, batch_size=32),
    "diabetes": dict(rounds=30, lr=0.02, local_epochs=2, batch_size=32),
}


class DigitsMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.size(0), -1)
        return self.fc2(torch.relu(self.fc1(x)))


class BreastCancerMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(30, 16)
        self.fc2 = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x))).squeeze(-1)


class DiabetesLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).squeeze(-1)

    # A loss of the model's own, which fedge trains with under --loss=module
    # (the default, --loss=auto, trains with MSE and ignores it): Huber, less
    # swayed by the few patients far from the line.
    @torch.jit.export
    def training_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.smooth_l1_loss(self.forward(x), y)


def standardise(train, test):
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std, mean, std


def prepare(task, seed, test_fraction):
    """Returns (arrays dict, fedge task string, model, extra baseline fields)."""
    if task == "digits":
        d = datasets.load_digits()
        xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=test_fraction,
                                              random_state=seed, stratify=d.target)
        xtr, xte = (a.reshape(-1, 1, 8, 8) / 16.0 for a in (xtr, xte))
        ytr, yte = ytr.astype(np.int64), yte.astype(np.int64)
        return (xtr, ytr, xte, yte), "classes:10", DigitsMlp, {}
    if task == "breast_cancer":
        d = datasets.load_breast_cancer()
        xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=test_fraction,
                                              random_state=seed, stratify=d.target)
        xtr, xte, _, _ = standardise(xtr, xte)
        ytr, yte = ytr.astype(np.float32), yte.astype(np.float32)
        return (xtr, ytr, xte, yte), "binary", BreastCancerMlp, {}
    d = datasets.load_diabetes(scaled=False)
    xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=test_fraction,
                                          random_state=seed)
    xtr, xte, _, _ = standardise(xtr, xte)
    ytr, yte, ymean, ystd = standardise(ytr, yte)
    extra = {"target_mean": float(ymean), "target_std": float(ystd),
             "units": "standardised target (train mean and std)"}
    ytr, yte = ytr.astype(np.float32), yte.astype(np.float32)
    return (xtr, ytr, xte, yte), "real", DiabetesLinear, extra


def baseline(task, xtr, ytr, xte, yte):
    """Centralised baseline: (metric name, value, description)."""
    xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    if task == "diabetes":
        a = np.c_[xtr, np.ones(len(xtr))].astype(np.float64)
        coef = np.linalg.lstsq(a, ytr.astype(np.float64), rcond=None)[0]
        mse = float(np.mean((np.c_[xte, np.ones(len(xte))] @ coef - yte) ** 2))
        return "mse", mse, "least squares test MSE"
    lr = LogisticRegression(max_iter=5000).fit(xtr, ytr)
    return "accuracy", float(lr.score(xte, yte)), "logistic regression test accuracy"


def sanitise(name):
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", name.lower())).strip("_")


def write_csv(path, x, y, names):
    header = ",".join([sanitise(n) for n in names] + ["label"])
    np.savetxt(path, np.c_[x, y], fmt="%.9g", delimiter=",", header=header, comments="")


def command(out, task, spec):
    d = os.path.join(out, task)
    hp = RECOMMENDED[task]
    data = (f"--train_data={d}/train_x.npy,{d}/train_y.npy "
            f"--test_data={d}/test_x.npy,{d}/test_y.npy")
    tail = (f"--task={spec} --loss=auto --clients={CLIENTS} --partition=iid "
            f"--rounds={hp['rounds']} --lr={hp['lr']} --local_epochs={hp['local_epochs']} "
            f"--batch_size={hp['batch_size']} --out={d}/sim")
    lines = [f"  fedge-sim --model={d}/model.pt {data} {tail}"]
    if task == "breast_cancer":
        lines.append(f"  fedge-sim --model={d}/model.pt --train_data={d}/train.csv "
                     f"--test_data={d}/test.csv --label_column=label {tail}")
    return "\n".join(lines)


# ---- --check: plain SGD in Python on the exported models ----

def loss_and_metric(spec):
    if spec.startswith("classes:"):
        return nn.functional.cross_entropy, lambda out, y: (out.argmax(1) == y).float().mean()
    if spec == "binary":
        return (nn.functional.binary_cross_entropy_with_logits,
                lambda out, y: ((out > 0).float() == y).float().mean())
    return nn.functional.mse_loss, nn.functional.mse_loss


def local_sgd(model, x, y, loss_fn, lr, batch, gen):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    order = torch.randperm(len(x), generator=gen)
    for begin in range(0, len(x), batch):
        idx = order[begin:begin + batch]
        opt.zero_grad()
        loss_fn(model(x[idx]), y[idx]).backward()
        opt.step()


def evaluate(model, x, y, metric):
    with torch.no_grad():
        return float(metric(model(x), y))


def fedavg(path, arrays, loss_fn, metric, lr, local_epochs, batch, rounds, seed):
    """FedAvg over CLIENTS iid clients, updates weighted by their example counts."""
    xtr, ytr, xte, yte = arrays
    gen = torch.Generator().manual_seed(seed)
    parts = torch.randperm(len(xtr), generator=gen).chunk(CLIENTS)
    model = torch.jit.load(path)
    global_w = [p.detach().clone() for p in model.parameters()]

    def load(weights):
        with torch.no_grad():
            for p, w in zip(model.parameters(), weights):
                p.copy_(w)

    row = []
    for r in range(1, max(rounds) + 1):
        acc = [torch.zeros_like(w) for w in global_w]
        for idx in parts:
            load(global_w)
            for _ in range(local_epochs):
                local_sgd(model, xtr[idx], ytr[idx], loss_fn, lr, batch, gen)
            for a, p in zip(acc, model.parameters()):
                a += p.detach() * (len(idx) / len(xtr))
        global_w = acc
        if r in rounds:
            load(global_w)
            row.append(evaluate(model, xte, yte, metric))
    return row


def run_check(task, path, spec, arrays, seed, batch=32):
    """Yields (description, test metric values) rows."""
    arrays = tuple(torch.from_numpy(a) for a in arrays)
    xtr, ytr, xte, yte = arrays
    loss_fn, metric = loss_and_metric(spec)
    epochs, rounds = (10, 20, 40), (10, 20, 40, 80)
    for lr in (0.05, 0.1):
        gen = torch.Generator().manual_seed(seed)
        model = torch.jit.load(path)
        row = []
        for e in range(1, max(epochs) + 1):
            local_sgd(model, xtr, ytr, loss_fn, lr, batch, gen)
            if e in epochs:
                row.append(evaluate(model, xte, yte, metric))
        yield f"central SGD lr {lr}, after epochs {list(epochs)}", row
    for lr in (0.05, 0.1):
        row = fedavg(path, arrays, loss_fn, metric, lr, 1, batch, rounds, seed)
        yield f"FedAvg lr {lr} E 1, after rounds {list(rounds)}", row
    hp, rounds = RECOMMENDED[task], (10, 20, 30, 40, 60)
    row = fedavg(path, arrays, loss_fn, metric, hp["lr"], hp["local_epochs"], hp["batch_size"],
                 rounds, seed)
    yield f"FedAvg lr {hp['lr']} E {hp['local_epochs']}, after rounds {list(rounds)}", row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test_fraction", type=float, default=0.25)
    ap.add_argument("--task", choices=TASKS + ("all",), default="all")
    ap.add_argument("--check", action="store_true",
                    help="also train each model with SGD in Python (central and FedAvg)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    for task in TASKS if args.task == "all" else (args.task,):
        (xtr, ytr, xte, yte), spec, net, extra = prepare(task, args.seed, args.test_fraction)
        xtr, xte = (np.ascontiguousarray(a, dtype=np.float32) for a in (xtr, xte))
        d = os.path.join(args.out, task)
        os.makedirs(d, exist_ok=True)
        for name, a in (("train_x", xtr), ("train_y", ytr), ("test_x", xte), ("test_y", yte)):
            np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(a))
        if task == "breast_cancer":
            names = datasets.load_breast_cancer().feature_names
            write_csv(os.path.join(d, "train.csv"), xtr, ytr, names)
            write_csv(os.path.join(d, "test.csv"), xte, yte, names)
        torch.manual_seed(args.seed)
        model_path = os.path.join(d, "model.pt")
        torch.jit.script(net()).save(model_path)

        metric, value, what = baseline(task, xtr, ytr, xte, yte)
        shape = list(xtr.shape[1:])
        summary = {"task": task, "metric": metric, "value": value, "n_train": len(xtr),
                   "n_test": len(xte), "features": shape, "seed": args.seed,
                   "fedge_task": spec, "baseline": what, **extra}
        with open(os.path.join(d, "baseline.json"), "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        note = ""
        if extra:
            note = (f" (standardised target: train mean {extra['target_mean']:.1f},"
                    f" std {extra['target_std']:.1f})")
        print(f"{task}: train {len(xtr)} test {len(xte)}, input [{','.join(map(str, shape))}], "
              f"{spec}, {what} {value:.3f}{note}")
        print(command(args.out, task, spec))
        if args.check:
            for label, row in run_check(task, model_path, spec, (xtr, ytr, xte, yte),
                                        args.seed):
                print(f"  check {label}: test {metric} " + " ".join(f"{v:.3f}" for v in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
