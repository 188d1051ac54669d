"""Values leaving the kernel: plain data, or handles.

Out (kernel -> trusted): plain data by EXACT type becomes JSON, arrays and tensors raw bytes in the
frame's buffers; anything else becomes a handle (an int the kernel keeps the object under). The
trusted side decodes this strictly (autograder/wire.py) and never unpickles it:

    None, bool, int, float, str          as JSON
    ["l", x...] list    ["t", x...] tuple    ["d", [k, v]...] dict    ["s", x...] set   ["fs", x...]
    ["od", [k, v]...] collections.OrderedDict (a state_dict)
    ["b", i] bytes      ["ba", i] bytearray  ["c", re, im] complex    ["E"] Ellipsis
    ["sl", a, b, c] slice   ["r", a, b, c] range
    ["T", i, dtype, shape, mirror, requires_grad, grad] torch.Tensor, ["P", ...] torch.nn.Parameter: mirror is
        the link of a test's tensor or of a parameter (None for a fresh result, then a plain copy)
    ["A", i, dtype, shape] numpy.ndarray    ["N", i, dtype] numpy scalar
    ["size", n...] torch.Size   ["dt", name] torch.dtype   ["dev", text] torch.device   ["nd", text] numpy dtype
    ["R", handle, type name] anything else (a proxy on the trusted side)

Requests coming in are read in requests.py.
"""
from __future__ import annotations

import sys
from collections import OrderedDict

MAX_DEPTH = 40
MAX_INT_DIGITS = 4000
_type, _len, _id = type, len, id


def _torch():
    return sys.modules.get("torch")


def _numpy():
    return sys.modules.get("numpy")


class Handles:
    """Objects the trusted side holds a proxy to, by handle; one handle per object while it is held."""

    def __init__(self):
        self.objects: dict[int, object] = {}
        self.by_id: dict[int, int] = {}
        self.next = 1

    def ref(self, obj) -> int:
        handle = self.by_id.get(_id(obj))
        if handle is None or self.objects.get(handle) is not obj:
            handle, self.next = self.next, self.next + 1
            self.objects[handle] = obj
            self.by_id[_id(obj)] = handle
        return handle

    def get(self, handle: int):
        try:
            obj = self.objects[handle]
        except KeyError:
            raise ReferenceError(f"the kernel no longer holds object #{handle}") from None
        if _type(obj) is Failure:       # the operation meant to make it raised: so does using it
            raise obj.exc.with_traceback(obj.exc.__traceback__)
        return obj

    def assign(self, handle: int, obj) -> None:
        """Keep `obj` under a handle the trusted side chose (the result of an operation it did not wait for)."""
        self.objects[handle] = obj
        if _type(obj) is not Failure:
            self.by_id.setdefault(_id(obj), handle)

    def release(self, handles) -> None:
        for handle in handles:
            obj = self.objects.pop(handle, None)
            if obj is not None and self.by_id.get(_id(obj)) == handle:
                del self.by_id[_id(obj)]


