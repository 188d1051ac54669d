"""The kernel's side of the RPC: the trusted side asks, this process does it and answers.

Requests come as pickled batches (lists). ("req", id, released handles, op, args) is answered with
JSON + buffers: ("ok", id, value, write-back) or ("err", id, [exception class names], message,
traceback). ("post", id, handle, released, op, args) is not answered: its result is kept under the
handle the trusted side chose (an operator on a student's object, whose result the test did not
wait for); if it raises, the handle holds the failure (using it raises again) and the first such
failure since the last request is sent as ("perr", id, ...).
While a request runs, student code may call a function of the test (a Callback): this side then
sends ("cb", token, callback id, args, kwargs) and serves nested requests until ("cbret", token,
value) or ("cberr", token, name) comes back. ("sync", token) is answered ("synced", token) from any
loop: after a timeout the trusted side interrupts the kernel (SIGINT) and waits for it.

Write-back: an argument that came by value and is a tensor, array, list, dict, set or bytearray is
compared before and after a call; if the call changed it, its new value goes back with the reply so
that the test's own object changes too ("inputs unchanged" stays checkable).
"""
from __future__ import annotations

import builtins
import collections
import importlib
import json
import operator
import os
import signal
import sys
import threading
import traceback

from . import frames
from .encode import Encoder, Failure, Handles, read_request, split_frame, type_name

BINARY = {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lshift", "rshift", "and_", "or_",
          "xor", "lt", "le", "eq", "ne", "gt", "ge", "iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow",
          "imatmul", "iand", "ior", "ixor", "ilshift", "irshift", "divmod"}
UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": abs, "invert": operator.invert, "index": operator.index,
         "len": len, "bool": bool, "iter": iter, "next": next, "repr": repr, "str": str, "float": float, "int": int,
         "complex": complex, "hash": hash, "dir": dir, "round": round, "type": type, "reversed": reversed}
MAX_MESSAGE = 20_000
PLAIN = (type(None), bool, int, float, complex, str, bytes)
_main_thread = threading.main_thread()


def error_info(exc: BaseException) -> list:
    names = [f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__][:20]
    try:
        message = str(exc)
    except Exception:
        message = ""
    try:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        trace = ""
    return [names, message[:MAX_MESSAGE], trace[-MAX_MESSAGE:]]


