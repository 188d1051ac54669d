"""The trusted side of the wire: a strict decoder for what the kernel sends, and the encoder of requests.

The kernel is the student's process: whatever it sends is read as data and nothing else. Its
messages are JSON (parsed by the json module) plus raw buffers (autograder/kernel/encode.py lists the
tags); this decoder accepts only those tags, only listed dtypes, buffers whose sizes match their
shapes, and a bounded number of bytes. It never unpickles and never imports or calls anything named
by the kernel. Strings from the kernel become StudentStr: a str whose repr and format (what an
f-string in a test message uses) show one short line, so student text cannot fill a feedback page.

Requests go the other way as a pickle (the kernel trusts the grader, not the reverse), with tensors
as raw buffers and, as persistent ids, proxies ("ref", handle) and functions a test defined
("cb", id, name): those stay here and the kernel calls back to run them.
"""
from __future__ import annotations

import importlib
import io
import json
import pickle
import re
import sys
import types
from collections import OrderedDict

import numpy as np
import torch

from .kernel.encode import tensor_bytes

MAX_MESSAGE_BYTES = 1 << 29          # 512 MiB: far above any test's data, far below the grader's memory
SHORT = 160                          # characters of student text shown in a message

TORCH_DTYPES = {name: getattr(torch, name) for name in (
    "bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64", "float16", "bfloat16",
    "float32", "float64", "complex64", "complex128") if isinstance(getattr(torch, name, None), torch.dtype)}
NUMPY_DTYPE = re.compile(r"[<>|=]?(?:[biufc]\d{1,2}|[US]\d{1,9})")


class ProtocolError(Exception):
    """The kernel sent something that is not a well-formed message: it is not believed."""


def short(text: str, limit: int = SHORT) -> str:
    """The first line of `text`, at most `limit` characters."""
    line = str.partition(str(text), "\n")[0]
    return line if len(line) <= limit and line == text else line[:limit].rstrip() + " …"


class StudentStr(str):
    """A string that came from student code: equal to its text, shown cut to one short line."""

    def __repr__(self):
        return str.__repr__(short(self))

    def __format__(self, spec):
        return format(short(self), spec)


class Decoder:
    """Turns one message's JSON tree and buffers into values; `ref(handle, type_name)` makes proxies."""

    def __init__(self, ref, mirror=None):
        self.ref, self.mirror = ref, mirror     # mirror(id, tensor, requires_grad, grad, is_parameter) -> tensor

    def decode(self, tree, buffers: list[bytes]):
        self.buffers, self.used = buffers, set()
        return self._dec(tree)

    def _buffer(self, index) -> bytes:
        if type(index) is not int or not 0 <= index < len(self.buffers) or index in self.used:
            raise ProtocolError(f"bad buffer reference {index!r}")
        self.used.add(index)
        return self.buffers[index]

    @staticmethod
    def _shape(shape) -> list[int]:
        if type(shape) is not list or len(shape) > 64 or not all(type(n) is int and 0 <= n < 1 << 40 for n in shape):
            raise ProtocolError(f"bad shape {str(shape)[:80]}")
        return shape

    def _dec(self, v):
        t = type(v)
        if v is None or t is bool or t is int or t is float:
            return v
        if t is str:
            return StudentStr(v)
        if t is not list or not v or type(v[0]) is not str:
            raise ProtocolError(f"unexpected {t.__name__} in a message")
        tag, rest = v[0], v[1:]
        if tag in ("l", "t", "s", "fs"):
            items = [self._dec(x) for x in rest]
            return {"l": list, "t": tuple, "s": set, "fs": frozenset}[tag](items)
        if tag in ("d", "od"):
            out = {} if tag == "d" else OrderedDict()
            for pair in rest:
                if type(pair) is not list or len(pair) != 2:
                    raise ProtocolError("bad dict entry")
                out[self._dec(pair[0])] = self._dec(pair[1])
            return out
        if tag == "R" and len(rest) == 2 and type(rest[0]) is int and type(rest[1]) is str:
            return self.ref(rest[0], short(rest[1], 120))
        if tag in ("T", "P") and len(rest) == 6 and rest[1] in TORCH_DTYPES:
            t = self._tensor(self._buffer(rest[0]), TORCH_DTYPES[rest[1]], self._shape(rest[2]))
            mirror, requires_grad, grad = rest[3], rest[4], rest[5]
            if mirror is None or self.mirror is None:
                return t
            grad = None if grad is None else self._dec(grad)
            if type(mirror) is not int or type(requires_grad) is not bool or (grad is not None and type(grad) is not torch.Tensor):
                raise ProtocolError("a malformed tensor link")
            return self.mirror(mirror, t, requires_grad, grad, tag == "P")
        if tag in ("A", "N") and len(rest) == (3 if tag == "A" else 2):
            dtype = self._numpy_dtype(rest[1])
            data = self._buffer(rest[0])
            shape = self._shape(rest[2]) if tag == "A" else []
            if len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
                raise ProtocolError("an array whose bytes do not match its shape")
            array = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
            return array if tag == "A" else array[()]
        if tag in ("b", "ba") and len(rest) == 1:
            data = self._buffer(rest[0])
            return bytes(data) if tag == "b" else bytearray(data)
        if tag == "c" and len(rest) == 2 and all(type(x) in (int, float) for x in rest):
            return complex(rest[0], rest[1])
        if tag == "E" and not rest:
            return Ellipsis
        if tag in ("sl", "r") and len(rest) == 3 and all(type(x) in (int, type(None)) for x in rest):
            return slice(*rest) if tag == "sl" else range(*(x for x in rest if x is not None))
        if tag == "size" and all(type(n) is int for n in rest):
            return torch.Size(rest)
        if tag == "dt" and len(rest) == 1 and rest[0] in TORCH_DTYPES:
            return TORCH_DTYPES[rest[0]]
        if tag == "dev" and len(rest) == 1 and type(rest[0]) is str and re.fullmatch(r"[a-z]{2,10}(:\d{1,3})?", rest[0]):
            return torch.device(rest[0])
        if tag == "nd" and len(rest) == 1:
            return self._numpy_dtype(rest[0])
        raise ProtocolError(f"unknown or malformed tag {str(tag)[:20]!r}")

    @staticmethod
    def _numpy_dtype(text):
        if type(text) is not str or not NUMPY_DTYPE.fullmatch(text):
            raise ProtocolError(f"dtype {str(text)[:20]!r} is not plain data")
        return np.dtype(text)

    @staticmethod
    def _tensor(data: bytes, dtype, shape):
        numel = 1
        for n in shape:
            numel *= n
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(data) != numel * itemsize:
            raise ProtocolError("a tensor whose bytes do not match its shape")
        if not data:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)


