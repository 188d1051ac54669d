"""Steps to a target test accuracy versus batch size on CIFAR-10, and the fit S(B) = S_min (1 + B_crit/B).

Chapter 3's figure of the two regimes (Shallue et al. 2018). Each batch size trains the same small
CifarNet from the same seed with the linear learning-rate scaling rule and a linear warm-up (Goyal
et al. 2017), a constant rate after warm-up, and stops once the test accuracy reaches the target.

    nice -n 5 .venv/bin/python benchmarks/ch03_batch_size_sweep.py --data ../shared/data/cifar10-subset

Writes benchmarks/results/ch03_batch_size_sweep.json (read by book/ch03/index.md). CPU, one thread.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from course_lib import cifar10
from course_lib.batch_sweep import fit_steps_vs_batch, steps_to_target
from course_lib.cifar_trainer import train

RESULTS = Path(__file__).parent / "results" / "ch03_batch_size_sweep.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.npz and test.npz (images, labels)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    ap.add_argument("--target", type=float, default=0.40, help="test accuracy to reach")
    ap.add_argument("--lr-per-64", type=float, default=0.05, help="learning rate at batch 64; scaled linearly with B")
    ap.add_argument("--warmup-images", type=int, default=2048, help="warm-up length in images (steps = this / B)")
    ap.add_argument("--max-images", type=int, default=60_000, help="give up after this many training images")
    ap.add_argument("--eval-images", type=int, default=1024, help="evaluate every this many training images")
    ap.add_argument("--widths", type=int, nargs=3, default=[16, 32, 64])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)

    train_x, train_y = cifar10.load_npz(Path(args.data) / "train.npz")
    test_x, test_y = cifar10.load_npz(Path(args.data) / "test.npz")
    runs = []
    for b in args.batch_sizes:
        lr = args.lr_per_64 * b / 64
        c0 = time.process_time()
        r = train(train_x, train_y, test_x, test_y, steps=max(1, args.max_images // b), batch_size=b, lr=lr,
                  warmup=max(1, args.warmup_images // b), decay=False, widths=tuple(args.widths), tta=False,
                  eval_every=max(1, args.eval_images // b), stop_at=args.target, seed=args.seed, device="cpu",
                  progress=False)
        steps = steps_to_target(r.curve, args.target)
        runs.append({"batch_size": b, "lr": lr, "steps_to_target": steps, "curve": r.curve,
                     "train_cpu_seconds": round(r.cpu_seconds, 2), "cpu_seconds": round(time.process_time() - c0, 2),
                     "images_per_cpu_second": round(len(r.losses) * b / r.cpu_seconds, 1)})
        print(f"B={b:5d} lr={lr:.4f}: {steps} steps to {args.target:.0%} "
              f"({runs[-1]['cpu_seconds']} CPU-s, {runs[-1]['images_per_cpu_second']} img/CPU-s)", flush=True)
    reached = [(r["batch_size"], r["steps_to_target"]) for r in runs if r["steps_to_target"]]
    s_min, b_crit = fit_steps_vs_batch(*zip(*reached)) if len(reached) >= 2 else (None, None)
    print(f"fit: S_min = {s_min:.1f} steps, B_crit = {b_crit:.0f}" if s_min else "fewer than 2 runs reached the target")
    out = {"what": "steps to a test accuracy target vs batch size, CifarNet, linear lr scaling + warm-up",
           "data": f"{len(train_y)}-image CIFAR-10 subset (train), {len(test_y)} test images",
           "device": f"CPU, 1 thread ({platform.processor() or platform.machine()})", "torch": torch.__version__,
           "args": vars(args), "runs": runs, "fit": {"s_min": s_min, "b_crit": b_crit}}
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
