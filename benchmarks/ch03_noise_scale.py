"""The gradient noise scale B_simple of chapter 3's CifarNet at several points of its training.

McCandlish et al. (2018): B_simple = tr(Σ)/|G|², from squared gradient norms at two batch sizes,
|G|² and tr(Σ) averaged over draws before their ratio is taken. The network is the one of
benchmarks/ch03_batch_size_sweep.py, trained at batch 128 with the same learning-rate rule;
at each checkpoint its gradient noise is measured in eval mode (BatchNorm with running
statistics, so that both batch sizes see the same function), with plain cross-entropy.
The interval is a bootstrap over the draws (2.5 and 97.5 percentiles).

    nice -n 5 .venv/bin/python benchmarks/ch03_noise_scale.py --data ../shared/data/cifar10-subset

Writes benchmarks/results/ch03_noise_scale.json (read by book/ch03/index.md). CPU, one thread.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from course_lib import cifar10
from course_lib.cifar_trainer import train
from course_lib.loader import DeviceLoader
from course_lib.noise_scale import batch_grad_sq_norm, two_batch_estimates

RESULTS = Path(__file__).parent / "results" / "ch03_noise_scale.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.npz and test.npz (images, labels)")
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[10, 40, 100, 200])
    ap.add_argument("--batch-size", type=int, default=128, help="training batch size")
    ap.add_argument("--b-small", type=int, default=32)
    ap.add_argument("--b-big", type=int, default=1024)
    ap.add_argument("--draws", type=int, default=16)
    ap.add_argument("--widths", type=int, nargs=3, default=[16, 32, 64])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)

    train_x, train_y = cifar10.load_npz(Path(args.data) / "train.npz")
    test_x, test_y = cifar10.load_npz(Path(args.data) / "test.npz")
    images = DeviceLoader(train_x, train_y, 1, device="cpu").images          # normalised, no augmentation
    lr = 0.05 * args.batch_size / 64                                          # the sweep's linear rule
    loss_fn = torch.nn.CrossEntropyLoss()
    points = []
    for steps in args.checkpoints:
        r = train(train_x, train_y, test_x, test_y, steps=steps, batch_size=args.batch_size, lr=lr,
                  warmup=max(1, 2048 // args.batch_size), decay=False, widths=tuple(args.widths), tta=False,
                  seed=args.seed, device="cpu", progress=False)          # same seed: a prefix of one run
        model = r.model.eval()
        g = torch.Generator().manual_seed(1000 + steps)
        c0 = time.process_time()
        draws = []
        for _ in range(args.draws):
            small = torch.randperm(len(train_y), generator=g)[:args.b_small]
            big = torch.randperm(len(train_y), generator=g)[:args.b_big]
            draws.append(two_batch_estimates(batch_grad_sq_norm(model, loss_fn, images[small], train_y[small]),
                                             batch_grad_sq_norm(model, loss_fn, images[big], train_y[big]),
                                             args.b_small, args.b_big))
        cpu = time.process_time() - c0
        d = np.array(draws)                                                   # (draws, 2): |G|², tr(Σ)
        estimate = d[:, 1].mean() / d[:, 0].mean()
        rng = np.random.default_rng(steps)
        boot = [(lambda s: s[:, 1].mean() / s[:, 0].mean())(d[rng.integers(0, len(d), len(d))]) for _ in range(2000)]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        points.append({"step": steps, "b_simple": float(estimate), "ci95": [float(lo), float(hi)],
                       "g2": float(d[:, 0].mean()), "trace": float(d[:, 1].mean()),
                       "test_accuracy": r.accuracy, "estimate_cpu_seconds": round(cpu, 2)})
        print(f"step {steps:4d}: B_simple = {estimate:7.1f} (95% {lo:.0f}..{hi:.0f}), test acc {r.accuracy:.1%}, "
              f"{cpu:.1f} CPU-s for {args.draws} draws", flush=True)
    out = {"what": "gradient noise scale B_simple during training (CifarNet, batch 128)",
           "data": f"{len(train_y)}-image CIFAR-10 subset (train)", "device": f"CPU, 1 thread ({platform.machine()})",
           "torch": torch.__version__, "args": vars(args), "points": points}
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
