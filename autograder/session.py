"""A Session: the trusted side's RPC with one student's kernel (its other side is kernel/server.py).

Messages go in batches (a frame holds a pickled list): ("req", ...) is a request the test waits for,
("post", ...) one it does not (an operator on a student's object), ("cbret"/"cberr", ...) the answer
to a function of the test that student code called, ("mirror", ...) a test's change to a linked
tensor (links.py), ("sync", ...) the end of a resync. Answers are JSON and buffers, decoded strictly
(wire.py): ("ok", id, value, write-back, tensor changes), ("err", id, class names, message, trace),
("perr", ...) for a post that failed, ("cb", ...) a call of a test's function, ("synced", token).

Every wait has the cell's deadline (`deadline`, time.monotonic). At the deadline the kernel is
interrupted (SIGINT) and has GRACE seconds to answer; then CellTimeout (a BaseException: `except
Exception` in a test does not swallow it). A kernel that closes its end, or sends what is not a
message, raises KernelDied. An exception raised in student code comes back as the builtin exception
of the same kind with its message cut to a short first line, marked as the student's
(`remote.student_origin`). A function the test defined never goes to the kernel: it stays here and
the kernel calls back, with data (runs under the kernel's grad mode; only the exception's kind goes
back, never its message, which may quote the test).
"""
from __future__ import annotations

import builtins
import json
import pickle
import socket
import time
import weakref

import torch

from .kernel import frames
from .links import TensorLinks, write_back
from .remote import CellTimeout, KernelDied, Remote, StudentOrigin
from .wire import MAX_MESSAGE_BYTES, Decoder, ProtocolError, frame_header, short, write_message

_UNSAFE_TO_RAISE = (SystemExit, KeyboardInterrupt, GeneratorExit)
GRACE = 5.0    # seconds an interrupted kernel has to answer before it is taken for dead


