"""The instructor's pipeline end to end: `python -m autograder grade` on real notebooks.

For every assignment: the solution scores 100%, the untouched student notebook scores 0 without
crashing the grader, and a copy of the solution with all nbgrader metadata stripped (as Colab
can leave it) still scores 100%. Feedback never shows hidden tests.
"""
from __future__ import annotations

import copy
import csv
import subprocess
import sys
import zipfile

import nbformat
import pytest

from autograder import NOTEBOOKS, SOLUTIONS, assignments
from autograder import cells as nbcells
from autograder.repair import repair

pytestmark = pytest.mark.slow   # grades whole notebooks / drives a browser: `make test-fast` skips it

ASSIGNMENTS = assignments()


def strip_metadata(nb, new_ids=True):
    """What a notebook can look like after a trip through Colab: no nbgrader metadata, new ids."""
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        cell.metadata = {"id": f"colab{i:04d}"} if new_ids else {}
        if new_ids:
            cell.id = f"c0lab{i:04d}"
    nb.metadata = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"},
                   "language_info": {"name": "python"}}
    return nb


def with_warnings_on_stderr(nb):
    """The solution, with a harmless UserWarning written to stderr in every later cell (as torch does)."""
    nb = copy.deepcopy(nb)
    hook = nbformat.v4.new_code_cell(
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "def _warn(*args):\n"
        "    warnings.warn('this overload is deprecated', UserWarning)\n"
        "get_ipython().events.register('pre_run_cell', _warn)")
    nb.cells.insert(1, hook)
    return nb


def run_grade(aid, submissions, out, course_root):
    cmd = [sys.executable, "-m", "autograder", "grade", aid, str(submissions), "--out", str(out),
           "--course-root", str(course_root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"grader crashed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    with open(out / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    return rows, proc.stdout


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded_class(request, tmp_path_factory):
    aid = request.param
    tmp = tmp_path_factory.mktemp(f"grade-{aid}")
    subs = tmp / "submissions"
    subs.mkdir()
    solution = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    nbformat.write(solution, subs / "solution.ipynb")
    (subs / "untouched.ipynb").write_bytes((NOTEBOOKS / aid / f"{aid}.ipynb").read_bytes())
    nbformat.write(strip_metadata(solution), subs / "stripped.ipynb")
    nbformat.write(with_warnings_on_stderr(solution), subs / "warns.ipynb")
    rows, log = run_grade(aid, subs, tmp / "out", tmp / "course")
    print(log)
    return aid, rows, tmp / "out"


def max_points(aid):
    return nbcells.max_score(nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4))


def test_solution_scores_full_marks(graded_class):
    aid, rows, _ = graded_class
    row = rows["solution"]
    assert row["status"] == "ok", row
    assert float(row["score"]) == float(row["max_score"]) == max_points(aid), row


def test_untouched_student_notebook_scores_zero(graded_class):
    aid, rows, _ = graded_class
    row = rows["untouched"]
    assert row["status"] == "ok", f"the grader must grade an untouched notebook, not fail on it: {row}"
    assert float(row["score"]) == 0 and float(row["max_score"]) == max_points(aid), row


def test_stripped_metadata_copy_scores_full_marks(graded_class):
    aid, rows, _ = graded_class
    row = rows["stripped"]
    assert row["status"] == "ok", row
    assert float(row["score"]) == max_points(aid), f"metadata repair failed: {row}"
    assert "re-attached" in row["notes"]


def test_harmless_warnings_on_stderr_cost_nothing(graded_class):
    """nbgrader zeroes a test cell with any stderr; IgnorePattern drops stderr made only of warnings."""
    aid, rows, _ = graded_class
    row = rows["warns"]
    assert row["status"] == "ok" and float(row["score"]) == max_points(aid), row


def test_grades_csv_has_one_column_per_graded_test(graded_class):
    aid, rows, out = graded_class
    with open(out / "grades.csv", newline="") as f:
        header = next(csv.reader(f))
    nb = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    test_ids = [gid for gid, _ in nbcells.test_cells(nb)]
    assert header == ["student_id", *test_ids, "score", "max_score", "status", "notes"]
    for gid in test_ids:
        assert float(rows["solution"][gid]) > 0 and float(rows["untouched"][gid]) == 0


def hidden_lines(aid):
    """Every substantial hidden-test line of an assignment (the grader's own definition of a leak)."""
    nb = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    return [line for cell in nb.cells for line in nbcells.hidden_lines(cell.source)]


def test_feedback_never_shows_hidden_tests(graded_class):
    import html
    aid, rows, out = graded_class
    secret = hidden_lines(aid)
    assert secret, "expected hidden tests to look for"
    for student in ("solution", "untouched", "stripped"):
        page = html.unescape((out / "feedback" / f"{student}.html").read_text())
        assert f"{rows[student]['score']} / {rows[student]['max_score']}" in page
        leaked = [line for line in secret if line in page]
        assert not leaked, f"feedback for {student} shows hidden test lines: {leaked[:3]}"
    page = (out / "feedback" / "untouched.html").read_text()
    assert "Not attempted yet" in page and "failed" in page


# ---- intake: folders, zips, things that are not notebooks ------------------------------------

def test_zip_of_student_folders_and_bad_files(tmp_path):
    aid = ASSIGNMENTS[0]
    solution = (SOLUTIONS / aid / f"{aid}.ipynb").read_bytes()
    archive = tmp_path / "lms-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"export/dave/{aid}.ipynb", solution)                  # <student>/<anything>.ipynb
        zf.writestr("export/erin/Copy of homework.ipynb", solution)
        zf.writestr("export/frank.ipynb", b"{ this is not json")           # broken notebook
        zf.writestr("export/grace.pdf", b"%PDF-1.4")                       # not a notebook
        zf.writestr("export/heidi/notes.txt", b"no notebook here")
        zf.writestr("__MACOSX/export/._dave", b"")
    rows, _ = run_grade(aid, archive, tmp_path / "out", tmp_path / "course")
    assert set(rows) == {"dave", "erin", "frank", "grace", "heidi"}
    for ok in ("dave", "erin"):
        assert rows[ok]["status"] == "ok" and float(rows[ok]["score"]) == max_points(aid), rows[ok]
    assert rows["frank"]["status"].startswith("unreadable notebook"), rows["frank"]
    assert rows["grace"]["status"] == "not a notebook: grace.pdf (expected a .ipynb file)"
    assert rows["heidi"]["status"] == "no .ipynb file in heidi/"
    for bad in ("frank", "grace", "heidi"):
        assert rows[bad]["score"] == "", "an ungradable submission gets no score, not a silent 0"


def test_unknown_assignment_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "ch99", str(tmp_path), "--out",
                           str(tmp_path / "o"), "--course-root", str(tmp_path / "c")], capture_output=True, text=True)
    assert proc.returncode != 0 and "unknown assignment 'ch99'" in proc.stderr + proc.stdout


