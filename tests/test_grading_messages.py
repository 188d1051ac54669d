"""What the grader tells the instructor and the student about a class (ch00 submissions, graded once):
memory, timeouts by part, edited test cells, missing and ungradable submissions, and a re-grade of
one student that writes every file as a full run would."""
from __future__ import annotations

import copy
import csv
import html
import json
import re
import subprocess
import sys

import nbformat
import pytest

from autograder import REPO, SOLUTIONS
from autograder import cells as nbcells
from autograder.config import AFTER_TIMEOUT

pytestmark = pytest.mark.slow
AID = "ch00"
CELL_TIMEOUT = 20


def _insert_after(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    i = next(i for i, c in enumerate(nb.cells) if nbcells.grade_id(c) == grade_id)
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))
    return nb


def _replace(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    nbcells.by_grade_id(nb)[grade_id].source = source
    return nb


def _grade(subs, out, course, *extra):
    cmd = [sys.executable, "-m", "autograder", "grade", AID, str(subs), "--out", str(out), "--course-root",
           str(course), "--cell-timeout", str(CELL_TIMEOUT), "--roster", str(subs.parent / "roster.csv"), *extra]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def _text(path):
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("messages")
    subs = tmp / "subs"
    subs.mkdir()
    solution = nbformat.read(SOLUTIONS / AID / f"{AID}.ipynb", as_version=4)
    release_test = nbcells.by_grade_id(nbformat.read(REPO / "notebooks" / AID / f"{AID}.ipynb", as_version=4))
    nbformat.write(solution, subs / "alice.ipynb")
    # Holds on to memory until the kernel's limit stops it: MemoryError under Part 1.
    nbformat.write(_insert_after(solution, "pairwise_sq_dists",
                                 "_hoard = []\nwhile True:\n    _hoard.append(torch.empty(2**28, dtype=torch.uint8))"),
                   subs / "hog.ipynb")
    # A looping answer, called again by a cell of the student's own after the test.
    loop = _replace(solution, "standardize_channels", "def standardize_channels(x, eps=1e-5):\n    while True:\n        pass")
    nbformat.write(_insert_after(loop, "test_standardize_channels", "standardize_channels(torch.ones(2, 3, 4, 4))"),
                   subs / "loop.ipynb")
    edited = copy.deepcopy(solution)
    nbcells.by_grade_id(edited)["test_to_channels_first"].source = \
        release_test["test_to_channels_first"].source + "\nprint('I was here')"
    nbformat.write(edited, subs / "edited.ipynb")
    (subs / "broken.ipynb").write_text("{ not json")
    nbformat.write(nbformat.read(SOLUTIONS / "ch01" / "ch01.ipynb", as_version=4), subs / "wrong.ipynb")
    names = ["alice", "hog", "loop", "edited", "broken", "wrong", "zoe"]
    (tmp / "roster.csv").write_text("lms_name,student_id,lms_user_id\n"
                                    + "".join(f"{n},{n},{1000 + k}\n" for k, n in enumerate(names)))
    out, course = tmp / "out", tmp / "course"
    log = _grade(subs, out, course)
    first = {name: (out / name).read_bytes() for name in ("grades.csv", "canvas.csv")}
    first["summary"] = (out / "summary.md").read_text()
    return subs, out, course, log, first


def test_roster_students_without_a_file_get_a_row_and_a_page(graded):
    _, out, _, _, _ = graded
    rows = _rows(out / "grades.csv")
    assert rows["zoe"]["status"] == "not submitted" and rows["zoe"]["score"] == ""
    canvas = list(csv.reader(open(out / "canvas.csv", newline="")))
    assert ["zoe", "1006", "zoe", "", "", ""] in canvas
    assert ["alice", "1000", "alice", "", "", "9"] in canvas
    assert "Nothing was received from you" in _text(out / "feedback" / "zoe.html")
    assert "resubmit" in _text(out / "feedback" / "broken.html")


def test_running_out_of_memory_is_named_with_its_part_and_the_limit(graded):
    _, out, _, _, _ = graded
    row = _rows(out / "grades.csv")["hog"]
    assert "Part 1 ran out of memory" in row["status"] and "4096 MB" in row["status"], row
    assert "Part 1 ran out of memory" in _text(out / "feedback" / "hog.html")


def test_a_timeout_names_the_part_as_students_see_it(graded):
    _, out, _, _, _ = graded
    row = _rows(out / "grades.csv")["loop"]
    assert f"Part 2 did not finish in {CELL_TIMEOUT} s" in row["notes"], row
    assert float(row["score"]) == 9 - 3 and row["test_standardize_channels"] == "0", row


def test_a_loop_costs_one_full_timeout_not_one_per_cell_that_calls_it(graded):
    """Read from the limits the grader applied and how each cell ended, never from measured durations:
    on a loaded machine a wall-clock assertion without a wide margin fails by chance."""
    _, _, course, _, _ = graded
    nb = nbformat.read(course / "autograded" / "loop" / AID / f"{AID}.ipynb", as_version=4)
    test = next(i for i, c in enumerate(nb.cells) if nbcells.grade_id(c) == "test_standardize_channels")
    assert nb.cells[test].metadata["autograder"]["limit"] == CELL_TIMEOUT, "the graded test gets the whole cell timeout"
    assert any(o.get("ename") == "TimeoutError" for o in nb.cells[test].outputs), nb.cells[test].outputs
    again = nb.cells[test + 1]
    assert again.metadata["autograder"]["limit"] == AFTER_TIMEOUT, "after a timeout, an ungraded cell gets only AFTER_TIMEOUT"
    assert any(o.get("ename") == "KeyboardInterrupt" for o in again.outputs), again.outputs


def test_edited_test_cells_are_noted_and_run_as_released(graded):
    _, out, _, _, _ = graded
    rows = _rows(out / "grades.csv")
    assert "was edited" not in rows["alice"]["notes"], "an untouched test cell must not be reported as changed"
    row = rows["edited"]
    assert "test_to_channels_first: the test cell was edited" in row["notes"] and float(row["score"]) == 9, row


def test_logs_and_feedback_point_to_the_graded_notebook(graded):
    _, out, _, _, _ = graded
    log = json.loads((out / "logs" / "alice.log").read_text())
    assert log["submitted_file"] == "alice.ipynb" and log["graded_notebook"].endswith(f"alice/{AID}/{AID}.ipynb")
    assert nbformat.read(log["graded_notebook"], as_version=4).cells
    assert "Graded file: alice.ipynb" in _text(out / "feedback" / "alice.html")


def test_wrong_assignment_rows_carry_no_repair_notes(graded):
    _, out, _, _, _ = graded
    row = _rows(out / "grades.csv")["wrong"]
    assert row["status"] == f"wrong assignment: this is the ch01 notebook, not {AID}" and row["notes"] == "", row


def test_regrading_one_student_writes_every_file_as_a_full_run(graded):
    subs, out, course, _, first = graded
    log = _grade(subs, out, course, "--student", "alice")
    assert "grading 1 submission(s)" in log, log
    assert (out / "grades.csv").read_bytes() == first["grades.csv"]
    assert (out / "canvas.csv").read_bytes() == first["canvas.csv"], "every other student's row stays as it was"
    slowest = [line for line in (out / "summary.md").read_text().splitlines() if re.match(r"- \w+: [\d.]+ s$", line)]
    assert len(slowest) == 4, slowest   # alice, hog, loop, edited: the class's, not only the re-graded one
    # A re-run without --student grades nothing again and changes nothing.
    assert "grading 0 submission(s)" in _grade(subs, out, course)
    assert (out / "grades.csv").read_bytes() == first["grades.csv"]
