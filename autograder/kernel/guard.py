"""A second line inside the kernel: it flags what notebook code replaced. No point depends on it.

The tests do not run here (autograder/trusted.py): they run in the grader's process and only read
plain data from this one. What still runs here are the course_lib checks that must watch student code
run (assert_written_by_hand, grads_through, assert_own; course_lib.testing marks them), and those can
be disarmed by code in this process, as any check here can. So the guard, armed once in the zygote
before any student code (its copies are inherited by every kernel it forks), is asked before each test
cell and at the end: whatever differs from its trusted copies of torch, numpy, course_lib, math,
random, operator, builtins, IPython's machinery, sys hooks and signal handlers is put back and
reported, and the instructor sees the submission "flagged for review: ...". A notebook that left a
file named like a module the tests use, or like Python's start-up hooks, in its folder is flagged too
(the kernel never imports from there). Code acting during a check itself (a thread, a tracer, a
finalizer) can still get past it; nothing of the grade rests on it.
"""
from __future__ import annotations

import builtins
import ctypes
import gc
import os
import signal
import sys
import types

from .guard_watch import (_MISSING, PROTECTED_ROOTS, LibraryChanges, _class_module, _function_state, _is_class,
                          _is_module, _root, _watched, watched_module)


class Guard(LibraryChanges):
    def __init__(self, shell):
        self.shell = shell
        self.armed = False

    def arm(self, imports: list[str]) -> list[str]:
        scratch: dict = {"__builtins__": builtins}
        for statement in imports:
            try:
                exec(compile(statement, "<grader: release imports>", "exec"), scratch)
            except Exception:   # a module this machine lacks: the notebook will say so itself
                pass
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
        try:     # where IPython says a cell's code comes from: ipykernel's temp folder, or <ipython-input-N-...>
            name = shell.compile.get_code_name("", "", 0)
            self.cell_folder = os.path.dirname(name) + os.sep if os.path.dirname(name) else "<ipython-input-"
        except Exception:
            self.cell_folder = "\0"
        self.shadows = self._shadows()
        self.armed = True
        return []

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
                       if n not in self.modules and watched_module(n) and _is_module(m)),
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

    def shadows_found(self) -> list[str]:
        """At a kernel's start, in its folder: files an earlier run of this notebook left there."""
        self.shadows = self._shadows()
        return [f"found {entry} in the notebook's folder, left by an earlier run of it (not imported)"
                for entry in sorted(self.shadows)]

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

    def check(self) -> list[str]:
        """Put back what changed since the last check; say what it was."""
        return self._restore() if self.armed else []
