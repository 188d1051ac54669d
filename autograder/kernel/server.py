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
import json
import os
import signal
import sys
import threading
import traceback
import weakref

from . import frames
from .encode import Encoder, Failure, Handles, set_tensor, tensor_from, tensor_state
from .ops import Operations, _grad_mode
from .requests import read_request, split_frame

MAX_MESSAGE = 20_000
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


class Server(Operations):
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