# ---- metadata repair, without running anything ------------------------------------------------

def graded_ids(nb):
    return [(i, nbcells.grade_id(c)) for i, c in enumerate(nb.cells) if nbcells.meta(c) is not None]


@pytest.mark.parametrize("aid", ASSIGNMENTS)
@pytest.mark.parametrize("new_ids", [False, True], ids=["ids kept", "ids lost"])
def test_repair_restores_every_graded_cell(aid, new_ids):
    release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    student = strip_metadata(release, new_ids=new_ids)
    notes = repair(student, release)
    assert graded_ids(student) == graded_ids(release), notes
    for got, want in zip(student.cells, release.cells):
        assert nbcells.meta(got) == nbcells.meta(want)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_repair_copes_with_extra_cells_and_answers_in_new_cells(aid):
    release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    student = strip_metadata(release)
    # A student adds scratch cells everywhere and edits every answer (keeping its def line).
    cells = []
    for cell in student.cells:
        cells.append(nbformat.v4.new_code_cell("print('scratch')"))
        cells.append(cell)
    student.cells = cells
    nbformat.validator.normalize(student)
    repair(student, release)
    assert [g for _, g in graded_ids(student)] == [g for _, g in graded_ids(release)]


def test_repair_drops_metadata_of_a_foreign_assignment():
    release = nbformat.read(NOTEBOOKS / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb", as_version=4)
    student = copy.deepcopy(release)
    student.cells[0].metadata["nbgrader"] = {"grade_id": "not_in_this_assignment", "grade": True, "points": 99}
    repair(student, release)
    assert nbcells.meta(student.cells[0]) is None
