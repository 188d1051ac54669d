"""Checks for graded tests whose failure messages teach.

Introduced in chapter 0 (the first graded exercises).

Each helper raises AssertionError with a message that names the quantity, says what was expected
and what came instead, e.g. "dL/dw: expected shape (2, 1), got (2,)". They never print, because
nbgrader scores a test cell that writes to stderr as 0. assert_written_by_hand checks that an
exercise does not hand its work to the library function it is meant to reproduce.

Where the tests run. In the student's Jupyter or Colab a test cell runs beside the student's code.
When graded, it runs in a trusted process outside the student's kernel (see autograder/): names the
student's cells define come back as plain data (numbers, strings, None, arrays, tensors, and lists,
tuples and dicts of these: COPIES, detached from any autograd graph) or as handles whose calls,
attributes and operators are forwarded to the kernel. Arguments a test passes to student code
travel there by value. So a test cell that must work in both places:
- compares plain data only (the helpers below), never trusts an object's own __eq__ or isinstance;
- never passes a function, lambda or class that a test cell defines into student code (hidden-test
  code must not reach the student's process), only data, course_lib objects and the student's own;
- wraps in `student_side(obj)` any object the student's code must change in place, backpropagate
  through, or keep between calls (parameters, models, optimisers, buffers), then reads it back;
- takes gradients through student code with `grads_through`, checks "by hand" with
  `assert_written_by_hand`, and how a model is called (mode, no_grad, shapes) with `forward_calls`:
  these run in the student's process when graded;
- runs anything that comes from the student as code (source text a part returns, say) only through
  a course_lib function marked `@beside_student_code`, never with exec/eval in the test itself.
Functions marked `@beside_student_code` run in the student's process when graded (their arguments
go there by value or as handles, their result comes back as plain data); here they simply run.
"""
from __future__ import annotations

import inspect
import sys

import numpy as np
import torch
from torch.overrides import TorchFunctionMode


def _as_tensor(name: str, value) -> torch.Tensor:
    if value is None:
        raise AssertionError(f"{name}: got None. Did your function forget to `return` its result?")
    if isinstance(value, torch.Tensor):
        # A plain tensor, whatever came back: a Tensor subclass could fake every comparison through
        # __torch_function__, so its own overrides are switched off while it is unwrapped.
        with torch._C.DisableTorchFunctionSubclass():
            return value.detach().as_subclass(torch.Tensor)
    try:
        return torch.as_tensor(np.asarray(value))
    except Exception as exc:
        raise AssertionError(f"{name}: expected an array or tensor, got {type(value).__name__}") from exc


def _shape(value) -> tuple:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(np.shape(value))


def assert_shape(name: str, got, expected_shape) -> None:
    """`got` has exactly `expected_shape` (no silent broadcasting: (2,) is not (2, 1))."""
    if got is None:
        raise AssertionError(f"{name}: got None. Did your function forget to `return` its result?")
    expected_shape = tuple(expected_shape)
    if _shape(got) != expected_shape:
        raise AssertionError(f"{name}: expected shape {expected_shape}, got {_shape(got)}")


def assert_close(name: str, got, expected, *, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """Same shape, then equal within atol + rtol·|expected|, compared in float64."""
    expected_t = _as_tensor(f"{name} (expected)", expected).to(torch.float64)
    got_t = _as_tensor(name, got)
    assert_shape(name, got_t, tuple(expected_t.shape))
    if got_t.dtype.is_complex:
        raise AssertionError(f"{name}: got complex numbers (dtype {got_t.dtype}); expected real ones. "
                             f"A negative number to a fractional power is one way to get them.")
    if not (got_t.dtype.is_floating_point or got_t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8,
                                                             torch.uint8, torch.bool)):
        raise AssertionError(f"{name}: expected numbers, got dtype {got_t.dtype}")
    got_t = got_t.to(torch.float64)
    if torch.isnan(got_t).any() and not torch.isnan(expected_t).any():
        raise AssertionError(f"{name}: contains NaN (expected finite values). Look for 0/0, log(0) or overflow.")
    try:
        torch.testing.assert_close(got_t, expected_t, rtol=rtol, atol=atol, equal_nan=True)
    except AssertionError:
        diff = (got_t - expected_t).abs()
        where = tuple(int(i) for i in np.unravel_index(int(diff.argmax()), diff.shape)) if diff.ndim else ()
        raise AssertionError(
            f"{name}: values differ. Largest error {float(diff.max()):.3g} at index {where}: "
            f"got {float(got_t[where]):.6g}, expected {float(expected_t[where]):.6g} "
            f"(tolerance atol={atol:g}, rtol={rtol:g})"
        ) from None


def assert_own(obj, name: str | None = None) -> None:
    """A graded function or class must be written in the notebook, not imported from a library."""
    name = name or getattr(obj, "__name__", repr(obj))
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        raise AssertionError(f"{name}: expected a function or class you defined, got {type(obj).__name__}")
    module = getattr(obj, "__module__", None)
    if module != "__main__":
        raise AssertionError(
            f"{name} comes from the module {module!r}; the graded version must be your own code, "
            f"defined in this notebook"
        )


