"""The instructor's side of the course: release student notebooks and autograde a class.

    python -m autograder release                 # solutions/ -> notebooks/ (nbgrader generate_assignment)
    python -m autograder release --check         # fail if notebooks/ is out of date
    python -m autograder grade ch00 SUBMISSIONS --out DIR

Modules: intake (find each student's notebook), repair (re-attach lost nbgrader metadata),
grade (the command: check, repair, dispatch to workers, collect grades.csv), worker (autograde one
student with nbgrader), execute (nbgrader's Execute, sandboxed and crash-tolerant), sandbox
(bubblewrap and process limits for the kernel), feedback (per-student HTML without hidden tests),
report (summary.md, histogram, canvas.csv), release (generate notebooks/, check it is in sync).
"""
from pathlib import Path

AUTOGRADER_DIR = Path(__file__).resolve().parent
REPO = AUTOGRADER_DIR.parent
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"


def assignments() -> list[str]:
    """Assignment ids, one per solutions/<id>/<id>.ipynb."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name)
