"""The instructor's side of the course: release student notebooks and autograde a class.

    python -m autograder release                 # solutions/ -> notebooks/ (nbgrader generate_assignment)
    python -m autograder release --check         # fail if notebooks/ is out of date
    python -m autograder grade ch00 SUBMISSIONS --out DIR
    python -m autograder publish DEST            # the students' repository: no solutions, no hidden tests
    python -m autograder gradescope ch00 --out autograder.zip

Modules:
  cells      what an nbgrader cell is: kinds, grade ids, points, hidden-test blocks, parts
  config     every setting of a grading run (timeouts, limits, gradebook URL) and nbgrader's config
  intake     find each student's notebook in an LMS export, folder or zip; check the file
  repair     re-attach nbgrader metadata that Colab lost
  grade      the command: set up, shard, prepare, dispatch to workers, save each result
  worker     a long-lived grading process (server) and the grader's handle on it (client)
  execute    nbgrader's Execute, sandboxed and crash-tolerant
  sandbox    bubblewrap and process limits for the student's kernel
  diagnose   status and notes from a run: failures, timeouts by part, memory, edited test cells
  results    StudentResult, the typed record every output is written from
  gradebook  the shared gradebook: race-free set-up, one result per student, resume
  report     grades.csv, summary.md, canvas.csv and feedback pages, from the gradebook's records
  feedback   one student's HTML page (hidden tests' messages, never their source)
  release    generate notebooks/ from solutions/, check it is in sync
  setup_cell the first cell of every notebook: find or install course_lib
  publish    the students' repository (the two repositories of _config.yml), checked for leaks
  gradescope Gradescope's autograder zip, and its run on one submission (gradescope_bundle/ scripts)
"""
from pathlib import Path

AUTOGRADER_DIR = Path(__file__).resolve().parent
REPO = AUTOGRADER_DIR.parent
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"


def assignments() -> list[str]:
    """Assignment ids, one per solutions/<id>/<id>.ipynb."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name)
