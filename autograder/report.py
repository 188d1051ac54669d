"""Class-level outputs: summary.md with a score histogram, and a gradebook CSV an LMS can import."""
from __future__ import annotations

import csv
from pathlib import Path


def _num(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def write_summary(out: Path, grader, rows: list[dict]) -> Path:
    graded = [r for r in rows if _num(r.get("score")) is not None]
    lines = [f"# {grader.assignment}: grading summary", "",
             f"- submissions: {len(rows)}; graded: {len(graded)}; status ok: {sum(r['status'] == 'ok' for r in rows)}",
             f"- sandbox: {grader.sandbox_mode}"]
    if graded:
        scores = sorted(_num(r["score"]) for r in graded)
        lines.append(f"- score: mean {sum(scores) / len(scores):.2f}, median {scores[len(scores) // 2]:g}, "
                     f"max possible {grader.max_score:g}")
        lines += ["", "## Pass rate per test (full points)", "", "| test | points | passed |", "|---|---|---|"]
        for gid, points in grader.tests:
            passed = sum(_num(r.get(gid)) == points for r in graded)
            lines.append(f"| `{gid}` | {points:g} | {passed}/{len(graded)} ({100 * passed / len(graded):.0f}%) |")
        _histogram(out / "score_histogram.png", scores, grader)
        lines += ["", "![score histogram](score_histogram.png)"]
    timed = sorted((r for r in rows if _num(r.get("seconds")) is not None), key=lambda r: -r["seconds"])[:5]
    if timed:
        lines += ["", "## Slowest submissions", ""] + [f"- {r['student_id']}: {r['seconds']:.1f} s" for r in timed]
    bad = [r for r in rows if r["status"] != "ok"]
    lines += ["", "## Not ok", ""] + ([f"- {r['student_id']}: {r['status']}" for r in bad] or ["- none"])
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _histogram(path: Path, scores: list[float], grader) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.plotting import use_course_style

    use_course_style()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = [x - 0.5 for x in range(int(grader.max_score) + 2)] if grader.max_score <= 40 else 20
    ax.hist(scores, bins=bins, color="#3465a4", edgecolor="white")
    ax.set_xlabel(f"score (of {grader.max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{grader.assignment}: {len(scores)} graded submissions")
    fig.savefig(path)
    plt.close(fig)


def write_canvas_csv(out: Path, grader, rows: list[dict]) -> Path:
    """Canvas's gradebook import format: Student, ID, SIS User ID, SIS Login ID, Section, <assignment>.

    ID is Canvas's user id where the submission's file name carried it; a row that could not be graded
    gets an empty grade (Canvas leaves it unchanged), never a 0.
    """
    path = out / "canvas.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", grader.assignment])
        writer.writerow(["Points Possible", "", "", "", "", f"{grader.max_score:g}"])
        for r in rows:
            score = _num(r.get("score"))
            writer.writerow([r["student_id"], r.get("lms_user_id", ""), r["student_id"], "", "",
                             "" if score is None else f"{score:g}"])
    return path
