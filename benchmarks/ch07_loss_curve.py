"""Chapter 7's model trained by course_lib.tensor and by PyTorch: the same loss curve.

    .venv/bin/python benchmarks/ch07_loss_curve.py            # the full run (a few minutes on a CPU)
    .venv/bin/python benchmarks/ch07_loss_curve.py --quick    # 2 seeds, 60 steps

course_lib.charmlp (8 characters of context, 16-wide embeddings, 256 tanh units, 65 logits) on tiny
Shakespeare, plain SGD, batch 64. The protocol (CONTRIBUTING.md): the learning rate is tuned on a
validation split (the last 10% of nanoGPT's training split) with PyTorch and seed 0; then seeds 1-5,
not used for tuning, each train both libraries from the same initial weights on the same batches; the
test split (nanoGPT's validation split, the text's last 10%) is read once, at the end. Equal work:
the same steps, batches and arithmetic on both sides. Recorded: every step's training loss, the
validation loss every EVAL_EVERY steps (the same 10 batches each time), the final test loss, and the
largest difference between the two libraries' losses. Writes benchmarks/results/ch07_loss_curve.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from course_lib import charmlp, lazy
from course_lib.chardata import tiny_shakespeare_path, train_val_split
from course_lib.protocol import compare, summarize
from course_lib.tensor import Tensor

OUT = Path(__file__).resolve().parent / "results" / "ch07_loss_curve.json"
CONTEXT, EMBED, HIDDEN, BATCH = 8, 16, 256, 64
LRS = (0.03, 0.1, 0.3, 1.0)
EVAL_EVERY, EVAL_BATCHES = 100, 10


def batches(ids, vocab, n, seed):
    rng = np.random.default_rng(seed)
    return [charmlp.windows(ids, CONTEXT, rng.integers(0, len(ids) - CONTEXT - 1, BATCH), vocab) for _ in range(n)]


class Course:
    def __init__(self, params):
        self.p = {k: Tensor(v) for k, v in params.items()}

    def step(self, X, Y, lr):
        return charmlp.sgd_step(Tensor, self.p, Tensor(X), Tensor(Y), lr).item()

    def loss(self, X, Y):
        return charmlp.mlp_loss(self.p, Tensor(X), Tensor(Y)).item()


class Torch:
    def __init__(self, params):
        self.p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}

    def step(self, X, Y, lr):
        return charmlp.sgd_step_torch(self.p, torch.from_numpy(X), torch.from_numpy(Y), lr).item()

    def loss(self, X, Y):
        with torch.no_grad():
            return charmlp.mlp_loss(self.p, torch.from_numpy(X), torch.from_numpy(Y)).item()


def train(lib, params, train_b, eval_b, lr):
    model = lib(params)
    curve, evals = [], []
    start = time.process_time()
    for i, (X, Y) in enumerate(train_b):
        if i % EVAL_EVERY == 0:
            evals.append((i, float(np.mean([model.loss(X, Y) for X, Y in eval_b]))))
        curve.append(model.step(X, Y, lr))
    evals.append((len(train_b), float(np.mean([model.loss(X, Y) for X, Y in eval_b]))))
    return model, {"train": curve, "eval": evals, "cpu_seconds": time.process_time() - start}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lazy.set_backend("c")
    path = Path(args.data) if Path(args.data).exists() else tiny_shakespeare_path()
    tok, train_ids, test_ids = train_val_split(path.read_text())
    cut = int(len(train_ids) * 0.9)
    fit_ids, val_ids = train_ids[:cut].astype(np.int64), train_ids[cut:].astype(np.int64)
    test_ids = test_ids.astype(np.int64)
    V = tok.vocab_size
    steps, tune_steps, seeds = (60, 30, [1, 2]) if args.quick else (1500, 600, [1, 2, 3, 4, 5])
    val_b, test_b = batches(val_ids, V, EVAL_BATCHES, 100), batches(test_ids, V, 4 * EVAL_BATCHES, 200)

    tuning = {}
    for lr in LRS:                                              # tuned on validation, PyTorch, seed 0
        _, run = train(Torch, charmlp.init_params(V, CONTEXT, EMBED, HIDDEN, seed=0), batches(fit_ids, V, tune_steps, 0),
                       val_b, lr)
        tuning[str(lr)] = run["eval"][-1][1]
        print(f"tuning: lr {lr}: validation loss {tuning[str(lr)]:.4f} after {tune_steps} steps")
    lr = float(min(tuning, key=tuning.get))

    runs = {"course_lib": {}, "torch": {}}
    for seed in seeds:
        params = charmlp.init_params(V, CONTEXT, EMBED, HIDDEN, seed=seed)
        train_b = batches(fit_ids, V, steps, seed)
        for name, lib in (("course_lib", Course), ("torch", Torch)):
            model, run = train(lib, params, train_b, val_b, lr)
            run["test_loss"] = float(np.mean([model.loss(X, Y) for X, Y in test_b]))   # read once, at the end
            runs[name][str(seed)] = run
        a, b = runs["course_lib"][str(seed)], runs["torch"][str(seed)]
        diff = float(np.abs(np.array(a["train"]) - np.array(b["train"])).max())
        print(f"seed {seed}: test loss course_lib {a['test_loss']:.4f}, torch {b['test_loss']:.4f}; largest "
              f"difference between the training curves {diff:.2e}; CPU-s {a['cpu_seconds']:.1f} / {b['cpu_seconds']:.1f}")

    tests = {n: [r["test_loss"] for r in runs[n].values()] for n in runs}
    diffs = [float(np.abs(np.array(runs["course_lib"][s]["train"]) - np.array(runs["torch"][s]["train"])).max())
             for s in runs["torch"]]
    d = compare(tests["course_lib"], tests["torch"], min_seeds=min(5, len(seeds)))
    results = {"config": {"context": CONTEXT, "embed": EMBED, "hidden": HIDDEN, "batch": BATCH, "steps": steps,
                          "vocab": V, "eval_every": EVAL_EVERY, "eval_batches": EVAL_BATCHES},
               "splits": {"fit": len(fit_ids), "validation": len(val_ids), "test": len(test_ids),
                          "how": "fit/validation: nanoGPT's training split cut 90/10; test: nanoGPT's validation split"},
               "tuning": {"on": "validation", "library": "torch", "seed": 0, "steps": tune_steps,
                          "validation_loss_by_lr": tuning, "lr": lr},
               "seeds": seeds, "runs": runs, "test_loss": {n: vars(summarize(v)) for n, v in tests.items()},
               "test_loss_difference": {"diff": d.diff, "low": d.low, "high": d.high, "word": d.word},
               "max_train_loss_difference": max(diffs), "torch": torch.__version__}
    print(f"test loss: {d.sentence('course_lib', 'PyTorch', 'test loss')}")
    if not args.quick:
        OUT.write_text(json.dumps(results))
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
