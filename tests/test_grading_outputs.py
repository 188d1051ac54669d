"""The grader's outputs from its typed records, without running any notebook: grades.csv, canvas.csv
(Canvas's import format), feedback pages (also for ungradable and missing submissions), the
cells module (hidden blocks, parts as students see them) and the gradebook's result table."""
from __future__ import annotations

import csv
import html
import re

import nbformat
import pytest

from autograder import NOTEBOOKS, SOLUTIONS, assignments
from autograder import cells as nbcells
from autograder.config import Options
from autograder.feedback import failure_message
from autograder.gradebook import RESULTS, ResultStore, _engine, _metadata, load
from autograder.grade import parse_shard
from autograder.intake import IntakeError, Submission
from autograder.report import ClassInfo, class_results, write_canvas_csv, write_feedback, write_grades_csv
from autograder.results import NOT_SUBMITTED, PENDING, StudentResult, GradedTest

# Chapters with a release (test_release checks that every chapter has one, in sync).
RELEASED = [a for a in assignments() if (NOTEBOOKS / a / f"{a}.ipynb").exists()]
INFO = ClassInfo("ch00", [("test_a", 2.0), ("test_b", 3.0)], "bwrap")


def graded(sid, a, b, **kw):
    return StudentResult(sid, scores={"test_a": a, "test_b": b},
                         tests=[GradedTest("test_a", a, 2.0, None if a == 2 else "AssertionError: a"),
                                GradedTest("test_b", b, 3.0, None if b == 3 else "AssertionError: b")], **kw)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_grades_csv_from_records(tmp_path):
    results = [graded("bob", 2.0, 1.5, notes=["n1", "n2"]), StudentResult("ann", "unreadable notebook: x"),
               StudentResult("zoe", NOT_SUBMITTED)]
    rows = read_csv(write_grades_csv(tmp_path, INFO, results))
    assert rows == [["student_id", "test_a", "test_b", "score", "max_score", "status", "notes"],
                    ["ann", "", "", "", "5", "unreadable notebook: x", ""],
                    ["bob", "2", "1.5", "3.5", "5", "ok", "n1; n2"],
                    ["zoe", "", "", "", "5", "not submitted", ""]]


def test_canvas_csv_follows_canvas_export_format(tmp_path):
    info = ClassInfo("ch00", INFO.tests, lms_assignment="Exercises 0", lms_assignment_id="4711")
    results = [graded("s1001", 2.0, 3.0, lms_user_id="12345"), StudentResult("s1002", NOT_SUBMITTED),
               StudentResult("s1003", "empty file: x.ipynb has no content", lms_user_id="777")]
    roster = {"s1002": {"name": "Doe, John", "lms_user_id": "23456", "sis_user_id": "S-2", "sis_login_id": "jdoe",
                        "section": "Tue"}}
    rows = read_csv(write_canvas_csv(tmp_path, info, results, roster))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Exercises 0 (4711)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "5"]
    assert rows[2] == ["s1001", "12345", "s1001", "", "", "5"]
    assert rows[3] == ["Doe, John", "23456", "S-2", "jdoe", "Tue", ""], "not submitted: a row, grade left empty"
    assert rows[4] == ["s1003", "777", "s1003", "", "", ""], "ungradable: an empty grade, never a 0"
    assert read_csv(write_canvas_csv(tmp_path, INFO, results))[0][-1] == "ch00", "no name given: the assignment id"


def test_every_student_gets_a_feedback_page(tmp_path):
    results = [graded("bob", 2.0, 0.0, submitted_file="bob_1_2_Copy of ch00.ipynb"),
               StudentResult("ann", "unreadable notebook: ann.ipynb is not valid JSON", submitted_file="ann.ipynb"),
               StudentResult("eve", "wrong assignment: this is the ch01 notebook, not ch00"),
               StudentResult("zoe", NOT_SUBMITTED)]
    folder = write_feedback(tmp_path, INFO, results)
    pages = {p.stem: html.unescape(re.sub(r"<[^>]+>", "", p.read_text())) for p in folder.iterdir()}
    assert set(pages) == {"bob", "ann", "eve", "zoe"}
    assert "2 / 5" in pages["bob"] and "Graded file: bob_1_2_Copy of ch00.ipynb" in pages["bob"]
    assert "could not be graded: unreadable notebook" in pages["ann"] and "resubmit" in pages["ann"]
    assert "Resubmit the notebook of this exercise" in pages["eve"]
    assert "Nothing was received from you" in pages["zoe"]


