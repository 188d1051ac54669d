"""Requests arriving in the kernel from the trusted side (which this side trusts: they are pickles).

A message's head is plain (kind, ids, grad mode); its payload (the operation and its arguments, or a
callback's result) is pickled apart and read when its turn comes, since it may use handles that the
messages before it filled. In a payload, proxies and the trusted side's own functions, generators and
objects of its own classes are persistent ids ("ref", handle), ("cb", id, name), ("cbiter", id, name)
and ("cbobj", id, name): those stay on the trusted side, and using them here calls back. A test's
tensor arrives as ("tensor", (buffer, dtype, shape), requires_grad, link id, grad, is_parameter): the
kernel's copy stays linked to the test's (server.mirrors), so a change on either side reaches the other.
"""
from __future__ import annotations

import io
import pickle
import sys

from .encode import tensor_from


class Callback:
    """A function that lives on the trusted side (defined by a test): calling it asks the trusted side
    to run it with these arguments (sent as plain data or handles) and gives back what it returns."""

    def __init__(self, server, cb_id: int, name: str):
        self._server, self._id, self.__name__ = server, cb_id, name
        self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._server.callback(self._id, args, kwargs)

    def __repr__(self):
        return f"<the test's function {self.__name__}>"


class CallbackObject:
    """An object of a class a test defined (a model made for a hidden test, say): it lives on the
    trusted side; calling it, reading or setting its attributes, indexing and iterating it ask there."""

    def __init__(self, server, cb_id: int, name: str):
        object.__setattr__(self, "_CallbackObject__ask", lambda *request: server.callback(cb_id, request, {}))
        object.__setattr__(self, "_CallbackObject__name", name)

    def __call__(self, *args, **kwargs):
        return self.__ask("call", args, kwargs)

    def __getattr__(self, name):
        return self.__ask("getattr", name)

    def __setattr__(self, name, value):
        self.__ask("setattr", name, value)

    def __getitem__(self, key):
        return self.__ask("item", key)

    def __len__(self):
        return self.__ask("len")

    def __iter__(self):
        return iter(self.__ask("list"))

    def __repr__(self):
        return f"<the test's {self.__name}>"


class CallbackIterator(Callback):
    """An iterator (a generator) that lives on the trusted side: each next() asks for the next item."""

    def __iter__(self):
        return self

    def __next__(self):
        return self._server.callback(self._id, (), {})


class RequestUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, buffers: list[bytes], server):
        super().__init__(io.BytesIO(data))
        self.buffers, self.server, self.tensors = buffers, server, {}
        self.failure: BaseException | None = None     # a handle it used holds a failure, or is gone

    def persistent_load(self, pid):
        kind = pid[0]
        if kind == "ref":
            try:
                return self.server.handles.get(pid[1])
            except BaseException as exc:    # noqa: B036  (the failure of the operation that made it)
                self.failure = self.failure or exc
                return None
        if kind == "cb":
            return Callback(self.server, pid[1], pid[2])
        if kind == "tensor":      # a test's tensor: the kernel's copy stays linked to it (server.mirrors)
            _, data, requires_grad, mirror, grad, parameter = pid
            t = self.server.mirror_get(mirror)
            if t is None:
                t = tensor_from(self.buffers[data[0]], *data[1:])
                if parameter:
                    t = sys.modules["torch"].nn.Parameter(t, requires_grad=requires_grad)
                elif requires_grad:
                    t.requires_grad_(True)
                if grad is not None:
                    t.grad = tensor_from(self.buffers[grad[0]], *grad[1:])
                self.server.mirror_add(mirror, t)
            return t
        if kind == "cbiter":
            return CallbackIterator(self.server, pid[1], pid[2])
        if kind == "cbobj":
            return CallbackObject(self.server, pid[1], pid[2])
        raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")


def split_frame(data: bytes) -> list[bytes]:
    """The messages of one frame: a pickled list of pickled messages (they share the frame's buffers)."""
    return pickle.loads(data)


def read_request(message: bytes, buffers: list[bytes], server):
    """(message, failure): one message, read when its turn comes (its payload may use handles the ones
    before it filled); failure: why its payload could not be read (a handle that holds a failure)."""
    head = pickle.loads(message)
    if head[0] not in ("req", "post", "cbret"):
        return head, None
    unpickler = RequestUnpickler(head[-1], buffers, server)
    try:
        payload = unpickler.load()
    except Exception as exc:     # noqa: BLE001  (said to the trusted side as this message's error)
        return (*head[:-1], None), exc
    return (*head[:-1], payload), unpickler.failure
