"""The sandbox of a grading worker's kernels: what they see (only what Python needs), and their limits.

Built up from nothing (bubblewrap), not from the whole machine with holes: the kernels see
- /usr and the few files of /etc that programs need (the dynamic linker's cache, passwd, fonts);
- the Python installation (the virtualenv and the interpreter it points to), read-only;
- course_lib's package folder as installed, read-only (a development install maps it into the
  checkout: only that folder is bound, never the checkout around it);
- /submission: one submission's notebook folder at a time (the worker empties it between them);
- a private /tmp (also HOME, IPython's and matplotlib's folders) and /dev/shm, emptied between
  submissions, /proc of their own PID namespace, and no network.
Not the checkout (.git, solutions/, tests/, benchmarks/, autograder/), other submissions, the
gradebook or the outputs: a path under a bound folder that must stay hidden is covered by an empty
tmpfs. Processes run with no capabilities, in their own user, PID, IPC, UTS and network namespaces,
and die with the worker. Limits on CPU time, memory (address space), file size and core dumps are
set per kernel (zygote.py); the number of processes by RLIMIT_NPROC, and where a pids cgroup is
writable (root on Linux, where RLIMIT_NPROC does not bind) by the cgroup as well.
Without bubblewrap (e.g. macOS, a Gradescope image, or --no-sandbox) only the limits apply, and the
grader says so; a grader running as root (Gradescope, CI) then runs student code as the unprivileged
user `nobody` at least, in folders of its own (it cannot write the grader's files or read root's).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

INSIDE = "/submission"          # the submission's folder, as the kernel sees it
MPL_INSIDE = "/run/grader-mplcache"
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
       "/etc/localtime", "/etc/fonts", "/etc/alternatives")


@dataclass
class Limits:
    cpu_seconds: int = 900          # CPU time of one kernel (all its cells)
    memory_mb: int = 4096           # address space: importing torch needs ~1.5 GiB of it
    processes: int = 256            # processes and threads
    file_mb: int = 256              # largest file the kernel may write

    def rlimits(self) -> dict[str, int]:
        return {"RLIMIT_CPU": self.cpu_seconds, "RLIMIT_AS": self.memory_mb << 20,
                "RLIMIT_FSIZE": self.file_mb << 20, "RLIMIT_CORE": 0}


@dataclass
class SandboxSettings:
    use_bwrap: bool = True
    limits: Limits = field(default_factory=Limits)
    hide: list[str] = field(default_factory=list)   # folders that must stay invisible even under a bound one

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict) -> "SandboxSettings":
        return cls(raw["use_bwrap"], Limits(**raw["limits"]), list(raw.get("hide", [])))


_bwrap_ok: bool | None = None


def bwrap_available() -> bool:
    """bubblewrap is installed and can create namespaces here (it cannot in some containers)."""
    global _bwrap_ok
    if _bwrap_ok is None:
        exe = shutil.which("bwrap")
        _bwrap_ok = bool(exe) and subprocess.run(
            [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent",
             "true"], capture_output=True).returncode == 0
    return _bwrap_ok


def pids_cgroup_parent() -> Path | None:
    """The cgroup-v1 pids folder, where we may create a child with a pids.max (root on Linux), or None."""
    base = Path("/sys/fs/cgroup/pids")
    return base if (base / "cgroup.procs").exists() and os.access(base, os.W_OK) else None


# Runs outside the sandbox, then execs it: join the pids cgroup, limit processes, no core files, and
# (without bubblewrap, as root) become the unprivileged user.
LAUNCHER = r"""
import os, resource, sys
cgroup, nproc, uid, gid = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if cgroup:
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
for res, value in ((resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(res, (value, value))
if uid:
    os.setgroups([])
    os.setgid(int(gid))
    os.setuid(int(uid))
    assert os.geteuid() == int(uid) and os.getegid() == int(gid)
os.execvp(sys.argv[5], sys.argv[5:])
"""
UNPRIVILEGED = "nobody"


def unprivileged_ids(settings: "SandboxSettings") -> tuple[int, int] | None:
    """(uid, gid) that student code runs as when the grader is root and has no bubblewrap; else None."""
    if settings.use_bwrap or os.geteuid() != 0:
        return None
    import pwd
    try:
        entry = pwd.getpwnam(UNPRIVILEGED)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def can_run_python(ids: tuple[int, int]) -> bool:
    """Can that user run this Python and import course_lib (files readable, folders above searchable)?"""
    def become():
        os.setgroups([])
        os.setgid(ids[1])
        os.setuid(ids[0])
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", "import course_lib"], preexec_fn=become, cwd="/",
                              capture_output=True)
    except OSError:       # not even allowed to start it
        return False
    return proc.returncode == 0


def python_paths() -> list[str]:
    """What the kernel needs of this Python: the environment, the interpreter's installation, course_lib."""
    spec = importlib.util.find_spec("course_lib")
    course_lib = list(spec.submodule_search_locations or [])[:1] if spec else []
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                                           *course_lib)}
    paths |= {os.path.abspath(p) for p in (sys.prefix, *course_lib)}       # as the environment names them
    ordered = sorted(p for p in paths if not p.startswith("/usr/"))
    return [p for p in ordered if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in ordered)]


