"""`python -m autograder grade ASSIGNMENT SUBMISSIONS --out DIR`: autograde a class.

For each student: read and check the notebook, repair lost nbgrader metadata, autograde it in a
worker process of its own (kernel sandboxed, see sandbox.py; `--jobs` at once), read the points
per test from the gradebook, write feedback. One row per student in DIR/grades.csv, whatever
happened: a submission that cannot be graded gets a `status` that says why, never a silent 0.
Also written: DIR/summary.md, DIR/score_histogram.png, DIR/canvas.csv (LMS import).
"""
from __future__ import annotations

import copy
import csv
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import AUTOGRADER_DIR, NOTEBOOKS, REPO, SOLUTIONS, assignments
from .config import nbgrader_config
from .execute import CRASH_MARK
from .feedback import hidden_lines, render, test_result, visible_line_count
from .intake import IntakeError, Submission, collect
from .repair import repair
from .report import write_canvas_csv, write_summary
from .sandbox import Limits, SandboxSettings, bwrap_available, pids_cgroup_parent
from .worker import RESULT_MARK

# nbgrader 0.9.6's gradebook code triggers SQLAlchemy "not in session" warnings that mean nothing here.
warnings.filterwarnings("ignore", message=".*not in session.*")

TIMEOUT_ERRORS = {"CellTimeoutError", "KeyboardInterrupt", "TimeoutError"}


@dataclass
class Options:
    jobs: int = os.cpu_count() or 1
    cell_timeout: int = 120          # seconds per cell; the cell is interrupted, later cells still run
    notebook_timeout: int = 900      # seconds per submission, all included; then the worker is killed
    limits: Limits = field(default_factory=Limits)
    students: list[str] = field(default_factory=list)   # re-grade only these
    roster: Path | None = None
    course_root: Path | None = None
    db_url: str | None = None
    sandbox: bool = True


def _test_cells(nb) -> list[tuple[str, float]]:
    """(grade_id, points) of the autograded test cells, in notebook order."""
    return [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"].get("points", 0)))
            for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


def _last_error(log: str) -> str:
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("[ERROR]") and "see the" not in line.lower()]
    text = (errors or lines or ["unknown error"])[-1]
    return text.replace("[ERROR]", "").strip()[:300]


def load_notebook(path: Path):
    """(notebook, None) or (None, a status that says exactly what is wrong with the file)."""
    raw = path.read_bytes()
    if not raw.strip():
        return None, f"empty file: {path.name} has no content"
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"unreadable notebook: {path.name} is not valid JSON ({exc})"[:300]
    if not isinstance(data, dict) or "nbformat" not in data:
        return None, f"not a Jupyter notebook: {path.name} is JSON without the notebook fields"
    if not isinstance(data["nbformat"], int) or data["nbformat"] < 4:
        return None, (f"unsupported notebook format {data['nbformat']}: {path.name} was saved by a very old "
                      f"Jupyter; open it in Jupyter or Colab, save it (format 4) and resubmit")
    try:
        nb = nbformat.reads(raw.decode("utf-8-sig"), as_version=4)
        nbformat.validator.normalize(nb)
    except Exception as exc:
        return None, f"unreadable notebook: {path.name}: {type(exc).__name__}: {exc}"[:300]
    return nb, None


