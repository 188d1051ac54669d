"""The student release: notebooks/ is what nbgrader generates from solutions/, and it runs anywhere."""
from __future__ import annotations

import json

import nbformat
import pytest
import yaml

from autograder import NOTEBOOKS, SOLUTIONS, assignments
from autograder import cells as nbcells
from autograder.release import out_of_sync, setup_cell_source, stale_setup_cells

ASSIGNMENTS = assignments()


def test_there_are_assignments():
    assert "ch00" in ASSIGNMENTS


def test_notebooks_in_sync_with_solutions():
    problems = out_of_sync(ASSIGNMENTS)
    assert not problems, "notebooks/ is out of sync with solutions/; run `make notebooks` and commit:\n" + "\n".join(problems)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_solution_sources_are_reviewable(aid):
    nb = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    with_outputs = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, f"solutions/{aid}: clear the outputs of cells {with_outputs} before committing"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_graded_parts_have_visible_and_hidden_tests(aid):
    nb = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    tests = [c for c in nb.cells if nbcells.is_graded(c)]
    answers = [c for c in nb.cells if nbcells.is_answer(c)]
    assert len(tests) >= 3, f"{aid}: expected at least 3 graded test cells, found {len(tests)}"
    ids = [nbcells.grade_id(c) for c in nb.cells if nbcells.meta(c) is not None]
    assert len(ids) == len(set(ids)), f"{aid}: duplicate grade_ids {ids}"
    for cell in tests:
        gid = nbcells.grade_id(cell)
        assert "assert" in nbcells.strip_hidden_tests(cell.source), f"{aid}/{gid}: no visible test before the hidden ones"
        assert nbcells.hidden_lines(cell.source), f"{aid}/{gid}: no hidden tests"
    for cell in answers:
        assert "### BEGIN SOLUTION" in cell.source, f"{aid}/{nbcells.grade_id(cell)}: answer cell without a solution block"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_student_notebook_hides_solutions_and_hidden_tests(aid):
    text = (NOTEBOOKS / aid / f"{aid}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
        assert marker not in text, f"notebooks/{aid} leaks {marker!r}"
    assert "raise NotImplementedError()" in text


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_first_cell_is_the_one_set_up_cell(repo, aid):
    """Colab opens the notebook straight from the repository; its first cell finds or installs course_lib.

    The cell has one source, autograder/setup_cell.py, which `python -m autograder release` stamps
    into every solution with the students' repository URL (_config.yml's repository.published.url).
    """
    url = yaml.safe_load((repo / "_config.yml").read_text())["repository"]["published"]["url"]
    want = setup_cell_source()
    assert f'repository="{url}"' in want, f"the set-up cell must fall back to the students' repository ({url})"
    assert not stale_setup_cells([aid]), (
        f"solutions/{aid}: the first cell is not autograder/setup_cell.py's set-up cell: run "
        f"`python -m autograder release {aid}` (it stamps the cell) and commit")
    first = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4).cells[0]
    assert first.cell_type == "code" and "remove-cell" in first.metadata.get("tags", []), \
        "the set-up cell must be the first cell, tagged remove-cell so the site hides it"
    assert first.source == want, f"notebooks/{aid}: the released set-up cell is stale; run `make notebooks`"


def test_course_lib_does_not_pin_torch(repo):
    import tomllib
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_deps = [d for d in deps if d.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip() == "torch"]
    assert torch_deps == ["torch"], f"course_lib must leave torch unpinned so Colab keeps its own; got {torch_deps}"
    student = (repo / "requirements-student.txt").read_text()
    assert "torch==2.13.0" in student.splitlines() and "torchvision" not in student
    reqs = (repo / "requirements.txt").read_text()
    assert "-r requirements-student.txt" in reqs.splitlines() and not any(
        line.startswith("torch") for line in reqs.splitlines()), \
        "requirements.txt includes requirements-student.txt, which alone pins what the notebooks need"


def test_student_install_is_light(repo):
    """`make student` installs what the notebooks import, not the grader, the site builder or test tools."""
    student = (repo / "requirements-student.txt").read_text().lower()
    for tool in ("nbgrader", "jupyter-book", "pytest", "playwright", "ruff"):
        assert tool not in student, f"requirements-student.txt should not install {tool} (an author's tool)"
    for need in ("torch==", "numpy==", "matplotlib==", "ipykernel==", "jupyterlab==", "-e ."):
        assert need in student, f"requirements-student.txt should install {need}"


def test_notebook_json_is_valid(repo):
    for path in list(NOTEBOOKS.glob("*/*.ipynb")) + list(SOLUTIONS.glob("*/*.ipynb")):
        nbformat.validate(nbformat.read(path, as_version=4))
        json.loads(path.read_text())
