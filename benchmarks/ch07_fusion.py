"""Fused against one op at a time: GELU (tanh form) and softmax over 2^22 and 2^24 float32 numbers.

    .venv/bin/python benchmarks/ch07_fusion.py            # the full run (a few minutes on a CPU)
    .venv/bin/python benchmarks/ch07_fusion.py --quick    # 2^20 numbers, 3 rounds: a smoke run

Variants, side by side in one process, one thread, alternating in every round:
  course_lib fused       Tensor.gelu() / .softmax(): the scheduler's kernels (1 for GELU, 3 for softmax), generated C
  course_lib unfused     the same graph with one kernel per op (create_schedule(fuse=False)), generated C
  numpy                  the formula written op by op in numpy: every op a pass over memory, a new array
  torch ops              the same formula op by op in PyTorch (eager)
  torch library          F.gelu(approximate="tanh") / torch.softmax: one hand-written ATen kernel
  torch.compile          torch.compile of "torch ops" (Inductor generates and compiles a fused C++ kernel)
Each call's CPU-seconds (time.process_time, which counts every thread of this process) is recorded;
the first two rounds are warm-up and are dropped. Outputs are checked against numpy in float64.
Writes benchmarks/results/ch07_fusion.json (the chapter 7 page reads it).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from course_lib import lazy
from course_lib.protocol import compare, summarize
from course_lib.tensor import Tensor

OUT = Path(__file__).resolve().parent / "results" / "ch07_fusion.json"
C = math.sqrt(2 / math.pi)


def numpy_gelu(x):
    return 0.5 * x * (1 + np.tanh(np.float32(C) * (x + np.float32(0.044715) * x * x * x)))


def numpy_softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def torch_gelu_ops(x):
    return 0.5 * x * (1 + torch.tanh(C * (x + 0.044715 * x * x * x)))


def torch_softmax_ops(x):
    e = torch.exp(x - x.amax(1, keepdim=True))
    return e / e.sum(1, keepdim=True)


def reference(workload, x):
    x = x.astype(np.float64)
    return numpy_gelu(x) if workload == "gelu" else numpy_softmax(x)


def variants(workload, x):
    """name -> a function of no arguments that computes the workload on x (a (rows, 1024) float32 array)."""
    ours = Tensor(x)                                        # the input, in memory before the clock starts
    xt = torch.from_numpy(x)
    ours_fn = (lambda t: t.gelu()) if workload == "gelu" else (lambda t: t.softmax(-1))
    ops_fn = torch_gelu_ops if workload == "gelu" else torch_softmax_ops
    lib_fn = (lambda t: torch.nn.functional.gelu(t, approximate="tanh")) if workload == "gelu" else \
        (lambda t: torch.softmax(t, -1))
    compiled = torch.compile(ops_fn, dynamic=False)

    def unfused():
        out = ours_fn(ours).lazydata
        lazy.run_schedule(lazy.create_schedule([out], fuse=False))
        return out.realized

    return {
        "course_lib fused": lambda: ours_fn(ours).realize().lazydata.realized,
        "course_lib unfused": unfused,
        "numpy": lambda: (numpy_gelu if workload == "gelu" else numpy_softmax)(x),
        "torch ops": lambda: ops_fn(xt).numpy(),
        "torch library": lambda: lib_fn(xt).numpy(),
        "torch.compile": lambda: compiled(xt).numpy(),
    }


def schedule_stats(workload, x) -> dict:
    t = Tensor(x)
    y = t.gelu() if workload == "gelu" else t.softmax(-1)
    out = {}
    for fused in (True, False):
        ks = y.schedule(fuse=fused)
        out["fused" if fused else "unfused"] = {
            "kernels": len(ks), "ops": [k.ops for k in ks],
            "bytes_read": sum(k.bytes_read for k in ks), "bytes_written": sum(k.bytes_written for k in ks)}
    return out


def run(workload, n, rounds, warmup) -> dict:
    x = np.random.default_rng(0).standard_normal((n // 1024, 1024), dtype=np.float32)
    fns = variants(workload, x)
    want = reference(workload, x)
    for name, fn in fns.items():                             # correct, and compiled, before any clock
        got = np.asarray(fn(), dtype=np.float64)
        err = float(np.abs(got - want).max())
        assert err < 1e-5, f"{workload} {name}: max error {err}"
    seconds = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:     # a different order every round
            start = time.process_time()
            fns[name]()
            elapsed = time.process_time() - start
            if r >= warmup:
                seconds[name].append(elapsed)
    fused = seconds["course_lib fused"]
    result = {"n": n, "shape": list(x.shape), "seconds": seconds,
              "summary": {k: vars(summarize(v)) for k, v in seconds.items()},
              "schedule": schedule_stats(workload, x), "comparisons": {}}
    for other in names[1:]:
        d = compare(seconds[other], fused, min_seeds=min(5, len(fused)))
        result["comparisons"][other] = {"speedup_of_fused": d.ratio, "word": d.word, "low": d.low, "high": d.high}
        print(f"{workload:8s} 2^{int(math.log2(n))}: fused {np.mean(fused) * 1e3:7.1f} ms; {other:18s} "
              f"{np.mean(seconds[other]) * 1e3:7.1f} ms  ({d.ratio:4.1f}x, fused is faster: {d.word == 'higher'})")
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lazy.set_backend("c")
    sizes, rounds, warmup = ([1 << 20], 3, 1) if args.quick else ([1 << 22, 1 << 24], 9, 2)
    results = {"workloads": {}, "rounds_measured": rounds - warmup, "warmup_rounds": warmup,
               "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "machine": platform.processor(),
               "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
               "compiler": lazy._compiler().cc, "simd_math": lazy._compiler().simd}
    for workload in ("gelu", "softmax"):
        results["workloads"][workload] = {str(n): run(workload, n, rounds, warmup) for n in sizes}
    if not args.quick:
        OUT.write_text(json.dumps(results, indent=1))
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
