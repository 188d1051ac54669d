"""Benchmark: the course grader per notebook, against the grader it replaced and plain nbconvert.

    .venv/bin/python benchmarks/grading_throughput.py [--n 24] [--assignment ch00] [--base DIR] [--repeats 2]

Makes N submissions of one assignment (half the solution, a quarter the untouched student notebook,
a quarter the solution with its nbgrader metadata stripped, as Colab can leave it) and times, in one
run, alternating the order between repeats:
  new        `python -m autograder grade` of this checkout, --jobs 1 (tests outside the kernel, kernels
             forked from a warm zygote)
  old        the same command in another checkout (--base, e.g. a git worktree of the commit before
             issue 19: tests inside a fresh sandboxed ipykernel per notebook, the in-process guard)
  nbconvert  plain `jupyter nbconvert --to notebook --execute --allow-errors` of each notebook, one
             command per notebook, as an instructor would run it on a folder of files (no grading)
For each: wall seconds and CPU-seconds of the command and everything it started, sandboxes included
(a cpuacct cgroup per run, support/cpuacct.py), per notebook, and the ratios to nbconvert. The grader's totals include its
fixed costs (registering the assignment; for `new`, starting the zygote, a few seconds), which N
amortises. Checks that both graders give the expected scores. Writes
benchmarks/results/grading_throughput_<assignment>_n<N>.json.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from autograder import NOTEBOOKS, SOLUTIONS  # noqa: E402
from autograder import cells as nbcells  # noqa: E402
from autograder.config import nbgrader_config  # noqa: E402,F401 (puts the venv's scripts on PATH)
from support.cpuacct import CpuCounter  # noqa: E402  (benchmarks/support/: helpers, not benchmarks)


def make_submissions(aid: str, n: int, folder: Path) -> dict[str, float]:
    solution = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    stripped = copy.deepcopy(solution)
    for i, cell in enumerate(stripped.cells):
        cell.metadata, cell.id = {}, f"colab{i:04d}"
    full = nbcells.max_score(release)
    expected = {}
    for k in range(n):
        nb, score = [(solution, full), (solution, full), (release, 0.0), (stripped, full)][k % 4]
        nbformat.write(nb, folder / f"student{k:03d}.ipynb")
        expected[f"student{k:03d}"] = score
    return expected


def grader(checkout: Path, aid: str, subs: Path, work: Path, expected: dict, counter: CpuCounter) -> None:
    out = work / f"out-{checkout.name}-{time.monotonic_ns()}"
    subprocess.run([sys.executable, "-m", "autograder", "grade", aid, str(subs), "--out", str(out),
                    "--course-root", str(work / f"course-{time.monotonic_ns()}"), "--jobs", "1"],
                   cwd=checkout, check=True, capture_output=True, text=True, preexec_fn=counter.preexec)
    with open(out / "grades.csv", newline="") as f:
        got = {r["student_id"]: (r["status"], float(r["score"] or -1)) for r in csv.DictReader(f)}
    wrong = {sid: got.get(sid) for sid, score in expected.items() if got.get(sid) != ("ok", score)}
    assert not wrong, f"{checkout}: unexpected grades {wrong}"


def nbconvert(subs: Path, work: Path, counter: CpuCounter) -> None:
    out = work / f"nbconvert-{time.monotonic_ns()}"
    for path in sorted(subs.glob("*.ipynb")):
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                        "--ExecutePreprocessor.timeout=300", "--output-dir", str(out), str(path)],
                       check=True, capture_output=True, preexec_fn=counter.preexec)


def measure(fn) -> dict:
    counter, start = CpuCounter(), time.perf_counter()
    try:
        fn(counter)
        return {"wall_s": time.perf_counter() - start, "cpu_s": counter.seconds(), "counted_by": counter.method}
    finally:
        counter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--assignment", default="ch00")
    parser.add_argument("--base", type=Path, help="a checkout of the grader to compare with (old)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    aid, n = args.assignment, args.n
    configs = {"new": lambda s, w, e, c: grader(REPO, aid, s, w, e, c),
               "nbconvert": lambda s, w, e, c: nbconvert(s, w, c)}
    if args.base:
        configs["old"] = lambda s, w, e, c: grader(args.base.resolve(), aid, s, w, e, c)
    print(f"{n} submissions of {aid}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}; "
          f"python {sys.version.split()[0]}", flush=True)
    runs: dict[str, list[dict]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        work = Path(tmp)
        subs = work / "subs"
        subs.mkdir()
        expected = make_submissions(aid, n, subs)
        order = list(configs)
        for r in range(args.repeats):
            for name in (order if r % 2 == 0 else order[::-1]):
                m = measure(lambda counter: configs[name](subs, work, expected, counter))
                m = {"wall_s": round(m["wall_s"], 1), "cpu_s": round(m["cpu_s"], 1),
                     "per_notebook_cpu_s": round(m["cpu_s"] / n, 3), "per_notebook_wall_s": round(m["wall_s"] / n, 3),
                     "counted_by": m["counted_by"]}
                runs[name].append(m)
                print(f"  {name:<10} {m}", flush=True)
    best = {name: min(v, key=lambda m: m["cpu_s"]) for name, v in runs.items()}
    ratios = {f"{name}_vs_nbconvert_cpu": round(best[name]["cpu_s"] / best["nbconvert"]["cpu_s"], 3)
              for name in best if name != "nbconvert"}
    ratios |= {f"{name}_vs_nbconvert_wall": round(best[name]["wall_s"] / best["nbconvert"]["wall_s"], 3)
               for name in best if name != "nbconvert"}
    if "old" in best:
        ratios["new_vs_old_cpu"] = round(best["new"]["cpu_s"] / best["old"]["cpu_s"], 3)
    result = {"assignment": aid, "notebooks": n, "repeats": args.repeats, "cpus": os.cpu_count(),
              "machine": platform.platform(), "load_avg_1min_at_end": round(os.getloadavg()[0], 1),
              "runs": runs, "ratios_of_best": ratios}
    print(json.dumps(result, indent=1))
    path = REPO / "benchmarks" / "results" / f"grading_throughput_{aid}_n{n}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
