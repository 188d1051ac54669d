"""The gradebook several graders share: nbgrader's tables plus one of our own, set up race-free.

- Set-up (nbgrader's tables and enum types, the course row, registering the assignment, our
  results table) runs under a lock: a PostgreSQL advisory lock, or a file lock next to a SQLite
  file. Without it, graders started together crash (UniqueViolation on nbgrader's enum type, a
  ForeignKeyViolation when one re-registers the assignment while another already has submissions).
- The assignment is registered once: a grader that finds it registered with the same test cells
  leaves it alone; changed test cells are registered again (nbgrader updates them in place), and
  results saved with the old ones are graded again (StudentResult.tests_sha).
- `autograder_results` holds one StudentResult per (assignment, student), written as soon as the
  student is graded: a killed grader loses nothing, a re-run skips what is there (same file), and
  every output is assembled from this table.
"""
from __future__ import annotations

import fcntl
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Column, Float, MetaData, String, Table, Text, create_engine, delete, insert, select, text
from sqlalchemy.engine import make_url

from .config import COURSE_ID, is_postgres
from .results import StudentResult

_metadata = MetaData()
RESULTS = Table(
    "autograder_results", _metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student_id", String(255), primary_key=True),
    Column("sha256", String(64), nullable=False, default=""),
    Column("record", Text, nullable=False),
    Column("updated", Float, nullable=False),
)
_LOCK_KEY = 0x6463_6F75_7273_65   # "dcourse": one advisory lock id for the course's set-up


def _engine(db_url: str):
    kwargs = {"future": True}
    if db_url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 120}
    return create_engine(db_url, **kwargs)


@contextmanager
def setup_lock(db_url: str, course_root: Path):
    """Only one grader at a time sets up the gradebook (processes on one machine or several)."""
    if is_postgres(db_url):
        engine = _engine(db_url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
        finally:
            engine.dispose()
        return
    database = make_url(db_url).database if db_url.startswith("sqlite") else None
    lock_path = Path(database + ".setup-lock") if database else Path(course_root) / ".setup-lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _registered_tests(gb, assignment: str) -> dict[str, tuple[float, str]] | None:
    """grade_id -> (points, source) of the test cells the gradebook holds, or None if unregistered."""
    from nbgrader.api import MissingEntry
    try:
        nb = gb.find_notebook(assignment, assignment)
    except MissingEntry:
        return None
    return {c.name: (float(c.max_score), gb.find_source_cell(c.name, assignment, assignment).source)
            for c in nb.grade_cells if c.cell_type == "code"}


def set_up(db_url: str, course_root: Path, assignment: str, solution_tests: dict[str, tuple[float, str]],
           register) -> None:
    """Create the tables and register `assignment` (by calling `register()`) unless already done.

    solution_tests: grade_id -> (points, source) of the solution's test cells, to compare with
    what the gradebook holds.
    """
    from nbgrader.api import Gradebook

    with setup_lock(db_url, course_root):
        with Gradebook(db_url, COURSE_ID) as gb:   # creates nbgrader's tables and types, and the course
            have = _registered_tests(gb, assignment)
        engine = _engine(db_url)
        try:
            _metadata.create_all(engine)
        finally:
            engine.dispose()
        if have != solution_tests:
            register()


def load(db_url: str, assignment: str) -> dict[str, StudentResult]:
    engine = _engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(RESULTS.c.student_id, RESULTS.c.record)
                                .where(RESULTS.c.assignment == assignment)).all()
    finally:
        engine.dispose()
    return {sid: StudentResult.from_json(record) for sid, record in rows}


class ResultStore:
    """Saves each student's result as soon as it is known (one engine for the whole run)."""

    def __init__(self, db_url: str, assignment: str):
        self.assignment = assignment
        self.engine = _engine(db_url)

    def save(self, result: StudentResult) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(RESULTS).where(RESULTS.c.assignment == self.assignment,
                                               RESULTS.c.student_id == result.student_id))
            conn.execute(insert(RESULTS).values(assignment=self.assignment, student_id=result.student_id,
                                                sha256=result.sha256, record=result.to_json(), updated=time.time()))

    def close(self) -> None:
        self.engine.dispose()
