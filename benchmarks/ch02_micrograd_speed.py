"""course_lib's scalar engine (engine.py + nn.py) against the closure-based one students write in chapter 2.

    .venv/bin/python benchmarks/ch02_micrograd_speed.py            # the full run (a few minutes on a CPU)
    .venv/bin/python benchmarks/ch02_micrograd_speed.py --quick    # 10 steps, chains up to 10^5

Seconds are CPU-seconds of the measured process. The full run writes its figures to
benchmarks/results/ch02_micrograd_speed.json, which the chapter 2 page reads.

1. micrograd's demo: MLP(2, [16, 16, 1]) on 100 two-moons points, 100 full-batch steps of SGD on
   the SVM max-margin loss + 1e-4 * L2, learning rate 1.0 -> 0.1. Both engines start from the same
   weights (same seed, same draw order), so they must end at the same loss and accuracy. Each run
   is a fresh process, timed twice: with a bare heap (only numpy imported), and after `import torch` (what a notebook
   or a test cell has in memory, and what the cyclic garbage collector re-scans).
2. The deepest chain y = x + x + ... + x each engine can backpropagate through (10^3 ... 10^6),
   plus a recursive topological sort (the textbook one) for contrast.

The closure engine is NOT a copy: it is the answer cells of solutions/ch02/ch02.ipynb, executed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENGINE_CELLS = ("value", "backward", "derived_ops", "nn")


def load_student_engine() -> dict:
    """Value, Module, Neuron, Layer, MLP as written in the chapter 2 solution notebook."""
    import math
    import random

    nb = json.loads((REPO / "solutions" / "ch02" / "ch02.ipynb").read_text())
    cells = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): "".join(c["source"]) for c in nb["cells"]}
    namespace = {"__name__": "ch02_solution", "math": math, "random": random}
    for cell_id in ENGINE_CELLS:
        exec(compile(cells[cell_id], f"<ch02:{cell_id}>", "exec"), namespace)
    return namespace


# The textbook backward pass: a recursive depth-first topological sort (what a first engine writes,
# and what chapter 2 asks students to avoid), put on the closure engine for the chain-depth contrast.
RECURSIVE_BACKWARD = """
def backward(self):
    topo, visited = [], set()
    def build(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build(child)
            topo.append(v)
    build(self)
    self.grad = 1.0
    for v in reversed(topo):
        v._backward()

Value.backward = backward
"""


def load_engine(name: str) -> dict:
    if name == "course_lib":
        # importing course_lib loads no torch: its package names load lazily (bare-heap runs stay bare)
        from course_lib.engine import Value
        from course_lib.nn import MLP
        return {"Value": Value, "MLP": MLP}
    engine = load_student_engine()
    if name == "closures+recursion":
        exec(RECURSIVE_BACKWARD, engine)
    return engine


# ---- the demo -------------------------------------------------------------------------------------
def demo(engine_name: str, steps: int, with_torch: bool) -> dict:
    import random

    if with_torch:
        import torch  # noqa: F401  (only to fill the heap, as in a notebook)
    from course_lib.datasets import make_moons

    eng = load_engine(engine_name)
    Value, MLP = eng["Value"], eng["MLP"]
    X, y = make_moons(100, noise=0.1, seed=0)
    X, y = X.tolist(), (2 * y - 1).tolist()           # Python floats: numpy scalars are slow here
    random.seed(1337)
    model = MLP(2, [16, 16, 1])

    def loss():
        inputs = [[Value(v) for v in row] for row in X]
        scores = [model(x) for x in inputs]
        data_loss = sum((1 + -yi * si).relu() for yi, si in zip(y, scores)) * (1.0 / len(X))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        accuracy = sum((yi > 0) == (si.data > 0) for yi, si in zip(y, scores)) / len(X)
        return data_loss + reg_loss, accuracy

    start = time.process_time()
    for k in range(steps):
        total, accuracy = loss()
        model.zero_grad()
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
    seconds = time.process_time() - start
    return {"seconds": seconds, "loss": total.data, "accuracy": accuracy}


def deep_chain(engine_name: str, depth: int) -> dict:
    eng = load_engine(engine_name)
    x = eng["Value"](0.5)
    y = x
    start = time.process_time()
    for _ in range(depth):
        y = y + x
    try:
        y.backward()
    except RecursionError:
        return {"ok": False, "why": "RecursionError"}
    ok = x.grad == depth + 1
    del y                                              # freeing the graph is part of the test
    return {"ok": ok, "why": "" if ok else f"x.grad = {x.grad}", "seconds": time.process_time() - start}


# ---- driver: every measurement in its own process ----------------------------------------------
def in_subprocess(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    except subprocess.TimeoutExpired:
        return {"ok": False, "why": f"over {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"ok": False, "why": f"crashed ({tail[:60]})" if proc.returncode > 0 else f"killed by signal {-proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 steps, chains up to 10^5")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, engine, *rest = args.child
        if kind == "demo":
            print(json.dumps(demo(engine, int(rest[0]), rest[1] == "torch")))
        else:
            print(json.dumps(deep_chain(engine, int(rest[0]))))
        return

    steps = 10 if args.quick else 100
    depths = [10 ** k for k in range(3, 6 if args.quick else 7)]
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; demo: MLP(2, [16, 16, 1]), 100 moons, {steps} steps\n")
    print(f"{'heap':<12}{'engine':<14}{'CPU s':>9}{'final loss':>13}{'accuracy':>10}")
    results = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "steps": steps, "demo": {}, "chain": {}}
    for heap in ("bare", "torch"):
        runs = results["demo"][heap] = {}
        for engine in ("course_lib", "closures"):
            r = runs[engine] = in_subprocess(["demo", engine, str(steps), heap], timeout=3600)
            print(f"{heap:<12}{engine:<14}{r['seconds']:>9.2f}{r['loss']:>13.6f}{r['accuracy']:>10.0%}", flush=True)
        a, b = runs["course_lib"], runs["closures"]
        same = abs(a["loss"] - b["loss"]) <= 1e-9 * max(1.0, abs(b["loss"])) and a["accuracy"] == b["accuracy"]
        print(f"{'':<12}course_lib is {b['seconds'] / a['seconds']:.1f}x faster; "
              f"same final loss and accuracy: {'yes' if same else 'NO'}\n")

    print("deepest chain y = x + x + ... + x that backward() handles (each in a fresh process):")
    print(f"{'engine':<22}" + "".join(f"{d:>12,}" for d in depths))
    for engine in ("course_lib", "closures", "closures+recursion"):
        cells, failed = [], False
        for d in depths:
            if failed:
                cells.append("-")
                continue
            r = in_subprocess(["chain", engine, str(d)], timeout=600)
            cells.append(f"{r['seconds']:.1f} s" if r["ok"] else r["why"][:11])
            results["chain"].setdefault(engine, {})[str(d)] = r
            failed = not r["ok"]
        print(f"{engine:<22}" + "".join(f"{c:>12}" for c in cells), flush=True)
    if not args.quick:
        path = REPO / "benchmarks" / "results" / "ch02_micrograd_speed.json"
        path.write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nwritten: {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
