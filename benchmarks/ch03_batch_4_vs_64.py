"""Chapter 3's opening question, answered with its own runs: batch 4 against batch 64 for the same epochs.

A learner changed the CIFAR-10 tutorial's batch size from 4 to 64, kept everything else, and saw
the test accuracy drop. Three arms, each trained for --epochs epochs of the training split
(4,068 images of the 5,085-image CIFAR-10 subset) with the small CifarNet (widths 16-32-64):

- B = 4 at learning rate eta (no warm-up), eta tuned for B = 4 on the validation split;
- B = 64 at the same eta: the learner's change, 16 times fewer steps;
- B = 64 at 16 eta, reached by a linear warm-up from eta over the first --warmup-images images
  (Goyal et al. 2017's two rules).

eta is searched on a grid of factors of 2 (up while the validation accuracy rises, else down),
one tuning seed per rate. Then each arm runs --seeds fresh seeds and reads the test split once,
at the end; course_lib.protocol.compare turns the per-seed accuracies into the verdicts.

    nice -n 5 .venv/bin/python benchmarks/ch03_batch_4_vs_64.py --data ../shared/data/cifar10-subset

Writes benchmarks/results/ch03_batch_4_vs_64.json (read by book/ch03/index.md). CPU, one thread.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import ch03_shared
from course_lib.cifar_trainer import train
from course_lib.protocol import compare, summarize

RESULTS = Path(__file__).parent / "results" / "ch03_batch_4_vs_64.json"


def goyal_schedule(eta: float, k: float, warmup_steps: int):
    """Goyal et al.: from eta, up by the same amount each step to k eta after warmup_steps, then constant."""
    return lambda step: eta + (k * eta - eta) * min(1.0, step / warmup_steps)


def one_run(data, cache, args, *, arm, batch_size, eta, k, seed, on_test):
    key = f"{arm}/B={batch_size}/eta={eta:.6g}/k={k}/seed={seed}/epochs={args.epochs}/test={on_test}"
    if (run := cache.get(key)) is not None:
        return run
    steps = args.epochs * (len(data.train_y) // batch_size)
    warmup = max(1, args.warmup_images // batch_size) if k != 1 else 1
    eval_x, eval_y = (data.test_x, data.test_y) if on_test else (data.val_x, data.val_y)
    c0 = time.process_time()
    r = train(data.train_x, data.train_y, eval_x, eval_y, steps=steps, batch_size=batch_size,
              schedule=goyal_schedule(eta, k, warmup), widths=tuple(args.widths), tta=False, seed=seed,
              whitening=data.whitening, device="cpu", progress=False)
    run = {"key": key, "arm": arm, "batch_size": batch_size, "lr": eta, "lr_after_warmup": k * eta,
           "warmup_steps": warmup if k != 1 else 0, "seed": seed, "steps": steps, "epochs": args.epochs,
           "evaluated_on": "test" if on_test else "validation", "accuracy": r.accuracy,
           "train_cpu_seconds": round(r.cpu_seconds, 2), "cpu_seconds": round(time.process_time() - c0, 2)}
    print(f"{arm:22s} B={batch_size:3d} lr={eta:.4g}->{k * eta:.4g} seed={seed}: "
          f"{'test' if on_test else 'validation'} accuracy {r.accuracy:.1%}, {run['cpu_seconds']} CPU-s", flush=True)
    return cache.put(run)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.npz and test.npz (images, labels)")
    ap.add_argument("--epochs", type=int, default=2, help="the tutorial trains for 2 epochs")
    ap.add_argument("--eta-start", type=float, default=0.00625, help="where the search for B = 4's eta starts")
    ap.add_argument("--max-factor", type=int, default=4)
    ap.add_argument("--warmup-images", type=int, default=2048, help="warm-up length of the third arm, in images")
    ap.add_argument("--widths", type=int, nargs=3, default=[16, 32, 64])
    ap.add_argument("--tune-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ch03_batch_4_vs_64.runs.jsonl")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.tune_seed in args.seeds:
        raise SystemExit("the measured seeds must be fresh: --seeds may not hold --tune-seed")
    data = ch03_shared.load(args.data)
    cache = ch03_shared.RunCache(args.cache)
    c0 = time.process_time()

    # 1. eta for B = 4, on validation
    tuning = {}

    def accuracy(factor):
        if factor not in tuning:
            tuning[factor] = one_run(data, cache, args, arm="tune B=4", batch_size=4,
                                     eta=args.eta_start * 2.0 ** factor, k=1, seed=args.tune_seed, on_test=False)
        return tuning[factor]["accuracy"]

    accuracy(0)
    for direction in (+1, -1):
        factor = direction
        while accuracy(factor) > max(accuracy(f) for f in tuning if f != factor) and abs(factor) < args.max_factor:
            factor += direction
        if accuracy(direction) > accuracy(0):
            break
    best = max(tuning, key=accuracy)
    eta = args.eta_start * 2.0 ** best
    print(f"eta for B=4: {eta:.4g} (validation accuracy {accuracy(best):.1%})")

    # 2. the three arms, fresh seeds, test read once per run
    arms = {"B=4": (4, 1), "B=64, same lr": (64, 1), "B=64, 16x lr + warm-up": (64, 16)}
    runs = {name: [one_run(data, cache, args, arm=name, batch_size=b, eta=eta, k=k, seed=s, on_test=True)
                   for s in args.seeds] for name, (b, k) in arms.items()}
    acc = {name: [r["accuracy"] for r in rs] for name, rs in runs.items()}
    verdicts = {}
    for a, b in (("B=64, same lr", "B=4"), ("B=64, 16x lr + warm-up", "B=4"), ("B=64, 16x lr + warm-up", "B=64, same lr")):
        d = compare(acc[a], acc[b])
        verdicts[f"{a} vs {b}"] = {"diff": d.diff, "ci95": [d.low, d.high], "word": d.word}
        print(d.sentence(a, b, "test accuracy", " points", scale=100))
    all_runs = list(tuning.values()) + [r for rs in runs.values() for r in rs]
    out = {"what": "batch 4 vs batch 64 for the same epochs: same lr, then linear scaling with warm-up",
           "data": data.record(), **ch03_shared.machine(),
           "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "tuned": {"what": "eta for B = 4", "on": "validation", "seed": args.tune_seed, "eta": eta,
                     "grid": {f"{r['lr']:.6g}": r["accuracy"] for r in sorted(tuning.values(), key=lambda r: r["lr"])}},
           "arms": {name: {"batch_size": arms[name][0], "lr": eta, "lr_after_warmup": arms[name][1] * eta,
                           "steps": runs[name][0]["steps"], "seeds": args.seeds, "accuracy_per_seed": acc[name],
                           "summary": vars(summarize(acc[name]))} for name in arms},
           "verdicts": verdicts, "runs": all_runs,
           "cpu_seconds": {"tuning": round(sum(r["cpu_seconds"] for r in tuning.values()), 1),
                           "arms": round(sum(r["cpu_seconds"] for rs in runs.values() for r in rs), 1),
                           "this_invocation": round(time.process_time() - c0, 1)}}
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
