"""The Colab path, as closely as these machines allow: a student's notebook alone, in a bare Python.

A "Colab stand-in" is a fresh virtualenv with only what Colab preinstalls that matters here (torch,
numpy, matplotlib, ipykernel; not the course's requirements, not course_lib). Each released student
notebook, with the reference solutions written into its answer cells, runs top to bottom in that
kernel from an empty folder that holds only the notebook and the course_lib wheel (`make wheel`):
its first cell must install course_lib from the wheel, and every cell must pass. Without the wheel
and with the repository unreachable, the first cell must stop with its short message, not a
traceback cascade.

The virtualenv is cached in .cache/colab-standin (pip takes torch from the local wheel; a re-run
takes seconds).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import NOTEBOOKS, SOLUTIONS, assignments

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
STANDIN = REPO / ".cache" / "colab-standin"
PACKAGES = ["torch==2.13.0", "numpy", "matplotlib", "ipykernel"]   # Colab's, as far as the notebooks care
RELEASED = [aid for aid in assignments() if (NOTEBOOKS / aid / f"{aid}.ipynb").exists()]


@pytest.fixture(scope="session")
def standin_python() -> Path:
    """A plain virtualenv with PACKAGES only, made once and cached."""
    python, stamp = STANDIN / "venv" / "bin" / "python", STANDIN / "venv" / ".packages"
    if not (python.exists() and stamp.exists() and stamp.read_text() == " ".join(PACKAGES)):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(STANDIN / "venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True, timeout=1200)
        stamp.write_text(" ".join(PACKAGES))
    return python


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """course_lib's wheel, built as `make wheel` builds it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(REPO)], check=True, cwd=REPO)
    (whl,) = out.glob("course_lib-*.whl")
    return whl


@pytest.fixture
def standin_kernel(standin_python, tmp_path, monkeypatch) -> str:
    """A kernel spec for the stand-in's Python, visible to nbclient through JUPYTER_PATH only.

    course_lib is uninstalled first: a previous test's set-up cell installed it into the cached venv.
    """
    subprocess.run([str(standin_python), "-m", "pip", "uninstall", "--quiet", "--yes", "course_lib"],
                   capture_output=True, check=False)
    found = subprocess.run([str(standin_python), "-c", "import importlib.util as u; print(u.find_spec('course_lib'))"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()
    assert found == "None", "the stand-in must not have course_lib: it would hide the set-up cell's work"
    spec = tmp_path / "jupyter" / "kernels" / "colab-standin"
    spec.mkdir(parents=True)
    bin_dir = str(standin_python.parent)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(standin_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab stand-in", "language": "python",
        # nothing of the course's .venv on the PATH; no PYTHONPATH
        "env": {"PATH": f"{bin_dir}:/usr/bin:/bin", "MPLBACKEND": "Agg"},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    return "colab-standin"


def with_solutions(aid: str) -> nbformat.NotebookNode:
    """The released student notebook, each answer cell replaced by the reference solution's."""
    nb = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source
                 for c in nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4).cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = re.sub(r"^\s*### (BEGIN|END) SOLUTION\n", "", solutions[gid], flags=re.M)
    return nb


def run(nb, folder: Path, kernel: str):
    from nbclient import NotebookClient

    client = NotebookClient(nb, kernel_name=kernel, timeout=600, resources={"metadata": {"path": str(folder)}})
    return client.execute()


def text_of(outputs) -> str:
    parts = []
    for out in outputs:
        parts.append(out.get("text", "") if out.output_type == "stream" else "\n".join(out.get("traceback", [])))
    return "\n".join(parts)


@pytest.mark.parametrize("aid", RELEASED)
def test_student_notebook_runs_alone_with_the_wheel_beside_it(aid, wheel, standin_kernel, tmp_path):
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / wheel.name).write_bytes(wheel.read_bytes())
    nb = with_solutions(aid)
    nbformat.write(nb, folder / f"{aid}.ipynb")
    from nbclient.exceptions import CellExecutionError
    try:
        ran = run(nb, folder, standin_kernel)
    except CellExecutionError as error:
        pytest.fail(f"{aid} fails in the Colab stand-in (its notebook alone, the wheel beside it):\n{error}")
    setup = text_of(ran.cells[0].outputs)
    assert f"course_lib installed from {folder / wheel.name}" in setup, (
        f"the set-up cell should have installed course_lib from the wheel; it printed:\n{setup}")
    stderr = [(i, o.text) for i, c in enumerate(ran.cells) if c.cell_type == "code"
              and c.metadata.get("nbgrader", {}).get("grade") for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"{aid}: test cells wrote to stderr (nbgrader scores that 0): {stderr}"


def test_without_wheel_or_network_the_first_cell_says_what_to_do(standin_kernel, tmp_path):
    """No wheel, no folder, the repository unreachable: one short message naming the options, and the run stops."""
    folder = tmp_path / "content"
    folder.mkdir()
    nb = nbformat.read(NOTEBOOKS / "ch00" / "ch00.ipynb", as_version=4)
    # an address that fails at once and the same way everywhere (no network needed to fail)
    url = re.search(r'repository="([^"]+)"', nb.cells[0].source).group(1)
    nb.cells[0].source = nb.cells[0].source.replace(url, f"file://{tmp_path}/no-such-repository")
    from nbclient.exceptions import CellExecutionError
    with pytest.raises(CellExecutionError) as raised:
        run(nb, folder, standin_kernel)
    assert raised.value.ename == "CourseLibMissing", f"expected the set-up cell's own error, got {raised.value.ename}"
    errors = [out for out in nb.cells[0].outputs if out.output_type == "error"]
    message = "\n".join(errors[0].traceback)      # what the student sees under the cell, all of it
    assert not any(c.get("outputs") for c in nb.cells[1:] if c.cell_type == "code"), "the run should stop at the first cell"
    for option in ("course_lib-<version>-py3-none-any.whl", "upload it to /content", "course_lib folder",
                   "Or install from", "run this cell again"):
        assert option in message, f"the failure message should mention {option!r}:\n{message}"
    for noise in ("Traceback", "CalledProcessError", "ModuleNotFoundError", "NameError"):
        assert noise not in message, f"the failure message should be short, without {noise}:\n{message}"
    assert len(message.splitlines()) < 30, f"the failure message is long:\n{message}"


def test_a_course_lib_folder_beside_the_notebook_is_used(standin_kernel, tmp_path):
    """The second option of the message: the course_lib folder next to the notebook (no install at all)."""
    import shutil

    folder = tmp_path / "content"
    shutil.copytree(REPO / "course_lib", folder / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    nb = nbformat.read(NOTEBOOKS / "ch00" / "ch00.ipynb", as_version=4)
    nb.cells = [nb.cells[0], nbformat.v4.new_code_cell("import course_lib; print(course_lib.__file__)")]
    ran = run(nb, folder, standin_kernel)
    assert "Error" not in text_of(ran.cells[0].outputs)
    assert text_of(ran.cells[1].outputs).strip() == str(folder / "course_lib" / "__init__.py")