class Failure:
    """What a handle holds when the operation that was to fill it raised."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def type_name(obj) -> str:
    cls = _type(obj)
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', '?')}"[:200]


def tensor_bytes(t) -> bytes:
    flat = t.detach().cpu().contiguous().reshape(-1)
    return flat.view(_torch().uint8).numpy().tobytes() if flat.numel() else b""


def tensor_state(t) -> tuple:
    """What changes when a tensor is changed in place, given a new .data, or a new .grad."""
    grad = t.grad if t.is_leaf else None
    return (t._version, t.data_ptr(), tuple(t.shape), t.dtype, t.requires_grad,
            None if grad is None else (id(grad), grad._version))


def tensor_from(data: bytes, dtype: str, shape):
    torch = _torch()
    dt = getattr(torch, dtype)
    return torch.frombuffer(bytearray(data), dtype=dt).reshape(shape) if data else torch.empty(shape, dtype=dt)


def set_tensor(t, new, requires_grad, grad) -> None:
    """Make `t` what `new` (data), `requires_grad` and `grad` say, in place."""
    torch = _torch()
    with torch.no_grad():
        if t.shape == new.shape and t.dtype == new.dtype:
            t.copy_(new)
        else:
            t.data = new
    if t.is_leaf:
        if type(requires_grad) is bool and (t.is_floating_point() or t.is_complex()):
            t.requires_grad_(requires_grad)
        if grad is None or _type(grad) is torch.Tensor and grad.shape == t.shape:
            t.grad = grad


class Encoder:
    """Encodes the values of one message at a time: begin(), then value(v) for each; `buffers` holds
    the raw bytes they refer to."""

    def __init__(self, handles: Handles, mirror=None):
        self.handles, self.mirror = handles, mirror     # mirror(tensor, is_parameter) -> mirror id or None
        self.buffers: list[bytes] = []

    def begin(self) -> "Encoder":
        self.buffers = []
        return self

    def value(self, v):
        return self._enc(v, 0)

    def handle(self, v) -> list:
        """`v` kept here, whatever it is (student_side): a proxy on the trusted side."""
        return self._ref(v)

    def _buffer(self, data: bytes) -> int:
        self.buffers.append(data)
        return _len(self.buffers) - 1

    def _tensor(self, v, parameter: bool) -> list:
        """A tensor's data; a test's tensor (and a parameter) with its link (mirror id), requires_grad, grad."""
        mirror = self.mirror(v, parameter) if self.mirror is not None else None
        grad = v.grad if mirror is not None and v.is_leaf else None
        return ["P" if parameter and mirror is not None else "T", self._buffer(tensor_bytes(v)),
                str(v.dtype).removeprefix("torch."), list(v.shape), mirror,
                bool(mirror is not None and v.requires_grad and v.is_leaf),
                None if grad is None else self._tensor(grad.detach(), False)]

    def _ref(self, value) -> list:
        return ["R", self.handles.ref(value), type_name(value)]

    def _enc(self, v, depth: int):
        t = _type(v)
        if v is None or t is bool or t is str or t is float:
            return v
        if t is int:
            return v if v.bit_length() < MAX_INT_DIGITS * 3 else self._ref(v)
        if depth > MAX_DEPTH:
            return self._ref(v)
        d = depth + 1
        if t is list or t is tuple or t is set or t is frozenset:
            tag = {list: "l", tuple: "t", set: "s", frozenset: "fs"}[t]
            return [tag, *[self._enc(x, d) for x in v]]
        if t is dict or t is OrderedDict:
            return ["d" if t is dict else "od", *[[self._enc(k, d), self._enc(x, d)] for k, x in v.items()]]
        if t is bytes or t is bytearray:
            return ["b" if t is bytes else "ba", self._buffer(bytes(v))]
        if t is complex:
            return ["c", v.real, v.imag]
        if v is Ellipsis:
            return ["E"]
        if t is slice or t is range:
            parts = [v.start, v.stop, v.step]
            if all(_type(p) in (int, type(None)) for p in parts):
                return ["sl" if t is slice else "r", *parts]
        torch = _torch()
        if torch is not None:
            if (t is torch.Tensor or t is torch.nn.Parameter) and v.layout == torch.strided and not v.is_quantized \
                    and v.device.type != "meta":
                return self._tensor(v, t is torch.nn.Parameter)
            if t is torch.Size:
                return ["size", *[int(n) for n in v]]
            if t is torch.dtype:
                return ["dt", str(v).removeprefix("torch.")]
            if t is torch.device:
                return ["dev", str(v)]
        np = _numpy()
        if np is not None:
            if t is np.ndarray and _plain_dtype(v.dtype):
                return ["A", self._buffer(np.ascontiguousarray(v).tobytes()), v.dtype.str, list(v.shape)]
            if isinstance(v, np.generic) and t.__module__ == "numpy" and _plain_dtype(v.dtype):
                return ["N", self._buffer(v.tobytes()), v.dtype.str]
            if isinstance(v, np.dtype) and t.__module__ == "numpy.dtypes" and _plain_dtype(v):
                return ["nd", v.str]
        return self._ref(v)


def _plain_dtype(dtype) -> bool:
    return dtype.kind in "biufcUS" and not dtype.hasobject and dtype.fields is None and dtype.subdtype is None
