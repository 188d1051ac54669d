"""`python -m autograder grade ASSIGNMENT SUBMISSIONS --out DIR`: autograde a class.

For each student: read the notebook, repair lost nbgrader metadata, run nbgrader autograde, read
the points per test from the gradebook, write feedback. One row per student in DIR/grades.csv,
whatever happened; a submission that cannot be graded gets a status that says why.
"""
from __future__ import annotations

import csv
import shutil
import sys
import time
import warnings
from pathlib import Path

import nbformat

from . import AUTOGRADER_DIR, NOTEBOOKS, SOLUTIONS, assignments
from .config import nbgrader_config
from .feedback import render, test_result, visible_line_count
from .intake import IntakeError, Submission, collect
from .repair import repair

# nbgrader 0.9.6's gradebook code triggers SQLAlchemy "not in session" warnings that mean nothing here.
warnings.filterwarnings("ignore", message=".*not in session.*")


def _test_cells(nb) -> list[tuple[str, float]]:
    """(grade_id, points) of the autograded test cells, in notebook order."""
    out = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            out.append((meta["grade_id"], float(meta.get("points", 0))))
    return out


def _last_error(log: str) -> str:
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("[ERROR]") and "see the" not in line.lower()]
    text = (errors or lines or ["unknown error"])[-1]
    return text.replace("[ERROR]", "").strip()[:300]


class Grader:
    def __init__(self, assignment: str, out: Path, course_root: Path | None = None, db_url: str | None = None):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        if assignment not in assignments():
            raise SystemExit(f"unknown assignment {assignment!r}; the course has: {', '.join(assignments())}")
        release_path = NOTEBOOKS / assignment / f"{assignment}.ipynb"
        if not release_path.exists():
            raise SystemExit(f"{release_path} is missing; run `make notebooks` first")
        self.assignment = assignment
        self.out = Path(out)
        self.course_root = Path(course_root or AUTOGRADER_DIR).resolve()
        # nbgrader's own release copy lives in the course root: grading never rewrites notebooks/.
        self.config = nbgrader_config(self.course_root, db_url, release_dir=self.course_root / "release")
        self.coursedir = CourseDirectory(config=self.config)
        self.api = NbGraderAPI(self.coursedir, config=self.config)
        self.release = nbformat.read(release_path, as_version=4)
        self.source = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
        self.tests = _test_cells(self.release)
        self.max_score = sum(points for _, points in self.tests)
        result = self.api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise SystemExit(f"could not register {assignment} in the gradebook:\n{result['log']}")

    def grade_one(self, sub: Submission) -> dict:
        row = {"student_id": sub.student_id, "status": sub.status, "notes": list(sub.notes)}
        if sub.status != "ok":
            return row
        try:
            nb = nbformat.read(sub.path, as_version=4)
        except Exception as exc:
            row["status"] = f"unreadable notebook: {type(exc).__name__}: {str(exc)[:200]}"
            return row
        row["notes"] += repair(nb, self.release)

        submitted = Path(self.coursedir.format_path(self.coursedir.submitted_directory, sub.student_id, self.assignment))
        shutil.rmtree(submitted, ignore_errors=True)
        submitted.mkdir(parents=True)
        nbformat.write(nb, submitted / f"{self.assignment}.ipynb")

        start = time.perf_counter()
        result = self.api.autograde(self.assignment, sub.student_id, force=True, create=True)
        row["seconds"] = time.perf_counter() - start
        if not result["success"]:
            row["status"] = "could not be graded: " + _last_error(result.get("log", "") + "\n" + str(result.get("error") or ""))
            return row
        self._collect_scores(sub.student_id, row)
        return row

    def _collect_scores(self, student_id: str, row: dict) -> None:
        from nbgrader.api import Gradebook

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            nb = gb.find_submission_notebook(self.assignment, self.assignment, student_id)
            earned = {g.name: float(g.score) for g in nb.grades}
        row.update({gid: earned.get(gid, 0.0) for gid, _ in self.tests})
        row["score"] = sum(earned.get(gid, 0.0) for gid, _ in self.tests)
        row["max_score"] = self.max_score

        autograded = Path(self.coursedir.format_path(self.coursedir.autograded_directory, student_id,
                                                     self.assignment)) / f"{self.assignment}.ipynb"
        graded_nb = nbformat.read(autograded, as_version=4)
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in graded_nb.cells}
        source_cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in self.source.cells}
        results = []
        for gid, points in self.tests:
            got = row[gid]
            message = None if got >= points else test_result(cells.get(gid), visible_line_count(source_cells[gid].source))
            results.append({"grade_id": gid, "points": got, "max_points": points, "message": message})
        feedback_dir = self.out / "feedback"
        feedback_dir.mkdir(parents=True, exist_ok=True)
        (feedback_dir / f"{student_id}.html").write_text(
            render(student_id, self.assignment, results, row["score"], self.max_score, []), encoding="utf-8")

    def write_csv(self, rows: list[dict]) -> Path:
        path = self.out / "grades.csv"
        columns = ["student_id", *[gid for gid, _ in self.tests], "score", "max_score", "status", "notes"]
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for row in rows:
                values = []
                for col in columns:
                    value = row.get(col, "")
                    if col == "max_score" and value == "":
                        value = self.max_score
                    if isinstance(value, float):
                        value = f"{value:g}"
                    if col == "notes":
                        value = "; ".join(row.get("notes", []))
                    values.append(value)
                writer.writerow(values)
        return path


def grade(assignment: str, submissions: Path, out: Path, course_root=None, db_url=None, log=print) -> list[dict]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grader = Grader(assignment, out, course_root, db_url)
    subs = collect(Path(submissions), assignment, grader.course_root / "intake")
    if not subs:
        log(f"no submissions found in {submissions}")
    rows = []
    for sub in subs:
        try:
            row = grader.grade_one(sub)
        except Exception as exc:  # one student's problem never stops the class
            row = {"student_id": sub.student_id, "status": f"grader error: {type(exc).__name__}: {exc}"[:300],
                   "notes": list(sub.notes)}
        rows.append(row)
        took = f"{row['seconds']:.1f} s" if "seconds" in row else "-"
        score = f"{row['score']:g}/{grader.max_score:g}" if "score" in row else "-"
        log(f"{row['student_id']:<24} {score:>8}  {took:>7}  {row['status']}")
    path = grader.write_csv(rows)
    ok = [r for r in rows if r["status"] == "ok"]
    log(f"graded {len(ok)} of {len(rows)} submissions -> {path}; feedback in {out / 'feedback'}")
    return rows


def main(args) -> int:
    try:
        grade(args.assignment, Path(args.submissions), Path(args.out), args.course_root, args.db_url)
    except IntakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
