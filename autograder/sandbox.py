"""Run a student's kernel in a sandbox: bubblewrap where available, process limits always.

Only the kernel is sandboxed; nbgrader, which reads the gradebook, stays outside. The kernel sees:
- the whole system read-only (so Python and course_lib work), but NOT the course root (other
  students' submissions, the gradebook, nbgrader's release copy), solutions/, autograder/, the
  submissions folder (or zip) or the output folder: each is covered by an empty tmpfs (or file);
- a private /tmp (also its HOME, IPython and matplotlib settings, fresh at each kernel start) and one
  writable scratch folder holding only this student's notebook;
- no network (--unshare-net): it talks to nbgrader over IPC sockets in a folder bound in;
- its own PID namespace, so everything it starts dies with it.
The kernel itself is `python -I -c <guard.py>` (`guarded`): nothing is imported from its working
folder, and the grader's guard is in place before the first cell (sandbox or not).
Limits on CPU time, memory (address space), processes and file size are set by a small launcher
that runs before bubblewrap; where a pids cgroup is writable (root on Linux) it also caps the
number of processes there, since RLIMIT_NPROC does not bind root. Without bubblewrap (e.g. macOS)
only the limits apply, and the grader says so once.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_client import AsyncKernelManager


@dataclass
class Limits:
    cpu_seconds: int = 900          # CPU time of the kernel (all cells)
    memory_mb: int = 4096           # address space: importing torch needs ~1.5 GiB of it
    processes: int = 256            # processes and threads
    file_mb: int = 256              # largest file the kernel may write


@dataclass
class SandboxSettings:
    scratch: str = ""                               # writable folder: this student's notebook only
    hide: list[str] = field(default_factory=list)   # folders the kernel must not see
    keep: list[str] = field(default_factory=list)   # folders it needs (Python, course_lib), even under /tmp
    limits: Limits = field(default_factory=Limits)
    use_bwrap: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SandboxSettings":
        raw = json.loads(text)
        raw["limits"] = Limits(**raw["limits"])
        return cls(**raw)


_bwrap_ok: bool | None = None


def bwrap_available() -> bool:
    """bubblewrap is installed and can create namespaces here (it cannot in some containers)."""
    global _bwrap_ok
    if _bwrap_ok is None:
        exe = shutil.which("bwrap")
        _bwrap_ok = bool(exe) and subprocess.run(
            [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net", "--unshare-pid",
             "--die-with-parent", "true"], capture_output=True).returncode == 0
    return _bwrap_ok


def pids_cgroup_parent() -> Path | None:
    """The cgroup-v1 pids folder, where we may create a child with a pids.max (root on Linux), or None."""
    base = Path("/sys/fs/cgroup/pids")
    return base if (base / "cgroup.procs").exists() and os.access(base, os.W_OK) else None


# Runs outside the sandbox, then execs it: join the pids cgroup, set the limits.
LAUNCHER = r"""
import os, resource, sys
cgroup, cpu, mem, nproc, fsize = sys.argv[1], *map(int, sys.argv[2:6])
if cgroup:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
# One thread per kernel: several kernels grade side by side, and the tests are small.
os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
for res, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, mem), (resource.RLIMIT_NPROC, nproc),
                   (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(res, (value, value))
os.execvp(sys.argv[7], sys.argv[7:])
"""


def wrap(kernel_cmd: list[str], settings: SandboxSettings, ipc_dir: str, cgroup: str) -> list[str]:
    lim = settings.limits
    launcher = [sys.executable, "-c", LAUNCHER, cgroup, str(lim.cpu_seconds), str(lim.memory_mb << 20),
                str(lim.processes), str(lim.file_mb << 20), "--"]
    if not settings.use_bwrap:
        return launcher + kernel_cmd
    scratch = settings.scratch
    cmd = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    covered = ["/tmp"]
    for path in settings.hide:
        if os.path.isdir(path):
            cmd += ["--tmpfs", path]
            covered.append(path)
        elif os.path.isfile(path):   # e.g. the LMS zip: the kernel sees an empty file there
            cmd += ["--ro-bind", "/dev/null", path]
    for path in settings.keep:   # e.g. a checkout (and its .venv) that lives under /tmp
        if any(os.path.commonpath([path, c]) == c for c in covered) and os.path.isdir(path):
            cmd += ["--ro-bind", path, path]
    cmd += ["--bind", scratch, scratch, "--bind", ipc_dir, ipc_dir,
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            # ipykernel exits when its parent pid looks like 1, which it is inside a PID namespace
            "--unsetenv", "JPY_PARENT_PID",
            # Settings folders in the private /tmp, fresh at each kernel start: a notebook that writes an
            # IPython startup file or config, then crashes its kernel, finds them gone in the re-run.
            "--setenv", "HOME", "/tmp", "--setenv", "IPYTHONDIR", "/tmp/.ipython",
            "--setenv", "MPLCONFIGDIR", "/tmp/.matplotlib", "--setenv", "TMPDIR", "/tmp",
            "--setenv", "MPLBACKEND", "Agg", "--chdir", scratch, "--"]
    return launcher + cmd + kernel_cmd


def guarded(kernel_cmd: list[str]) -> list[str]:
    """`python -m ipykernel_launcher ARGS` -> `python -I -c <guard.py> ARGS`: an isolated interpreter (no
    working folder, PYTHONPATH or user site on sys.path, so a module the notebook writes into its folder
    is never imported) that installs the grader's guard (guard.py) before the first cell runs."""
    for i in range(len(kernel_cmd) - 1):
        if kernel_cmd[i] == "-m" and kernel_cmd[i + 1] == "ipykernel_launcher":
            return [*kernel_cmd[:i], "-I", "-c", GUARD_SOURCE, *kernel_cmd[i + 2:]]
    raise RuntimeError(f"cannot start the grader's guard: unexpected kernel command {kernel_cmd[:3]}")


GUARD_SOURCE = (Path(__file__).parent / "guard.py").read_text(encoding="utf-8")


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs inside `settings` (set by the worker for its one student)."""

    settings: SandboxSettings | None = None

    def __init__(self, **kwargs):
        self._ipc_dir = tempfile.mkdtemp(prefix="course-kernel-")
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(self._ipc_dir, "k"))
        kwargs.setdefault("connection_file", os.path.join(self._ipc_dir, "kernel.json"))
        super().__init__(**kwargs)
        self._cgroup = ""
        parent = pids_cgroup_parent()
        if parent is not None and self.settings is not None:
            path = parent / f"course-grader-{uuid.uuid4().hex[:12]}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(str(self.settings.limits.processes))
                self._cgroup = str(path)
            except OSError:
                self._cgroup = ""

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = guarded(super().format_kernel_cmd(extra_arguments))
        # The kernel lives in its own process tree: interrupt it with a message, not a signal.
        self.kernel_spec.interrupt_mode = "message"
        return wrap(cmd, self.settings or SandboxSettings(use_bwrap=False), self._ipc_dir, self._cgroup)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            if self._cgroup:
                try:
                    os.rmdir(self._cgroup)
                except OSError:
                    pass
