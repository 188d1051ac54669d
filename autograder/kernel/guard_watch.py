"""What the guard watches, and which changes it lets pass (kernel/guard.py uses these).

The guard keeps the callables of the modules the course relies on; a change to one of them is a flag,
unless a library made it: torch wraps some of its own functions the first time they are used (the
profiler hook the first optimizer of a class puts on its step, torch._disable_dynamo on manual_seed
once torch._dynamo is imported), and importing a submodule patches a few classes. Those wrappers are
recognised by their code and by the trusted function they call, never by a label such as __wrapped__.
"""
from __future__ import annotations

import functools
import sys
import types

PROTECTED_ROOTS = ("torch", "numpy", "course_lib", "math", "random", "operator", "builtins", "IPython",
                   "ipykernel", "jupyter_client", "zmq", "traitlets")
# The modules whose callables are kept and checked: what the course_lib checks that run in the kernel
# use, and what a notebook would replace to fool them (every course_lib module, as it is imported).
WATCHED_MODULES = ("builtins", "math", "random", "operator", "numpy", "numpy.testing", "torch", "torch.testing",
                   "torch.nn.functional", "torch.autograd", "torch.autograd.functional", "torch.overrides",
                   "torch.library", "torch.nn.modules.module", "IPython.core.interactiveshell")


_MISSING = object()


def watched_module(name) -> bool:
    return isinstance(name, str) and (name in WATCHED_MODULES or name == "course_lib" or name.startswith("course_lib."))


def _root(name) -> str:
    return name.split(".")[0] if isinstance(name, str) else ""


def _is_module(value) -> bool:
    return issubclass(type(value), types.ModuleType)


def _is_class(value) -> bool:
    return issubclass(type(value), type)


def _class_module(cls) -> str:
    """A class's __module__, read past any metaclass property that could fake it."""
    return type.__dict__["__module__"].__get__(cls)


def _watched(value) -> bool:
    """Entries worth guarding: code and namespaces, not data (data changes legitimately)."""
    return callable(value) or _is_module(value) or issubclass(type(value), (staticmethod, classmethod, property))


def _is_code(value) -> bool:
    """A function, class or module (not an object that merely has __call__, like a model)."""
    return _is_module(value) or _is_class(value) or issubclass(type(value), (
        types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial))


def _function_state(value):
    func = value.__func__ if issubclass(type(value), (staticmethod, classmethod)) else value
    if issubclass(type(func), types.FunctionType):
        return func, (func.__code__, func.__defaults__, func.__kwdefaults__)
    return None, None


class LibraryChanges:
    """Mixed into Guard: tells a library's own change from the notebook's."""

    def _library_change(self, value, trusted, fresh, owner=None) -> bool:
        """A change made by a library, not by notebook code: one of torch's own wrappers put around the
        trusted function the first time it is used, or a change made while a module was imported just
        now (torch patches some of its own classes when a submodule loads): a function of that module,
        or a property of class `owner` whose getter comes from the class's own module."""
        if self._torch_wrapped(value, trusted):
            return True
        if not fresh:
            return False
        is_property = issubclass(type(value), property)
        for _ in range(5):   # unwrap partials, bound methods, static/class methods, properties
            inner = getattr(value, "func", None) or getattr(value, "__func__", None) or getattr(value, "fget", None)
            if inner is None:
                break
            value = inner
        code = getattr(value, "__code__", None)
        if code is not None and (code.co_filename.startswith(self.cell_folder) or code.co_filename.startswith("<")):
            return False
        module = getattr(value, "__module__", None)
        return module in fresh or (is_property and code is not None and owner is not None and module == owner)

    @staticmethod
    def _torch_wrappers() -> set:
        """The code of torch's wrappers that keep what they wrap working as before: the profiler hook the
        first optimizer of each class puts on its step(), and torch._disable_dynamo, which importing
        torch._dynamo (also done by a first optimizer) puts on torch.manual_seed. Found by wrapping a
        stand-in, which imports nothing."""
        torch, codes = sys.modules.get("torch"), set()
        if torch is None:
            return codes
        def stand_in():
            pass
        for wrap in (lambda f: torch.optim.Optimizer.profile_hook_step(f), lambda f: torch._disable_dynamo(f)):
            try:
                codes.add(wrap(stand_in).__code__)
            except Exception:   # a torch without that wrapper: nothing to accept
                pass
        return codes

    def _torch_wrapper_calls(self, value) -> list:
        """What `value` calls if it is one of torch's wrappers (known by its code): its closure's contents
        (`__wrapped__` is only a label anyone can set)."""
        if getattr(value, "__code__", None) not in self.torch_wrapper_codes or not value.__closure__:
            return []
        calls = []
        for cell in value.__closure__:
            try:
                calls.append(cell.cell_contents)
            except ValueError:   # an empty cell
                pass
        return calls

    def _torch_wrapped(self, value, trusted) -> bool:
        """`value` is one of torch's wrappers around the trusted function, or around what a trusted
        torch wrapper itself wraps (AdamW hooked after Adam: both hooks wrap Adam's own step)."""
        if trusted is _MISSING:
            return False
        targets = [trusted, *self._torch_wrapper_calls(trusted)]
        return any(c is t for c in self._torch_wrapper_calls(value) for t in targets)

    @staticmethod
    def _callable_attrs(obj) -> dict:
        attrs = {k: v for k, v in vars(obj).items() if callable(v)} if hasattr(obj, "__dict__") else {}
        trait_values = getattr(obj, "_trait_values", None)
        if isinstance(trait_values, dict):
            attrs.update({("trait", k): v for k, v in trait_values.items() if callable(v)})
        return attrs

    @staticmethod
    def _restore_attrs(label, obj, attrs, flag) -> None:
        namespace = vars(obj) if hasattr(obj, "__dict__") else {}
        trait_values = getattr(obj, "_trait_values", None)
        for key, value in attrs.items():
            where, name = (trait_values, key[1]) if isinstance(key, tuple) else (namespace, key)
            if where.get(name, _MISSING) is not value:
                where[name] = value
                flag(f"replaced {name} of {label}")
        cls = type(obj)
        for key in [k for k, v in namespace.items() if k not in attrs and callable(v) and callable(getattr(cls, k, None))]:
            del namespace[key]      # an instance attribute hiding one of the class's methods
            flag(f"replaced {key} of {label}")

