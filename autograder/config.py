"""The grader's settings, each in one place, and nbgrader's configuration built from them.

`Options` holds every setting of `python -m autograder grade` with its default and its help text;
__main__ turns it into the command line (so `grade --help` shows them all) and nbgrader_config.py
reads its cell timeout from here. Kernel limits (memory, CPU, processes, file size) are
sandbox.Limits; their defaults are shown here too.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from . import AUTOGRADER_DIR, NOTEBOOKS, SOLUTIONS
from .sandbox import Limits

# nbgrader runs `alembic` (and kernels) from PATH: make the running environment's scripts visible
# even when it is not activated (e.g. `.venv/bin/python -m autograder ...`).
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

# The slowest cell of any solution notebook takes a few seconds on a laptop CPU and a whole notebook
# must run in under 60 s (CONTRIBUTING's budget): a cell still running after 60 s is looping.
CELL_TIMEOUT = 60
NOTEBOOK_TIMEOUT = 900
# Once a cell has timed out, a later cell that is not a graded test gets at most this long: a
# looping function then costs one timeout, not one more for every try-it cell that calls it again.
AFTER_TIMEOUT = 10
COURSE_ID = "dl-course"
# How a timed-out cell's error output is named: the kernel's cell was interrupted (KeyboardInterrupt),
# or a test ran out of time on the trusted side (TimeoutError).
TIMEOUT_ERRORS = {"KeyboardInterrupt", "TimeoutError"}


@dataclass
class Options:
    """Settings of one grading run; __main__ makes the command line from these defaults."""
    jobs: int = os.cpu_count() or 1                   # submissions graded at once
    cell_timeout: int = CELL_TIMEOUT                   # the cell is interrupted, later cells still run
    notebook_timeout: int = NOTEBOOK_TIMEOUT           # then the worker is killed
    limits: Limits = field(default_factory=Limits)     # the kernel's memory, CPU, processes, file size
    students: list[str] = field(default_factory=list)  # --student: re-grade only these
    regrade: bool = False                              # grade again what the gradebook holds (same file)
    shard: tuple[int, int] = (1, 1)                    # (k, n): the k-th of n slices of the class
    roster: Path | None = None
    course_root: Path | None = None
    db_url: str | None = None                          # default: default_db_url(course_root)
    sandbox: bool = True
    lms_assignment: str | None = None                  # Canvas column name (default: the assignment id)
    lms_assignment_id: str | None = None               # Canvas assignment id: the column is "name (id)"


# ---- the gradebook ------------------------------------------------------------------------------------

def default_db_url(course_root: Path) -> str:
    """SQLite next to the course root; the timeout lets several worker processes write in turn."""
    return "sqlite:///" + str(Path(course_root).resolve() / "gradebook.db") + "?timeout=120"


def normalize_db_url(url: str) -> str:
    """`postgresql://` means the psycopg2 driver (pinned in requirements.txt). SQLAlchemy 2 would
    otherwise pick psycopg 3, which the course does not install."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def nbgrader_config(course_root: Path | None = None, db_url: str | None = None,
                    release_dir: Path | None = None) -> Config:
    config = PyFileConfigLoader("nbgrader_config.py", path=str(AUTOGRADER_DIR)).load_config()
    root = Path(course_root or AUTOGRADER_DIR).resolve()
    root.mkdir(parents=True, exist_ok=True)
    config.CourseDirectory.root = str(root)
    # nbgrader joins these onto the root, so they must be relative to it.
    config.CourseDirectory.source_directory = os.path.relpath(SOLUTIONS, root)
    config.CourseDirectory.release_directory = os.path.relpath(release_dir or NOTEBOOKS, root)
    if db_url:
        config.CourseDirectory.db_url = normalize_db_url(db_url)
    elif course_root is not None:
        config.CourseDirectory.db_url = default_db_url(root)
    # Quieter logs: our own messages say what matters.
    config.Application.log_level = "WARN"
    return config
