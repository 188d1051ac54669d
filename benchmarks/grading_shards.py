"""Benchmark: one grader against two graders sharding one class into one gradebook.

    .venv/bin/python benchmarks/grading_shards.py [--n 300] [--assignment ch00] [--jobs 1] [--db-url URL]
                                                  [--configs one two]   (two alone: grading_shards_two.json)

Makes a synthetic class of N submissions (the solution, the untouched student notebook, and the
solution with two answers reset to their stubs, in turn) and times, in one run, alternating order:
  one   `python -m autograder grade` with --jobs J over the whole class
  two   two graders started together, `--shard 1/2` and `--shard 2/2`, --jobs J each, same gradebook
Each configuration gets a fresh gradebook (SQLite in a temporary course root, or a fresh
PostgreSQL database per run when --db-url names a server you run, e.g. postgresql://u@host/postgres,
or one this script starts with --postgres) and checks that every student is graded with the expected
score. Prints wall seconds, seconds per notebook, the CPU-seconds of the graders and everything they
started, sandboxed kernels included (a cpuacct cgroup, support/cpuacct.py), and the CPU-seconds the
whole machine was busy, and writes benchmarks/results/grading_shards.json.

The committed results: 300 students on the 2-core CI machine (nothing else running, bar a few seconds
of unit tests during the one-grader run), with a private
PostgreSQL 15 server on 127.0.0.1 (started as tests/pg_server.py starts one), --jobs 1 per grader.
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
import uuid
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from autograder import NOTEBOOKS, SOLUTIONS  # noqa: E402
from autograder import cells as nbcells  # noqa: E402
from support.cpuacct import CpuCounter  # noqa: E402  (benchmarks/support/: helpers, not benchmarks)


def make_class(aid: str, n: int, folder: Path) -> dict[str, float]:
    """N notebooks in `folder`; the expected score of each."""
    solution = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    stubs = {nbcells.grade_id(c): c.source for c in release.cells if nbcells.is_answer(c)}
    partial, reset = copy.deepcopy(solution), []
    for cell in partial.cells:
        if nbcells.is_answer(cell) and len(reset) < 2:
            cell.source = stubs[nbcells.grade_id(cell)]
            reset.append(nbcells.grade_id(cell))
    tests = nbcells.test_cells(solution)
    full = sum(p for _, p in tests)
    lost = sum(p for gid, p in tests if gid.removeprefix("test_") in reset)
    kinds = [(solution, full), (release, 0.0), (partial, full - lost)]
    expected = {}
    for k in range(n):
        nb, score = kinds[k % 3]
        nbformat.write(nb, folder / f"student{k:03d}.ipynb")
        expected[f"student{k:03d}"] = score
    return expected


def fresh_db(db_url: str | None, course: Path) -> str | None:
    if not db_url:
        return None
    import psycopg2
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    return db_url.rsplit("/", 1)[0] + "/" + name


def server_version(db_url: str) -> str:
    import psycopg2
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        return "postgresql " + cur.fetchone()[0]


def grader(aid, subs, out, course, jobs, db_url, shard=None) -> list[str]:
    cmd = ["nice", "-n", "5", sys.executable, "-m", "autograder", "grade", aid, str(subs), "--out", str(out),
           "--course-root", str(course), "--jobs", str(jobs)]
    return cmd + (["--db-url", db_url] if db_url else []) + (["--shard", shard] if shard else [])


def machine_busy_cpu() -> float:
    """CPU-seconds the whole machine spent busy (all cores, /proc/stat): on a quiet machine, what the
    graders, their sandboxed kernels (which the graders' rusage does not see) and the database used."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]   # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run(config: str, aid: str, subs: Path, tmp: Path, jobs: int, db_url: str | None, expected) -> dict:
    course, out = tmp / f"course-{config}-{uuid.uuid4().hex[:6]}", tmp / f"out-{config}"
    url = fresh_db(db_url, course)
    counter = CpuCounter()
    busy0, start = machine_busy_cpu(), time.perf_counter()
    if config == "one":
        procs = [subprocess.Popen(grader(aid, subs, out, course, jobs, url), cwd=REPO, stdout=subprocess.DEVNULL,
                                  preexec_fn=counter.preexec)]
    else:
        procs = [subprocess.Popen(grader(aid, subs, tmp / f"out-two-{k}", course, jobs, url, f"{k}/2"), cwd=REPO,
                                  stdout=subprocess.DEVNULL, preexec_fn=counter.preexec) for k in (1, 2)]
    codes = [p.wait() for p in procs]
    wall, cpu, busy = time.perf_counter() - start, counter.seconds(), machine_busy_cpu() - busy0
    counter.close()
    assert codes == [0] * len(procs), f"{config}: a grader failed ({codes})"
    if config == "two":   # the class's grades.csv, assembled from the gradebook
        subprocess.run(grader(aid, subs, out, course, jobs, url), cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    with open(out / "grades.csv", newline="") as f:
        got = {r["student_id"]: (r["status"], float(r["score"])) for r in csv.DictReader(f)}
    assert got == {sid: ("ok", s) for sid, s in expected.items()}, f"{config}: wrong grades"
    return {"wall_s": round(wall, 1), "s_per_notebook": round(wall / len(expected), 2),
            "graders_cpu_s": round(cpu, 1), "cpu_s_per_notebook": round(cpu / len(expected), 2),
            "cpu_counted_by": counter.method, "machine_busy_cpu_s": round(busy, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--assignment", default="ch00")
    parser.add_argument("--jobs", type=int, default=1, help="--jobs of each grader")
    parser.add_argument("--db-url", help="a PostgreSQL server's URL (a database per run is created on it)")
    parser.add_argument("--postgres", action="store_true", help="start a private PostgreSQL server for the run "
                                                                  "(tests/pg_server.py; Debian's postgresql package)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--configs", nargs="+", choices=["one", "two"], default=["one", "two"],
                        help="which to run (`two` alone: the class's wall time on two graders, no one-grader reference)")
    args = parser.parse_args()
    if args.postgres:
        sys.path.insert(0, str(REPO / "tests"))
        from pg_server import postgres_server
        with postgres_server("bench") as url:
            args.db_url = url
            return run_all(args)
    return run_all(args)


def run_all(args) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "subs"
        subs.mkdir()
        expected = make_class(args.assignment, args.n, subs)
        order = list(dict.fromkeys(args.configs))        # `two two` runs it once
        runs = {c: [] for c in order}
        for r in range(args.repeats):
            for config in (order if r % 2 == 0 else order[::-1]):
                print(f"{config} grader(s), {args.n} notebooks ...", flush=True)
                runs[config].append(run(config, args.assignment, subs, tmp, args.jobs, args.db_url, expected))
                print(f"  {runs[config][-1]}", flush=True)
    best = {c: min(v, key=lambda x: x["wall_s"]) for c, v in runs.items()}
    both = len(best) == 2
    result = {
        "assignment": args.assignment, "students": args.n, "jobs_per_grader": args.jobs,
        "gradebook": server_version(args.db_url) if args.db_url else "sqlite", "cpus": os.cpu_count(),
        "machine": platform.platform(), "load_avg_1min_at_end": round(os.getloadavg()[0], 1),
        "runs": runs, "speedup_two_vs_one": round(best["one"]["wall_s"] / best["two"]["wall_s"], 2)
        if both else None,
    }
    print(json.dumps(result, indent=1))
    path = REPO / "benchmarks" / "results" / ("grading_shards.json" if both else f"grading_shards_{order[0]}.json")
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
