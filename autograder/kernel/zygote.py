"""The zygote: one process per grading worker that imports torch once and forks a kernel per submission.

It runs sandboxed (autograder/sandbox.py) and talks to its worker on fd 0, a Unix socket: requests
are pickles (the worker is trusted), answers JSON. It imports what the assignment's released
notebook imports, makes the IPython shell, arms the guard, freezes the heap for cheap forks, and
makes itself non-dumpable (no process of the same user can ptrace it or read its memory). Then:

  ("job", cwd, limits) + a socket (SCM_RIGHTS)  fork a kernel that serves that socket -> ["started", pid]
  ("signal", pid, signum)                      signal one of its kernels -> ["signalled"]
  ("clean",)                                   kill every other process of the sandbox, empty /tmp
                                               and /dev/shm -> ["clean"]: the next submission finds
                                               nothing of this one's (files or processes)

A kernel child sets its limits (CPU, memory, processes, file size), drops the control socket, moves
into the submission's folder, reseeds Python's and numpy's generators, and serves (server.py).
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import pickle
import random
import resource
import shutil
import signal
import socket
import sys

from . import frames

PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
ALWAYS_IMPORT = ("import math", "import random", "import operator", "import numpy", "import numpy.testing",
                 "import torch", "import torch.testing", "import torch.autograd.functional",
                 "import course_lib.testing", "import matplotlib.pyplot")


def _reply(sock, *fields) -> None:
    frames.send(sock, json.dumps(list(fields)).encode())


def _prctl(option: int, value: int) -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def prepare(config: dict):
    """Everything the kernels share, made once: imports, shell, guard."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    import torch
    torch.set_num_threads(1)
    from .shell import make_shell
    shell = make_shell()
    guard = None
    flags: list[str] = []
    scratch: dict = {}
    statements = [*ALWAYS_IMPORT, *config.get("imports", [])]
    if config.get("guard", True):
        from .guard import Guard
        guard = Guard(shell)
        flags = guard.arm(statements)
    else:
        for statement in statements:
            try:
                exec(compile(statement, "<grader: imports>", "exec"), scratch)
            except Exception:
                pass
    gc.collect()
    gc.freeze()        # children share these pages: the collector will not touch (and copy) them
    return shell, guard, flags


def main(control: socket.socket) -> None:
    header, _ = frames.recv(control)
    config = json.loads(header)
    shell, guard, flags = prepare(config)
    sandboxed = bool(config.get("sandboxed"))
    _prctl(PR_SET_DUMPABLE, 0)
    _reply(control, "ready", os.getpid(), flags)
    children: set[int] = set()
    while True:
        try:
            header, _ = frames.recv(control)
        except (frames.FrameError, OSError):     # the worker is done: take the kernels with us, reaped
            _clean(children, sandboxed, [])
            os._exit(0)
        request = pickle.loads(header)
        _reap(children)
        if request[0] == "job":
            _, fds, _, _ = socket.recv_fds(control, 1, 1)
            pid = os.fork()
            if pid == 0:
                control.close()
                _child(fds[0], request[1], request[2], shell, guard)
            os.close(fds[0])
            children.add(pid)
            _reply(control, "started", pid)
        elif request[0] == "signal":
            if request[1] in children:
                try:
                    os.kill(request[1], request[2])
                except ProcessLookupError:
                    pass
            _reply(control, "signalled")
        elif request[0] == "clean":
            _reply(control, "clean", _clean(children, sandboxed, config.get("scratch", [])))


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)


def _clean(children: set[int], sandboxed: bool, scratch: list[str]) -> float:
    """Kill, reap and empty; the CPU-seconds the reaped kernels used (for the benchmarks)."""
    me = os.getpid()
    if sandboxed:      # our own PID namespace, whose init this process is: everything else goes
        victims = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
    else:              # the kernels' process groups (each kernel is a session leader)
        victims = list(children)
    for pid in victims:
        try:
            os.killpg(pid, signal.SIGKILL) if not sandboxed else os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    cpu = 0.0
    while True:           # the kernels, and in the sandbox every orphan (this process is its init)
        try:
            pid, _, usage = os.wait4(-1 if sandboxed else next(iter(children), -1), 0)
        except (ChildProcessError, StopIteration):
            break
        cpu += usage.ru_utime + usage.ru_stime
        children.discard(pid)
        if not sandboxed and not children:
            break
    children.clear()
    for folder in scratch:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(folder, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
    return cpu


def _child(fd: int, cwd: str, limits: dict, shell, guard) -> None:
    try:
        os.setsid()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        for name, value in limits.items():
            resource.setrlimit(getattr(resource, name), (value, value))
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.chdir(cwd)
        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from .server import Server
        sock = socket.socket(fileno=fd)
        server = Server(sock, shell, guard)
        if guard is not None:
            guard.signals[signal.SIGINT] = signal.getsignal(signal.SIGINT)    # the server's: not the notebook's
        os.register_at_fork(after_in_child=lambda: _forked(sock))
        server.send("hello", values=(guard.shadows_found() if guard is not None else [],))
        server.serve()
    finally:
        os._exit(0)


def _forked(sock) -> None:
    """In a process the student's code forked: it must never speak for the kernel."""
    try:
        os.close(sock.detach())
    except OSError:
        pass
