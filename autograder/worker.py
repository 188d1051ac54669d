"""A grading worker: autograde one student per job, `python -m autograder.worker`.

The grader keeps `--jobs` workers alive and sends each a job at a time (one JSON line on stdin);
the worker answers one line, RESULT_MARK + {"success": bool, "log": str, "error": str|null}.
Keeping workers alive saves importing nbgrader for every student; a worker whose job runs past
the per-notebook limit is killed with everything it started and replaced. Both sides of that
protocol live here: the server (grade_one, main) and the grader's client (Worker).
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

RESULT_MARK = "@@autograder-result@@ "


def grade_one(job: dict) -> dict:
    import nbformat
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
                                        SaveAutoGrades)

    from . import NOTEBOOKS
    from .config import nbgrader_config
    from .execute import CrashTolerantExecute, release_imports
    from .sandbox import SandboxedKernelManager, SandboxSettings

    root = Path(job["course_root"])
    config = nbgrader_config(root, job.get("db_url"), release_dir=root / "release")
    config.Execute.timeout = job["cell_timeout"]
    config.Autograde.autograde_preprocessors = [
        CrashTolerantExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata]
    SandboxedKernelManager.settings = SandboxSettings.from_json(job["sandbox"])
    # What the guard trusts comes from the released notebook, never from the submission.
    release = NOTEBOOKS / job["assignment"] / f"{job['assignment']}.ipynb"
    CrashTolerantExecute.trusted_imports = release_imports(nbformat.read(release, as_version=4))
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


class Worker:
    """The grader's side: one long-lived worker process; replaced when a job overruns or it dies."""

    def __init__(self, stderr_path: Path):
        self.stderr_path = stderr_path
        self._start()

    def _start(self) -> None:
        from . import REPO
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.worker"], cwd=REPO, text=True, bufsize=1,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=open(self.stderr_path, "a"), start_new_session=True,
                                     preexec_fn=_die_with_grader)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()

    @staticmethod
    def _pump(proc, lines) -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def run(self, job: dict, timeout: float) -> dict:
        """The job's result, or {"timeout": True} / {"worker_died": exit code}."""
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                _kill_tree(self.proc)
                self._start()
                return {"timeout": True}
            if line is None:
                code = self.proc.wait()
                self._start()
                return {"worker_died": code}
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK):])

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            _kill_tree(self.proc)


def _die_with_grader() -> None:
    """In the new worker, before it starts: on Linux, be killed when the grader dies (even by
    SIGKILL), so a stopped grader leaves no worker grading on behind the re-run's back."""
    if sys.platform.startswith("linux"):
        import ctypes
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill a worker and everything it started (a kernel outside bubblewrap has its own session)."""
    import psutil
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


if __name__ == "__main__":
    sys.exit(main())
