"""Command line: `python -m autograder {grade,release} ...` (run from the repository root)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="autograde a class's submissions of one assignment")
    g.add_argument("assignment", help="assignment id, e.g. ch00")
    g.add_argument("submissions", help="a folder of <student_id>.ipynb or <student_id>/<any>.ipynb, or a zip of either")
    g.add_argument("--out", required=True, help="folder for grades.csv and feedback/")
    g.add_argument("--db-url", help="gradebook URL (default: SQLite in the course root; "
                                     "postgresql://... for several graders)")
    g.add_argument("--course-root", help="nbgrader working folder for submitted/ and autograded/ "
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
