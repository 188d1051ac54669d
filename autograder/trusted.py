"""Where a graded test cell runs: the grader's own process, in a namespace of its own.

The namespace holds what the instructor's cells bind: the released notebook's import statements
(run here, so `assert_close`, `torch` and `course_lib.gpt` are the grader's) and whatever the test
cells and read-only helper cells define. Any other name a test reads is looked up in the student's
kernel when it is read (the builtins' `__missing__`): plain data, or a Remote. Real builtins come
first, so a student's `sum` or `isinstance` never replaces the test's. `isinstance`, `issubclass`
and `type` of a Remote ask the kernel (the answer is a bool, or a Remote for the class).

`run_test` executes one cell's source under the cell's deadline (SIGALRM stops a loop in the test's
own code; the Session's waits stop a call into student code) and says how it ended: passed, or the
exception with where it was raised (a line of the visible part, of the hidden part, or student code).
"""
from __future__ import annotations

import builtins
import contextlib
import io
import signal
import time
import traceback
from dataclasses import dataclass

from .remote import CellTimeout, KernelDied, Remote, student_origin, type_name
from .session import Session
from .wire import short

_isinstance, _issubclass, _type = builtins.isinstance, builtins.issubclass, builtins.type


def _involves_remote(cls) -> bool:
    if _type(cls) is Remote or cls is TypeOf:
        return True
    return _type(cls) is tuple and any(_involves_remote(c) for c in cls)


class _TypeOfMeta(type):
    """`type(x)` in a test: the kernel's class (a Remote) for a Remote, the real type otherwise."""

    session: Session | None = None

    def __call__(cls, *args, **kwargs):
        if len(args) == 1 and not kwargs and _type(args[0]) is Remote:
            return cls.session.request("unary", "type", args[0])
        return _type(*args, **kwargs)

    def __instancecheck__(cls, obj):
        return _isinstance(obj, _type)

    def __subclasscheck__(cls, sub):
        return _issubclass(sub, _type)


class TypeOf(metaclass=_TypeOfMeta):
    pass


class TestBuiltins(dict):
    """Builtins of a test's namespace; a name found nowhere else is read from the student's kernel."""

    def __init__(self, session: Session):
        super().__init__(vars(builtins))
        self.session, self.cache = session, {}
        _TypeOfMeta.session = session

        def isinstance(obj, cls):
            if _type(obj) is Remote or _involves_remote(cls):
                if cls is TypeOf:
                    return _type(obj) is not Remote and _isinstance(obj, _type)
                return bool(session.request("isinstance", obj, _kernel_class(cls)))
            return _isinstance(obj, cls)

        def issubclass(cls, base):
            if _type(cls) is Remote or _involves_remote(base):
                return bool(session.request("issubclass", cls, _kernel_class(base)))
            return _issubclass(cls, base)

        self.update(isinstance=isinstance, issubclass=issubclass, type=TypeOf)

    def __missing__(self, name):
        if name in self.cache:
            return self.cache[name]
        try:
            value = self.session.request("global", name)
        except NameError:
            raise NameError(f"name {name!r} is not defined") from None
        self.cache[name] = value
        return value


def _kernel_class(cls):
    """What `isinstance` sends: Remotes as they are, TypeOf as `type`, tuples element by element."""
    if cls is TypeOf:
        return _type
    if _type(cls) is tuple:
        return tuple(_kernel_class(c) for c in cls)
    return cls


def new_namespace(session: Session) -> dict:
    return {"__name__": "__main__", "__builtins__": TestBuiltins(session)}


@dataclass
class Outcome:
    """How a trusted cell ended. kind: passed, failed (the test's own assertion or error), student (an
    exception from student code that the test let through), timeout, died (the kernel)."""
    kind: str
    ename: str = ""
    message: str = ""           # student-safe: a test's message, or a student's message cut short
    line: int | None = None     # the line of the cell the failure was raised at
    trace: str = ""             # for the instructor's graded notebook
    stdout: str = ""


class _Deadline:
    """SIGALRM at the deadline (plus a second, so that a wait in the Session times out first): stops a
    loop in the test's own code, whatever data student code returned to drive it."""

    def __init__(self, deadline: float):
        self.deadline = deadline

    def __enter__(self):
        def expire(signum, frame):
            raise CellTimeout()
        self.old = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, max(0.01, self.deadline - time.monotonic() + 1.0))

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)


def run_test(source: str, filename: str, namespace: dict, session: Session, deadline: float) -> Outcome:
    """Execute a trusted cell's source in `namespace` until `deadline`."""
    namespace["__builtins__"].cache.clear()
    out = io.StringIO()
    session.deadline = deadline
    try:
        code = compile(source, filename, "exec")
        with _Deadline(deadline), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            exec(code, namespace)
            session.flush()      # an operation the test did not wait for may still raise
    except CellTimeout:
        return Outcome("timeout", "TimeoutError", stdout=out.getvalue())
    except KernelDied as exc:
        return Outcome("died", "KernelDied", str(exc), _line(exc, filename), stdout=out.getvalue())
    except BaseException as exc:   # noqa: B036  (whatever a test raised, the test failed)
        origin = student_origin(exc)
        trace = "".join(traceback.format_exception(_type(exc), exc, exc.__traceback__))
        if origin is not None:
            text = f"{_type(exc).__name__}: {short(origin.message)}" if origin.message else _type(exc).__name__
            return Outcome("student", _type(exc).__name__, text, _line(exc, filename),
                           trace + "\n--- in the student's code ---\n" + origin.trace, out.getvalue())
        return Outcome("failed", _type(exc).__name__, _message(exc), _line(exc, filename), trace, out.getvalue())
    finally:
        _settle(session)
        session.deadline = None
    return Outcome("passed", stdout=out.getvalue())


def _settle(session: Session) -> None:
    """After a test that failed with operations still in flight: let them finish, forget their errors."""
    try:
        session.flush()
    except KernelDied:
        pass           # the runner's next request says so
    except BaseException:   # noqa: B036  (a timeout here: the runner resyncs the kernel)
        session.dirty = True
    session.post_error, session.posted = None, 0


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    return f"{_type(exc).__name__}: {text}" if text else _type(exc).__name__


def _line(exc: BaseException, filename: str) -> int | None:
    """The last line of the cell's own code in the traceback (where the test was when it failed)."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


class Grading:
    """What course_lib.testing calls while a notebook is graded (it is set as `course_lib.testing._grader`)."""

    def __init__(self, session: Session):
        self.session = session

    def is_remote(self, obj, depth: int = 0) -> bool:
        """`obj` is a Remote, or a list or tuple that holds one."""
        if _type(obj) is Remote:
            return True
        return _type(obj) in (list, tuple) and depth < 20 and any(self.is_remote(x, depth + 1) for x in obj)

    def student_side(self, obj):
        return self.session.request("keep", obj)

    def beside(self, fn, args, kwargs):
        return self.session.request("beside", fn.__module__, fn.__qualname__, args, kwargs)

    def plain(self, obj, name: str):
        try:
            return self.session.request("plain", obj)
        except TypeError:
            what = type_name(obj) if _type(obj) is Remote else "a value from your code that is not plain data"
            raise AssertionError(f"{name}: expected an array or tensor, got {what}") from None
