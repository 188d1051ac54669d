"""A grading worker's kernels: one sandboxed zygote (kernel/zygote.py) that forks a fresh kernel per submission.

The zygote starts once per worker and assignment (a few seconds: it imports torch and what the
released notebook imports, and arms the guard); a kernel is then a fork of it, ready in
milliseconds, with nothing in it but those imports. Each submission still gets its own process, its
own copy of the notebook's folder, and a clean /tmp: after a kernel ends, the zygote kills every
other process in the sandbox and empties the scratch folders, and the worker empties /submission.

The zygote's code goes in as source (BOOT reads it from the control socket and imports it from
memory): the sandbox cannot see the autograder folder.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from . import safefs
from .kernel import frames
from .remote import KernelDied
from .session import Session
from .sandbox import INSIDE, MPL_INSIDE, SandboxSettings, pids_cgroup_parent, unprivileged_ids, zygote_command

KERNEL_DIR = Path(__file__).parent / "kernel"
MODULES = ("frames", "encode", "requests", "ops", "server", "shell", "guard", "guard_watch", "zygote")
START_TIMEOUT = 600      # seconds for a zygote to import everything (a loaded machine is slow)

BOOT = r"""
import importlib.abc, importlib.util, json, socket, sys
_control = socket.socket(fileno=0)
def _exactly(n):
    data = b""
    while len(data) < n:
        chunk = _control.recv(n - len(data))
        if not chunk:
            raise SystemExit(0)
        data += chunk
    return data
_SOURCES = json.loads(_exactly(int.from_bytes(_exactly(8), "big")))
class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name in _SOURCES:
            return importlib.util.spec_from_loader(name, self, is_package=name in ("autograder", "autograder.kernel"))
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        exec(compile(_SOURCES[module.__name__], "<grader " + module.__name__ + ">", "exec"), module.__dict__)
sys.meta_path.insert(0, _Finder())
import autograder.kernel.zygote
autograder.kernel.zygote.main(_control)
"""


def _sources() -> bytes:
    sources = {"autograder": "", "autograder.kernel": (KERNEL_DIR / "__init__.py").read_text(encoding="utf-8")}
    for name in MODULES:
        sources[f"autograder.kernel.{name}"] = (KERNEL_DIR / f"{name}.py").read_text(encoding="utf-8")
    data = json.dumps(sources).encode()
    return len(data).to_bytes(8, "big") + data


def _matplotlib_cache() -> str | None:
    """The grader's own matplotlib font cache, so that a fresh sandbox need not rebuild it (seconds)."""
    try:
        import matplotlib
        from matplotlib import font_manager  # noqa: F401  (builds the cache here if there is none)
        return matplotlib.get_cachedir()
    except Exception:
        return None


