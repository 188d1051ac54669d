"""Load autograder/nbgrader_config.py and point nbgrader at a chosen course root and database."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from . import AUTOGRADER_DIR, NOTEBOOKS, SOLUTIONS


# nbgrader runs `alembic` (and kernels) from PATH: make the running environment's scripts visible
# even when it is not activated (e.g. `.venv/bin/python -m autograder ...`).
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")


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
        config.CourseDirectory.db_url = db_url
    elif course_root is not None:
        config.CourseDirectory.db_url = "sqlite:///" + str(root / "gradebook.db")
    # Quieter logs: our own messages say what matters.
    config.Application.log_level = "WARN"
    return config
