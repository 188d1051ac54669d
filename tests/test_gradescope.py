"""`python -m autograder gradescope ch00`: Gradescope's autograder zip, run as Gradescope runs it.

The bundle's run_autograder runs against a fake /autograder (a temp folder: AUTOGRADER_ROOT) with
this machine's Python (AUTOGRADER_PYTHON; setup.sh, which installs with apt and pip, is checked but
not run) on a correct, a partial, a broken and a cheating ch00 notebook. Each results.json must
have Gradescope's format (specs: https://gradescope-autograders.readthedocs.io/en/latest/specs/)
and the scores `python -m autograder grade` gives the same files. A submission with no notebook or
several, and a grader that cannot start, still get a results.json that says what to do.
"""
from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import NOTEBOOKS, REPO, SOLUTIONS
from autograder import cells as nbcells
from autograder import gradescope, publish
from autograder.results import GradedTest, StudentResult
from conftest import require_sandbox
from test_autograder_tricks import JUNK, TRICKS
from test_colab_standin import with_solutions

AID = "ch00"
SUBMITTED_AS = f"Copy of {AID}.ipynb"
TOP_KEYS = {"score", "execution_time", "output", "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "name", "number", "output", "tags", "visibility", "extra_data"}


def check_format(results: dict) -> None:
    """results.json as Gradescope's specification describes it."""
    assert set(results) <= TOP_KEYS, f"keys Gradescope does not know: {set(results) - TOP_KEYS}"
    assert isinstance(results["score"], (int, float)), "a top-level score (the tests' total, or 0 when ungraded)"
    assert isinstance(results.get("output", ""), str)
    for test in results.get("tests", []):
        assert set(test) <= TEST_KEYS, f"test keys Gradescope does not know: {set(test) - TEST_KEYS}"
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert isinstance(test["name"], str) and isinstance(test["output"], str) and test["output"]
        assert test.get("visibility", "visible") in gradescope.VISIBILITIES


# ---- fast: results.json from a grader's record ----------------------------------------------------------

def test_results_json_shows_hidden_tests_after_publishing_and_says_what_failed():
    tests = gradescope._test_info(AID)
    source = nbcells.by_grade_id(nbformat.read(SOLUTIONS / AID / f"{AID}.ipynb", as_version=4))
    assert tests and all(vis == ("after_published" if nbcells.hidden_lines(source[gid].source) else "visible")
                         for gid, (_, vis) in tests.items())
    assert any(vis == "after_published" for _, vis in tests.values())
    ids = list(tests)
    result = StudentResult("s", "ok", notes=["repaired 2 cells"], scores={ids[0]: 2.0, ids[1]: 0.0},
                           tests=[GradedTest(ids[0], 2.0, 2.0), GradedTest(ids[1], 0.0, 3.0, "AssertionError: wrong mean")])
    out = gradescope.results_json(result, AID, tests)
    check_format(out)
    assert out["score"] == 2.0 and [t["score"] for t in out["tests"]] == [2.0, 0.0]
    assert out["tests"][1]["output"] == "AssertionError: wrong mean" and out["tests"][0]["output"] == "Passed."
    assert out["tests"][0]["name"].startswith("Part 1: ") and "repaired 2 cells" in out["output"]
    assert "shown when your instructor publishes the grades" in out["output"]
    shown_at_once = gradescope._test_info(AID, "visible")
    assert {vis for _, vis in shown_at_once.values()} == {"visible"}


def test_an_ungraded_record_scores_zero_and_says_what_to_resubmit():
    result = StudentResult("s", "unreadable notebook: ch00.ipynb is not valid JSON (Expecting value)")
    out = gradescope.results_json(result, AID, {})
    check_format(out)
    assert out["score"] == 0 and "tests" not in out
    assert "could not be graded: unreadable notebook" in out["output"] and "resubmit" in out["output"]


def test_grader_requirements_are_the_courses_pins():
    text = gradescope.grader_requirements().splitlines()
    pins = [line.strip() for name in ("requirements-student.txt", "requirements.txt")
            for line in (REPO / name).read_text().splitlines()
            if line.strip().split("==")[0] in ("torch", "numpy", "matplotlib", "ipykernel", "nbgrader", "nbformat")]
    assert pins and set(pins) <= set(text), f"pins missing from requirements-grader.txt: {set(pins) - set(text)}"
    assert not [line for line in text if line.startswith("-e")], "course_lib comes from the wheel, not an editable path"


def test_an_unknown_assignment_or_a_folder_as_out_is_refused(tmp_path):
    with pytest.raises(gradescope.BundleError, match="unknown assignment 'ch99'"):
        gradescope.build_bundle("ch99", tmp_path / "a.zip")
    with pytest.raises(gradescope.BundleError, match="is a folder"):
        gradescope.build_bundle(AID, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---- slow: the bundle, run ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "autograder", "gradescope", AID, "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def run_bundle(bundle: Path, root: Path, files: dict[str, bytes], python: str = sys.executable) -> dict:
    """A fresh fake /autograder (as Gradescope makes one per submission), then run_autograder."""
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():     # zipfile does not restore permissions
            mode = info.external_attr >> 16
            if mode:
                os.chmod(root / "source" / info.filename, stat.S_IMODE(mode))
    (root / "submission").mkdir()
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": python}
    proc = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)
    print(proc.stdout[-3000:], proc.stderr[-3000:])
    results = json.loads((root / "results" / "results.json").read_text())
    check_format(results)
    return results


@pytest.mark.slow
def test_the_bundle_has_gradescopes_layout_and_carries_what_grading_needs(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        settings = json.loads(zf.read(gradescope.SETTINGS))
        zf.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & 0o111, f"{script} must sit at the zip's root, executable"
        assert subprocess.run(["bash", "-n", str(tmp_path / script)]).returncode == 0, f"{script}: bash syntax"
    assert f"course/solutions/{AID}/{AID}.ipynb" in names, "the source notebook (its hidden tests) is carried"
    assert not [n for n in names if n.startswith("course/solutions/") and f"/{AID}/" not in n], "only this assignment's"
    assert f"course/notebooks/{AID}/{AID}.ipynb" in names and "course/autograder/grade.py" in names
    assert [n for n in names if n.startswith("course_lib-") and n.endswith(".whl")] and "requirements-grader.txt" in names
    assert not [n for n in names if "gradebook.db" in n or "/runs/" in n or "__pycache__" in n]
    assert "apt-get install" in setup and "bubblewrap" in setup and "requirements-grader.txt" in setup
    assert settings["assignment"] == AID and settings["notebook_timeout"] < 600, "under Gradescope's default limit"


def cheating_notebook() -> nbformat.NotebookNode:
    """Junk answers, and the grader's own test helper replaced with one that never fails."""
    nb = nbformat.read(NOTEBOOKS / AID / f"{AID}.ipynb", as_version=4)
    for cell in nb.cells:
        if nbcells.grade_id(cell) in JUNK:
            cell.source = JUNK[nbcells.grade_id(cell)]
    imports = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "import torch" in c.source)
    nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(TRICKS["replace_course_assert_close"][0]))
    return nb


