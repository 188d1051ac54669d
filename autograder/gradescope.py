"""`python -m autograder gradescope chNN --out autograder.zip`: the course's grader as a Gradescope autograder.

Gradescope's format, as its documentation states it ("Autograder Specifications",
https://gradescope-autograders.readthedocs.io/en/latest/specs/, with "Base Images", "Troubleshooting"
and "Best Practices" beside it; read in the gradescope/autograder_samples repository, docs/):
- the autograder is a zip with `setup.sh` and `run_autograder` at its root (not inside a folder);
  Gradescope unpacks it into /autograder/source and runs setup.sh once, as root, when it builds the
  image from an Ubuntu base image (22.04 by default);
- for every submission it runs `run_autograder` (any language, with a #! line) in /autograder, the
  student's files in /autograder/submission; run_autograder must write
  /autograder/results/results.json; its stdout is kept for instructors only;
- results.json: {"score", "execution_time", "output", "extra_data", "tests": [{"score", "max_score",
  "name", "number", "output", "tags", "visibility", "extra_data"}]}; a visibility is "visible"
  (default), "hidden", "after_due_date" or "after_published" (shown when the instructor publishes
  the grades); students do not see their total while a test is hidden;
- the defaults: 768 MB of memory, half a CPU, a 10-minute limit per submission (settings of the
  assignment, up to 40 minutes); a run cut off by the limit scores 0 with no results shown.

The bundle grades with this course's own grader, nothing written for Gradescope alone: run_autograder
calls `grade()` (autograder/grade.py, what `python -m autograder grade` runs) on the one notebook in
/autograder/submission, with the same sandbox, guard, repair and tests, and turns the StudentResult it
returns into results.json: a test per graded test cell (its points, what failed, as the feedback page
words it), "after_published" for the cells that hold hidden tests, "visible" for the others. A
submission with no notebook or several gets score 0 and a message saying what to resubmit; a grader
that fails still writes a results.json that says so.

The bundle carries what grading needs: this autograder package, the assignment's source notebook
(solutions and hidden tests: the bundle is private to the instructor), the released notebooks,
course_lib's wheel and the grader's pinned requirements (requirements-grader.txt, from
requirements*.txt), with setup.sh and run_autograder from gradescope_bundle/.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from . import AUTOGRADER_DIR, NOTEBOOKS, REPO, SOLUTIONS, assignments
from . import cells as nbcells

SCRIPTS = AUTOGRADER_DIR / "gradescope_bundle"
SETTINGS = "gradescope.json"
# The grader's packages, pinned in requirements.txt, on top of requirements-student.txt (course_lib
# itself comes as the wheel).
GRADER_PACKAGES = ["nbgrader", "nbformat"]
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# Gradescope stops a submission after 10 minutes unless the assignment allows more: a notebook gets
# less, so that results.json is written even for one that runs out of time.
NOTEBOOK_TIMEOUT = 480
# What Gradescope's own runner leaves in a submission, and editors' droppings: never a submission.
IGNORED = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db"}


class BundleError(RuntimeError):
    pass


# ---- building the bundle (here) ------------------------------------------------------------------------

def grader_requirements() -> str:
    from .publish import _requirement

    lines = ["# The grader's packages, pinned as the course's requirements*.txt pin them (written by",
             "# `python -m autograder gradescope`); course_lib is installed from the wheel beside this file."]
    for line in (REPO / "requirements-student.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-e", "-r")):
            lines.append(line)
    lines += [_requirement(name) for name in GRADER_PACKAGES]
    return "\n".join(lines) + "\n"


def _grader_files() -> list[Path]:
    """The autograder package's code and configuration: what git tracks or would track (the gradebook,
    submissions and scratch folders are ignored); every file where this is not a git checkout."""
    proc = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "autograder"],
                          cwd=REPO, capture_output=True, text=True)
    if proc.returncode == 0 and proc.stdout.strip():
        files = [REPO / rel for rel in proc.stdout.splitlines()]
    else:
        files = [p for p in AUTOGRADER_DIR.rglob("*") if "__pycache__" not in p.parts]
    return sorted(p for p in files if p.is_file() and "student_repo" not in p.parts)


def build_bundle(assignment: str, out: Path, notebook_timeout: int = NOTEBOOK_TIMEOUT,
                 cell_timeout: int | None = None, memory_mb: int | None = None,
                 hidden_tests_shown: str = "after_published") -> Path:
    """Write Gradescope's autograder zip for `assignment` to `out` (replaced as a whole, never half-written)."""
    from .config import CELL_TIMEOUT
    from .publish import _source_revision, build_wheel
    from .sandbox import Limits

    if assignment not in assignments():
        raise BundleError(f"unknown assignment {assignment!r}; the course has: {', '.join(assignments())}")
    release = NOTEBOOKS / assignment / f"{assignment}.ipynb"
    if not release.is_file():
        raise BundleError(f"{release.relative_to(REPO)} is missing: run `make notebooks` first")
    out = Path(out).resolve()
    if out.is_dir():
        raise BundleError(f"--out {out} is a folder: name the zip file to write, e.g. --out {out / 'autograder.zip'}")
    import nbformat
    settings = {"assignment": assignment, "max_score": nbcells.max_score(nbformat.read(release, as_version=4)),
                "notebook_timeout": notebook_timeout, "cell_timeout": cell_timeout or CELL_TIMEOUT,
                "memory_mb": memory_mb or Limits.memory_mb, "hidden_tests_shown": hidden_tests_shown,
                "built_from": _source_revision()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        wheel = build_wheel(Path(tmp) / "dist")
        partial = out.with_name(f".{out.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for script in ("setup.sh", "run_autograder"):
                info = zipfile.ZipInfo(script, date_time=time.localtime()[:6])
                info.external_attr = 0o100755 << 16        # executable, as Gradescope runs them
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, (SCRIPTS / script).read_text())
            zf.writestr(SETTINGS, json.dumps(settings, indent=1) + "\n")
            zf.writestr("requirements-grader.txt", grader_requirements())
            zf.write(wheel, wheel.name)
            course = [*_grader_files(), *sorted(p for p in (SOLUTIONS / assignment).rglob("*") if p.is_file()),
                      *sorted(p for p in NOTEBOOKS.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts)]
            for path in course:
                zf.write(path, "course/" + path.relative_to(REPO).as_posix())
        os.replace(partial, out)
    return out


# ---- grading one submission (in the bundle, on Gradescope) --------------------------------------------

def submitted_notebooks(folder: Path) -> tuple[list[Path], list[str]]:
    """(the notebooks in a submission, the names of every file in it), editors' droppings left out."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part in IGNORED or part.startswith(".") for part in p.relative_to(folder).parts))
    return [p for p in files if p.suffix.lower() == ".ipynb"], [p.relative_to(folder).as_posix() for p in files]


def _test_info(assignment: str, hidden_shown: str = "after_published") -> dict[str, tuple[str, str]]:
    """grade_id -> (the name students see, its visibility): a cell that holds hidden tests is shown
    `hidden_shown` (by default once grades are published), the others at once."""
    import nbformat

    release = nbformat.read(NOTEBOOKS / assignment / f"{assignment}.ipynb", as_version=4)
    source = nbcells.by_grade_id(nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4))
    parts = nbcells.part_names(release)
    info = {}
    for index, cell in enumerate(release.cells):
        if nbcells.is_test(cell):
            gid = nbcells.grade_id(cell)
            hidden = bool(nbcells.hidden_lines(source[gid].source)) if gid in source else False
            info[gid] = (f"{parts[index]}: {gid}", hidden_shown if hidden else "visible")
    return info


def _what_to_do(status: str) -> str:
    from .feedback import WHAT_TO_DO

    return next((advice for start, advice in WHAT_TO_DO.items() if status.startswith(start)),
                "Check the notebook opens in Jupyter or Colab, then resubmit it; ask your instructor if this persists.")


def results_json(result, assignment: str, tests: dict[str, tuple[str, str]], sandbox: str = "") -> dict:
    """Gradescope's results.json for one StudentResult (autograder/results.py), as the feedback page words it."""
    extra = {"status": result.status, "notes": result.notes, "submitted_file": result.submitted_file, "sandbox": sandbox}
    if not result.graded:
        return {"score": 0.0, "output": f"Your notebook could not be graded: {result.status}.\n{_what_to_do(result.status)}",
                "extra_data": extra}
    notes = [*result.notes, *result.student_notes] + ([result.status] if result.status != "ok" else [])
    out = []
    for number, t in enumerate(result.tests, 1):
        name, visibility = tests.get(t.grade_id, (t.grade_id, "after_published"))
        out.append({"name": name, "number": str(number), "score": t.points, "max_score": t.max_points,
                    "output": "Passed." if t.message is None else t.message, "visibility": visibility})
    later = [t for t in out if t["visibility"] != "visible"]
    if later:
        when = {"after_published": "when your instructor publishes the grades", "after_due_date": "after the due date",
                "hidden": "to your instructor only"}[later[0]["visibility"]]
        notes.insert(0, f"Your notebook was graded. {len(later)} of its {len(out)} test cells hold hidden tests: "
                        f"their results, and your total, are shown {when}.")
    return {"score": result.score, "output": "\n".join(notes), "tests": out, "extra_data": extra}


def grade_submission(root: Path, settings: dict) -> dict:
    assignment = settings["assignment"]
    notebooks, files = submitted_notebooks(root / "submission")
    how = (f"Submit one file, your {assignment}.ipynb (in Colab: File → Download → Download .ipynb), "
           f"and nothing else.")
    if not notebooks:
        return {"score": 0.0, "output": f"No notebook (.ipynb file) was found in your submission "
                                        f"(it holds: {', '.join(files) or 'nothing'}). {how}"}
    if len(notebooks) > 1:
        names = ", ".join(p.relative_to(root / "submission").as_posix() for p in notebooks)
        return {"score": 0.0, "output": f"Your submission holds {len(notebooks)} notebooks ({names}) and the grader "
                                        f"cannot tell which one is your work: nothing was graded. {how}"}
    from .config import Options
    from .grade import grade
    from .sandbox import Limits

    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    staged = work / "submissions" / "submission"      # <student>/<any name>.ipynb, as the CLI takes it
    staged.mkdir(parents=True)
    shutil.copy(notebooks[0], staged / notebooks[0].name)
    options = Options(jobs=1, cell_timeout=settings["cell_timeout"], notebook_timeout=settings["notebook_timeout"],
                      limits=Limits(memory_mb=settings["memory_mb"]), course_root=work / "course")
    lines = []

    def log(line):
        lines.append(str(line))
        print(line, flush=True)
    (result,) = grade(assignment, work / "submissions", work / "out", options, log=log)
    sandbox = next((line.split("sandbox: ", 1)[1] for line in lines if "sandbox: " in line), "")
    return results_json(result, assignment, _test_info(assignment, settings.get("hidden_tests_shown", "after_published")),
                        sandbox)


GRADER_FAILED = ("The autograder failed on its side, not because of your notebook. Your instructor can see why "
                 "in the autograder's output; try again later or tell your instructor.")


def run_in_bundle(root: Path) -> dict:
    """run_autograder's work: grade /autograder/submission, write /autograder/results/results.json."""
    root = Path(root)
    start = time.monotonic()
    try:
        settings = json.loads((root / "source" / SETTINGS).read_text())
        results = grade_submission(root, settings)
    except Exception:   # a results.json in any case (Gradescope's advice); the traceback goes to the instructor
        traceback.print_exc(file=sys.stdout)
        results = {"score": 0.0, "output": GRADER_FAILED}
    results["execution_time"] = round(time.monotonic() - start)
    (root / "results").mkdir(parents=True, exist_ok=True)
    partial = root / "results" / "results.json.partial"
    partial.write_text(json.dumps(results, indent=1))
    os.replace(partial, root / "results" / "results.json")
    print(f"score {results.get('score')}; results in {root / 'results' / 'results.json'}")
    return results


# ---- command line ------------------------------------------------------------------------------------

def add_parser(sub) -> None:
    from .config import CELL_TIMEOUT
    from .sandbox import Limits

    p = sub.add_parser("gradescope", help="build a Gradescope autograder (autograder.zip) for one assignment",
                       description="Build Gradescope's autograder zip for one assignment: it grades the notebook a "
                                   "student submits with this course's grader (README.md, 'Gradescope').")
    p.add_argument("assignment", help="assignment id, e.g. ch00")
    p.add_argument("--out", type=Path, default=Path("autograder.zip"), help="the zip to write (default autograder.zip)")
    p.add_argument("--notebook-timeout", type=int, default=NOTEBOOK_TIMEOUT,
                   help=f"seconds for the whole notebook (default {NOTEBOOK_TIMEOUT}: under Gradescope's default "
                        f"10-minute limit, so that a results.json is always written; raise both together)")
    p.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT, help=f"seconds per cell (default {CELL_TIMEOUT})")
    p.add_argument("--memory-mb", type=int, default=Limits.memory_mb,
                   help=f"address space of the student's kernel in MB (default {Limits.memory_mb})")
    p.add_argument("--hidden-tests-shown", choices=VISIBILITIES[1:], default="after_published",
                   help="when students see the test cells that hold hidden tests, and their total (default "
                        "after_published: once you publish the grades); the other test cells are shown at once")
    p.set_defaults(run=main)


def main(args) -> int:
    from .publish import PublishError

    try:
        out = build_bundle(args.assignment, args.out, args.notebook_timeout, args.cell_timeout, args.memory_mb,
                           args.hidden_tests_shown)
    except (BundleError, PublishError) as exc:
        print(f"gradescope: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}: upload it on the assignment's Configure Autograder page (README.md, 'Gradescope')")
    return 0


if __name__ == "__main__":     # run_autograder: python -m autograder.gradescope /autograder
    run_in_bundle(Path(sys.argv[1] if len(sys.argv) > 1 else "/autograder"))
