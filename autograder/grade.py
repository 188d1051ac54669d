"""`python -m autograder grade ASSIGNMENT SUBMISSIONS --out DIR`: autograde a class.

For each student: read and check the notebook, repair lost nbgrader metadata, grade it on a worker
(worker.py: the student's cells in a sandboxed kernel, the test cells in the worker, see runner.py;
`--jobs` at once), take the points each test earned there, and save the student's StudentResult in
the gradebook at once (gradebook.py).
Then every output is written from the gradebook's records for the whole class (report.py): one
row per student in DIR/grades.csv, whatever happened (a submission that cannot be graded gets a
`status` that says why, never a silent 0), summary.md, score_histogram.png, canvas.csv and
feedback/<student>.html.

Several graders may share one class (`--shard k/n`, one PostgreSQL gradebook); a grader that is
stopped loses only the student it was grading, and a re-run grades only what the gradebook lacks
(or a file, or test cells, that changed since), unless `--regrade`.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import queue
import shutil
import socket
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import nbformat

from . import AUTOGRADER_DIR, NOTEBOOKS, REPO, SOLUTIONS, assignments, safefs
from . import cells as nbcells
from . import diagnose, gradebook
from .config import Options, default_db_url, nbgrader_config
from .feedback import failure_message
from .intake import IntakeError, Submission, collect, load_notebook
from .repair import repair
from .report import ClassInfo, write_outputs
from .results import GradedTest, StudentResult
from .sandbox import (UNPRIVILEGED, SandboxSettings, bwrap_available, can_run_python, pids_cgroup_parent,
                      unprivileged_ids)
from .worker import Worker

# nbgrader 0.9.6's gradebook code triggers SQLAlchemy "not in session" warnings that mean nothing here.
warnings.filterwarnings("ignore", message=".*not in session.*")

PER_WORKER = 4     # notebooks to grade per worker, at least, before another worker (and zygote) starts
# Statuses that say nothing about the submission: a re-run grades these again.
RETRY = ("grader error", "could not be graded: the Python kernel did not start")

__all__ = ["Grader", "Options", "grade", "main"]


def _sha256(path: Path | None) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None and path.is_file() else ""


class Grader:
    """One assignment's grading set-up: the gradebook registered, the sandbox chosen, a scratch folder."""

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
        # This run's own scratch folder (unzipped submissions, nbgrader's release copy): graders
        # sharing a course root never touch each other's.
        self.scratch = self.course_root / "runs" / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.scratch.mkdir(parents=True)
        self.config = nbgrader_config(self.course_root, options.db_url or default_db_url(self.course_root),
                                      release_dir=self.scratch / "release")
        self.coursedir = CourseDirectory(config=self.config)
        self.db_url = self.coursedir.db_url
        self.release = nbformat.read(release_path, as_version=4)
        self.source = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
        self.tests = nbcells.test_cells(self.release)
        self.max_score = sum(points for _, points in self.tests)
        # Per test: how many lines students see, and the hidden lines feedback must never quote.
        source = nbcells.by_grade_id(self.source)
        self.test_secrets = {gid: (nbcells.visible_line_count(source[gid].source), nbcells.hidden_lines(source[gid].source))
                             for gid, _ in self.tests}
        self.other_releases = {a: nbformat.read(NOTEBOOKS / a / f"{a}.ipynb", as_version=4)
                               for a in assignments() if a != assignment and (NOTEBOOKS / a / f"{a}.ipynb").exists()}

        def register():
            result = NbGraderAPI(self.coursedir, config=self.config).generate_assignment(assignment, force=True, create=True)
            if not result["success"]:
                raise SystemExit(f"could not register {assignment} in the gradebook:\n{result['log']}")
        solution_tests = {nbcells.grade_id(c): (nbcells.points(c), c.source) for c in self.source.cells if nbcells.is_graded(c)}
        self.tests_sha = hashlib.sha256(json.dumps(solution_tests, sort_keys=True).encode()).hexdigest()
        gradebook.set_up(self.db_url, self.course_root, assignment, solution_tests, register)
        self.sandbox_mode = self._sandbox_mode(submissions)
        self.info = ClassInfo(assignment, self.tests, self.sandbox_mode, options.lms_assignment, options.lms_assignment_id)

    def _sandbox_mode(self, submissions) -> str:
        hide = [REPO, self.course_root, self.out.resolve()] + ([Path(submissions).resolve()] if submissions else [])
        use_bwrap = self.options.sandbox and bwrap_available()
        self.sandbox = SandboxSettings(use_bwrap, self.options.limits, [str(h) for h in hide])
        ids = unprivileged_ids(self.sandbox)
        if ids and not can_run_python(ids):
            raise SystemExit(f"refusing to run student code as root: there is no bubblewrap sandbox here, and the user "
                             f"{UNPRIVILEGED} cannot run {sys.executable} (a folder above it is private). Install "
                             f"bubblewrap (apt-get install bubblewrap), grade as a user other than root, or use a "
                             f"Python environment that every user can read (e.g. a venv made from /usr/bin/python3).")
        user = f"as the unprivileged user {UNPRIVILEGED} " if ids else ""
        if not use_bwrap:
            why = "--no-sandbox was given" if not self.options.sandbox else "bubblewrap (bwrap) is not available"
            self.log(f"warning: {why}: student code runs {user}with process limits only (no file-system or network "
                     f"isolation). On Linux: apt-get install bubblewrap.")
        if use_bwrap and os.geteuid() == 0 and pids_cgroup_parent() is None:
            self.log("warning: running as root without a writable pids cgroup: the process limit does not bind root")
        return "bwrap" if use_bwrap else f"limits only{', user ' + UNPRIVILEGED if user else ''}"

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    # ---- one student -----------------------------------------------------------------------------

    def _path(self, step: str, student_id: str) -> str:
        """Where nbgrader's layout keeps a student's notebook, relative to the course root."""
        return f"{step}/{student_id}/{self.assignment}/{self.assignment}.ipynb"

    def prepare(self, sub: Submission) -> tuple[StudentResult, bool]:
        """Check and repair the notebook and put it where nbgrader looks: (the result so far, ready to run)."""
        row = StudentResult(sub.student_id, sub.status, list(sub.notes), lms_user_id=sub.lms_user_id,
                            submitted_file=sub.path.name if sub.path else "", sha256=_sha256(sub.path),
                            tests_sha=self.tests_sha)
        if sub.status != "ok":
            return row, False
        nb, problem = load_notebook(sub.path)
        if problem:
            row.status = problem
            return row, False
        repair_notes = repair(nb, self.release)
        release_ids = {gid for gid, _ in self.tests}
        if not {nbcells.grade_id(c) for c in nb.cells} & release_ids:
            row.status = self._wrong_assignment(nb)   # its repair notes would only say every cell is missing
            return row, False
        row.notes += repair_notes
        safefs.write_under(self.course_root, self._path("submitted", sub.student_id), nbformat.writes(nb))
        return row, True

    def _wrong_assignment(self, nb) -> str:
        for other, release in self.other_releases.items():
            probe = copy.deepcopy(nb)
            repair(probe, release)
            if any(nbcells.is_graded(c) for c in probe.cells):
                return f"wrong assignment: this is the {other} notebook, not {self.assignment}"
        return f"wrong assignment: none of {self.assignment}'s exercise cells were found in this notebook"

    def run(self, row: StudentResult, worker: Worker) -> StudentResult:
        """Grade a prepared submission on a worker, within the per-notebook time limit."""
        sid = row.student_id
        graded = self._path("autograded", sid)
        job = {"assignment": self.assignment, "student": sid, "course_root": str(self.course_root),
               "submitted": self._path("submitted", sid), "graded": graded,
               "cell_timeout": self.options.cell_timeout, "sandbox": self.sandbox.to_json()}
        start = time.perf_counter()
        result = worker.run(job, self.options.notebook_timeout)
        row.seconds = time.perf_counter() - start
        row.graded_notebook = str(self.course_root / graded)
        row.notes += result.get("notes") or []
        # for the instructor: may quote hidden tests, never shown to students
        log_path = safefs.write_under(self.out, f"logs/{sid}.log", json.dumps(
            {"student": sid, "submitted_file": row.submitted_file, "graded_notebook": row.graded_notebook, **result},
            indent=1))
        failed = diagnose.failure_status(result, self.options.notebook_timeout, log_path)
        if failed:
            row.status = failed
            return row
        crashes, flags = result.get("crashes") or [], list(dict.fromkeys(result.get("flags") or []))
        if crashes:
            row.status = "; ".join(crashes) + "; graded without " + ("that cell" if len(crashes) == 1 else "those cells")
        if flags:   # it touched what the course's checks rely on: the score (earned on the trusted side) stands
            row.status = ("" if row.status == "ok" else row.status + "; ") + "flagged for review: " + "; ".join(flags)
        self._collect_scores(row, result.get("tests") or {})
        return row

    def _collect_scores(self, row: StudentResult, tests: dict) -> None:
        """Points from how each test ended on the trusted side: full if it did not raise, else 0."""
        row.scores = {gid: points if (tests.get(gid) or {}).get("kind") == "passed" else 0.0 for gid, points in self.tests}
        graded = nbformat.read(self.course_root / self._path("autograded", row.student_id), 4)
        timeouts = diagnose.timeout_note(graded, self.options.cell_timeout)
        if timeouts:
            row.notes.append(timeouts)
        memory = diagnose.memory_status(graded, self.options.limits.memory_mb)
        if memory:
            row.status = memory if row.status == "ok" else f"{row.status}; {memory}"
        row.tests = [GradedTest(gid, row.scores[gid], points,
                                None if row.scores[gid] >= points else failure_message(tests.get(gid), *self.test_secrets[gid]))
                     for gid, points in self.tests]


