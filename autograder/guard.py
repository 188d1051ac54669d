"""The grader's guard inside the student's kernel: tests use what the course gave them, not the student's stand-ins.

A test cell runs in the same Python process as the student's code, so that code can try to change
what the test uses or whether it runs at all: replace `course_lib.testing.assert_close` or
`torch.testing.assert_close`, rebind the helper names a test calls, add an IPython input or AST
transformer that turns `assert` into `pass`, register a hook that edits things just before the test,
install a custom exception handler, patch `builtins.isinstance` or `torch.Tensor.__eq__`, swap a module
in `sys.modules`, set a trace function that skips lines, ... This module is what the grader runs in
the kernel to take those levers away again. It is started by the kernel's own launcher (see
sandbox.py) BEFORE any notebook code, and is never imported from the working folder:

- `arm` (once, before the first cell): runs the import statements of the RELEASED notebook (the
  instructor's copy, not the student's), then takes trusted copies of everything a test relies on:
  the names those imports bind; the callable entries of every loaded module of torch, numpy,
  course_lib, math, random, operator, builtins, IPython, ipykernel, jupyter_client, zmq and traitlets,
  and of their classes (with each function's code object); `sys.modules` entries; IPython's
  input/AST transformers, event callbacks, exception handlers and the methods of its shell, kernel,
  display hook and message session; sys hooks (excepthook, trace and profile functions, meta_path,
  gc callbacks); signal handlers.
- `check` (after every cell): whatever differs from the trusted copies is put back and reported,
  with the cell that did it, so the instructor sees `[grader-flag] cell N: replaced ...`.
- `enter` (just before a graded test cell): `check`, then: the names this test reads that the
  release's imports or an earlier test cell bound are rebound to their trusted values; event
  callbacks are set to the trusted ones for the length of the test (a `pre_run_cell` hook could
  otherwise undo all of the above a moment before the test runs); timers, trace functions and torch
  function/dispatch modes are cleared.
- `leave` (just after it): remember what the test cell bound (helpers such as `_check` that later
  tests call), report anything the test's calls into student code changed, and give the student's
  own event callbacks back, so their later cells run as they wrote them.

Why restore the names bound by the release's imports (and by test cells) rather than re-running
the notebook's import cells before each test: the imports cell is not locked (nbgrader does not
restore it) and re-running cells costs time and repeats their side effects; the released import
statements, run once here before any student code, give the very objects the tests expect, and
rebinding a name is free. Only names the coming test reads are rebound, so a student's own use of a
name elsewhere is not disturbed.

What this cannot do: code running in the same process can always try. It can find this guard's
trusted copies (e.g. through `gc`) and change them, act during a test through objects the guard does
not watch (a `__del__` method, a weakref callback, a thread started by a library, a closure cell,
a C extension), or return objects that fake comparisons (a Tensor subclass with __torch_function__).
Those attempts are what the flags are for: the guard narrows the ways to cheat to deliberate attacks
on the grader, and reports the ones it sees. It never writes to stderr (nbgrader zeroes a test cell
that does) and answers only through the value it returns to the grader.
"""
from __future__ import annotations

import builtins
import ctypes
import functools
import gc
import json
import os
import signal
import sys
import types
import warnings

PROTECTED_ROOTS = ("torch", "numpy", "course_lib", "math", "random", "operator", "builtins", "IPython",
                   "ipykernel", "jupyter_client", "zmq", "traitlets")
# Imported at arm time even if the notebook does not import them: what test cells call.
ALWAYS_IMPORT = ("import math", "import random", "import operator", "import numpy", "import numpy.testing",
                 "import torch", "import torch.testing", "import torch.autograd.functional",
                 "import course_lib.testing")
EVENTS = ("pre_execute", "pre_run_cell", "post_execute", "post_run_cell")
_MISSING = object()


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


