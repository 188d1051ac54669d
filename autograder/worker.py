"""Autograde ONE student's submission in this process: `python -m autograder.worker < job.json`.

The grader runs one worker per submission, several at once, each with a wall-clock limit: a
submission that hangs or crashes nbgrader itself costs only its own worker. The worker prints
one JSON line: {"success": bool, "log": str, "error": str|null}.
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path


def main() -> int:
    job = json.loads(sys.stdin.read())
    warnings.filterwarnings("ignore", message=".*not in session.*")
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
                                        SaveAutoGrades)

    from .config import nbgrader_config
    from .execute import CrashTolerantExecute
    from .sandbox import SandboxedKernelManager, SandboxSettings

    root = Path(job["course_root"])
    config = nbgrader_config(root, job.get("db_url"), release_dir=root / "release")
    config.Execute.timeout = job["cell_timeout"]
    config.Autograde.autograde_preprocessors = [
        CrashTolerantExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata]
    SandboxedKernelManager.settings = SandboxSettings.from_json(job["sandbox"])
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    result = api.autograde(job["assignment"], job["student"], force=True, create=True)
    print(json.dumps({"success": bool(result["success"]), "log": result.get("log") or "",
                      "error": None if result["success"] else str(result.get("error") or "")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
