"""Steps to a target test accuracy against batch size on CIFAR-10, and the fit S(B) = S_min (1 + B_crit/B).

Chapter 3's figure of the two regimes, measured as Shallue et al. (2019) measure it, scaled down
to a CPU: the small CifarNet (widths 16-32-64) on the 5,085-image CIFAR-10 subset.

1. Tune. For each batch size B, the learning rate is searched on a grid of factors of 2 around the
   linear rule (--lr-per-64 x B / 64): from the rule, up while the steps to the target fall, else
   down while they fall, so that the best rate has a worse neighbour on both sides. Each tuning run trains on the
   training split (4,068 images), is evaluated on the validation split (1,017 images carved from
   the training subset, benchmarks/ch03_shared), and stops at the target or as soon as it is slower than
   the best so far. One seed (--tune-seed) per rate.
2. Measure. At its chosen rate, each batch size trains again with --seeds fresh seeds, evaluated on
   the test split on a grid fine enough to bracket the crossing within --resolution (relative),
   from 0.6 times the tuned steps on; steps to target are interpolated inside that bracket.
3. Fit S(B) to the mean steps per batch size; its interval is a bootstrap over seeds within each
   batch size (course_lib.protocol.bootstrap_groups), refitting each time.

Every run keeps a constant learning rate after a linear warm-up of --warmup-images images.

    nice -n 5 .venv/bin/python benchmarks/ch03_batch_size_sweep.py --data ../shared/data/cifar10-subset

Writes benchmarks/results/ch03_batch_size_sweep.json (read by book/ch03/index.md). CPU, one thread.
Finished runs are cached (--cache), so a stopped sweep resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ch03_shared
from course_lib.batch_sweep import crossing, evaluation_steps, fit_steps_vs_batch
from course_lib.cifar_trainer import train
from course_lib.protocol import bootstrap_groups, summarize

RESULTS = Path(__file__).parent / "results" / "ch03_batch_size_sweep.json"
TIMING_WARMUP_STEPS = 3          # the first steps of a run allocate memory: left out of its speed


def one_run(data, cache, args, *, phase, batch_size, factor, seed, eval_steps, cap):
    """One training run (or its cached result): steps to target, bracket, curve, CPU-seconds."""
    lr = args.lr_per_64 * batch_size / 64 * 2.0 ** factor
    key = f"{phase}/B={batch_size}/factor={factor}/seed={seed}/cap={cap}/target={args.target}"
    if (run := cache.get(key)) is not None:
        return run
    on_test = phase == "measure"
    eval_x, eval_y = (data.test_x, data.test_y) if on_test else (data.val_x, data.val_y)
    c0 = time.process_time()
    r = train(data.train_x, data.train_y, eval_x, eval_y, steps=cap, batch_size=batch_size, lr=lr,
              warmup=max(1, args.warmup_images // batch_size), decay=False, widths=tuple(args.widths), tta=False,
              eval_at=[s for s in eval_steps if s <= cap], stop_at=args.target, seed=seed,
              whitening=data.whitening, device="cpu", progress=False)
    cross = crossing(r.curve, args.target)
    timed = r.step_cpu_seconds[TIMING_WARMUP_STEPS:]
    run = {"key": key, "phase": phase, "evaluated_on": "test" if on_test else "validation",
           "batch_size": batch_size, "lr": lr, "lr_factor_of_linear_rule": 2.0 ** factor, "seed": seed,
           "steps_cap": cap, "steps_run": len(r.losses),
           "crossing": None if cross is None else {"steps": cross.step, "before": cross.before, "after": cross.after,
                                                     "resolution": cross.resolution},
           "curve": [[s, a] for s, a in r.curve],
           "train_cpu_seconds": round(r.cpu_seconds, 2), "cpu_seconds": round(time.process_time() - c0, 2),
           "images_per_cpu_second": round(len(timed) * batch_size / sum(timed), 1) if timed else None}
    print(f"{phase:7s} B={batch_size:4d} lr={lr:.4g} seed={seed}: "
          + (f"{cross.step:.1f} steps ({cross.before}..{cross.after})" if cross else f"not reached in {cap} steps")
          + f", {run['cpu_seconds']} CPU-s", flush=True)
    return cache.put(run)


def tune(data, cache, args, batch_size):
    """Line search over factors of 2 of the linear rule, on validation; returns (best factor, runs)."""
    first = max(1, args.floor_images // batch_size)
    max_steps = args.max_images // batch_size
    results = {}

    def attempt(factor):
        best = min((r["crossing"]["steps"] for r in results.values() if r["crossing"]), default=None)
        cap = max_steps if best is None else min(max_steps, math.ceil(best * 1.02) + 1)   # slower than best: stop
        grid = evaluation_steps(first, cap, args.tune_resolution)
        results[factor] = one_run(data, cache, args, phase="tune", batch_size=batch_size, factor=factor,
                                  seed=args.tune_seed, eval_steps=grid, cap=cap)

    def steps(factor):
        c = results[factor]["crossing"]
        return c["steps"] if c else math.inf

    attempt(0)
    for direction in (+1, -1):                  # up while it gets faster; down only if up did not
        factor = direction
        attempt(factor)
        while steps(factor) < min(steps(f) for f in results if f != factor) and abs(factor) < args.max_factor:
            factor += direction
            attempt(factor)
        if steps(direction) < steps(0):
            break
    best = min(results, key=steps)
    if not math.isfinite(steps(best)):
        raise RuntimeError(f"B={batch_size}: no learning rate reached the target {args.target} on validation")
    return best, [results[f] for f in sorted(results)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.npz and test.npz (images, labels)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256, 512])
    ap.add_argument("--measure-batch-sizes", type=int, nargs="+",
                    help="measure on test only these of the tuned batch sizes (default: all), when CPU time is short")
    ap.add_argument("--cached-only", action="store_true",
                    help="train nothing: write the results from the cached runs, each batch size with the seeds "
                         "it finished (at least 2; fewer and it is left out as not measured)")
    ap.add_argument("--target", type=float, default=0.50, help="accuracy to reach (validation to tune, test to measure)")
    ap.add_argument("--lr-per-64", type=float, default=0.05, help="where the search starts: this at batch 64, linear in B")
    ap.add_argument("--max-factor", type=int, default=4, help="search at most 2**this above or below the linear rule")
    ap.add_argument("--warmup-images", type=int, default=2048, help="linear warm-up length in images (steps = this / B)")
    ap.add_argument("--max-images", type=int, default=60_000, help="give up after this many training images")
    ap.add_argument("--floor-images", type=int, default=2048, help="first evaluation after this many images")
    ap.add_argument("--tune-resolution", type=float, default=0.15, help="evaluation grid of tuning runs (relative)")
    ap.add_argument("--resolution", type=float, default=0.04, help="evaluation grid of measured runs (relative)")
    ap.add_argument("--widths", type=int, nargs=3, default=[16, 32, 64])
    ap.add_argument("--tune-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="fresh seeds for the measurement")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ch03_batch_size_sweep.runs.jsonl")
    ap.add_argument("--read-cache", type=Path, nargs="*", default=[],
                    help="more caches to reuse runs from (processes that measured other batch sizes at once)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.cached_only:
        def no_training(*a, **k):
            raise SystemExit("--cached-only: a tuning run is missing from the caches")
        globals()["train"] = no_training
    if args.tune_seed in args.seeds:
        raise SystemExit("the measured seeds must be fresh: --seeds may not hold --tune-seed")

    data = ch03_shared.load(args.data)
    cache = ch03_shared.RunCache(args.cache, also=args.read_cache)
    c0 = time.process_time()
    tuned, tuning_runs, measured = {}, [], {}
    for b in args.batch_sizes:
        tuned[b], runs = tune(data, cache, args, b)
        tuning_runs += runs
    measured_sizes = [b for b in args.batch_sizes if not args.measure_batch_sizes or b in args.measure_batch_sizes]
    for b in measured_sizes:
        s_tune = next(r for r in tuning_runs if r["batch_size"] == b
                      and r["lr_factor_of_linear_rule"] == 2.0 ** tuned[b])["crossing"]["steps"]
        first, fine_from = max(1, args.floor_images // b), max(1, int(0.6 * s_tune))
        coarse = evaluation_steps(first, fine_from, 0.25) if first < fine_from else []
        cap = min(args.max_images // b, math.ceil(3 * s_tune))
        fine = evaluation_steps(fine_from, cap, args.resolution)
        if args.cached_only:
            keys = [f"measure/B={b}/factor={tuned[b]}/seed={s}/cap={cap}/target={args.target}" for s in args.seeds]
            measured[b] = [cache.get(k) for k in keys if cache.get(k) is not None]
            if len(measured[b]) < 2:
                del measured[b]
            continue
        measured[b] = [one_run(data, cache, args, phase="measure", batch_size=b, factor=tuned[b], seed=s,
                               eval_steps=sorted(set(coarse + fine)), cap=cap) for s in args.seeds]
    measured_sizes = [b for b in measured_sizes if b in measured]

    reached = {b: [r["crossing"]["steps"] for r in runs if r["crossing"]] for b, runs in measured.items()}
    missing = {b: len(measured[b]) - len(v) for b, v in reached.items() if len(v) < len(measured[b])}
    if missing:
        print(f"runs that did not reach the target on test (left out of the fit): {missing}")
    bs = [b for b in measured_sizes if reached[b]]

    def fit(groups):
        return fit_steps_vs_batch(bs, [np.mean(g) for g in groups])

    s_min, b_crit = fit([reached[b] for b in bs])
    (s_lo, s_hi), (b_lo, b_hi) = bootstrap_groups([reached[b] for b in bs], fit, resamples=2000)
    print(f"fit: S_min = {s_min:.1f} steps (95% {s_lo:.1f}..{s_hi:.1f}), B_crit = {b_crit:.0f} (95% {b_lo:.0f}..{b_hi:.0f})")
    per_batch = []
    for b in measured_sizes:
        s = summarize(reached[b]) if len(reached[b]) >= 2 else None
        brackets = [r["crossing"]["resolution"] for r in measured[b] if r["crossing"]]
        per_batch.append({"batch_size": b, "lr": measured[b][0]["lr"],
                          "lr_factor_of_linear_rule": 2.0 ** tuned[b], "seeds": [r["seed"] for r in measured[b]],
                          "steps_per_seed": reached[b], "steps_mean": s.mean if s else None,
                          "steps_sd": s.sd if s else None, "steps_ci95": [s.low, s.high] if s else None,
                          "widest_bracket": max(brackets) if brackets else None,
                          "cpu_seconds": round(sum(r["cpu_seconds"] for r in measured[b]), 1)})
    all_runs = tuning_runs + [r for runs in measured.values() for r in runs]
    out = {"what": "steps to a target accuracy vs batch size, CifarNet 16-32-64, learning rate tuned per batch "
                   "size on validation, steps measured on test with fresh seeds",
           "data": data.record(), **ch03_shared.machine(), "args": {k: (str(v) if isinstance(v, Path) else v)
                                                                   for k, v in vars(args).items()},
           "target": args.target, "tuned_on": "validation", "measured_on": "test",
           "per_batch": per_batch,
           "tuned_not_measured": [{"batch_size": b, "lr": args.lr_per_64 * b / 64 * 2.0 ** tuned[b],
                                   "lr_factor_of_linear_rule": 2.0 ** tuned[b]}
                                  for b in args.batch_sizes if b not in measured_sizes],
           "fit": {"s_min": s_min, "b_crit": b_crit, "s_min_ci95": [s_lo, s_hi], "b_crit_ci95": [b_lo, b_hi],
                   "how": "least squares on relative error to the mean steps per batch size; interval: "
                          "2,000 bootstrap resamples of the seeds within each batch size, refitted"},
           "runs": all_runs,
           "cpu_seconds": {"tuning": round(sum(r["cpu_seconds"] for r in tuning_runs), 1),
                           "measurement": round(sum(r["cpu_seconds"] for r in all_runs if r["phase"] == "measure"), 1),
                           "this_invocation": round(time.process_time() - c0, 1)}}
    RESULTS.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
