"""Benchmark: throughput of `python -m autograder grade` against plain `nbgrader autograde`.

    .venv/bin/python benchmarks/grading_throughput.py [--n 40] [--assignment ch00]

Makes N submissions of one assignment (half the solution, a quarter the untouched student
notebook, a quarter the solution with its nbgrader metadata stripped, as Colab can leave it) and,
in one run, times:
  exec      each notebook executed directly with nbclient, one after another: the tests' own cost
  jobs=1    the course grader, one worker (sandboxed kernels, repair, feedback, summary)
  jobs=2    the course grader, two workers
  nbgrader  plain `nbgrader autograde` on the same files (one process, no repair, no sandbox)
and prints throughput, the jobs=2/jobs=1 speed-up and the overhead per notebook above `exec`.
"""
from __future__ import annotations

import argparse
import copy
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from autograder import NOTEBOOKS, SOLUTIONS  # noqa: E402
from autograder.config import nbgrader_config  # noqa: E402,F401 (puts the venv's scripts on PATH)


def make_submissions(aid: str, n: int, folder: Path) -> None:
    solution = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    stripped = copy.deepcopy(solution)
    for i, cell in enumerate(stripped.cells):
        cell.metadata, cell.id = {}, f"colab{i:04d}"
    for k in range(n):
        nb = [solution, solution, release, stripped][k % 4]
        nbformat.write(nb, folder / f"student{k:03d}.ipynb")


def timed(label: str, fn) -> float:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"  {label:<10} {seconds:7.1f} s", flush=True)
    return seconds


def run_exec(folder: Path) -> None:
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=300,
                       resources={"metadata": {"path": str(folder)}}).execute()


def run_ours(aid: str, folder: Path, work: Path, jobs: int) -> dict:
    out = work / f"out-jobs{jobs}"
    subprocess.run([sys.executable, "-m", "autograder", "grade", aid, str(folder), "--out", str(out),
                    "--course-root", str(work / f"course-jobs{jobs}"), "--jobs", str(jobs)],
                   cwd=REPO, check=True, capture_output=True, text=True)
    with open(out / "grades.csv", newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def setup_plain_nbgrader(aid: str, folder: Path, root: Path) -> None:
    (root / "source" / aid).mkdir(parents=True)
    shutil.copy(SOLUTIONS / aid / f"{aid}.ipynb", root / "source" / aid)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.root = %r\nc.Execute.timeout = 120\n" % str(root))
    subprocess.run(["nbgrader", "generate_assignment", aid, "--force"], cwd=root, check=True, capture_output=True)
    for path in folder.glob("*.ipynb"):
        target = root / "submitted" / path.stem / aid
        target.mkdir(parents=True)
        shutil.copy(path, target / f"{aid}.ipynb")


def plain_scores(aid: str, root: Path) -> dict:
    subprocess.run(["nbgrader", "export", "--to", str(root / "grades.csv")], cwd=root, check=True, capture_output=True)
    with open(root / "grades.csv", newline="") as f:
        return {r["student_id"]: float(r["score"] or 0) for r in csv.DictReader(f)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--assignment", default="ch00")
    args = parser.parse_args()
    aid, n = args.assignment, args.n
    print(f"{n} submissions of {aid}; {os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        work = Path(tmp)
        subs = work / "subs"
        subs.mkdir()
        make_submissions(aid, n, subs)
        plain_root = work / "plain"
        setup_plain_nbgrader(aid, subs, plain_root)

        t_exec = timed("exec", lambda: run_exec(subs))
        rows1 = {}
        t1 = timed("jobs=1", lambda: rows1.update(run_ours(aid, subs, work, 1)))
        rows2 = {}
        t2 = timed("jobs=2", lambda: rows2.update(run_ours(aid, subs, work, 2)))
        t_nb = timed("nbgrader", lambda: subprocess.run(["nbgrader", "autograde", aid, "--force"], cwd=plain_root,
                                                       check=True, capture_output=True))
        plain = plain_scores(aid, plain_root)

    full = lambda scores: sum(1 for s in scores if s == max(scores))  # noqa: E731
    ours = [float(r["score"]) for r in rows1.values()]
    print()
    print(f"throughput (notebooks/min): exec {60 * n / t_exec:.1f} | jobs=1 {60 * n / t1:.1f} | "
          f"jobs=2 {60 * n / t2:.1f} | nbgrader {60 * n / t_nb:.1f}")
    print(f"speed-up jobs=2 over jobs=1: {t1 / t2:.2f}x; jobs=2 over plain nbgrader: {t_nb / t2:.2f}x")
    print(f"overhead per notebook above executing it: jobs=1 {(t1 - t_exec) / n:+.2f} s, "
          f"plain nbgrader {(t_nb - t_exec) / n:+.2f} s")
    print(f"same grades with 1 and 2 jobs: {rows1 == rows2}; full marks: ours {full(ours)}/{n}, "
          f"plain nbgrader {full(list(plain.values()))}/{n} (it scores metadata-stripped copies 0)")


if __name__ == "__main__":
    main()
