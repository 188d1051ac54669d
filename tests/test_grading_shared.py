"""Several graders, one PostgreSQL gradebook: race-free set-up, shards, a killed grader resumed.

The tests start their own PostgreSQL server on 127.0.0.1 (tests/pg_server.py; Debian's
`postgresql` package, installed by .ci/run) and stop it at the end.
"""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import zipfile

import nbformat
import pytest
from conftest import IN_CI
from pg_server import find_bin, postgres_server

from autograder import NOTEBOOKS, REPO, SOLUTIONS
from autograder.config import normalize_db_url

pytestmark = pytest.mark.slow
AID = "ch00"


@pytest.fixture(scope="module")
def postgres_url():
    if not find_bin("initdb"):
        message = "PostgreSQL is not installed: `sudo apt-get install postgresql` (or run .ci/run)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip("MISSING SYSTEM PACKAGE: " + message)
    with postgres_server() as url:
        yield url


def test_the_documented_postgresql_url_uses_the_pinned_driver():
    assert normalize_db_url("postgresql://u:p@h/db") == "postgresql+psycopg2://u:p@h/db"
    assert normalize_db_url("postgresql+psycopg2://h/db") == "postgresql+psycopg2://h/db"
    assert normalize_db_url("sqlite:////x/gradebook.db") == "sqlite:////x/gradebook.db"
    import psycopg2  # noqa: F401  (requirements.txt pins it)


def _new_database(url: str, name: str) -> str:
    import psycopg2
    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    return url.rsplit("/", 1)[0] + "/" + name


SET_UP = ("import sys; from autograder.grade import Grader; from autograder.config import Options; "
          "g = Grader(sys.argv[1], sys.argv[2], Options(course_root=sys.argv[3], db_url=sys.argv[4]), "
          "log=lambda *a: None); g.close()")


def test_graders_started_together_set_up_one_fresh_gradebook(postgres_url, tmp_path):
    """Fresh database, shared course root: no UniqueViolation on nbgrader's enum types, no
    ForeignKeyViolation re-registering the assignment, no clash in scratch folders."""
    url = _new_database(postgres_url, "race")
    procs = [subprocess.Popen([sys.executable, "-c", SET_UP, AID, str(tmp_path / f"out{k}"), str(tmp_path / "course"),
                               url], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in range(3)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n---\n".join(outputs)
    from nbgrader.api import Gradebook
    with Gradebook(normalize_db_url(url), "dl-course") as gb:
        assert [a.name for a in gb.assignments] == [AID]
        assert {c.name for c in gb.find_notebook(AID, AID).grade_cells} >= {"test_pairwise_sq_dists"}
    assert not list((tmp_path / "course" / "runs").iterdir()), "each run removes its own scratch folder"


SLOW_SECONDS = 6   # each of shard 2's students takes this long, so a kill after the first save lands mid-run


def _slow_untouched() -> bytes:
    """The untouched notebook with one extra student cell that sleeps: 0 points, graded slowly."""
    nb = nbformat.read(NOTEBOOKS / AID / f"{AID}.ipynb", as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(f"import time\ntime.sleep({SLOW_SECONDS})"))
    return nbformat.writes(nb).encode()


def _class(tmp_path) -> tuple[object, dict[str, float]]:
    """A zip of 6 ch00 submissions: solutions and (slow) untouched notebooks; expected scores."""
    solution = (SOLUTIONS / AID / f"{AID}.ipynb").read_bytes()
    untouched = _slow_untouched()
    expected = {}
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for k in range(6):
            sid = f"s{k:02d}"
            zf.writestr(f"export/{sid}.ipynb", solution if k % 2 == 0 else untouched)
            expected[sid] = 9.0 if k % 2 == 0 else 0.0
    return archive, expected


def _grade(archive, out, course, url, *extra) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", AID, str(archive), "--out", str(out), "--course-root",
            str(course), "--db-url", url, "--jobs", "1", *extra]


def _saved(url) -> set[str]:
    from sqlalchemy import create_engine, text
    engine = create_engine(normalize_db_url(url))
    try:
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(text("SELECT student_id FROM autograder_results"))}
    except Exception:   # the table is not there yet
        return set()
    finally:
        engine.dispose()


def test_two_graders_share_a_class_and_a_killed_one_resumes(postgres_url, tmp_path):
    archive, expected = _class(tmp_path)
    course = tmp_path / "course"   # shared by both graders, as on one machine
    first = subprocess.Popen(_grade(archive, tmp_path / "out1", course, postgres_url, "--shard", "1/2"), cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(_grade(archive, tmp_path / "out2", course, postgres_url, "--shard", "2/2"), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    mine = {sid for i, sid in enumerate(sorted(expected)) if i % 2 == 1}   # shard 2/2
    deadline = time.monotonic() + 400
    while not (_saved(postgres_url) & mine):
        assert second.poll() is None, f"the second grader ended before it could be killed:\n{second.communicate()[0]}"
        assert time.monotonic() < deadline, "the second grader saved nothing in time"
        time.sleep(0.2)
    os.killpg(second.pid, signal.SIGKILL)   # mid-run: at least one student saved, others not
    second.wait()
    done_before_kill = _saved(postgres_url) & mine
    assert done_before_kill != mine, "killed too late to test resuming"

    again = subprocess.run(_grade(archive, tmp_path / "out2", course, postgres_url, "--shard", "2/2"), cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(done_before_kill)} already in the gradebook" in again.stdout, again.stdout
    regraded = {line.split()[0] for line in again.stdout.splitlines() if line.startswith("  ")}
    assert regraded == mine - done_before_kill, again.stdout
    out_first = first.communicate(timeout=600)[0]
    assert first.returncode == 0, out_first

    # Everything is in the gradebook: a plain run grades nothing and writes the class's outputs.
    final = subprocess.run(_grade(archive, tmp_path / "final", course, postgres_url), cwd=REPO,
                           capture_output=True, text=True, timeout=600)
    assert final.returncode == 0 and "grading 0 submission(s)" in final.stdout, final.stdout + final.stderr
    with open(tmp_path / "final" / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert {sid: (r["status"], float(r["score"])) for sid, r in rows.items()} == \
        {sid: ("ok", score) for sid, score in expected.items()}
    assert sorted(p.name for p in (tmp_path / "final" / "feedback").iterdir()) == sorted(f"{s}.html" for s in expected)
    assert not list((course / "runs").iterdir()) or all(p.is_dir() for p in (course / "runs").iterdir())


def test_a_solution_graded_into_postgres_matches_sqlite(postgres_url, tmp_path):
    """The same submission, same grades.csv, whichever gradebook."""
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(nbformat.read(SOLUTIONS / AID / f"{AID}.ipynb", as_version=4), subs / "alice.ipynb")
    url = _new_database(postgres_url, "single")
    runs = []
    for name, db in (("pg", ["--db-url", url]), ("sqlite", [])):
        cmd = [sys.executable, "-m", "autograder", "grade", AID, str(subs), "--out", str(tmp_path / name),
               "--course-root", str(tmp_path / f"course-{name}"), "--jobs", "1", *db]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs.append((tmp_path / name / "grades.csv").read_text())
    assert runs[0] == runs[1] and ",9,9,ok," in runs[0], runs
