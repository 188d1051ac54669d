"""CPU-seconds of a command and of everything it starts, sandboxed or not (used by the grading_* benchmarks; a helper, not a benchmark).

A process's RUSAGE_CHILDREN misses processes that end in their own PID namespace (bubblewrap's
--unshare-pid: the sandbox's init does not pass their times up), which is where graders run student
code. Linux's cgroup-v1 cpuacct controller counts them all: a command started in a fresh group is
charged for its whole tree. Where that controller is not writable (not root, cgroup v2 only), the
counter falls back to RUSAGE_CHILDREN and says so.
"""
from __future__ import annotations

import os
import resource
import uuid
from pathlib import Path

BASE = Path("/sys/fs/cgroup/cpuacct")


class CpuCounter:
    def __init__(self):
        self.group = None
        if (BASE / "cgroup.procs").exists() and os.access(BASE, os.W_OK):
            group = BASE / f"grading-bench-{uuid.uuid4().hex[:8]}"
            try:
                group.mkdir()
                self.group = group
            except OSError:
                pass
        self.method = "cgroup cpuacct" if self.group else "RUSAGE_CHILDREN (misses sandboxed PID namespaces)"
        self.start = self._now()

    def preexec(self) -> None:
        """Passed as a child's preexec_fn: the child, and all it starts, are counted."""
        if self.group is not None:
            (self.group / "cgroup.procs").write_text(str(os.getpid()))

    def _now(self) -> float:
        if self.group is not None:
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def seconds(self) -> float:
        return self._now() - self.start

    def close(self) -> None:
        if self.group is not None:
            try:
                self.group.rmdir()
            except OSError:
                pass
