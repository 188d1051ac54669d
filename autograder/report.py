"""Every output of a grading run, written from StudentResult records (the gradebook's, the whole class):
grades.csv, summary.md with a score histogram, canvas.csv (Canvas gradebook import) and one
feedback page per student, each by path under the output folder, never through a link (safefs). A partial re-grade (`--student`) or one shard of several writes the same
files a full run would, because all of them read the same records.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from . import gradebook, safefs
from .feedback import render
from .intake import Submission, roster_entries, student_id_from
from .results import NOT_SUBMITTED, PENDING, StudentResult


@dataclass
class ClassInfo:
    """What the outputs need to know about the assignment and the run."""
    assignment: str
    tests: list[tuple[str, float]]      # (grade_id, points) of the test cells, in notebook order
    sandbox_mode: str = ""
    lms_assignment: str | None = None   # Canvas assignment name (default: the assignment id)
    lms_assignment_id: str | None = None

    @property
    def max_score(self) -> float:
        return sum(p for _, p in self.tests)


def _num(value: float) -> str:
    return f"{value:g}"


def columns(info: ClassInfo) -> list[str]:
    return ["student_id", *[gid for gid, _ in info.tests], "score", "max_score", "status", "notes"]


def write_grades_csv(out: Path, info: ClassInfo, results: list[StudentResult]) -> Path:
    """One row per student, sorted by id; empty points and score where nothing was graded (never a silent 0)."""
    f = io.StringIO(newline="")
    writer = csv.writer(f)
    writer.writerow(columns(info))
    for r in sorted(results, key=lambda r: r.student_id):
        points = [_num(r.scores.get(gid, 0.0)) if r.graded else "" for gid, _ in info.tests]
        writer.writerow([r.student_id, *points, _num(r.score) if r.graded else "", _num(info.max_score),
                         r.status, "; ".join(r.notes)])
    return safefs.write_under(out, "grades.csv", f.getvalue())


def write_summary(out: Path, info: ClassInfo, results: list[StudentResult]) -> Path:
    graded = [r for r in results if r.graded]
    lines = [f"# {info.assignment}: grading summary", "",
             f"- submissions: {len(results)}; graded: {len(graded)}; status ok: {sum(r.status == 'ok' for r in results)}",
             f"- sandbox: {info.sandbox_mode}"]
    if graded:
        scores = sorted(r.score for r in graded)
        lines.append(f"- score: mean {sum(scores) / len(scores):.2f}, median {scores[len(scores) // 2]:g}, "
                     f"max possible {info.max_score:g}")
        lines += ["", "## Pass rate per test (full points)", "", "| test | points | passed |", "|---|---|---|"]
        for gid, points in info.tests:
            passed = sum(r.scores.get(gid) == points for r in graded)
            lines.append(f"| `{gid}` | {points:g} | {passed}/{len(graded)} ({100 * passed / len(graded):.0f}%) |")
        _histogram(out, scores, info)
        lines += ["", "![score histogram](score_histogram.png)"]
    timed = sorted((r for r in results if r.seconds is not None), key=lambda r: -r.seconds)[:5]
    if timed:
        lines += ["", "## Slowest submissions", ""] + [f"- {r.student_id}: {r.seconds:.1f} s" for r in timed]
    bad = [r for r in results if r.status != "ok"]
    lines += ["", "## Not ok", ""] + ([f"- {r.student_id}: {r.status}" for r in bad] or ["- none"])
    return safefs.write_under(out, "summary.md", "\n".join(lines) + "\n")


def _histogram(out: Path, scores: list[float], info: ClassInfo) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.plotting import use_course_style

    use_course_style()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = [x - 0.5 for x in range(int(info.max_score) + 2)] if info.max_score <= 40 else 20
    ax.hist(scores, bins=bins, color="#3465a4", edgecolor="white")
    ax.set_xlabel(f"score (of {info.max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{info.assignment}: {len(scores)} graded submissions")
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    safefs.write_under(out, "score_histogram.png", png.getvalue())


# Canvas's own column names, as its gradebook export writes them; the import matches students by
# ID (Canvas's user id), else SIS User ID, else SIS Login ID.
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "    Points Possible"


def canvas_column(info: ClassInfo) -> str:
    """The assignment's column as Canvas exports it: `Name (id)`; without an id, the name alone
    (Canvas then matches an assignment by name, or offers to create one)."""
    name = info.lms_assignment or info.assignment
    return f"{name} ({info.lms_assignment_id})" if info.lms_assignment_id else name


def write_canvas_csv(out: Path, info: ClassInfo, results: list[StudentResult],
                     roster: dict[str, dict] | None = None) -> Path:
    """Canvas gradebook import: a row per student; a row that was not graded has an empty grade
    (Canvas leaves the grade as it is), never a 0. `roster`: student_id -> roster columns
    (name, lms_user_id, sis_user_id, sis_login_id, section) where the instructor gave them."""
    roster = roster or {}
    f = io.StringIO(newline="")
    writer = csv.writer(f)
    writer.writerow([*CANVAS_COLUMNS, canvas_column(info)])
    writer.writerow([CANVAS_POINTS_ROW, "", "", "", "", _num(info.max_score)])
    for r in sorted(results, key=lambda r: r.student_id):
        who = roster.get(r.student_id, {})
        writer.writerow([who.get("name") or r.student_id, who.get("lms_user_id") or r.lms_user_id,
                         who.get("sis_user_id") or r.student_id, who.get("sis_login_id", ""),
                         who.get("section", ""), _num(r.score) if r.graded else ""])
    return safefs.write_under(out, "canvas.csv", f.getvalue())


def write_feedback(out: Path, info: ClassInfo, results: list[StudentResult]) -> Path:
    """feedback/<student_id>.html for every student, graded or not."""
    for r in results:
        safefs.write_under(out, f"feedback/{r.student_id}.html", render(r, info.assignment, info.max_score))
    return out / "feedback"


# ---- the class, from the gradebook -------------------------------------------------------------------

def class_results(db_url: str, assignment: str, subs: list[Submission], roster_path: Path | None = None) -> list[StudentResult]:
    """Every student's record: the gradebook's, else pending (found but not graded yet), else not submitted."""
    records = gradebook.load(db_url, assignment)
    for s in subs:
        if s.student_id not in records:
            records[s.student_id] = StudentResult(s.student_id, PENDING, lms_user_id=s.lms_user_id,
                                                  submitted_file=s.path.name if s.path else "")
    for entry in (roster_entries(roster_path) if roster_path else []):
        sid = student_id_from(entry["student_id"])
        if sid not in records:
            records[sid] = StudentResult(sid, NOT_SUBMITTED, lms_user_id=entry.get("lms_user_id", ""))
    return [records[sid] for sid in sorted(records)]


def write_outputs(out: Path, info: ClassInfo, db_url: str, subs: list[Submission], roster_path: Path | None = None,
                  log=print) -> list[StudentResult]:
    """Every output, for the whole class, from the gradebook's records."""
    results = class_results(db_url, info.assignment, subs, roster_path)
    roster = {student_id_from(e["student_id"]): e for e in roster_entries(roster_path)} if roster_path else {}
    path = write_grades_csv(out, info, results)
    write_summary(out, info, results)
    write_canvas_csv(out, info, results, roster)
    write_feedback(out, info, results)
    ok = sum(r.status == "ok" for r in results)
    pending = sum(r.status == PENDING for r in results)
    log(f"{ok} of {len(results)} ok" + (f", {pending} not graded yet" if pending else "")
        + f" -> {path}, {out / 'summary.md'}, {out / 'canvas.csv'}; feedback in {out / 'feedback'}")
    return results