def partial_notebook() -> nbformat.NotebookNode:
    """Right answers, but Part 2 left as released (it still raises NotImplementedError)."""
    nb = with_solutions(AID)
    release = nbcells.by_grade_id(nbformat.read(NOTEBOOKS / AID / f"{AID}.ipynb", as_version=4))
    for cell in nb.cells:
        if nbcells.grade_id(cell) == "standardize_channels":
            cell.source = release["standardize_channels"].source
    return nb


@pytest.fixture(scope="module")
def submissions() -> dict[str, bytes]:
    correct = nbformat.writes(with_solutions(AID)).encode()
    return {"correct": correct, "partial": nbformat.writes(partial_notebook()).encode(),
            "broken": correct[: len(correct) // 2],            # a download cut off half-way
            "cheating": nbformat.writes(cheating_notebook()).encode()}


@pytest.fixture(scope="module")
def cli_grades(submissions, tmp_path_factory) -> dict[str, dict]:
    """The same files through `python -m autograder grade`."""
    tmp = tmp_path_factory.mktemp("cli")
    for kind, data in submissions.items():     # <student>/<file>: the file named as on Gradescope
        (tmp / "subs" / kind).mkdir(parents=True)
        (tmp / "subs" / kind / SUBMITTED_AS).write_bytes(data)
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", AID, str(tmp / "subs"), "--out", str(tmp / "out"),
                           "--course-root", str(tmp / "course"), "--jobs", "2"], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(tmp / "out" / "grades.csv", newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["correct", "partial", "broken", "cheating"])