# ---- the class -----------------------------------------------------------------------------------------

def parse_shard(text: str) -> tuple[int, int]:
    """'k/n' -> (k, n), 1 <= k <= n."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise IntakeError(f"--shard {text!r}: expected k/n, e.g. 1/2 for the first of two graders") from None
    if not 1 <= k <= n:
        raise IntakeError(f"--shard {text!r}: k must be between 1 and n")
    return k, n


def grade(assignment: str, submissions: Path, out: Path, options: Options | None = None,
          log=print) -> list[StudentResult]:
    options = options or Options()
    out = Path(out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    # Start a worker first: it imports what it needs while this process sets up the gradebook; the
    # others (up to --jobs) once the number of notebooks to grade is known (_grade_with).
    workers = [Worker(out / "logs" / f"worker-{os.getpid()}-0.stderr")]
    grader = None
    try:
        grader = Grader(assignment, out, options, submissions, log)
        return _grade_with(grader, workers, submissions, out, options, log)
    finally:
        for worker in workers:
            worker.close()
        if grader is not None:
            grader.close()


def _grade_with(grader: Grader, workers, submissions, out, options: Options, log) -> list[StudentResult]:
    subs = collect(Path(submissions), grader.assignment, grader.scratch, options.roster)
    mine = subs
    if options.students:
        wanted = set(options.students)
        missing = wanted - {s.student_id for s in subs}
        if missing:
            raise IntakeError(f"no submission for {', '.join(sorted(missing))} in {submissions}")
        mine = [s for s in subs if s.student_id in wanted]
    k, n = options.shard
    if n > 1:   # the same split on every grader: they all see the same sorted submissions
        mine = [s for i, s in enumerate(sorted(mine, key=lambda s: s.student_id)) if i % n == k - 1]
    stored = gradebook.load(grader.db_url, grader.assignment)
    todo_subs = []
    for s in mine:
        prev = stored.get(s.student_id)
        if (prev is not None and not options.regrade and s.student_id not in options.students
                and prev.sha256 == _sha256(s.path) and prev.tests_sha == grader.tests_sha
                and not prev.status.startswith(RETRY)):
            continue
        todo_subs.append(s)
    skipped = len(mine) - len(todo_subs)
    log(f"grading {len(todo_subs)} submission(s) of {grader.assignment} with {options.jobs} job(s); "
        f"sandbox: {grader.sandbox_mode}"
        + (f"; shard {k}/{n} of {len(subs)}" if n > 1 else "")
        + (f"; {skipped} already in the gradebook (--regrade to grade them again)" if skipped else ""))

    store = gradebook.ResultStore(grader.db_url, grader.assignment)
    todo: queue.Queue = queue.Queue()
    try:
        for s in todo_subs:
            row, ready = grader.prepare(s)
            if ready:
                todo.put(row)
            else:
                store.save(row)
                log(f"  {row.student_id:<28} {'-':>6}   {'':>7}  {row.status}")

        def work(worker: Worker) -> None:
            while True:
                try:
                    row = todo.get_nowait()
                except queue.Empty:
                    return
                _safe_run(grader, row, worker)
                store.save(row)   # at once: a grader stopped later loses nothing of this student
                took = f"{row.seconds:.1f} s" if row.seconds is not None else "-"
                score = "-" if row.score is None else f"{row.score:.1f}"
                log(f"  {row.student_id:<28} {score:>6} / {grader.max_score:g}  {took:>7}  {row.status}")

        # A worker's zygote costs about what grading a few notebooks does: one per PER_WORKER notebooks.
        wanted = max(1, min(options.jobs, -(-todo.qsize() // PER_WORKER)))
        workers += [Worker(out / "logs" / f"worker-{os.getpid()}-{k}.stderr") for k in range(len(workers), wanted)]
        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        store.close()
    return write_outputs(out, grader.info, grader.db_url, subs, options.roster, log)


def _safe_run(grader: Grader, row: StudentResult, worker: Worker) -> StudentResult:
    try:
        return grader.run(row, worker)
    except Exception as exc:  # one student's problem never stops the class
        row.status = f"grader error: {type(exc).__name__}: {exc}"[:300]
        return row


def main(args) -> int:
    from .sandbox import Limits
    try:
        options = Options(
            jobs=args.jobs or os.cpu_count() or 1, cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
            limits=Limits(memory_mb=args.memory_mb), students=args.student or [], regrade=args.regrade,
            shard=parse_shard(args.shard), roster=args.roster, course_root=args.course_root, db_url=args.db_url,
            sandbox=not args.no_sandbox, lms_assignment=args.lms_assignment, lms_assignment_id=args.lms_assignment_id)
        grade(args.assignment, Path(args.submissions), Path(args.out), options)
    except IntakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