class Zygote:
    def __init__(self, imports: list[str], settings: SandboxSettings, workdir: Path, guard: bool = True):
        self.settings = settings
        self.workdir = Path(workdir)
        self.jobs_dir = self.workdir / "submission"
        self.home = self.workdir / "home"          # without bubblewrap: the kernels' HOME and TMPDIR
        for folder in (self.jobs_dir, self.home):
            folder.mkdir(parents=True, exist_ok=True)
        ids = unprivileged_ids(settings)
        if ids:      # root without bubblewrap: the kernels' user owns their two folders, and nothing else here
            self.workdir.chmod(0o711)
            for folder in (self.jobs_dir, self.home):
                os.chown(folder, *ids)
        self.cgroup = self._cgroup()
        mpl = _matplotlib_cache()
        cmd, env = zygote_command(settings, str(self.jobs_dir), BOOT, self.cgroup, str(self.home), mpl)
        parent, child = socket.socketpair()
        self.log = open(self.workdir / "zygote.log", "wb")
        self.proc = subprocess.Popen(cmd, stdin=child, stdout=subprocess.DEVNULL, stderr=self.log, env=env,
                                     start_new_session=True)
        child.close()
        self.control = parent
        self.sandboxed = settings.use_bwrap
        self.kernel_cpu = 0.0
        try:
            parent.sendall(_sources())
            scratch = ["/tmp", "/dev/shm"] if self.sandboxed else [str(self.home)]
            frames.send(parent, json.dumps({"imports": imports, "sandboxed": self.sandboxed, "guard": guard,
                                            "scratch": scratch,
                                            "mpl_cache": (MPL_INSIDE if self.sandboxed else mpl) if mpl else None}).encode())
            reply = self._answer(START_TIMEOUT)
        except (OSError, KernelDied) as exc:
            self.close()
            raise KernelDied(f"the sandboxed kernel did not start ({exc}); see {self.workdir / 'zygote.log'}") from None
        if reply[0] != "ready":
            self.close()
            raise KernelDied(f"the sandboxed kernel did not start: {reply}")
        self.flags = [str(f) for f in reply[2]] if len(reply) > 2 and type(reply[2]) is list else []

    def _cgroup(self) -> str:
        parent = pids_cgroup_parent()
        if parent is None:
            return ""
        path = parent / f"course-grader-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(self.settings.limits.processes))
            return str(path)
        except OSError:
            return ""

    def _answer(self, timeout: float) -> list:
        self.control.settimeout(timeout)
        try:
            header, _ = frames.recv(self.control, 1 << 20)
            reply = json.loads(header)
        except (socket.timeout, frames.FrameError, OSError, ValueError) as exc:
            raise KernelDied(f"the zygote stopped answering ({type(exc).__name__})") from None
        if type(reply) is not list or not reply:
            raise KernelDied("the zygote sent a malformed answer")
        return reply

    def _ask(self, request, fd: int | None = None, timeout: float = 60) -> list:
        try:
            frames.send(self.control, pickle.dumps(request))
            if fd is not None:
                socket.send_fds(self.control, [b"f"], [fd])
        except OSError as exc:
            raise KernelDied(f"the zygote is gone ({exc})") from None
        return self._answer(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def start(self, notebook: bytes, name: str) -> "Kernel":
        """A fresh kernel whose folder holds `notebook` (as `name`)."""
        safefs.empty_folder(self.jobs_dir)
        safefs.write_new(self.jobs_dir, name, notebook)
        ours, theirs = socket.socketpair()
        cwd = INSIDE if self.sandboxed else str(self.jobs_dir)
        try:
            reply = self._ask(("job", cwd, self.settings.limits.rlimits()), theirs.fileno())
        finally:
            theirs.close()
        if reply[0] != "started" or len(reply) != 2 or type(reply[1]) is not int:
            raise KernelDied(f"the zygote did not start a kernel: {str(reply)[:100]}")
        return Kernel(self, ours, reply[1])

    def signal(self, pid: int, signum: int) -> None:
        self._ask(("signal", pid, signum))

    def clean(self) -> float:
        """Kill what the last kernel left, empty its folders; the CPU-seconds its processes used."""
        reply = self._ask(("clean",), timeout=120)
        safefs.empty_folder(self.jobs_dir)
        cpu = reply[1] if len(reply) > 1 and type(reply[1]) in (int, float) else 0.0
        self.kernel_cpu += cpu
        return cpu

    def close(self) -> None:
        """End the zygote: it reaps its kernels and exits (so their CPU time is accounted to the worker);
        one that does not within seconds is killed with the sandbox."""
        try:
            self.control.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        self.log.close()
        if self.cgroup:
            try:
                os.rmdir(self.cgroup)
            except OSError:
                pass


class Kernel:
    """One submission's kernel: a Session with it, the guard's first flags, and its clean-up."""

    def __init__(self, zygote: Zygote, sock: socket.socket, pid: int):
        self.zygote, self.pid = zygote, pid
        self.session = Session(sock, interrupt=lambda: zygote.signal(pid, signal.SIGINT))
        self.session.deadline = time.monotonic() + 60
        try:
            tree, buffers = self.session.receive()
            hello = self.session.decoder.decode(tree[1], buffers) if tree[0] == "hello" and len(tree) == 2 else []
        finally:
            self.session.deadline = None
        self.flags = [str(f) for f in hello if isinstance(f, str)] if type(hello) is list else []

    def close(self) -> None:
        try:
            self.session.sock.close()
        except OSError:
            pass
        try:
            self.zygote.signal(self.pid, signal.SIGKILL)
            self.zygote.clean()
        except KernelDied:
            pass


def new_workdir(base: Path | None = None) -> Path:
    return Path(tempfile.mkdtemp(prefix="course-grader-", dir=base))


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