def test_the_bundle_scores_a_submission_as_the_cli_does(kind, bundle, submissions, cli_grades, tmp_path):
    require_sandbox()
    results = run_bundle(bundle, tmp_path, {SUBMITTED_AS: submissions[kind]})
    row = cli_grades[kind]
    max_score = nbcells.max_score(nbformat.read(NOTEBOOKS / AID / f"{AID}.ipynb", as_version=4))
    assert results["extra_data"]["status"] == row["status"], "the same status as the CLI's grades.csv"
    if kind == "broken":
        assert row["score"] == "" and results["score"] == 0 and "tests" not in results
        assert "could not be graded: unreadable notebook" in results["output"] and "resubmit" in results["output"]
        return
    assert results["score"] == float(row["score"]), f"{kind}: Gradescope {results['score']}, CLI {row['score']}"
    assert {t["name"].split(": ")[-1]: t["score"] for t in results["tests"]} == \
        {gid: float(row[gid]) for gid in gradescope._test_info(AID)}, "per test, the CLI's points"
    assert sum(t["max_score"] for t in results["tests"]) == max_score
    assert results["extra_data"]["sandbox"] == "bwrap"
    secrets = publish.secrets()
    shown = json.dumps(results)
    assert not [line for line in secrets if json.dumps(line)[1:-1] in shown], "results.json quotes a hidden test"
    if kind == "correct":
        assert results["score"] == max_score and all(t["output"] == "Passed." for t in results["tests"])
    elif kind == "partial":
        assert 0 < results["score"] < max_score
        failed = [t for t in results["tests"] if t["score"] < t["max_score"]]
        assert [t["name"] for t in failed] == ["Part 2: test_standardize_channels"]
        assert "NotImplementedError" in failed[0]["output"]
    else:
        assert results["score"] < max_score, "the cheating notebook must not earn what its junk answers did not"


@pytest.mark.slow
@pytest.mark.parametrize("files, says", [
    ({}, "No notebook (.ipynb file) was found in your submission (it holds: nothing)"),
    ({"solution.py": b"print(1)\n"}, "No notebook (.ipynb file) was found in your submission (it holds: solution.py)"),
    ({"ch00.ipynb": b"{}", "work/Copy of ch00.ipynb": b"{}", ".ipynb_checkpoints/ch00-checkpoint.ipynb": b"{}"},
     "Your submission holds 2 notebooks (ch00.ipynb, work/Copy of ch00.ipynb)"),
], ids=["empty", "no-notebook", "two-notebooks"])
def test_a_submission_without_exactly_one_notebook_gets_a_message_not_a_crash(files, says, bundle, tmp_path):
    results = run_bundle(bundle, tmp_path, files)
    assert results["score"] == 0 and says in results["output"] and "Submit one file, your ch00.ipynb" in results["output"]


@pytest.mark.slow
def test_a_grader_that_cannot_start_still_writes_results(bundle, tmp_path):
    results = run_bundle(bundle, tmp_path, {"ch00.ipynb": b"{}"}, python="/bin/false")
    assert results["score"] == 0 and "could not run" in results["output"]