class Server:
    def __init__(self, sock, shell=None, guard=None):
        self.sock, self.shell, self.guard = sock, shell, guard
        self.reader = frames.Reader(sock)
        self.queue: collections.deque = collections.deque()
        self.handles = Handles()
        self.encoder = Encoder(self.handles)
        self.pid = os.getpid()
        self.tokens = 0
        self.reported = False        # a failed posted operation was reported since the last request
        self.sending = self.interrupted = False
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        if self.sending:             # never leave half a message on the wire
            self.interrupted = True
            return
        raise KeyboardInterrupt

    # ---- messages -------------------------------------------------------------------------------

    def send(self, *fields, values=()) -> None:
        enc = self.encoder.begin()
        tree = [*fields, *[enc.value(v) for v in values]]
        self._write(tree, enc.buffers)

    def _write(self, tree, buffers) -> None:
        if os.getpid() != self.pid:   # a child the student forked: it must not answer
            os._exit(0)
        header = json.dumps(tree, ensure_ascii=True).encode()
        self.sending = True
        try:
            frames.send(self.sock, header, buffers)
        finally:
            self.sending = False

    def receive(self):
        """The next message: the trusted side sends them in batches (a pickled list)."""
        while not self.queue:
            header, buffers = self.reader.recv()
            self.queue.extend((message, buffers) for message in split_frame(header))
        message, buffers = self.queue.popleft()
        return read_request(message, buffers, self)    # (message, failure of a handle it uses)

    def serve(self) -> None:
        """Answer requests until the grader closes the connection."""
        while True:
            try:
                message = self.receive()
            except (frames.FrameError, OSError):
                return
            except KeyboardInterrupt:
                continue
            self.handle(*message)

    def handle(self, message, failure=None) -> None:
        kind = message[0]
        if kind == "sync":
            self.interrupted = False
            self._write(["synced", message[1]], [])
        elif kind == "post":
            _, rid, handle, released, op, args = message
            self.handles.release(released)
            try:
                if failure is not None:
                    raise failure
                self.handles.assign(handle, self.dispatch(op, args)[0])
            except BaseException as exc:   # noqa: B036  (student code may raise anything)
                if os.getpid() != self.pid:
                    os._exit(0)
                self.handles.assign(handle, Failure(exc))
                if not self.reported:
                    self.reported = True
                    self._write(["perr", rid, *error_info(exc)], [])
        elif kind == "req":
            _, rid, released, op, args = message
            self.handles.release(released)
            self.reported = False
            try:
                if failure is not None:
                    raise failure
                value, writeback = self.dispatch(op, args)
                enc = self.encoder.begin()
                tree = ["ok", rid, enc.handle(value) if op == "keep" else enc.value(value),
                        [[key, enc.value(v), extra if extra is None else [extra[0], enc.value(extra[1])]]
                         for key, v, extra in writeback]]
                self._write(tree, enc.buffers)
            except BaseException as exc:   # noqa: B036  (student code may raise anything; the reply says so)
                if os.getpid() != self.pid:   # a child the student forked: it must not answer
                    os._exit(0)
                self._write(["err", rid, *error_info(exc)], [])

    def callback(self, cb_id: int, args, kwargs):
        """Run the test's function `cb_id` on the trusted side (called by encode.Callback)."""
        if threading.current_thread() is not _main_thread or os.getpid() != self.pid:
            raise RuntimeError("a test's function can only be called from the notebook's main thread")
        self.tokens += 1
        token = self.tokens
        self.send("cb", token, cb_id, values=(list(args), dict(kwargs)))
        if self.interrupted:
            self.interrupted = False
            raise KeyboardInterrupt
        while True:
            message, failure = self.receive()
            if message[0] in ("cbret", "cberr") and message[1] == token:
                if message[0] == "cbret":
                    return message[2]
                exc = getattr(builtins, message[2], None)
                exc = exc if isinstance(exc, type) and issubclass(exc, Exception) else RuntimeError
                raise exc(f"the test's function {message[3]}")
            self.handle(message, failure)

    # ---- operations -----------------------------------------------------------------------------

    def dispatch(self, op: str, args):
        if op == "call":
            fn, pos, kw = args
            return self._with_writeback(fn, pos, kw)
        if op == "beside":
            module, qualname, pos, kw = args
            fn = importlib.import_module(module)
            for part in qualname.split("."):
                fn = getattr(fn, part)
            if not getattr(fn, "__beside_student_code__", False):
                raise TypeError(f"{module}.{qualname} is not marked @beside_student_code")
            return self._with_writeback(fn, pos, kw)
        return getattr(self, f"op_{op}")(*args), []

    def _with_writeback(self, fn, pos, kw):
        watched = [(i, v, snapshot(v)) for i, v in enumerate(pos) if not self._held(v)]
        watched += [(k, v, snapshot(v)) for k, v in kw.items() if not self._held(v)]
        watched = [w for w in watched if w[2] is not None]
        result = fn(*pos, **kw)
        back = []
        for key, v, snap in watched:
            if snapshot(v) != snap:
                grad = getattr(v, "grad", None) if snap[0] == "T" else None
                back.append((key, v, (bool(v.requires_grad), grad) if snap[0] == "T" else None))
        return result, back

    def _held(self, v) -> bool:
        handle = self.handles.by_id.get(id(v))
        return handle is not None and self.handles.objects.get(handle) is v

    def op_global(self, name):
        namespace = self.shell.user_ns if self.shell is not None else {}
        if name not in namespace:
            raise NameError(f"name {name!r} is not defined")
        return namespace[name]

    def op_getattr(self, obj, name):
        return getattr(obj, name)

    def op_setattr(self, obj, name, value):
        setattr(obj, name, value)

    def op_delattr(self, obj, name):
        delattr(obj, name)

    def op_item(self, obj, key):
        return obj[key]

    def op_setitem(self, obj, key, value):
        obj[key] = value

    def op_delitem(self, obj, key):
        del obj[key]

    def op_contains(self, obj, item):
        return item in obj

    def op_binary(self, name, a, b):
        if name not in BINARY:
            raise ValueError(name)
        return divmod(a, b) if name == "divmod" else getattr(operator, name)(a, b)

    def op_unary(self, name, a):
        return UNARY[name](a)

    def op_format(self, obj, spec):
        return format(obj, spec)

    def op_isinstance(self, obj, cls):
        return isinstance(obj, cls)

    def op_issubclass(self, cls, base):
        return issubclass(cls, base)

    def op_keep(self, obj):
        return obj

    def op_plain(self, obj, depth=0):
        """`obj` as plain data: a tensor or array subclass as a plain copy of its data (not what its methods
        say), lists and tuples element by element; anything else that is not plain data is an error."""
        torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
        if torch is not None and isinstance(obj, torch.Tensor):
            with torch._C.DisableTorchFunctionSubclass():
                return torch.Tensor.as_subclass(obj, torch.Tensor).detach().clone()
        if np is not None and isinstance(obj, np.ndarray):
            return np.ndarray.view(obj, np.ndarray).copy()
        if type(obj) in (list, tuple) and depth < 20:
            return type(obj)(self.op_plain(x, depth + 1) for x in obj)
        if type(obj) in PLAIN or np is not None and isinstance(obj, np.generic) and type(obj).__module__ == "numpy":
            return obj
        raise TypeError(f"expected an array or tensor, got {type_name(obj)}")

    def op_cell(self, source, label):
        result = self.shell.run(source)
        if self.guard is not None:
            result["flags"] = self.guard.check()
        return result

    def op_ping(self):
        return None

    def op_check(self):
        return self.guard.check() if self.guard is not None else []


def snapshot(v):
    """Enough of a by-value argument to tell whether a call changed it (None: not watched)."""
    t = type(v)
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
    if torch is not None and t is torch.Tensor:
        grad = v.grad
        return ("T", v._version, v.data_ptr(), tuple(v.shape), v.dtype, v.requires_grad,
                None if grad is None else (id(grad), grad._version))
    if np is not None and t is np.ndarray:
        return ("A", v.shape, v.dtype.str, v.tobytes())
    if t in (list, dict, set, bytearray):
        enc = Encoder(Handles()).begin()
        tree = enc.value(v)
        return ("C", json.dumps(tree), b"".join(enc.buffers))
    return None