class Grader:
    def __init__(self, assignment: str, out: Path, options: Options, submissions: Path | None = None, log=print):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        if assignment not in assignments():
            raise SystemExit(f"unknown assignment {assignment!r}; the course has: {', '.join(assignments())}")
        release_path = NOTEBOOKS / assignment / f"{assignment}.ipynb"
        if not release_path.exists():
            raise SystemExit(f"{release_path} is missing; run `make notebooks` first")
        self.assignment, self.out, self.options, self.log = assignment, Path(out), options, log
        self.course_root = Path(options.course_root or AUTOGRADER_DIR).resolve()
        db_url = options.db_url or "sqlite:///" + str(self.course_root / "gradebook.db") + "?timeout=120"
        # nbgrader's own release copy lives in the course root: grading never rewrites notebooks/.
        self.config = nbgrader_config(self.course_root, db_url, release_dir=self.course_root / "release")
        self.coursedir = CourseDirectory(config=self.config)
        self.db_url = self.coursedir.db_url
        self.release = nbformat.read(release_path, as_version=4)
        self.source = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
        self.tests = _test_cells(self.release)
        self.max_score = sum(points for _, points in self.tests)
        # Per test: how many lines students see, and the hidden lines feedback must never quote.
        source = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in self.source.cells}
        self.test_secrets = {gid: (visible_line_count(source[gid]), hidden_lines(source[gid])) for gid, _ in self.tests}
        self.other_releases = {a: nbformat.read(NOTEBOOKS / a / f"{a}.ipynb", as_version=4)
                               for a in assignments() if a != assignment and (NOTEBOOKS / a / f"{a}.ipynb").exists()}
        result = NbGraderAPI(self.coursedir, config=self.config).generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise SystemExit(f"could not register {assignment} in the gradebook:\n{result['log']}")
        self.sandbox_mode = self._sandbox_mode(submissions)

    def _sandbox_mode(self, submissions) -> str:
        hide = [self.course_root, SOLUTIONS, AUTOGRADER_DIR, self.out.resolve()]
        if submissions is not None:
            hide.append(Path(submissions).resolve())   # a folder, or the zip file itself
        keep = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent,
                REPO / "course_lib"]
        # Never hide a folder that holds the Python installation or course_lib (the kernel needs them).
        self.hide = sorted({str(h) for h in hide if not any(k == h or k.is_relative_to(h) for k in keep)})
        self.keep = sorted({str(k) for k in keep})
        use_bwrap = self.options.sandbox and bwrap_available()
        if not use_bwrap:
            why = "--no-sandbox was given" if not self.options.sandbox else "bubblewrap (bwrap) is not available"
            self.log(f"warning: {why}: student code runs with process limits only (no file-system or network "
                     f"isolation). On Linux: apt-get install bubblewrap.")
        if os.geteuid() == 0 and pids_cgroup_parent() is None:
            self.log("warning: running as root without a writable pids cgroup: the process limit does not bind root")
        return "bwrap" if use_bwrap else "limits only"

    # ---- one student -----------------------------------------------------------------------------

    def _path(self, step: str, student_id: str) -> Path:
        return Path(self.coursedir.format_path(step, student_id, self.assignment))

    def prepare(self, sub: Submission) -> dict:
        """Check and repair the notebook and put it where nbgrader looks; the row so far."""
        row = {"student_id": sub.student_id, "status": sub.status, "notes": list(sub.notes),
               "lms_user_id": sub.lms_user_id}
        if sub.status != "ok":
            return row
        nb, problem = load_notebook(sub.path)
        if problem:
            row["status"] = problem
            return row
        row["notes"] += repair(nb, self.release)
        release_ids = {gid for gid, _ in self.tests}
        found = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} & release_ids
        if not found:
            row["status"] = self._wrong_assignment(nb)
            return row
        submitted = self._path(self.coursedir.submitted_directory, sub.student_id)
        shutil.rmtree(submitted, ignore_errors=True)
        submitted.mkdir(parents=True)
        nbformat.write(nb, submitted / f"{self.assignment}.ipynb")
        row["ready"] = True
        return row

    def _wrong_assignment(self, nb) -> str:
        for other, release in self.other_releases.items():
            probe = copy.deepcopy(nb)
            repair(probe, release)
            if any(c.metadata.get("nbgrader", {}).get("grade") for c in probe.cells):
                return f"wrong assignment: this is the {other} notebook, not {self.assignment}"
        return f"wrong assignment: none of {self.assignment}'s exercise cells were found in this notebook"

    def run(self, row: dict, worker: "Worker") -> dict:
        """Autograde a prepared submission on a worker, within the per-notebook time limit."""
        sid = row["student_id"]
        settings = SandboxSettings(scratch=str(self._path(self.coursedir.autograded_directory, sid)), hide=self.hide,
                                   keep=self.keep, limits=self.options.limits, use_bwrap=self.sandbox_mode == "bwrap")
        job = {"assignment": self.assignment, "student": sid, "course_root": str(self.course_root),
               "db_url": self.db_url, "cell_timeout": self.options.cell_timeout, "sandbox": settings.to_json()}
        start = time.perf_counter()
        result = worker.run(job, self.options.notebook_timeout)
        row["seconds"] = time.perf_counter() - start
        logs = self.out / "logs"   # for the instructor: may quote hidden tests, never shown to students
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{sid}.log").write_text(json.dumps(result, indent=1), encoding="utf-8")
        if result.get("timeout"):
            row["status"] = (f"timed out: grading stopped after {self.options.notebook_timeout} s, the limit for a "
                             f"whole notebook (an endless loop, or far too slow)")
            return row
        if result.get("worker_died"):
            row["status"] = f"could not be graded: the grading process died (exit {result['worker_died']})"
            return row
        if not result["success"]:
            log = result["log"] + "\n" + (result["error"] or "")
            if "Kernel died before replying to kernel_info" in log:
                row["status"] = (f"could not be graded: the Python kernel did not start (a problem of the grading "
                                 f"machine, not the submission; see {logs / (sid + '.log')})")
            elif "DeadKernelError" in log or "Kernel died" in log:
                row["status"] = "could not be graded: the kernel died again and again (os._exit, crashes or memory)"
            else:
                row["status"] = "could not be graded: " + _last_error(log)
            return row
        crashes = [line.split(CRASH_MARK)[1].strip() for line in result["log"].splitlines() if CRASH_MARK in line]
        if crashes:
            row["status"] = "; ".join(crashes) + "; graded without " + ("that cell" if len(crashes) == 1 else "those cells")
        self._collect_scores(sid, row)
        return row

    def _collect_scores(self, student_id: str, row: dict) -> None:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url, self.coursedir.course_id) as gb:
            nb = gb.find_submission_notebook(self.assignment, self.assignment, student_id)
            earned = {g.name: float(g.score) for g in nb.grades}
        row.update({gid: earned.get(gid, 0.0) for gid, _ in self.tests})
        row["score"] = sum(row[gid] for gid, _ in self.tests)
        row["max_score"] = self.max_score

        graded = nbformat.read(self._path(self.coursedir.autograded_directory, student_id) / f"{self.assignment}.ipynb", 4)
        timed_out = [i + 1 for i, c in enumerate(graded.cells) if any(
            o.get("output_type") == "error" and o.get("ename") in TIMEOUT_ERRORS for o in c.get("outputs", []))]
        if timed_out:
            row["notes"].append(f"cell {', '.join(map(str, timed_out))} ran over {self.options.cell_timeout} s and was stopped")
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded.cells}
        results = [{"grade_id": gid, "points": row[gid], "max_points": points,
                    "message": None if row[gid] >= points else test_result(cells.get(gid), *self.test_secrets[gid])}
                   for gid, points in self.tests]
        feedback_dir = self.out / "feedback"
        feedback_dir.mkdir(parents=True, exist_ok=True)
        (feedback_dir / f"{student_id}.html").write_text(
            render(student_id, self.assignment, results, row["score"], self.max_score,
                   row["notes"] + ([row["status"]] if row["status"] != "ok" else [])), encoding="utf-8")

    # ---- the class ---------------------------------------------------------------------------------

    def columns(self) -> list[str]:
        return ["student_id", *[gid for gid, _ in self.tests], "score", "max_score", "status", "notes"]

    def write_csv(self, rows: list[dict]) -> Path:
        path = self.out / "grades.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(self.columns())
            for row in rows:
                values = []
                for col in self.columns():
                    value = row.get(col, "")
                    if col == "max_score":
                        value = self.max_score
                    if col == "notes":
                        value = "; ".join(value) if isinstance(value, list) else value
                    values.append(f"{value:g}" if isinstance(value, float) else value)
                writer.writerow(values)
        return path

    def read_csv(self) -> dict[str, dict]:
        path = self.out / "grades.csv"
        if not path.exists():
            return {}
        with open(path, newline="", encoding="utf-8") as f:
            return {r["student_id"]: r for r in csv.DictReader(f)}