def _builtin_exception(names: list[str]) -> type:
    for name in names:
        if isinstance(name, str) and name.startswith("builtins."):
            cls = getattr(builtins, name[len("builtins."):], None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                return RuntimeError if issubclass(cls, _UNSAFE_TO_RAISE) or not issubclass(cls, Exception) else cls
    return RuntimeError


class Session(TensorLinks):
    def __init__(self, sock: socket.socket, interrupt=None):
        self.sock, self.interrupt = sock, interrupt   # interrupt(): send SIGINT to the kernel
        self.reader = frames.Reader(sock)
        self.decoder = Decoder(self._ref, self.mirror_in)
        self.proxies: dict[int, weakref.ref] = {}
        self.pending_release: list[int] = []
        self.callbacks: dict[int, object] = {}
        self.callback_ids: dict[int, int] = {}
        self.next_id, self.next_promise, self.abandoned = 0, 0, set()
        self.outbox: list[bytes] = []
        self.mirrors: dict[int, list] = {}     # mirror id -> [weakref to a test's tensor, its last state]
        self.mirror_ids: dict[int, int] = {}
        self.kept: dict[int, object] = {}
        self.next_mirror = 0
        self.out_buffers: list[bytes] = []
        self.deadline: float | None = None
        self.broken = self.dirty = self.interrupted = False
        self.post_error: BaseException | None = None
        self.posted = 0                  # operations sent since the last answer
        self.orphans: list[int] = []     # callbacks the kernel still waits for (the test gave up on them)
        self.requests = 0

    # ---- the proxies -------------------------------------------------------------------------------

    @staticmethod
    def is_remote(obj) -> bool:
        return type(obj) is Remote

    @staticmethod
    def handle_of(obj) -> int:
        return object.__getattribute__(obj, "_Remote__handle")

    def _ref(self, handle: int, type_name: str):
        if handle in self.pending_release:
            self.pending_release.remove(handle)
        found = self.proxies.get(handle)
        proxy = found() if found is not None else None
        if proxy is None:
            proxy = Remote(self, handle, type_name)
            self.proxies[handle] = weakref.ref(proxy)
        return proxy

    def release(self, handle: int) -> None:
        self.proxies.pop(handle, None)
        self.pending_release.append(handle)

    def callback_id(self, obj, fn=None) -> int:
        """The id under which the kernel calls `fn` (default: `obj` itself), kept for the whole submission."""
        key = id(obj)
        if key not in self.callback_ids:
            self.callback_ids[key] = len(self.callbacks) + 1
            self.callbacks[self.callback_ids[key]] = (obj, fn or obj)    # kept alive: the kernel may call it later
        return self.callback_ids[key]

    def _queue(self, *head, payload=None) -> None:
        """Queue a message: `head` is plain (kind, ids...), `payload` (the operation and its arguments, or
        a callback's result) is pickled apart, so that the kernel can say which message it could not read."""
        if head[0] in ("req", "post", "cbret"):
            self._sync_mirrors()
            try:
                head = (*head, write_message(payload, self, self.out_buffers))
            except Exception as exc:
                raise TypeError(f"a test sent student code something that cannot go there: {exc}") from None
        self.outbox.append(pickle.dumps(head))

    def request(self, op: str, *args):
        """Send `op` and wait for its answer. At the deadline the kernel is interrupted (SIGINT) and given
        GRACE seconds: its answer then raises CellTimeout, except for "cell", whose outputs (with the
        KeyboardInterrupt) come back with `interrupted` set. No answer by then: KernelDied."""
        if self.broken:
            raise KernelDied("the kernel stopped answering earlier")
        self.next_id += 1
        rid = self.next_id
        released, self.pending_release = self.pending_release, []
        self._queue("req", rid, released, torch.is_grad_enabled(), payload=(op, args))
        self._flush_outbox()
        self.requests += 1
        try:
            value = self._wait(rid, args if op in ("call", "beside") else None, op)
        except BaseException:
            self.abandoned.add(rid)
            self.dirty = True
            raise
        finally:
            self.posted = 0
        error, self.post_error = self.post_error, None
        if error is not None:      # an operation the test did not wait for raised: it surfaces here
            raise error
        return value

    def post(self, op: str, *args) -> "Remote":
        """Send `op` without waiting: its result stays in the kernel, under a handle chosen here (an operator
        on a student's object, whose result is another). If it raises, using the result raises, and so
        does the next request (or the end of the test cell, see flush)."""
        if self.broken:
            raise KernelDied("the kernel stopped answering earlier")
        self.next_id += 1
        self.next_promise -= 1
        released, self.pending_release = self.pending_release, []
        self._queue("post", self.next_id, self.next_promise, released, torch.is_grad_enabled(), payload=(op, args))
        self.posted += 1
        if len(self.outbox) >= 256:
            self._flush_outbox()
        return self._ref(self.next_promise, "?")

    def flush(self) -> None:
        """Wait for every operation sent so far; raise if one of them raised."""
        if self.posted or self.outbox:
            self.request("ping")

    def _flush_outbox(self) -> None:
        messages, buffers, self.outbox, self.out_buffers = self.outbox, self.out_buffers, [], []
        self._send(frame_header(messages), buffers)

    def _send(self, header: bytes, buffers) -> None:
        try:
            self.sock.settimeout(self._remaining())
            frames.send(self.sock, header, buffers)
        except socket.timeout:
            self.broken = True
            raise CellTimeout() from None
        except OSError as exc:
            self.broken = True
            raise KernelDied(f"the kernel is gone ({exc})") from None

    def _send_now(self, *head) -> None:
        self._queue(*head)
        self._flush_outbox()

    def _remaining(self) -> float | None:
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CellTimeout()
        return left

    def receive(self) -> tuple[list, list[bytes]]:
        try:
            self.sock.settimeout(self._remaining())
            header, buffers = self.reader.recv(MAX_MESSAGE_BYTES)
            tree = json.loads(header)
        except socket.timeout:
            raise CellTimeout() from None
        except (frames.FrameError, OSError, ValueError, RecursionError) as exc:
            self.broken = True
            raise KernelDied(f"the kernel closed the connection or sent a broken message ({exc})") from None
        if type(tree) is not list or not tree or type(tree[0]) is not str:
            self.broken = True
            raise KernelDied("the kernel sent a message that is not one")
        return tree, buffers

    def _wait(self, rid: int, args, op: str):
        interrupted = False
        while True:
            try:
                tree, buffers = self.receive()
            except CellTimeout:
                if interrupted or self.interrupt is None:
                    self.broken = True
                    raise KernelDied("the kernel did not stop when interrupted at its time limit") from None
                self.interrupt()
                interrupted = True
                self.deadline = time.monotonic() + GRACE
                continue
            kind = tree[0]
            if kind in ("ok", "err") and len(tree) >= 2 and tree[1] != rid and tree[1] in self.abandoned:
                continue
            try:
                if kind == "ok" and len(tree) == 5 and tree[1] == rid:
                    value = self.decoder.decode(tree[2], buffers)
                    self._apply_mirrors(tree[4], buffers)
                    if interrupted and op != "cell":
                        raise CellTimeout()
                    self.interrupted = interrupted
                    if args is not None and type(tree[3]) is list:
                        self._write_back(tree[3], buffers, args[-2], args[-1])
                    return value
                if kind == "err" and len(tree) == 5 and tree[1] == rid:
                    if interrupted:
                        raise CellTimeout()
                    raise self._exception(tree[2], tree[3], tree[4])
                if kind == "perr" and len(tree) == 5:
                    if self.post_error is None and not interrupted:
                        self.post_error = self._exception(tree[2], tree[3], tree[4])
                    continue
                if kind == "cb" and len(tree) == 7:
                    self._apply_mirrors(tree[5], buffers)
                    self._callback(tree, buffers)
                    continue
            except ProtocolError as exc:
                self.broken = True
                raise KernelDied(f"the kernel sent data that is not plain ({exc})") from None
            self.broken = True
            raise KernelDied(f"the kernel answered out of turn ({str(kind)[:20]})")

    def _exception(self, names, message, trace) -> BaseException:
        if type(names) is not list or type(message) is not str or type(trace) is not str:
            raise ProtocolError("a malformed error")
        cls = _builtin_exception(names)
        text = short(message)
        try:
            exc = cls(text)
        except Exception:
            exc = RuntimeError(text)
        exc._student_origin = StudentOrigin([n for n in names if type(n) is str], message, trace)
        return exc

    def _write_back(self, entries, buffers, pos, kw) -> None:
        for entry in entries:
            if type(entry) is not list or len(entry) != 3:
                raise ProtocolError("a malformed write-back")
            key, tree, extra = entry
            target = pos[key] if type(key) is int and 0 <= key < len(pos) else kw.get(key) if type(key) is str else None
            write_back(target, self.decoder.decode(tree, buffers))

    def _callback(self, tree, buffers) -> None:
        _, token, cb_id, args_tree, kwargs_tree, _, grad = tree
        fn = self.callbacks.get(cb_id, (None, None))[1] if type(cb_id) is int else None
        args, kwargs = self.decoder.decode(args_tree, buffers), self.decoder.decode(kwargs_tree, buffers)
        if fn is None or type(args) is not list or type(kwargs) is not dict or not all(type(k) is not int for k in kwargs):
            raise ProtocolError("a malformed call of a test's function")
        name = getattr(fn, "__qualname__", "?")
        try:
            with torch.set_grad_enabled(grad is not False):     # the kernel's grad mode where it called
                result = fn(*args, **{str.__str__(k): v for k, v in kwargs.items()})
            self._queue("cbret", token, payload=result)
        except Exception as exc:   # its message may quote the test: only the kind goes to the kernel
            kind = type(exc).__name__ if getattr(builtins, type(exc).__name__, None) is type(exc) else "RuntimeError"
            self._queue("cberr", token, kind, f"{name} raised {kind}")
        except BaseException:      # the test's time ran out while its function ran: the kernel still waits
            self.orphans.append(token)
            self.dirty = True
            raise
        self._flush_outbox()

    def resync(self) -> None:
        """After a test gave up on a request (its time ran out in its own code, or in a function of its
        that student code called): interrupt the kernel and wait until it listens again. KernelDied if
        it does not within GRACE seconds (it ignores SIGINT, or loops on)."""
        if not self.dirty:
            return
        if self.broken:
            raise KernelDied("the kernel stopped answering")
        if self.interrupt is not None:
            self.interrupt()
        self.deadline = time.monotonic() + GRACE
        try:
            for token in reversed(self.orphans):
                self._queue("cberr", token, "RuntimeError", "the test stopped waiting")
            self.orphans = []
            self._send_now("sync", self.next_id)
            while True:
                tree, _ = self.receive()
                if tree[0] == "synced" and tree[1:] == [self.next_id]:
                    self.dirty, self.post_error, self.posted = False, None, 0
                    return
                if tree[0] == "cb" and len(tree) == 7:
                    self._send_now("cberr", tree[1], "RuntimeError", "the test stopped waiting")
        except CellTimeout:
            self.broken = True
            raise KernelDied("the kernel did not stop when interrupted at its time limit") from None
        finally:
            self.deadline = None