def beside_student_code(fn):
    """Mark a course_lib function that must run where the student's code runs (see the module
    docstring). Here it changes nothing; the grader's trusted side sends calls of marked functions
    to the student's kernel. A marked function's result must be plain data."""
    fn.__beside_student_code__ = True
    return fn


def student_side(obj):
    """`obj` where the student's code runs. Here (Jupyter, Colab): `obj` itself. When graded: a handle to
    a copy of `obj` made in the student's process, whose attributes, methods and operators are
    forwarded there; reading a tensor or number through it gives a plain copy back."""
    return obj


@beside_student_code
def grads_through(fn, *inputs, grad_output=None):
    """(output, grads): out = fn(*inputs) with every floating-point tensor input set to require
    gradients, then the gradient of (out * grad_output).sum() (grad_output defaults to ones) with
    respect to each input (None for inputs that are not floating-point tensors, zeros for unused
    ones). Returns plain tensors; runs in the student's process when graded."""
    leaves = [x.detach().clone().requires_grad_(True) if isinstance(x, torch.Tensor) and x.is_floating_point()
              else x for x in inputs]
    out = fn(*leaves)
    if not isinstance(out, torch.Tensor):
        raise AssertionError(f"expected a tensor back, got {type(out).__name__}")
    if not out.requires_grad:
        raise AssertionError("the result does not depend on the inputs through torch operations "
                             "(its requires_grad is False): was it computed with numpy, .item() or .detach()?")
    weights = torch.ones_like(out) if grad_output is None else grad_output
    needs = [x for x in leaves if isinstance(x, torch.Tensor) and x.requires_grad]
    found = iter(torch.autograd.grad((out * weights).sum(), needs, allow_unused=True))
    grads = []
    for x in leaves:
        if isinstance(x, torch.Tensor) and x.requires_grad:
            g = next(found)
            grads.append(torch.zeros_like(x) if g is None else g.detach())
        else:
            grads.append(None)
    return out.detach(), tuple(grads)


@beside_student_code
def forward_calls(module, fn, *args, **kwargs):
    """(result, calls): result = fn(*args, **kwargs), and for each call of `module` (an nn.Module)
    while fn ran, a dict: `grad_enabled` (was autograd recording?), `training` (the module's mode)
    and `shapes` (the shapes of its tensor arguments). So a test can check "in evaluation mode,
    under torch.no_grad(), n_batches batches of this shape" without a probe class of its own.
    Runs in the student's process when graded; `calls` is plain data."""
    calls = []

    def record(mod, inputs, kw):
        calls.append(dict(grad_enabled=torch.is_grad_enabled(), training=mod.training,
                          shapes=[tuple(a.shape) for a in (*inputs, *kw.values()) if isinstance(a, torch.Tensor)]))

    hook = module.register_forward_pre_hook(record, with_kwargs=True)
    try:
        result = fn(*args, **kwargs)
    finally:
        hook.remove()
    return result, calls


def raises_not_implemented(fn, *args, **kwargs) -> bool:
    """True while an exercise still holds its stub (so a test can say "not done yet" kindly)."""
    try:
        fn(*args, **kwargs)
    except NotImplementedError:
        return True
    except Exception:
        return False
    return False


class _CallRecorder(TorchFunctionMode):
    """Notes every torch function in `targets` that is called while the mode is active."""

    def __init__(self, targets):
        super().__init__()
        self.targets, self.seen = targets, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.targets:
            self.seen.append(self.targets[func])
        return func(*args, **(kwargs or {}))


@beside_student_code
def assert_written_by_hand(what: str, fn, *args, torch_functions=(), modules=(), functions=(), **kwargs):
    """Call fn(*args, **kwargs) and fail if it used any of `torch_functions` (torch.nn modules that
    call them count too: nn.LayerNorm calls F.layer_norm), any function defined in `modules`, or any
    of the Python `functions` (when the rest of their module may run: a reference model's forward).
    Returns fn's result. The calls are recorded and checked afterwards, so no try/except hides them.
    """
    targets = {f: f"{getattr(f, '__module__', None) or 'torch'}.{f.__name__}" for f in torch_functions}
    files = {inspect.getsourcefile(m): m.__name__ for m in modules}
    codes = {inspect.unwrap(f).__code__: f"{f.__module__}.{f.__qualname__}" for f in functions}   # past decorators
    used_modules = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename in files:
            used_modules.append(f"{files[frame.f_code.co_filename]}.{frame.f_code.co_name}")
        elif event == "call" and frame.f_code in codes:
            used_modules.append(codes[frame.f_code])

    recorder = _CallRecorder(targets)
    old_profile = sys.getprofile()
    sys.setprofile(profile)
    try:
        with recorder:
            result = fn(*args, **kwargs)
    finally:
        sys.setprofile(old_profile)
    used = list(dict.fromkeys(recorder.seen + used_modules))
    if used:
        raise AssertionError(f"{what} calls {', '.join(used)}: the exercise is to write it yourself "
                             f"from tensor operations (matmul, softmax, mean, ...)")
    return result
