"""The kernel's side of the RPC: the trusted side asks, this process does it and answers.

Requests come as pickled batches (lists), each run under the test's grad mode; each message's payload
(operation and arguments) is pickled apart, so that one that cannot be read is answered as an error.
("req", id, released handles, grad mode, (op, args)) is answered with
JSON + buffers: ("ok", id, value, write-back) or ("err", id, [exception class names], message,
traceback). ("post", id, handle, released, grad mode, (op, args)) is not answered: its result is kept under the
handle the trusted side chose (an operator on a student's object, whose result the test did not
wait for); if it raises, the handle holds the failure (using it raises again) and the first such
failure since the last request is sent as ("perr", id, ...).
While a request runs, student code may call a function of the test (a Callback): this side then
sends ("cb", token, callback id, args, kwargs, tensor changes, grad mode) and serves nested requests
(the test's function runs under this side's grad mode) until ("cbret", token,
value) or ("cberr", token, name) comes back. ("sync", token) is answered ("synced", token) from any
loop: after a timeout the trusted side interrupts the kernel (SIGINT) and waits for it.

Tensors a test sends stay linked ("mirrors"): a change made here (in place, a new .data, .grad or
requires_grad) goes back with the next answer, and a change the test makes comes before its next
request. An argument that came by value and is an array, list, dict, set or bytearray is compared
before and after a call; if the call changed it, its new value goes back with the reply (write-back).
So "inputs unchanged" stays checkable, and a student's optimizer moves the test's parameters.
"""
from __future__ import annotations

import builtins
import collections
import contextlib
import importlib
import json
import operator
import os
import signal
import sys
import threading
import traceback
import weakref

