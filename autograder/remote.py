"""Remote: what a test holds of an object that lives in the student's kernel (the trusted side's proxy).

A test cell runs in the grader's process (trusted.py). What it gets from the student's kernel is plain
data (decoded strictly, wire.py) or a Remote: every attribute, call, item, operator, iteration, len,
bool, repr and format of a Remote is a request to the kernel (session.py), whose answer is plain data
or another Remote. Like rpyc's netrefs, but one-way in trust: the kernel's answers are data, never
code. `isinstance`, `issubclass` and `type` of a Remote are asked of the kernel too (trusted.py gives
the test those builtins). Probes that libraries make with getattr (numpy's __array_interface__,
torch's __torch_function__, IPython's _repr_html_, pickle's __reduce_ex__) are answered "no" here,
so nothing takes a Remote for an array, a tensor or an object with a protocol of its own.

Operators on an object of a class the notebook defined are sent without waiting (Session.post): the
result is a Remote at once, and an error surfaces at the next answer.
"""
from __future__ import annotations

import builtins


class CellTimeout(BaseException):
    """The cell's time ran out (a test cell, or a call into student code from it)."""


class KernelDied(Exception):
    """The student's kernel process ended (os._exit, a crash, too much memory) or broke the protocol."""


class StudentOrigin:
    """Where an exception came from: student code in the kernel (its class names, message and traceback)."""

    def __init__(self, names, message, trace):
        self.names, self.message, self.trace = names, message, trace


def student_origin(exc: BaseException) -> StudentOrigin | None:
    return getattr(exc, "_student_origin", None)


def _session(proxy):
    return object.__getattribute__(proxy, "_Remote__session")


# ---- the proxy ----------------------------------------------------------------------------------

# Probes that libraries make with getattr: answered here ("no"), never forwarded, so that numpy, torch,
# IPython or pickle never take a Remote for an array, a tensor or something with its own protocol.
_NOT_FORWARDED = ("__array", "__torch", "__dlpack", "__cuda_array", "__reduce", "__getstate", "__setstate",
                  "__getnewargs", "__copy__", "__deepcopy__", "__length_hint__", "__fspath__", "__getinitargs__",
                  "_repr_", "_ipython", "__class_getitem__", "__instancecheck__", "__subclasscheck__")


class _Forwarded:
    """A class attribute of Remote (__module__, __doc__) that reads the kernel object's instead."""

    def __init__(self, name, own):
        self.name, self.own = name, own

    def __get__(self, obj, cls=None):
        if obj is None:
            return self.own
        return _session(obj).request("getattr", obj, self.name)


class Remote:
    """A kernel object. Its type name (`type_name(proxy)`) is what the kernel said it is."""

    __slots__ = ("_Remote__session", "_Remote__handle", "_Remote__type", "__weakref__")

    def __init__(self, session, handle, type_name):
        object.__setattr__(self, "_Remote__session", session)
        object.__setattr__(self, "_Remote__handle", handle)
        object.__setattr__(self, "_Remote__type", type_name)

    def __del__(self):
        try:
            _session(self).release(object.__getattribute__(self, "_Remote__handle"))
        except Exception:
            pass

    def __getattr__(self, name):
        if name.startswith(_NOT_FORWARDED):
            raise AttributeError(name)
        return _session(self).request("getattr", self, name)

    def __setattr__(self, name, value):
        if _pipelined(self) and not name.startswith("_"):
            _session(self).post("setattr", self, name, value)
        else:
            _session(self).request("setattr", self, name, value)

    def __delattr__(self, name):
        _session(self).request("delattr", self, name)

    def __call__(self, *args, **kwargs):
        return _session(self).request("call", self, args, kwargs)

    def __getitem__(self, key):
        return _session(self).request("item", self, key)

    def __setitem__(self, key, value):
        _session(self).request("setitem", self, key, value)

    def __delitem__(self, key):
        _session(self).request("delitem", self, key)

    def __contains__(self, item):
        return bool(_session(self).request("contains", self, item))

    def __format__(self, spec):
        return _session(self).request("format", self, spec)

    def __hash__(self):
        return object.__hash__(self)

    def __next__(self):
        return _session(self).request("unary", "next", self)

    def __round__(self, ndigits=None):
        if ndigits is None:
            return _session(self).request("unary", "round", self)
        return _session(self).request("call", builtins.round, (self, ndigits), {})

    def __repr__(self):
        try:
            return _session(self).request("unary", "repr", self)
        except Exception:
            return f"<{type_name(self)} from the student's code>"


def type_name(proxy) -> str:
    return object.__getattribute__(proxy, "_Remote__type")


def _unary(name):
    def method(self):
        if name in ("neg", "pos", "abs", "invert") and _pipelined(self):
            return _session(self).post("unary", name, self)
        return _session(self).request("unary", name, self)
    method.__name__ = f"__{name}__"
    return method


def _pipelined(proxy) -> bool:
    """Operators on an object of a class the notebook defined (or on such a result) are sent without
    waiting: a chain of 10,000 `y = y + x` is one round trip, not 10,000."""
    kind = object.__getattribute__(proxy, "_Remote__type")
    return kind == "?" or kind.startswith("__main__.")


def _binary(name, reflected=False):
    def method(self, other):
        operands = (other, self) if reflected else (self, other)
        if _pipelined(self) and (type(other) in (int, float, bool) or type(other) is Remote):
            return _session(self).post("binary", name, *operands)
        return _session(self).request("binary", name, *operands)
    return method


for _name in ("neg", "pos", "abs", "invert", "index", "len", "bool", "iter", "str", "float", "int", "complex",
              "dir", "reversed"):
    setattr(Remote, f"__{_name}__", _unary(_name))
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lshift", "rshift", "and",
              "or", "xor", "divmod"):
    op = {"and": "and_", "or": "or_"}.get(_name, _name)
    setattr(Remote, f"__{_name}__", _binary(op))
    setattr(Remote, f"__r{_name}__", _binary(op, reflected=True))
    if _name != "divmod":
        setattr(Remote, f"__i{_name}__", _binary(f"i{op.rstrip('_')}"))
for _name in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(Remote, f"__{_name}__", _binary(_name))
Remote.__module__ = _Forwarded("__module__", __name__)
Remote.__doc__ = _Forwarded("__doc__", Remote.__doc__)
del _name, op