def test_hidden_test_failures_show_their_own_message_never_their_source():
    source = nbformat.read(SOLUTIONS / "ch00" / "ch00.ipynb", as_version=4)
    cell = nbcells.by_grade_id(source)["test_pairwise_sq_dists"]
    visible, secret = nbcells.visible_line_count(cell.source), nbcells.hidden_lines(cell.source)
    assert secret

    def ended(kind, line, message, ename="AssertionError"):
        return failure_message({"kind": kind, "line": line, "message": message, "ename": ename, "limit": 20},
                               visible, secret)
    message = ended("failed", visible + 5, "AssertionError: pairwise_sq_dists must not modify its inputs")
    assert message == "A hidden test failed: AssertionError: pairwise_sq_dists must not modify its inputs"
    assert ended("failed", 2, "AssertionError: visible says why") == "AssertionError: visible says why"
    # Student code's own error: said to be the student's, already cut to one short line by the grader.
    assert ended("student", 2, "ValueError: bad shape", "ValueError") == "Your code raised ValueError: bad shape"
    assert ended("student", visible + 5, "ValueError: bad", "ValueError") == "A hidden test failed: your code raised ValueError: bad"
    assert ended("student", 3, "NotImplementedError", "NotImplementedError").startswith("Not attempted yet")
    # A message that quotes a hidden line (however it got there) is withheld.
    leak = ended("failed", visible + 5, f"AssertionError: {secret[0]}")
    assert secret[0] not in leak and leak.startswith("A hidden test failed (AssertionError)")
    assert "did not finish in 20 s" in ended("timeout", None, "", "TimeoutError")
    assert "killed the Python kernel" in ended("died", None, "", "KernelDied")


@pytest.mark.parametrize("aid", RELEASED)
def test_cells_module_splits_visible_and_hidden_tests(aid):
    """What students see of a test cell is what is above the hidden block; the release has no hidden block."""
    release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    source = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    for cell in source.cells:
        if nbcells.is_test(cell):
            visible = nbcells.strip_hidden_tests(cell.source)
            assert nbcells.HIDDEN_BEGIN not in visible and nbcells.hidden_lines(cell.source)
            assert visible.splitlines() == cell.source.splitlines()[:nbcells.visible_line_count(cell.source)]
            assert nbcells.same_visible_source(cell.source, visible + "  \r\n")
    assert all(nbcells.HIDDEN_BEGIN not in c.source for c in release.cells)
    assert [g for g, _ in nbcells.test_cells(release)] == [g for g, _ in nbcells.test_cells(source)]
    assert nbcells.max_score(release) > 0


@pytest.mark.parametrize("aid", RELEASED)
def test_parts_are_numbered_as_students_see_them(aid):
    release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    names = nbcells.part_names(release)
    parts = [names[i] for i, c in enumerate(release.cells) if nbcells.is_test(c)]
    numbers = [int(p.split()[1]) for p in parts]
    assert all(p.startswith("Part ") for p in parts), parts
    assert numbers == sorted(numbers) and numbers[0] == 1, parts
    first_test = next(i for i, c in enumerate(release.cells) if nbcells.is_test(c))
    assert nbcells.describe(release, first_test) == "Part 1 (its test cell)"


def test_results_round_trip_through_the_gradebook_and_missing_students(tmp_path):
    url = "sqlite:///" + str(tmp_path / "gb.db")
    engine = _engine(url)
    _metadata.create_all(engine)
    engine.dispose()
    store = ResultStore(url, "ch00")
    bob = graded("bob", 2.0, 1.5, seconds=3.25, notes=["x"], sha256="ab")
    store.save(bob)
    store.save(graded("bob", 2.0, 3.0, sha256="cd"))     # a re-grade replaces the record
    store.close()
    assert load(url, "ch00")["bob"] == graded("bob", 2.0, 3.0, sha256="cd")
    assert load(url, "ch01") == {}
    roster = tmp_path / "roster.csv"
    roster.write_text("lms_name,student_id,name\nbobby,bob,\"B, Bob\"\nzed,Zoe Z,\"Z, Zoe\"\n")
    subs = [Submission("bob", None), Submission("carl", tmp_path / "carl.ipynb")]
    results = {r.student_id: r for r in class_results(url, "ch00", subs, roster)}
    assert results["bob"].score == 5.0
    assert results["carl"].status == PENDING and results["Zoe_Z"].status == NOT_SUBMITTED
    from sqlalchemy import func, select
    engine = _engine(url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RESULTS)).scalar() == 1
    engine.dispose()


def test_shard_argument():
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "half"):
        with pytest.raises(IntakeError, match="--shard"):
            parse_shard(bad)


def test_assignment_is_registered_once_and_again_when_its_tests_change(tmp_path):
    """A second grader leaves a registered assignment alone; changed test cells are registered again
    (and results graded with the old ones are graded again: they carry the tests' checksum)."""
    from autograder import gradebook
    from autograder.grade import Grader
    grader = Grader("ch00", tmp_path / "out", Options(course_root=tmp_path / "course"), log=lambda *a: None)
    grader.close()
    source = nbformat.read(SOLUTIONS / "ch00" / "ch00.ipynb", as_version=4)
    tests = {nbcells.grade_id(c): (nbcells.points(c), c.source) for c in source.cells if nbcells.is_graded(c)}
    calls = []
    gradebook.set_up(grader.db_url, grader.course_root, "ch00", tests, lambda: calls.append("again"))
    assert calls == []
    gid = next(iter(tests))
    changed = {**tests, gid: (tests[gid][0], tests[gid][1] + "\n# a fixed hidden test")}
    gradebook.set_up(grader.db_url, grader.course_root, "ch00", changed, lambda: calls.append("again"))
    assert calls == ["again"]
    again = Grader("ch00", tmp_path / "out", Options(course_root=tmp_path / "course"), log=lambda *a: None)
    again.close()
    assert again.tests_sha == grader.tests_sha and len(grader.tests_sha) == 64
    assert not list((tmp_path / "course" / "runs").iterdir())