class Guard:
    def __init__(self, shell):
        self.shell = shell
        self.trusted_names: dict[str, object] = {}    # user_ns names bound by the release's imports or test cells
        self.flags: list[str] = []
        self._suspended_events = None
        self._ns_before_test: dict | None = None
        self.armed = False

    # ---- taking the trusted copies ----------------------------------------------------------------

    def arm(self, imports: list[str]) -> list[str]:
        scratch: dict = {"__builtins__": builtins}
        for statement in (*ALWAYS_IMPORT, *imports):
            try:
                exec(compile(statement, "<grader: release imports>", "exec"), scratch)
            except Exception:   # a module this machine lacks: the notebook will say so itself
                pass
        self.trusted_names = {k: v for k, v in scratch.items() if k != "__builtins__"}
        self.torch_wrapper_codes = self._torch_wrappers()
        shell = self.shell
        self.user_ns = shell.user_ns
        self.builtins = {k: v for k, v in vars(builtins).items() if _watched(v)}
        self.modules: dict[str, types.ModuleType] = {}
        self.module_entries: list[list] = []             # [name, namespace, key, trusted value]
        self.class_entries: list[list] = []              # [name, class, {key: trusted value}, size of its dict]
        self.functions: list[tuple[str, object, tuple]] = []
        self._seen_classes: set[int] = set()
        self._protect(self._newly_imported())
        # IPython's machinery: the objects a cell's execution goes through, and their own attributes.
        tm = shell.input_transformer_manager
        self.lists = {
            "an IPython input transformer (input_transformers_cleanup)": (tm, "cleanup_transforms"),
            "an IPython input transformer (line_transforms)": (tm, "line_transforms"),
            "an IPython input transformer (token_transformers)": (tm, "token_transformers"),
            "an IPython input transformer (input_transformers_post)": (shell, "input_transformers_post"),
            "an IPython AST transformer (ast_transformers)": (shell, "ast_transformers"),
        }
        self.list_values = {what: (getattr(obj, attr), list(getattr(obj, attr))) for what, (obj, attr) in self.lists.items()}
        kernel = getattr(shell, "kernel", None)
        self.objects = {"the IPython shell": shell, "the kernel": kernel,
                        "the input transformer manager": tm, "the event manager": shell.events,
                        "the display hook": shell.displayhook, "the display publisher": shell.display_pub,
                        "the traceback formatter": getattr(shell, "InteractiveTB", None),
                        "the syntax-error formatter": getattr(shell, "SyntaxTB", None),
                        "the cell compiler": shell.compile,
                        "the kernel's message session": getattr(kernel, "session", None),
                        "the display hook's session": getattr(shell.displayhook, "session", None),
                        "the display publisher's session": getattr(shell.display_pub, "session", None)}
        self.objects = {k: v for k, v in self.objects.items() if v is not None}
        self.object_attrs = {label: (obj, self._callable_attrs(obj)) for label, obj in self.objects.items()}
        self.handlers = {name: dict(getattr(kernel, name)) for name in ("shell_handlers", "control_handlers")
                         if isinstance(getattr(kernel, name, None), dict)}
        self.events = {name: list(shell.events.callbacks.get(name, [])) for name in shell.events.callbacks}
        self.custom_exceptions = shell.custom_exceptions
        self.custom_tb = getattr(shell, "CustomTB", None)
        self.sys_hooks = {name: getattr(sys, name) for name in ("excepthook", "displayhook", "breakpointhook")
                          if hasattr(sys, name)}
        self.meta_path, self.path_hooks = list(sys.meta_path), list(sys.path_hooks)
        self.gc_callbacks = list(gc.callbacks)
        self.trace, self.profile = sys.gettrace(), sys.getprofile()
        self.signals = {}
        for sig in signal.valid_signals():
            try:
                self.signals[sig] = signal.getsignal(sig)
            except (ValueError, OSError):
                pass
        self.threads = set(sys._current_frames())
        self.stopped_threads: set[int] = set()
        try:
            self.cell_folder = os.path.dirname(shell.compile.get_code_name("", "", 0))
        except Exception:
            self.cell_folder = "\0"
        self.shadows = self._shadows()
        self.armed = True
        return [f"found {entry} in the notebook's folder, left by an earlier run of it (not imported)"
                for entry in sorted(self.shadows)]

    @staticmethod
    def _shadows() -> set[str]:
        """Files in the working folder named like a module the tests use, or like Python's start-up hooks."""
        try:
            entries = os.listdir(".")
        except OSError:
            return set()
        return {e for e in entries if e.split(".")[0] in (*PROTECTED_ROOTS, "sitecustomize", "usercustomize")
                or e.endswith(".pth")}

    def _newly_imported(self) -> list[str]:
        return sorted((n for n, m in list(sys.modules.items())
                       if n not in self.modules and _root(n) in PROTECTED_ROOTS and _is_module(m)),
                      key=lambda n: (n.count("."), len(n), n))

    def _protect(self, names) -> None:
        """Trusted copies of these modules' callable entries, their classes' and their functions' code."""
        for name in names:
            module = sys.modules[name]
            self.modules[name] = module
            namespace = vars(module)
            for key, value in list(namespace.items()):
                if not _watched(value):
                    continue
                self.module_entries.append([f"{name}.{key}", namespace, key, value])
                func, state = _function_state(value)
                if func is not None and _root(func.__module__) in PROTECTED_ROOTS:
                    self.functions.append((f"{name}.{key}", func, state))
                if _is_class(value) and id(value) not in self._seen_classes \
                        and _root(_class_module(value)) in PROTECTED_ROOTS:
                    self._seen_classes.add(id(value))
                    entries = {k: v for k, v in vars(value).items() if _watched(v)}
                    self.class_entries.append([f"{name}.{key}", value, entries, len(vars(value))])
                    for k, v in entries.items():
                        func, state = _function_state(v)
                        if func is not None:
                            self.functions.append((f"{name}.{key}.{k}", func, state))

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

    # ---- finding and undoing changes ------------------------------------------------------------

    def _restore(self) -> list[str]:
        """Put back every trusted thing that changed; say what was changed."""
        found: list[str] = []
        flag = found.append
        # First what could act again while this runs: trace functions, timers, signal handlers, threads.
        if sys.gettrace() is not self.trace:
            sys.settrace(self.trace)
            flag("set a trace function (sys.settrace)")
        if sys.getprofile() is not self.profile:
            sys.setprofile(self.profile)
            flag("set a profile function (sys.setprofile)")
        for sig, handler in self.signals.items():
            try:
                if signal.getsignal(sig) != handler:
                    signal.signal(sig, handler)
                    flag(f"changed the handler of signal {signal.Signals(sig).name}")
            except (ValueError, OSError, TypeError):
                pass
        for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            if signal.getitimer(timer) != (0.0, 0.0):
                signal.setitimer(timer, 0)
                flag("set a timer (signal.alarm or setitimer)")
        for ident, frame in sys._current_frames().items():
            if ident in self.threads:
                continue
            while frame is not None:
                if frame.f_code.co_filename.startswith(self.cell_folder):
                    # Stop it (an exception raised in it at its next step), and say so once.
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(SystemExit))
                    if ident not in self.stopped_threads:
                        self.stopped_threads.add(ident)
                        flag("left a thread running notebook code (it could change things while a test runs; stopped)")
                    break
                frame = frame.f_back
        fresh = set(self._newly_imported())
        for entry in self.module_entries:
            name, namespace, key, value = entry
            current = namespace.get(key, _MISSING)
            if current is not value:
                if self._library_change(current, value, fresh):
                    entry[3] = current
                    continue
                namespace[key] = value
                flag(f"replaced {name}")
        for entry in self.class_entries:
            name, cls, entries, size = entry
            current = vars(cls)
            for key, value in entries.items():
                now = current.get(key, _MISSING)
                if now is not value:
                    if self._library_change(now, value, fresh, owner=_class_module(cls)):
                        entries[key] = now
                        continue
                    try:
                        setattr(cls, key, value)
                    except (TypeError, AttributeError):
                        pass
                    flag(f"replaced {name}.{key}")
            if len(current) != size:
                mro = type.__dict__["__mro__"].__get__(cls)
                for key in [k for k, v in current.items() if k not in entries and _watched(v)]:
                    # A new entry hides what the class inherited (torch hooks AdamW.step, which is Adam's).
                    inherited = next((vars(base)[key] for base in mro[1:] if key in vars(base)), _MISSING)
                    if self._library_change(current[key], inherited, fresh, owner=_class_module(cls)):
                        entries[key] = current[key]
                        continue
                    try:
                        delattr(cls, key)
                    except (TypeError, AttributeError):
                        pass
                    flag(f"replaced {name}.{key}")
                entry[3] = len(current)
        for name, func, (code, defaults, kwdefaults) in self.functions:
            if func.__code__ is not code or func.__defaults__ is not defaults or func.__kwdefaults__ is not kwdefaults:
                func.__code__, func.__defaults__, func.__kwdefaults__ = code, defaults, kwdefaults
                flag(f"rewrote the code of {name}")
        namespace = vars(builtins)
        for key, value in self.builtins.items():
            if namespace.get(key, _MISSING) is not value:
                namespace[key] = value
                flag(f"replaced builtins.{key}")
        if self.user_ns.get("__builtins__") is not builtins:
            self.user_ns["__builtins__"] = builtins
            flag("replaced __builtins__ in the notebook's namespace")
        if self.shell.user_ns is not self.user_ns:
            self.shell.user_ns = self.user_ns
            flag("replaced the notebook's namespace")
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
                flag(f"replaced sys.modules[{name!r}]")
        for what, (obj, attr) in self.lists.items():
            trusted_list, trusted_items = self.list_values[what]
            current = getattr(obj, attr, None)
            if current is not trusted_list or len(current) != len(trusted_items) \
                    or any(a is not b for a, b in zip(current, trusted_items)):
                trusted_list[:] = trusted_items
                if current is not trusted_list:
                    setattr(obj, attr, trusted_list)
                flag(f"added {what}")
        for label, (obj, attrs) in self.object_attrs.items():
            self._restore_attrs(label, obj, attrs, flag)
        for label, obj in self.objects.items():
            holder, attr = {"the input transformer manager": (self.shell, "input_transformer_manager"),
                            "the event manager": (self.shell, "events"), "the display hook": (self.shell, "displayhook"),
                            "the display publisher": (self.shell, "display_pub"),
                            "the cell compiler": (self.shell, "compile")}.get(label, (None, None))
            if holder is not None and getattr(holder, attr, None) is not obj:
                setattr(holder, attr, obj)
                flag(f"replaced {label}")
        kernel = self.objects.get("the kernel")
        for name, trusted in self.handlers.items():
            current = getattr(kernel, name)
            if current.keys() != trusted.keys() or any(current[k] is not v for k, v in trusted.items()):
                current.clear()
                current.update(trusted)
                flag(f"replaced the kernel's message handlers ({name})")
        if self.shell.custom_exceptions != self.custom_exceptions or getattr(self.shell, "CustomTB", None) is not self.custom_tb:
            self.shell.custom_exceptions, self.shell.CustomTB = self.custom_exceptions, self.custom_tb
            flag("set a custom exception handler (set_custom_exc)")
        for name, hook in self.sys_hooks.items():
            if getattr(sys, name) is not hook:
                setattr(sys, name, hook)
                flag(f"replaced sys.{name}")
        if sys.meta_path != self.meta_path or sys.path_hooks != self.path_hooks:
            sys.meta_path[:], sys.path_hooks[:] = self.meta_path, self.path_hooks
            flag("changed the import system (sys.meta_path or sys.path_hooks)")
        if gc.callbacks != self.gc_callbacks:
            gc.callbacks[:] = self.gc_callbacks
            flag("added a garbage-collector callback (gc.callbacks)")
        torch = sys.modules.get("torch")
        if torch is not None:
            for pop, size, what in (("_pop_torch_function_stack", "_len_torch_function_stack", "function"),
                                    ("_pop_torch_dispatch_stack", "_len_torch_dispatch_stack", "dispatch")):
                size_fn, pop_fn = getattr(torch._C, size, None), getattr(torch._C, pop, None)
                if size_fn is not None and pop_fn is not None and size_fn() > 0:
                    while size_fn() > 0:
                        pop_fn()
                    flag(f"entered a torch {what} mode (it intercepts the tests' torch calls)")
            tensor = torch.Tensor
            for value in list(self.user_ns.values()):
                if _is_class(value) and value is not tensor and issubclass(value, tensor) and \
                        ("__torch_function__" in vars(value) or "__torch_dispatch__" in vars(value)):
                    flag(f"defined {value.__name__}, a torch.Tensor subclass that intercepts torch calls")
        self._protect(sorted((n for n in fresh if n in sys.modules), key=lambda n: (n.count("."), len(n), n)))
        shadows = self._shadows()
        for entry in sorted(shadows - self.shadows):
            flag(f"wrote {entry} into the notebook's folder (the kernel never imports from there)")
        self.shadows |= shadows
        me = sys._current_frames()
        for ident, frame in me.items():
            if ident in self.threads:
                continue
            while frame is not None:
                if frame.f_code.co_filename.startswith(self.cell_folder):
                    flag("left a thread running notebook code (it could change things while a test runs)")
                    self.threads.add(ident)   # said once
                    break
                frame = frame.f_back
        return found

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

    def _restore_names(self, names, bound=()) -> list[str]:
        """Rebind `names` to their trusted values; flag the functions, classes and modules among them that
        the notebook had rebound (data, or a model object, is often reused by name: put back silently;
        so is a name the test binds itself)."""
        found = []
        for name in names:
            trusted = self.trusted_names.get(name, _MISSING)
            if trusted is _MISSING:
                continue
            current = self.user_ns.get(name, _MISSING)
            if current is not trusted:
                self.user_ns[name] = trusted
                if current is not _MISSING and name not in bound and _is_code(trusted):
                    found.append(f"rebound {name}, which the tests use")
        return found

    # ---- the grader's calls ----------------------------------------------------------------------

    def check(self) -> list[str]:
        return self._restore()

    def enter(self, names, bound=()) -> list[str]:
        """Before a test cell that reads `names` and binds `bound`."""
        found = self._restore()
        found += [f for f in self._restore_names(names, set(bound)) if f not in found]
        # The trusted event callbacks only, for the length of the test (a fresh dict: also undoes a replaced one).
        self._suspended_events = self.shell.events.callbacks
        self.shell.events.callbacks = {name: list(callbacks) for name, callbacks in self.events.items()}
        self._ns_before_test = dict(self.user_ns)
        return found

    def leave(self, bound) -> list[str]:
        """After a test cell that binds the names `bound` (its helpers become trusted for later tests)."""
        before, bound = self._ns_before_test or {}, set(bound)
        found = self._restore()
        for name in bound:
            value = self.user_ns.get(name, _MISSING)
            if value is not _MISSING:
                self.trusted_names[name] = value
        for name, trusted in self.trusted_names.items():   # trusted names the test did not bind itself
            if name not in bound and before.get(name, _MISSING) is trusted and self.user_ns.get(name, _MISSING) is not trusted:
                self.user_ns[name] = trusted
                if _is_code(trusted):
                    found.append(f"rebound {name} while a test ran")
        if self._suspended_events is not None:
            self.shell.events.callbacks = self._suspended_events
        self._suspended_events = self._ns_before_test = None
        return found


