"""A grading worker: grade one student per job, `python -m autograder.worker RESULT_FD`.

The grader keeps `--jobs` workers alive and sends each a job at a time (one JSON line on stdin);
the worker answers one JSON line on its own pipe (RESULT_FD, never stdout: nothing a notebook or a
library prints can pose as a result). A worker keeps one zygote (kernels.py) for its assignment, so
a submission costs a fork, not a new Python that imports torch. It restores the instructor's test
cells into the submission (repair.restore), runs it (runner.py: student cells in the sandboxed
kernel, tests here), writes the graded notebook under the course root (safefs) and answers what each
test did. A worker whose job runs past the per-notebook limit is killed with everything it started
and replaced. Both sides of that protocol live here: the server (grade_one, main) and the client.
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
from pathlib import Path

_zygote = None          # (key, Zygote): this worker's, for one assignment and sandbox
_notebooks: dict = {}   # assignment -> (source, release, imports)


def _assignment(aid: str):
    if aid not in _notebooks:
        import nbformat

        from . import NOTEBOOKS, SOLUTIONS
        from .cells import release_imports
        release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
        source = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
        _notebooks[aid] = source, release, release_imports(release)
    return _notebooks[aid]


def _kernels(aid: str, sandbox: dict, imports: list[str]):
    global _zygote
    from .kernels import Zygote, new_workdir
    from .sandbox import SandboxSettings
    key = json.dumps([aid, sandbox], sort_keys=True)
    if _zygote is not None and (_zygote[0] != key or not _zygote[1].alive()):
        _zygote[1].close()
        _zygote = None
    if _zygote is None:
        _zygote = key, Zygote(imports, SandboxSettings.from_json(sandbox), new_workdir())
    return _zygote[1]


def grade_one(job: dict) -> dict:
    import nbformat

    from . import cells as nbcells
    from . import safefs
    from .config import AFTER_TIMEOUT
    from .remote import KernelDied
    from .repair import restore
    from .runner import NotebookRun, graded_notebook

    aid, root = job["assignment"], Path(job["course_root"])
    source, release, imports = _assignment(aid)
    raw = (root / job["submitted"]).read_bytes()
    nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    notes = restore(nb, source, release)
    try:
        zygote = _kernels(aid, job["sandbox"], imports)
    except KernelDied as exc:
        return {"success": False, "error": f"the Python kernel did not start: {exc}"}
    cpu = zygote.kernel_cpu
    run = NotebookRun(nb, imports, lambda: zygote.start(raw, f"{aid}.ipynb"), job["cell_timeout"], AFTER_TIMEOUT).run()
    graded = graded_notebook(nb, run)
    safefs.write_under(root, job["graded"], nbformat.writes(graded))
    tests = {}
    for index, ran in sorted(run.cells.items()):
        if ran.outcome is not None:
            o = ran.outcome
            tests[nbcells.grade_id(nb.cells[index])] = {"kind": o.kind, "ename": o.ename, "message": o.message,
                                                        "line": o.line, "limit": ran.limit}
    return {"success": run.failed is None, "error": run.failed, "tests": tests, "flags": run.flags,
            "crashes": run.crashes, "notes": notes, "kernel_cpu_s": round(zygote.kernel_cpu - cpu, 3)}


def main() -> int:
    import warnings
    warnings.filterwarnings("ignore")
    results = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    import torch
    torch.set_num_threads(1)
    import nbformat  # noqa: F401  (import now, while the grader is still setting up)

    from . import remote, runner, trusted  # noqa: F401
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = grade_one(json.loads(line))
        except Exception as exc:  # report, and stay alive for the next student
            import traceback
            result = {"success": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        results.write(json.dumps(result) + "\n")
    if _zygote is not None:
        _zygote[1].close()
    return 0


class Worker:
    """The grader's side: one long-lived worker process; replaced when a job overruns or it dies."""

    def __init__(self, stderr_path: Path):
        self.stderr_path = stderr_path
        self._start()

    def _start(self) -> None:
        from . import REPO
        read, write = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.worker", str(write)], cwd=REPO, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=open(self.stderr_path, "a"), start_new_session=True,
                                     pass_fds=(write,), preexec_fn=_die_with_grader)
        os.close(write)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(os.fdopen(read), self.lines), daemon=True).start()

    @staticmethod
    def _pump(stream, lines) -> None:
        for line in stream:
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
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
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
    """Kill a worker and everything it started (its zygote has a session of its own)."""
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
