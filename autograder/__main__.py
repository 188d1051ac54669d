"""Command line: `python -m autograder {grade,release,publish,gradescope} ...` (run from the repository root)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from .config import AFTER_TIMEOUT, CELL_TIMEOUT, NOTEBOOK_TIMEOUT
    from .sandbox import Limits

    g = sub.add_parser("grade", help="autograde a class's submissions of one assignment",
                       description="Autograde a class. Every setting of a grading run is an option below, "
                                   "with its default.")
    g.add_argument("assignment", help="assignment id, e.g. ch00")
    g.add_argument("submissions", help="a folder or zip: <student_id>.ipynb files, <student_id>/<any>.ipynb "
                                        "folders, or an LMS (Canvas) export")
    g.add_argument("--out", required=True, help="folder for grades.csv, summary.md, canvas.csv and feedback/")
    g.add_argument("--jobs", type=int, default=0, help="submissions graded at once (default: number of cores)")
    g.add_argument("--student", action="append", help="re-grade only this student (repeatable); every output is "
                                                       "then written as a full run would")
    g.add_argument("--regrade", action="store_true", help="grade again students the gradebook already holds "
                                                           "(default: a re-run grades only new or changed files)")
    g.add_argument("--shard", default="1/1", help="k/n: grade the k-th of n slices of the class, for n graders "
                                                   "sharing one gradebook (default 1/1)")
    g.add_argument("--roster", type=Path, help="CSV with columns lms_name,student_id (optional: name, lms_user_id, "
                                               "sis_user_id, sis_login_id, section); roster students who did not "
                                               "submit get a `not submitted` row")
    g.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT,
                   help=f"seconds a cell may run before it is interrupted (default {CELL_TIMEOUT}); once one has "
                        f"timed out, later cells that are not graded tests get at most {AFTER_TIMEOUT} s")
    g.add_argument("--notebook-timeout", type=int, default=NOTEBOOK_TIMEOUT,
                   help=f"seconds for a whole submission (default {NOTEBOOK_TIMEOUT})")
    g.add_argument("--memory-mb", type=int, default=Limits.memory_mb,
                   help=f"memory (address space) of a student's kernel in MB; a cell that needs more fails with "
                        f"MemoryError (default {Limits.memory_mb}; importing torch alone takes about 1500)")
    g.add_argument("--no-sandbox", action="store_true", help="do not use bubblewrap (process limits still apply)")
    g.add_argument("--db-url", help="gradebook URL (default: SQLite file gradebook.db in the course root); "
                                     "postgresql://user:password@host/dbname for several graders (psycopg2 driver)")
    g.add_argument("--course-root", type=Path, help="nbgrader working folder for submitted/ and autograded/ "
                                                     "(default: autograder/)")
    g.add_argument("--lms-assignment", help="the assignment's name in Canvas, for canvas.csv (default: the id, e.g. ch00)")
    g.add_argument("--lms-assignment-id", help="the assignment's Canvas id: the column is then `name (id)`, as "
                                                "Canvas exports it")

    r = sub.add_parser("release", help="generate notebooks/ from solutions/ (nbgrader generate_assignment)")
    r.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    r.add_argument("--check", action="store_true", help="only check that notebooks/ is in sync; exit 1 if not")

    from . import gradescope, publish
    publish.add_parser(sub)
    gradescope.add_parser(sub)

    args = parser.parse_args(argv)
    if hasattr(args, "run"):
        return args.run(args)
    if args.command == "grade":
        from .grade import main as grade_main
        return grade_main(args)
    from .release import main as release_main
    return release_main(args)


if __name__ == "__main__":
    sys.exit(main())