class Worker:
    """One long-lived `python -m autograder.worker` process; replaced when a job overruns or it dies."""

    def __init__(self, stderr_path: Path):
        self.stderr_path = stderr_path
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.worker"], cwd=REPO, text=True, bufsize=1,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.stderr_path, "a"), start_new_session=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()

    @staticmethod
    def _pump(proc, lines) -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def run(self, job: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                _kill_tree(self.proc)
                self._start()
                return {"timeout": True}
            if line is None:
                code = self.proc.wait()
                self._start()
                return {"worker_died": code}
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK):])

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            _kill_tree(self.proc)


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill a worker and everything it started (a kernel outside bubblewrap has its own session)."""
    import psutil
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def grade(assignment: str, submissions: Path, out: Path, options: Options | None = None, log=print) -> list[dict]:
    options = options or Options()
    out = Path(out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    # Start the workers first: they import nbgrader while this process sets up the gradebook.
    workers = [Worker(out / "logs" / f"worker-{k}.stderr") for k in range(max(1, options.jobs))]
    try:
        rows = _grade_with(workers, assignment, submissions, out, options, log)
    finally:
        for worker in workers:
            worker.close()
    return rows


def _grade_with(workers, assignment, submissions, out, options, log) -> list[dict]:
    grader = Grader(assignment, out, options, submissions, log)
    subs = collect(Path(submissions), assignment, grader.course_root / "intake", options.roster)
    if options.students:
        wanted = set(options.students)
        missing = wanted - {s.student_id for s in subs}
        if missing:
            raise IntakeError(f"no submission for {', '.join(sorted(missing))} in {submissions}")
        subs = [s for s in subs if s.student_id in wanted]
    log(f"grading {len(subs)} submission(s) of {assignment} with {options.jobs} job(s); sandbox: {grader.sandbox_mode}")

    rows = [grader.prepare(s) for s in subs]
    todo: queue.Queue = queue.Queue()
    for row in rows:
        if row.pop("ready", False):
            todo.put(row)

    def work(worker: Worker) -> None:
        while True:
            try:
                row = todo.get_nowait()
            except queue.Empty:
                return
            _safe_run(grader, row, worker)
            took = f"{row['seconds']:.1f} s" if "seconds" in row else "-"
            log(f"  {row['student_id']:<28} {row.get('score', '-')!s:>6} / {grader.max_score:g}  {took:>7}  {row['status']}")

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for row in rows:
        if row["status"] != "ok" and "seconds" not in row:
            log(f"  {row['student_id']:<28} {'-':>6}   {'':>7}  {row['status']}")

    if options.students:   # a re-grade leaves every other row as it was
        merged = grader.read_csv()
        merged.update({r["student_id"]: r for r in rows})
        rows = [merged[k] for k in sorted(merged)]
    rows.sort(key=lambda r: r["student_id"])
    path = grader.write_csv(rows)
    write_summary(out, grader, rows)
    write_canvas_csv(out, grader, rows)
    ok = sum(r["status"] == "ok" for r in rows)
    log(f"{ok} of {len(rows)} ok -> {path}, {out / 'summary.md'}, {out / 'canvas.csv'}; feedback in {out / 'feedback'}")
    return rows


def _safe_run(grader: Grader, row: dict, worker: Worker) -> dict:
    try:
        return grader.run(row, worker)
    except Exception as exc:  # one student's problem never stops the class
        row["status"] = f"grader error: {type(exc).__name__}: {exc}"[:300]
        return row


def main(args) -> int:
    options = Options(
        jobs=args.jobs or os.cpu_count() or 1, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
        limits=Limits(memory_mb=args.memory_mb), students=args.student or [], roster=args.roster,
        course_root=args.course_root, db_url=args.db_url, sandbox=not args.no_sandbox)
    try:
        grade(args.assignment, Path(args.submissions), Path(args.out), options)
    except IntakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