class Door:
    """What the grader calls, through a user expression: `__course_grader__(nonce, action, args)`.

    Answers a JSON string {"nonce", "flags"}; the nonce tells the grader that the guard itself ran.
    """

    def __init__(self, guard: Guard):
        self._guard = guard

    def __call__(self, nonce: str, action: str, args=None) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            guard = self._guard
            try:
                if action == "arm":
                    flags = guard.arm(list(args or []))
                elif not guard.armed:
                    flags = ["the grader's guard was not armed"]
                elif action == "enter":
                    flags = guard.enter(*(args or [[], []]))
                elif action == "leave":
                    flags = guard.leave(list(args or []))
                else:
                    flags = guard.check()
            except MemoryError:   # the notebook holds all the memory: no test can run either, nothing to flag
                gc.collect()
                flags = []
            except Exception as exc:   # the guard itself was broken by the notebook: say so
                flags = [f"broke the grader's guard ({type(exc).__name__}: {exc})"[:200]]
            guard.shell.user_ns[DOOR_NAME] = self
            return json.dumps({"nonce": nonce, "flags": list(dict.fromkeys(flags))})


DOOR_NAME = "__course_grader__"


def install(shell) -> None:
    """Called by the kernel launcher once the shell exists and before any cell runs."""
    shell.user_ns[DOOR_NAME] = Door(Guard(shell))
    shell.user_ns_hidden[DOOR_NAME] = None


# Run as the kernel: `python -I -c <this file's source> -f connection.json`. Started isolated (-I: no
# working folder, PYTHONPATH or user site on sys.path), so nothing the notebook writes into its
# folder can stand in for a module, not even after a crash and a re-run.
LAUNCH = """
from ipykernel.kernelapp import IPKernelApp
_app = IPKernelApp.instance()
_app.ignore_cwd = True
_app.initialize()
install(_app.shell)
_app.start()
"""

if __name__ == "__main__" and sys.argv and sys.argv[0] == "-c":
    exec(LAUNCH)
