"""nbgrader configuration for the course (course root: this folder).

Plain nbgrader commands work from here (`cd autograder && nbgrader ...`); the course's own tool,
`python -m autograder grade ...`, loads this file and points the working folders elsewhere.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:   # plain `nbgrader` run from here: find the autograder package
    sys.path.insert(0, os.path.dirname(HERE))
from autograder.config import CELL_TIMEOUT, COURSE_ID, default_db_url, normalize_db_url  # noqa: E402  (settings live there)

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "../solutions"   # solutions/chNN/chNN.ipynb: the source
c.CourseDirectory.release_directory = "../notebooks"  # notebooks/chNN/chNN.ipynb: what students get
# SQLite by default (a file next to this one, git-ignored); PostgreSQL by URL for several graders:
#   NBGRADER_DB_URL=postgresql://user:pass@host/gradebook
c.CourseDirectory.db_url = normalize_db_url(os.environ.get("NBGRADER_DB_URL") or default_db_url(HERE))

# Every cell gets at most this long; a cell that runs over is interrupted and later cells still run.
c.Execute.timeout = CELL_TIMEOUT
c.Execute.interrupt_on_timeout = True
# A submission that deleted a test cell gets it back (graded, not left for manual grading).
c.OverwriteCells.add_missing_cells = True
# nbgrader scores a test cell with ANY stderr as 0. Drop stderr outputs made only of Python
# warnings (torch's UserWarnings and the like), so a harmless warning does not cost points.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\A(?:[^\n]*\b\w*Warning: [^\n]*\n?(?:[ \t][^\n]*\n?)*)+\Z"
