"""What scheduling costs: course_lib.lazy's scheduler against the size of the graph it schedules.

    .venv/bin/python benchmarks/ch07_scheduler.py            # the full run (about a minute)
    .venv/bin/python benchmarks/ch07_scheduler.py --quick

Two families of graphs, each at growing size:
  chain   x * 1.0001 + 0.5, repeated: n elementwise ops that fuse into ONE kernel
  mlp     an MLP of L tanh layers (width 64, batch 32), its loss, the gradient of every weight and
          an SGD update: many kernels (every matrix product and reduce is one)
For each graph: the LazyBuffers in it, the kernels, and the CPU-seconds (median of 5 repeats, one
thread) of building the graph with Tensor operations (and the gradient), of create_schedule (fusion and
lowering), and of printing the kernels as C (with the source cache emptied first). Nothing is compiled
or run. Writes benchmarks/results/ch07_scheduler.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from course_lib import lazy
from course_lib.tensor import Tensor

OUT = Path(__file__).resolve().parent / "results" / "ch07_scheduler.json"


def chain(n):
    x = Tensor(np.ones((64, 64), np.float32))
    y = x
    for _ in range(n // 2):
        y = y * 1.0001 + 0.5
    return [y]


def mlp(layers):
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((32, 64), np.float32))
    ws = [Tensor(rng.standard_normal((64, 64), np.float32) * 0.1) for _ in range(layers)]
    h = x
    for w in ws:
        h = (h @ w).tanh()
    loss = h.square().mean()
    grads = loss.gradient(*ws)
    return [loss] + [w - 0.1 * g for w, g in zip(ws, grads)]


def measure(build, size, repeats) -> dict:
    times = {"build": [], "schedule": [], "render_c": []}
    for _ in range(repeats):
        start = time.process_time()
        outs = build(size)
        times["build"].append(time.process_time() - start)
        roots = [lazy.unviewed(t.lazydata) for t in outs]
        start = time.process_time()
        kernels = lazy.create_schedule(roots)
        times["schedule"].append(time.process_time() - start)
        lazy.Backend.sources.clear()
        start = time.process_time()
        for k in kernels:
            lazy.kernel_source(k)
        times["render_c"].append(time.process_time() - start)
    nodes = len(lazy.toposort(roots, stop=lambda n: n.realized is not None))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"size": size, "nodes": nodes, "kernels": len(kernels), "seconds": times, "median_seconds": med,
            "nodes_per_second_scheduled": nodes / med["schedule"] if med["schedule"] else None,
            "kernels_per_second_rendered": len(kernels) / med["render_c"] if med["render_c"] else None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    plan = {"chain": [100, 1000], "mlp": [1, 4]} if args.quick else \
        {"chain": [10, 100, 1000, 10000], "mlp": [1, 2, 4, 8, 16, 32]}
    repeats = 2 if args.quick else 5
    results = {"python": platform.python_version(), "repeats": repeats, "families": {}}
    for family, sizes in plan.items():
        build = chain if family == "chain" else mlp
        results["families"][family] = []
        for size in sizes:
            r = measure(build, size, repeats)
            results["families"][family].append(r)
            m = r["median_seconds"]
            print(f"{family:6s} {size:6d}: {r['nodes']:6d} nodes, {r['kernels']:4d} kernels; build {m['build'] * 1e3:8.1f} ms, "
                  f"schedule {m['schedule'] * 1e3:8.1f} ms ({r['nodes_per_second_scheduled']:,.0f} nodes/s), "
                  f"C {m['render_c'] * 1e3:7.1f} ms")
    if not args.quick:
        OUT.write_text(json.dumps(results, indent=1))
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
