"""Command line: `python -m autograder {grade,release} ...` (run from the repository root)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="autograde a class's submissions of one assignment")
    g.add_argument("assignment", help="assignment id, e.g. ch00")
    g.add_argument("submissions", help="a folder or zip: <student_id>.ipynb files, <student_id>/<any>.ipynb "
                                        "folders, or an LMS (Canvas) export")
    g.add_argument("--out", required=True, help="folder for grades.csv, summary.md, canvas.csv and feedback/")
    g.add_argument("--jobs", type=int, default=0, help="submissions graded at once (default: number of cores)")
    g.add_argument("--student", action="append", help="re-grade only this student (repeatable); other rows stay")
    g.add_argument("--roster", type=Path, help="CSV with columns lms_name,student_id")
    g.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell (default 120)")
    g.add_argument("--notebook-timeout", type=int, default=900, help="seconds per submission (default 900)")
    g.add_argument("--memory-mb", type=int, default=4096, help="address-space limit of a kernel (default 4096)")
    g.add_argument("--no-sandbox", action="store_true", help="do not use bubblewrap (process limits still apply)")
    g.add_argument("--db-url", help="gradebook URL (default: SQLite in the course root; "
                                     "postgresql://... for several graders)")
    g.add_argument("--course-root", type=Path, help="nbgrader working folder for submitted/ and autograded/ "
                                                     "(default: autograder/)")

    r = sub.add_parser("release", help="generate notebooks/ from solutions/ (nbgrader generate_assignment)")
    r.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    r.add_argument("--check", action="store_true", help="only check that notebooks/ is in sync; exit 1 if not")

    args = parser.parse_args(argv)
    if args.command == "grade":
        from .grade import main as grade_main
        return grade_main(args)
    from .release import main as release_main
    return release_main(args)


if __name__ == "__main__":
    sys.exit(main())
