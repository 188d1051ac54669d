"""A grading worker: autograde one student per job, `python -m autograder.worker`.

The grader keeps `--jobs` workers alive and sends each a job at a time (one JSON line on stdin);
the worker answers one line, RESULT_MARK + {"success": bool, "log": str, "error": str|null}.
Keeping workers alive saves importing nbgrader for every student; a worker whose job runs past
the per-notebook limit is killed with everything it started and replaced.
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

RESULT_MARK = "@@autograder-result@@ "


def grade_one(job: dict) -> dict:
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
    return {"success": bool(result["success"]), "log": result.get("log") or "",
            "error": None if result["success"] else str(result.get("error") or "")}


def main() -> int:
    warnings.filterwarnings("ignore", message=".*not in session.*")
    import nbgrader.apps  # noqa: F401  (import now, while the grader is still setting up)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = grade_one(json.loads(line))
        except Exception as exc:  # report, and stay alive for the next student
            result = {"success": False, "log": "", "error": f"{type(exc).__name__}: {exc}"}
        print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