def environment(home: str) -> dict[str, str]:
    return {"HOME": home, "TMPDIR": home, "IPYTHONDIR": f"{home}/.ipython", "MPLCONFIGDIR": f"{home}/.matplotlib",
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "COURSE_RUN_SIZE": "smoke", "PYTHONDONTWRITEBYTECODE": "1"}


def view(jobs_dir: str, hide: list[str], mpl_cache: str | None) -> list[str]:
    """bubblewrap's arguments for the view described above."""
    # --as-pid-1: the zygote is the sandbox's init: signals from inside cannot kill it, orphans are its
    # to reap, and everything in the sandbox dies with it (and its CPU time is accounted to the worker).
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1"]
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in ETC:
        args += ["--ro-bind-try", path, path]
    # The private /tmp before the Python it runs: an environment under /tmp (a checkout there) is
    # bound on top of the empty tmpfs, not hidden by it.
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu",
             "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    bound = ["/usr"]
    for path in python_paths():
        args += ["--ro-bind", path, path]
        bound.append(path)
    # A folder to hide that lies inside a bound one (a checkout under /usr, the course root inside the
    # environment...): an empty tmpfs over it, then the bound folders inside it again.
    for path in sorted({os.path.realpath(h) for h in hide}):
        if any(path.startswith(b.rstrip("/") + "/") for b in bound) and os.path.isdir(path):
            args += ["--tmpfs", path]
            args += [x for p in python_paths() if p.startswith(path + "/") for x in ("--ro-bind", p, p)]
    args += ["--bind", jobs_dir, INSIDE]
    if mpl_cache:
        args += ["--ro-bind", mpl_cache, MPL_INSIDE]
    args += ["--clearenv"]
    for key, value in environment("/tmp").items():
        args += ["--setenv", key, value]
    return args + ["--chdir", INSIDE]


def zygote_command(settings: SandboxSettings, jobs_dir: str, boot: str, cgroup: str, private_home: str,
                   mpl_cache: str | None) -> tuple[list[str], dict | None]:
    """(argv, environment) of a worker's zygote: the launcher, bubblewrap where used, `python -I -c boot`."""
    ids = unprivileged_ids(settings)
    launcher = [sys.executable, "-c", LAUNCHER, cgroup, str(settings.limits.processes), *map(str, ids or ("", ""))]
    python = [sys.executable, "-I", "-c", boot]
    if not settings.use_bwrap:
        return launcher + python, {**os.environ, **environment(private_home)}
    bwrap = [shutil.which("bwrap") or "bwrap", *view(jobs_dir, settings.hide, mpl_cache), "--"]
    return launcher + bwrap + python, None