def read_message(header: bytes, buffers: list[bytes], decoder: Decoder):
    """(kind, fields...) of one kernel message, values decoded."""
    try:
        tree = json.loads(header)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"not a JSON message ({type(exc).__name__})") from None
    if type(tree) is not list or not tree or type(tree[0]) is not str:
        raise ProtocolError("a message must be a list that starts with its kind")
    return tree


# ---- requests to the kernel ---------------------------------------------------------------------

class RequestPickler(pickle.Pickler):
    """Pickles a request; `session` says what is a proxy and registers the test's own functions."""

    def __init__(self, file, session, buffers: list):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.session, self.buffers, self.seen = session, buffers, {}

    def persistent_id(self, obj):
        session = self.session
        if session.is_remote(obj):
            return ("ref", session.handle_of(obj))
        if type(obj) in (torch.Tensor, torch.nn.Parameter) and obj.layout == torch.strided and not obj.is_quantized:
            key = id(obj)
            if key not in self.seen:
                grad = obj.grad if obj.is_leaf else None
                self.seen[key] = (obj, ("tensor", self.tensor(obj), bool(obj.requires_grad and obj.is_leaf),
                                        session.mirror(obj), None if grad is None else self.tensor(grad),
                                        type(obj) is torch.nn.Parameter))
            return self.seen[key][1]
        if isinstance(obj, types.GeneratorType):
            return ("cbiter", session.callback_id(obj, lambda: next(obj)), obj.__qualname__[:80])
        cls = type(obj)
        if not isinstance(obj, type) and (cls.__module__ == "__main__" or "<locals>" in cls.__qualname__):
            return ("cbobj", session.callback_id(obj, lambda *request: _object_request(obj, *request)),
                    cls.__qualname__[:80])
        if isinstance(obj, types.MethodType) and not isinstance(obj.__self__, type) or \
                isinstance(obj, types.FunctionType) and not _importable(obj):
            return ("cb", session.callback_id(obj), getattr(obj, "__qualname__", type(obj).__name__)[:80])
        return None

    def tensor(self, t) -> tuple:
        """(buffer index, dtype, shape) of a tensor's data, its bytes added to the frame's buffers."""
        self.buffers.append(tensor_bytes(t))
        return len(self.buffers) - 1, str(t.dtype).removeprefix("torch."), list(t.shape)

    def reducer_override(self, obj):
        if type(obj) is StudentStr:
            return str, (str.__str__(obj),)
        if isinstance(obj, types.ModuleType):
            return importlib.import_module, (obj.__name__,)
        if isinstance(obj, type) and not _importable(obj):
            raise pickle.PicklingError(
                f"the class {obj.__qualname__} defined in a test cell cannot go to student code (its source "
                f"would have to); pass data, a course_lib or torch class, or an object made with student_side")
        return NotImplemented


def _object_request(obj, op, *args):
    """What student code asked of an object of a test's own class (it stays on the trusted side)."""
    if op == "call":
        return obj(*args[0], **args[1])
    if op in ("getattr", "setattr"):
        name = str.__str__(args[0]) if isinstance(args[0], str) else ""
        if not name or name.startswith("__"):
            raise AttributeError(name)
        return getattr(obj, name) if op == "getattr" else setattr(obj, name, args[1])
    if op == "item":
        return obj[args[0]]
    if op == "len":
        return len(obj)
    if op == "list":
        return list(obj)
    raise TypeError(op)


def _importable(obj) -> bool:
    """`obj` is found again by importing its module and reading its qualified name (pickle by reference)."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or module == "__main__" or "<" in qualname:
        return False
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found is obj


def write_message(message, session, buffers: list) -> bytes:
    """One message, pickled; its tensors' bytes are appended to `buffers` (shared by a frame's messages)."""
    out = io.BytesIO()
    RequestPickler(out, session, buffers).dump(message)
    return out.getvalue()


def frame_header(messages: list[bytes]) -> bytes:
    return pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