from . import frames
from .encode import (Encoder, Failure, Handles, read_request, set_tensor, split_frame, tensor_from, tensor_state,
                     type_name)

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
        self.encoder = Encoder(self.handles, self.mirror_of)
        self.pid = os.getpid()
        self.tokens = 0
        self.reported = False        # a failed posted operation was reported since the last request
        self.sending = self.interrupted = False
        self.mirrors: dict[int, list] = {}    # mirror id -> [weakref to the kernel's copy, its last state]
        self.mirror_ids: dict[int, int] = {}
        self.next_mirror = 0                  # ids this side gives (a parameter sent out): negative
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        if self.sending:             # never leave half a message on the wire
            self.interrupted = True
            return
        raise KeyboardInterrupt

    # ---- tensors shared with the test (mirrors) ------------------------------------------------------

    def mirror_get(self, mirror: int):
        entry = self.mirrors.get(mirror)
        return entry[0]() if entry is not None else None

    def mirror_add(self, mirror: int, t) -> None:
        self.mirrors[mirror] = [weakref.ref(t), tensor_state(t)]
        self.mirror_ids[id(t)] = mirror

    def mirror_of(self, t, parameter: bool):
        """The link of `t` if it came from the test; a new one for a parameter (the test may change it in
        place, as tests do with a model's weights); None for anything else (a plain copy goes)."""
        mirror = self.mirror_ids.get(id(t))
        entry = self.mirrors.get(mirror)
        if entry is not None and entry[0]() is t:
            return mirror
        if not parameter:
            return None
        self.next_mirror -= 1
        self.mirror_add(self.next_mirror, t)
        return self.next_mirror

    def mirror_changes(self, enc: Encoder) -> list:
        """[mirror id, data, requires_grad, grad] of every linked tensor changed here since the last report."""
        changes = []
        for mirror, entry in list(self.mirrors.items()):
            t = entry[0]()
            if t is None:               # the kernel let go of its copy: the test need not send changes
                del self.mirrors[mirror]
                changes.append([mirror, None, None, None])
                continue
            state = tensor_state(t)
            if state != entry[1]:
                entry[1] = state
                grad = t.grad if t.is_leaf else None
                changes.append([mirror, enc.value(t.detach()), bool(t.requires_grad),
                                None if grad is None else enc.value(grad.detach())])
        return changes

    def _mirror_update(self, message) -> None:
        _, mirror, data, requires_grad, grad, buffers = message
        t = self.mirror_get(mirror)
        if t is not None:
            set_tensor(t, tensor_from(buffers[data[0]], *data[1:]), requires_grad,
                       None if grad is None else tensor_from(buffers[grad[0]], *grad[1:]))
            self.mirrors[mirror][1] = tensor_state(t)

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
        message, failure = read_request(message, buffers, self)    # failure: of a handle it uses
        if message[0] == "mirror":
            return (*message, buffers), None
        return message, failure

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
        if kind == "mirror":
            self._mirror_update(message)
        elif kind == "sync":
            self.interrupted = False
            self._write(["synced", message[1]], [])
        elif kind == "post":
            _, rid, handle, released, grad, payload = message
            op, args = payload or (None, None)
            self.handles.release(released)
            try:
                if failure is not None:
                    raise failure
                with _grad_mode(grad):
                    self.handles.assign(handle, self.dispatch(op, args)[0])
            except BaseException as exc:   # noqa: B036  (student code may raise anything)
                if os.getpid() != self.pid:
                    os._exit(0)
                self.handles.assign(handle, Failure(exc))
                if not self.reported:
                    self.reported = True
                    self._write(["perr", rid, *error_info(exc)], [])
        elif kind == "req":
            _, rid, released, grad, payload = message
            op, args = payload or (None, None)
            self.handles.release(released)
            self.reported = False
            try:
                if failure is not None:
                    raise failure
                with _grad_mode(grad if op != "cell" else None):
                    value, writeback = self.dispatch(op, args)
                enc = self.encoder.begin()
                tree = ["ok", rid, enc.handle(value) if op == "keep" else enc.value(value),
                        [[key, enc.value(v), None] for key, v in writeback], self.mirror_changes(enc)]
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
        enc = self.encoder.begin()
        torch = sys.modules.get("torch")
        grad = torch.is_grad_enabled() if torch is not None else True
        self._write(["cb", token, cb_id, enc.value(list(args)), enc.value(dict(kwargs)), self.mirror_changes(enc),
                     grad], enc.buffers)
        if self.interrupted:
            self.interrupted = False
            raise KeyboardInterrupt
        while True:
            message, failure = self.receive()
            if message[0] in ("cbret", "cberr") and message[1] == token:
                if message[0] == "cbret":
                    if failure is not None:
                        raise failure
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
            if not (getattr(fn, "__beside_student_code__", False) or module.split(".")[0] == "course_lib"):
                raise TypeError(f"{module}.{qualname} is not a course_lib function")
            return self._with_writeback(fn, pos, kw)
        return getattr(self, f"op_{op}")(*args), []

    def _with_writeback(self, fn, pos, kw):
        watched = [(i, v, snapshot(v)) for i, v in enumerate(pos) if not self._held(v)]
        watched += [(k, v, snapshot(v)) for k, v in kw.items() if not self._held(v)]
        result = fn(*pos, **kw)
        return result, [(key, v) for key, v, snap in watched if snap is not None and snapshot(v) != snap]

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


@contextlib.contextmanager
def _grad_mode(enabled):
    """A test's call runs under the test's grad mode (its `with torch.no_grad():` reaches student code)."""
    torch = sys.modules.get("torch")
    if torch is None or enabled is None or torch.is_grad_enabled() == enabled:
        yield
        return
    with torch.set_grad_enabled(enabled):
        yield


def snapshot(v):
    """Enough of a by-value argument to tell whether a call changed it (None: not watched). Tensors are
    not here: a test's tensor is linked to its kernel copy (mirrors)."""
    t = type(v)
    np = sys.modules.get("numpy")
    if np is not None and t is np.ndarray:
        return ("A", v.shape, v.dtype.str, v.tobytes())
    if t in (list, dict, set, bytearray):
        enc = Encoder(Handles()).begin()
        tree = enc.value(v)
        return ("C", json.dumps(tree), b"".join(enc.buffers))
    return None
