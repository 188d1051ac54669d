"""The gradient noise scale B_simple of chapter 3's CifarNet at several points of its training.

McCandlish et al. (2018): B_simple = tr(Σ)/|G|², from squared gradient norms at two batch sizes,
|G|² and tr(Σ) averaged over draws before their ratio is taken. The network, data split and
schedule are those of benchmarks/ch03_batch_size_sweep.py: one run at batch 128 with the learning
rate the sweep tuned for it (read from its results), on the training split (4,068 images). At
each checkpoint the gradient noise is measured on the training split in eval mode (BatchNorm with
running statistics, so that both batch sizes see the same function), with plain cross-entropy, and
the accuracy on the validation split is recorded. The interval is a bootstrap over the draws
(2.5 and 97.5 percentiles).

    nice -n 5 .venv/bin/python benchmarks/ch03_noise_scale.py --data ../shared/data/cifar10-subset

Writes benchmarks/results/ch03_noise_scale.json (read by book/ch03/index.md). CPU, one thread.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import ch03_shared
from course_lib.cifar_trainer import evaluate, train
from course_lib.loader import DeviceLoader
from course_lib.noise_scale import batch_grad_sq_norm, two_batch_estimates

RESULTS = Path(__file__).parent / "results" / "ch03_noise_scale.json"
SWEEP = Path(__file__).parent / "results" / "ch03_batch_size_sweep.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.npz and test.npz (images, labels)")
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[10, 25, 50, 100, 200])
    ap.add_argument("--batch-size", type=int, default=128, help="training batch size")
    ap.add_argument("--b-small", type=int, default=32)
    ap.add_argument("--b-big", type=int, default=1024)
    ap.add_argument("--draws", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep-cache", type=Path, help="read the tuned rate from the sweep's run cache, before it ends")
    args = ap.parse_args()
    torch.set_num_threads(1)

    if args.sweep_cache:                                   # the sweep's tuning runs, while it measures
        runs = [json.loads(line) for line in args.sweep_cache.read_text().splitlines() if line.strip()]
        tuning = [r for r in runs if r["phase"] == "tune" and r["batch_size"] == args.batch_size and r["crossing"]]
        lr = min(tuning, key=lambda r: r["crossing"]["steps"])["lr"]
        widths, warmup_images, target = [16, 32, 64], 2048, 0.5
    else:
        sweep = json.loads(SWEEP.read_text())
        lr = next(p for p in sweep["per_batch"] if p["batch_size"] == args.batch_size)["lr"]
        widths, warmup_images, target = sweep["args"]["widths"], sweep["args"]["warmup_images"], sweep["target"]
    data = ch03_shared.load(args.data)
    images = DeviceLoader(data.train_x, data.train_y, 1, device="cpu").images      # normalised, no augmentation
    val = DeviceLoader(data.val_x, data.val_y, 1000, shuffle=False, device="cpu")
    loss_fn = torch.nn.CrossEntropyLoss()
    points = []
    c_all = time.process_time()

    def write(training_cpu_seconds=None):
        """The results so far: written after every checkpoint, so a stopped run keeps what it measured."""
        out = {"what": "gradient noise scale B_simple during training (CifarNet 16-32-64, batch 128, the sweep's "
                       "tuned lr)", "complete": training_cpu_seconds is not None,
               "data": data.record(), **ch03_shared.machine(),
               "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "lr": lr, "warmup_steps": max(1, warmup_images // args.batch_size), "widths": widths,
               "sweep_target": target, "points": points,
               "cpu_seconds": {"training_steps": training_cpu_seconds,
                               "estimates": round(sum(p["estimate_cpu_seconds"] for p in points), 1),
                               "this_invocation": round(time.process_time() - c_all, 1)}}
        RESULTS.write_text(json.dumps(out, indent=1, default=str) + "\n")

    def measure(step, model):
        if step not in args.checkpoints:
            return
        c0 = time.process_time()
        model.eval()
        g = torch.Generator().manual_seed(1000 + step)
        draws = []
        for _ in range(args.draws):
            small = torch.randperm(len(data.train_y), generator=g)[:args.b_small]
            big = torch.randperm(len(data.train_y), generator=g)[:args.b_big]
            draws.append(two_batch_estimates(batch_grad_sq_norm(model, loss_fn, images[small], data.train_y[small]),
                                             batch_grad_sq_norm(model, loss_fn, images[big], data.train_y[big]),
                                             args.b_small, args.b_big))
        accuracy = evaluate(model, val)                                     # puts the model back in train mode
        model.train()
        d = np.array(draws)                                                   # (draws, 2): |G|², tr(Σ)
        estimate = d[:, 1].mean() / d[:, 0].mean()
        rng = np.random.default_rng(step)
        boot = [(lambda s: s[:, 1].mean() / s[:, 0].mean())(d[rng.integers(0, len(d), len(d))]) for _ in range(2000)]
        lo, hi = np.percentile(boot, [2.5, 97.5])
        points.append({"step": step, "b_simple": float(estimate), "ci95": [float(lo), float(hi)],
                       "g2": float(d[:, 0].mean()), "trace": float(d[:, 1].mean()),
                       "validation_accuracy": accuracy, "estimate_cpu_seconds": round(time.process_time() - c0, 2)})
        print(f"step {step:4d}: B_simple = {estimate:7.1f} (95% {lo:.0f}..{hi:.0f}), |G|^2 {d[:, 0].mean():.3f}, "
              f"tr {d[:, 1].mean():.1f}, validation acc {accuracy:.1%}", flush=True)
        write()

    r = train(data.train_x, data.train_y, data.val_x, data.val_y, steps=max(args.checkpoints),
              batch_size=args.batch_size, lr=lr, warmup=max(1, warmup_images // args.batch_size),
              decay=False, widths=tuple(widths), tta=False, seed=args.seed, whitening=data.whitening,
              on_step=measure, device="cpu", progress=False)
    write(round(r.cpu_seconds, 1))
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
