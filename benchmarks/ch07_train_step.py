"""One training step of chapter 7's model: course_lib.tensor against tinygrad (0.14, CPU) and PyTorch.

    .venv/bin/pip install tinygrad==0.14.0                      # only this benchmark needs it
    .venv/bin/python benchmarks/ch07_train_step.py            # the full run (several minutes on a CPU)
    .venv/bin/python benchmarks/ch07_train_step.py --quick    # 2 blocks of 2 steps, small sizes

The model is course_lib.charmlp (a character MLP on tiny Shakespeare: 8 characters of context, 16-wide
embeddings, a tanh hidden layer, 65 logits), at two sizes: the chapter's (hidden 256, batch 64) and
a larger one (hidden 1024, batch 512). Every library starts from the same weights and trains on the
same batches with the same code (charmlp.mlp_loss): tinygrad and course_lib through the very same
function (charmlp.sgd_step), PyTorch through charmlp.sgd_step_torch. Variants:

  course_lib          course_lib.tensor, generated C kernels (compiled during warm-up, then cached)
  tinygrad            tinygrad's Tensor on its CPU device, eager (every step schedules its graph again)
  tinygrad TinyJit    the same step captured by tinygrad's TinyJit after two calls, then replayed
  torch               PyTorch eager, one thread

Side by side in one process, one thread (torch.set_num_threads(1)): blocks of steps, the variants
alternating block by block in a rotating order; the first WARMUP steps of each variant are dropped.
CPU-seconds of this process (every thread) per step. The losses of each step are recorded too: the
libraries compute the same function on the same numbers, so they must agree.
Writes benchmarks/results/ch07_train_step.json (the chapter 7 page reads it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from course_lib import charmlp, lazy
from course_lib.chardata import tiny_shakespeare_path, train_val_split
from course_lib.protocol import compare, summarize
from course_lib.tensor import Tensor

OUT = Path(__file__).resolve().parent / "results" / "ch07_train_step.json"
SIZES = {"chapter": {"hidden": 256, "batch": 64}, "large": {"hidden": 1024, "batch": 512}}
CONTEXT, EMBED, LR = 8, 16, 0.1


def make_variants(params, vocab):
    import tinygrad

    tg = tinygrad.Tensor
    ours = {k: Tensor(v) for k, v in params.items()}
    tiny = {k: tg(v).realize() for k, v in params.items()}
    tiny_jit_params = {k: tg(v).realize() for k, v in params.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}

    @tinygrad.TinyJit
    def jitted(X, Y):
        return charmlp.sgd_step(tg, tiny_jit_params, X, Y, LR)

    return {
        "course_lib": lambda X, Y: charmlp.sgd_step(Tensor, ours, Tensor(X), Tensor(Y), LR).item(),
        "tinygrad": lambda X, Y: charmlp.sgd_step(tg, tiny, tg(X), tg(Y), LR).item(),
        "tinygrad TinyJit": lambda X, Y: jitted(tg(X), tg(Y)).item(),
        "torch": lambda X, Y: charmlp.sgd_step_torch(theirs, torch.from_numpy(X), torch.from_numpy(Y), LR).item(),
    }


def run(size, ids, vocab, blocks, steps, warmup) -> dict:
    params = charmlp.init_params(vocab, CONTEXT, EMBED, SIZES[size]["hidden"], seed=0)
    rng = np.random.default_rng(1)
    n_batches = warmup + blocks * steps
    batches = [charmlp.windows(ids, CONTEXT, rng.integers(0, len(ids) - CONTEXT - 1, SIZES[size]["batch"]), vocab)
               for _ in range(n_batches)]
    fns = make_variants(params, vocab)
    names = list(fns)
    losses = {n: [] for n in names}
    for n in names:                                      # warm-up: compile, capture, fill caches
        for X, Y in batches[:warmup]:
            losses[n].append(fns[n](X, Y))
    seconds = {n: [] for n in names}
    for b in range(blocks):
        block = batches[warmup + b * steps: warmup + (b + 1) * steps]
        for n in names[b % len(names):] + names[:b % len(names)]:
            start = time.process_time()
            for X, Y in block:
                losses[n].append(fns[n](X, Y))
            seconds[n].append((time.process_time() - start) / steps)
    ref = np.array(losses["torch"])
    result = {"size": SIZES[size], "context": CONTEXT, "embed": EMBED, "vocab": vocab, "lr": LR,
              "parameters": int(sum(v.size for v in params.values())), "blocks": blocks, "steps_per_block": steps,
              "warmup_steps": warmup, "seconds_per_step": seconds,
              "summary": {n: vars(summarize(v)) for n, v in seconds.items()}, "losses": losses,
              "max_loss_difference_from_torch": {n: float(np.abs(np.array(v) - ref).max()) for n, v in losses.items()},
              "comparisons": {}}
    for other in names[1:]:
        d = compare(seconds[other], seconds["course_lib"], min_seeds=min(5, blocks))
        result["comparisons"][other] = {"ratio_other_over_course_lib": d.ratio, "word": d.word,
                                        "low": d.low, "high": d.high}
        print(f"{size:8s} course_lib {np.mean(seconds['course_lib']) * 1e3:8.1f} ms/step   {other:17s} "
              f"{np.mean(seconds[other]) * 1e3:8.1f} ms/step  (x{d.ratio:.2f}; {other} takes {d.word} time)")
    print(f"{size:8s} largest loss difference from torch: {result['max_loss_difference_from_torch']}")
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lazy.set_backend("c")
    import tinygrad

    path = Path(args.data) if Path(args.data).exists() else tiny_shakespeare_path()
    tok, train_ids, _ = train_val_split(path.read_text())
    plan = {"chapter": (2, 2, 3), "large": (2, 1, 3)} if args.quick else {"chapter": (7, 10, 5), "large": (5, 2, 3)}
    from importlib.metadata import version

    results = {"sizes": {}, "tinygrad": version("tinygrad"), "tinygrad_device": tinygrad.Device.DEFAULT,
               "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
               "python": platform.python_version(), "compiler": lazy._compiler().cc, "data": path.name}
    for size, (blocks, steps, warmup) in plan.items():
        results["sizes"][size] = run(size, train_ids.astype(np.int64), tok.vocab_size, blocks, steps, warmup)
    if not args.quick:
        OUT.write_text(json.dumps(results, indent=1))
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
