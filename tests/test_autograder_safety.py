"""A class's worth of bad submissions, graded in one batch with a correct one.

Every bad submission ends with a status chosen for it (and the points it earned where it could be
graded); the correct submission in the same batch still gets full marks; canary files outside
each sandbox stay untouched; a re-grade of one student changes nothing else. The sandbox shows the
kernel nothing of the instructor's checkout (.git, solutions/, tests/variants, the gradebook, the
outputs, other submissions); links a submission makes are never written through; feedback carries
no hidden test and only a short first line of what student code raised.
"""
from __future__ import annotations

import copy
import csv
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest

from autograder import NOTEBOOKS, REPO, SOLUTIONS, assignments
from conftest import require_sandbox
from test_grading import hidden_lines

pytestmark = pytest.mark.slow   # grades whole notebooks / drives a browser: `make test-fast` skips it

AID = "ch00"
FULL = 9.0


def solution():
    return nbformat.read(SOLUTIONS / AID / f"{AID}.ipynb", as_version=4)


def with_cell(nb, source, after="imports"):
    """The notebook with a new code cell after the cell whose id is `after`."""
    nb = copy.deepcopy(nb)
    i = next(k for k, c in enumerate(nb.cells) if c.id == after)
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))
    return nb


def with_answer(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    next(c for c in nb.cells if c.id == grade_id).source = source
    return nb


def colab_variants(sol):
    """How a notebook can come back from Google Colab (or an editor), graded as if from Jupyter."""
    def colabify(nb, drop_nbgrader, new_ids):
        nb = copy.deepcopy(nb)
        nb.metadata = {"colab": {"provenance": [], "gpuType": "T4"}, "accelerator": "GPU",
                       "kernelspec": {"name": "python3", "display_name": "Python 3"},
                       "language_info": {"name": "python"}}
        for i, cell in enumerate(nb.cells):
            if drop_nbgrader:
                cell.metadata.pop("nbgrader", None)
            cell.metadata["id"] = f"Xy{i:05d}"
            if cell.cell_type == "code":
                cell.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
                cell.metadata["outputId"] = f"out{i}"
            if new_ids:
                cell.id = f"Xy{i:05d}"
        return nb
    variants = {
        "colab_ids_kept": colabify(sol, drop_nbgrader=True, new_ids=False),
        "colab_ids_lost": colabify(sol, drop_nbgrader=True, new_ids=True),
        "colab_meta_kept": colabify(sol, drop_nbgrader=False, new_ids=True),
        "other_kernel": copy.deepcopy(sol),
        "crlf_and_spaces": colabify(sol, drop_nbgrader=True, new_ids=True),
        "points_tampered": copy.deepcopy(sol),
    }
    variants["other_kernel"].metadata["kernelspec"] = {"name": "conda-env-dl-py", "display_name": "Python [conda env:dl]"}
    for cell in variants["crlf_and_spaces"].cells:
        cell.source = "\r\n".join(line + "  " for line in cell.source.splitlines())
    for cell in variants["points_tampered"].cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata["nbgrader"]["points"] = 100
    return variants


class Canary(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        Canary.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"canary")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    require_sandbox()
    tmp = tmp_path_factory.mktemp("safety")
    subs, out, course = tmp / "subs", tmp / "out", tmp / "course"
    subs.mkdir()
    outside = tmp / "outside"
    outside.mkdir()
    canary = outside / "canary.txt"
    canary.write_text("untouched")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Canary)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    sol = solution()
    good = subs / "good.ipynb"
    notebooks = {
        "good": sol,
        "infinite_loop": with_answer(sol, "pairwise_sq_dists", "def pairwise_sq_dists(X, Y):\n    while True:\n        pass\n"),
        "unkillable_loop": with_cell(sol, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"),
        "memory_bomb": with_cell(sol, "def bomb():\n    hog = []\n    while True:\n        hog.append(bytearray(50 * 2**20))\nbomb()\n"),
        "memory_hog": with_cell(sol, "hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))\n"),
        "fork_bomb": with_cell(sol, "import os\nwhile True:\n    os.fork()\n"),
        "sys_exit": with_cell(sol, "import sys\nsys.exit(1)\n"),
        "os_exit": with_cell(sol, "import os\nos._exit(3)\n"),
        "segfault": with_cell(sol, "import ctypes\nctypes.string_at(0)\n"),
        "network": with_cell(sol, (
            "import urllib.request\n"
            "try:\n"
            f"    urllib.request.urlopen('http://127.0.0.1:{port}/from-the-sandbox', timeout=3)\n"
            "except Exception as exc:\n"
            "    print('no network:', type(exc).__name__)\n")),
        "snooper": with_cell(sol, (
            "import os, glob\n"
            "found = {}\n"
            f"for path in [{str(good)!r}, {str(canary)!r}, {str(SOLUTIONS / AID / (AID + '.ipynb'))!r},\n"
            f"             {str(course / 'gradebook.db')!r}, *glob.glob({str(course / 'submitted' / '*')!r})]:\n"
            "    try:\n"
            "        found[path] = len(open(path, 'rb').read())\n"
            "    except OSError as exc:\n"
            "        found[path] = type(exc).__name__\n"
            f"for path in [{str(good)!r}, {str(canary)!r}, {str(REPO / 'pwned.txt')!r}, {str(outside / 'pwned.txt')!r}]:\n"
            "    try:\n"
            "        with open(path, 'w') as f:\n"
            "            f.write('pwned')\n"
            "    except OSError:\n"
            "        pass\n"
            "print(found)\n")),
        # The function under test raises the source of the test that called it (hidden tests included).
        "leaky": with_answer(
            with_cell(sol, "get_ipython().events.register('pre_run_cell', lambda info: print(info.raw_cell))\n"),
            "pairwise_sq_dists", (
                "import inspect, linecache\n"
                "def pairwise_sq_dists(X, Y):\n"
                "    caller = inspect.stack()[1]\n"
                "    raise AssertionError(''.join(linecache.getlines(caller.filename)))\n")),
        "huge_output": with_cell(sol, "for i in range(300000):\n    print('spam', i)\n"),
        # Its own notebook file, and names the grader once wrote to, turned into links to files outside.
        "symlinker": with_cell(sol, (
            "import os\n"
            f"for name, target in [('{AID}.ipynb', {str(canary)!r}), ('gradebook.db', '../../gradebook.db'),\n"
            f"                     ('out', {str(out)!r}), ('course', {str(course)!r})]:\n"
            "    try:\n"
            "        os.remove(name)\n"
            "    except OSError:\n"
            "        pass\n"
            "    os.symlink(target, name)\n"
            "print(sorted(os.listdir('.')))\n")),
        # What of the instructor's checkout, and of this grading run, can the kernel see?
        "checkout_view": with_cell(sol, (
            "import os, subprocess\n"
            f"repo = {str(REPO)!r}\n"
            "print('checkout holds', sorted(os.listdir(repo)) if os.path.isdir(repo) else 'nothing')\n"
            f"for path in [repo + '/.git/HEAD', repo + '/solutions/{AID}/{AID}.ipynb', repo + '/tests/variants/{AID}.py',\n"
            f"             repo + '/benchmarks', repo + '/autograder/grade.py', {str(course)!r}, {str(out)!r}, {str(subs)!r}]:\n"
            "    print('SEEN' if os.path.exists(path) else 'hidden', path)\n"
            "try:\n"
            "    print('git says', subprocess.run(['git', '-C', repo, 'log', '-1'], capture_output=True, text=True).returncode)\n"
            "except OSError as exc:\n"
            "    print('no git:', type(exc).__name__)\n")),
        # Student code raising a long message, whose second line must never reach the student's page.
        "long_error": with_answer(sol, "pairwise_sq_dists", (
            "def pairwise_sq_dists(X, Y):\n"
            "    raise ValueError('short first line\\nSECOND-LINE-SENTINEL ' + 'x' * 5000)\n")),
        "deleted_test": copy.deepcopy(sol),
        "assert_true": with_answer(
            sol, "batch_dependency",
            "def batch_dependency(model, x):\n    raise NotImplementedError()\n"),
        "one_cell_stripped": copy.deepcopy(sol),
    }
    nb = notebooks["deleted_test"]
    nb.cells = [c for c in nb.cells if c.id != "test_to_channels_first"]
    next(c for c in notebooks["assert_true"].cells if c.id == "test_batch_dependency").source = "assert True"
    cell = next(c for c in notebooks["one_cell_stripped"].cells if c.id == "standardize_channels")
    del cell.metadata["nbgrader"]
    cell.id = "renamed-by-colab"
    notebooks.update(colab_variants(sol))
    for name, nb in notebooks.items():
        nbformat.write(nb, subs / f"{name}.ipynb")
    nbformat.write(sol, subs / "smithjane_12345_67890_Copy of ch00 (1).ipynb")   # a Canvas export name
    (subs / "malformed.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    (subs / "empty.ipynb").write_text("")
    (subs / "old_format.ipynb").write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}))
    (subs / "stranger.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])))
    (subs / "essay.docx").write_bytes(b"PK\x03\x04 not a notebook")
    others = [a for a in assignments() if a != AID]
    if others:
        (subs / "other_assignment.ipynb").write_bytes((NOTEBOOKS / others[0] / f"{others[0]}.ipynb").read_bytes())

    cmd = [sys.executable, "-m", "autograder", "grade", AID, str(subs), "--out", str(out), "--course-root", str(course),
           "--jobs", "2", "--cell-timeout", "8", "--notebook-timeout", "120", "--memory-mb", "3072"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, cwd=REPO)
    server.shutdown()
    assert proc.returncode == 0, f"the grader crashed:\n{proc.stdout}\n{proc.stderr}"
    print(proc.stdout)
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    return dict(rows=rows, out=out, course=course, subs=subs, canary=canary, outside=outside, cmd=cmd,
                others=others, log=proc.stdout)


def score(row):
    return float(row["score"]) if row["score"] else None


# Each case: (student, expected status (prefix), expected score or None for "not graded")
CASES = [
    ("good", "ok", FULL),
    ("infinite_loop", "ok", FULL - 2),         # its test cell is stopped after --cell-timeout
    ("sys_exit", "ok", FULL),                  # IPython turns SystemExit into an error in that cell
    ("os_exit", "kernel died in cell 4 (os._exit, a crash, or too much memory); graded without that cell", FULL),
    ("segfault", "kernel died in cell 4", FULL),
    ("network", "ok", FULL),
    ("snooper", "ok", FULL),
    ("huge_output", "ok", FULL),
    ("symlinker", "ok", FULL),
    ("checkout_view", "ok", FULL),
    ("long_error", "ok", FULL - 2),
    ("deleted_test", "ok", FULL),              # nbgrader puts the test cell back
    ("assert_true", "ok", FULL - 3),           # the edited test cell is restored from the gradebook
    ("one_cell_stripped", "ok", FULL),
    ("unkillable_loop", "cell 4 did not stop when interrupted", FULL),
    ("malformed", "unreadable notebook: malformed.ipynb is not valid JSON", None),
    ("empty", "empty file: empty.ipynb has no content", None),
    ("old_format", "unsupported notebook format 3", None),
    ("stranger", "wrong assignment: none of ch00's exercise cells were found", None),
    ("essay", "not a notebook: essay.docx", None),
    ("smithjane", "ok", FULL),
    *[(name, "ok", FULL) for name in ("colab_ids_kept", "colab_ids_lost", "colab_meta_kept", "other_kernel",
                                      "crlf_and_spaces", "points_tampered")],
]


@pytest.mark.parametrize("student, status, expected", CASES, ids=[c[0] for c in CASES])
def test_each_bad_submission_gets_its_status(batch, student, status, expected):
    row = batch["rows"][student]
    assert row["status"].startswith(status), row
    assert score(row) == expected, row


def test_fork_bomb_is_contained(batch):
    """The process limit makes os.fork fail; where the bomb still ignores the interrupt, the cell is dropped."""
    row = batch["rows"]["fork_bomb"]
    assert row["status"] in ("ok", "cell 4 did not stop when interrupted at its time limit; graded without that cell"), row
    assert score(row) == FULL


def test_memory_bomb_costs_nothing(batch):
    """MemoryError at the address-space limit, memory freed: every part still earns its points, no flag."""
    row = batch["rows"]["memory_bomb"]
    assert row["status"] == "ok" or "ran out of memory" in row["status"], row
    assert "flagged" not in row["status"] and score(row) == FULL, row


def test_memory_hog_costs_only_its_own_points(batch):
    """A hog that keeps its memory leaves later cells none: they fail or kill the kernel, and say so
    (the grader's guard, out of memory too, flags nothing)."""
    row = batch["rows"]["memory_hog"]
    assert row["status"] == "ok" or any(why in row["status"] for why in ("kernel died", "did not stop", "ran out of memory")), row
    assert "flagged" not in row["status"], row
    assert score(row) is not None and score(batch["rows"]["good"]) == FULL


def test_no_kernel_outlives_grading(batch):
    leftovers = subprocess.run(["pgrep", "-f", "autograder.kernel.zygote"], capture_output=True, text=True).stdout
    assert not leftovers.strip(), f"kernels left running after grading: {leftovers}"


def test_wrong_assignment_names_the_right_one(batch):
    if not batch["others"]:
        pytest.skip("only one assignment exists")
    assert batch["rows"]["other_assignment"]["status"] == f"wrong assignment: this is the {batch['others'][0]} notebook, not {AID}"


def test_nothing_outside_the_sandbox_changed(batch):
    assert batch["canary"].read_text() == "untouched"
    assert not (batch["outside"] / "pwned.txt").exists() and not (REPO / "pwned.txt").exists()
    assert nbformat.read(batch["subs"] / "good.ipynb", as_version=4) == solution()
    assert not Canary.hits, f"a submission reached the network: {Canary.hits}"
    graded = nbformat.read(batch["course"] / "autograded" / "snooper" / AID / f"{AID}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in graded.cells for o in c.get("outputs", []))
    assert "FileNotFoundError" in printed and "untouched" not in printed


def test_links_a_submission_makes_are_never_written_through(batch):
    """The kernel's folder is its own (the grader only empties it); outputs go under the output root."""
    assert batch["canary"].read_text() == "untouched"
    graded = batch["course"] / "autograded" / "symlinker" / AID / f"{AID}.ipynb"
    assert graded.is_file() and not graded.is_symlink(), graded
    assert not (batch["course"] / "autograded" / "symlinker" / AID / "gradebook.db").exists()
    printed = "".join(o.get("text", "") for c in nbformat.read(graded, as_version=4).cells for o in c.get("outputs", []))
    assert f"'{AID}.ipynb'" in printed, "the links were made inside the sandbox (and went nowhere)"


def test_the_kernel_sees_nothing_of_the_checkout_or_the_run(batch):
    graded = nbformat.read(batch["course"] / "autograded" / "checkout_view" / AID / f"{AID}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in graded.cells for o in c.get("outputs", []))
    assert "hidden" in printed and "SEEN" not in printed, printed
    held = printed.split("checkout holds", 1)[1].splitlines()[0]
    assert not any(name in held for name in (".git", "solutions", "tests", "benchmarks", "autograder", "notebooks")), held
    assert "git says 0" not in printed, printed


def test_feedback_shows_no_hidden_test_even_to_code_that_hunts_for_it(batch):
    import html
    hidden = hidden_lines(AID)
    row = batch["rows"]["leaky"]
    assert row["status"] == "ok" and score(row) == FULL - 2, row
    for page in (batch["out"] / "feedback").iterdir():
        text = html.unescape(page.read_text())
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{page.name} shows hidden tests: {leaked[:2]}"
    page = html.unescape((batch["out"] / "feedback" / "long_error.html").read_text())
    assert "Your code raised ValueError: short first line" in page and "SECOND-LINE-SENTINEL" not in page, page


def test_huge_output_is_truncated(batch):
    path = batch["course"] / "autograded" / "huge_output" / AID / f"{AID}.ipynb"
    assert path.stat().st_size < 500_000, f"{path} is {path.stat().st_size} bytes"


def test_summary_and_lms_export(batch):
    out = batch["out"]
    summary = (out / "summary.md").read_text()
    assert "## Pass rate per test" in summary and "malformed" in summary and "## Slowest submissions" in summary
    assert (out / "score_histogram.png").stat().st_size > 2000
    with open(out / "canvas.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", AID]
    assert rows[1][0].strip() == "Points Possible" and float(rows[1][5]) == FULL
    by_student = {r[0]: r for r in rows[2:]}
    assert float(by_student["good"][5]) == FULL and by_student["malformed"][5] == ""
    assert by_student["smithjane"][1] == "12345", "Canvas's user id, read from the export's file name"


def test_regrading_one_student_is_idempotent_and_leaves_others(batch):
    before = (batch["out"] / "grades.csv").read_text()
    feedback = {p.name: p.read_text() for p in (batch["out"] / "feedback").iterdir()}
    proc = subprocess.run(batch["cmd"] + ["--student", "os_exit", "--student", "good"], capture_output=True,
                          text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (batch["out"] / "grades.csv").read_text() == before
    assert {p.name: p.read_text() for p in (batch["out"] / "feedback").iterdir()} == feedback


def test_whole_notebook_time_limit(tmp_path):
    """Cells that each stay under the cell limit but together run too long: the worker is stopped."""
    subs = tmp_path / "subs"
    subs.mkdir()
    slow = solution()
    for _ in range(4):
        slow = with_cell(slow, "import time\ntime.sleep(5)\n")
    nbformat.write(slow, subs / "slowpoke.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", AID, str(subs), "--out", str(tmp_path / "out"),
                           "--course-root", str(tmp_path / "course"), "--cell-timeout", "8", "--notebook-timeout", "15"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["status"].startswith("timed out: grading stopped after 15 s"), row
    assert row["score"] == ""


def test_without_bubblewrap_grading_still_works_and_says_so_once(tmp_path):
    """As on a Gradescope image (no bubblewrap, the grader is root): student code runs as `nobody`, or,
    where `nobody` cannot run this Python (it lives under /root here), the grader refuses and says why."""
    from autograder.sandbox import SandboxSettings, can_run_python, unprivileged_ids
    subs = tmp_path / "subs"
    subs.mkdir()
    probe = Path(tempfile.mkdtemp(prefix="course-probe-"))     # in /tmp: tmp_path's parents are root's alone
    probe.chmod(0o777)
    whoami = f"import os\nopen({str(probe / 'uid')!r}, 'w').write(str(os.geteuid()))"
    nbformat.write(with_cell(solution(), whoami), subs / "a.ipynb")
    nbformat.write(solution(), subs / "b.ipynb")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", AID, str(subs), "--out", str(tmp_path / "out"),
                           "--course-root", str(tmp_path / "course"), "--no-sandbox", "--jobs", "2"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    ids = unprivileged_ids(SandboxSettings(use_bwrap=False))
    try:
        if ids and not can_run_python(ids):
            assert proc.returncode != 0 and "refusing to run student code as root" in proc.stderr, proc.stdout + proc.stderr
            assert not (probe / "uid").exists() and not (tmp_path / "out" / "grades.csv").exists()
            return
        assert proc.returncode == 0, proc.stdout + proc.stderr
        user = "as the unprivileged user nobody " if ids else ""
        assert proc.stdout.count(f"student code runs {user}with process limits only") == 1, proc.stdout
        assert ("sandbox: limits only, user nobody" if ids else "sandbox: limits only") in proc.stdout, proc.stdout
        uid = int((probe / "uid").read_text())
        assert uid == (ids[0] if ids else os.geteuid()), f"student code ran as uid {uid}"
    finally:
        shutil.rmtree(probe)
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["score"]) for r in rows] == [FULL, FULL]
