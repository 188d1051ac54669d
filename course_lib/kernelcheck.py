"""Run a kernel that an exercise generated as Python source, beside the student's code.

Introduced in chapter 7 (under the hood): the exercise that prints a fused kernel as Python source is
graded by running that source. Source text from a student is code, so it runs only here, in a
function marked @beside_student_code (when graded: in the student's process; here: in place), and
only plain data (a list of floats) comes back. No C compiler is needed.
"""
from __future__ import annotations

import math

import numpy as np

from .testing import beside_student_code


@beside_student_code
def run_kernel_source(source: str, name: str, out_size: int, buffers: dict) -> list[float]:
    """Execute `source` (Python text that defines function `name`), call name(out, **buffers) with
    `out` a list of out_size zeros and each buffer a flat list of floats, and return out."""
    if not isinstance(source, str):
        raise AssertionError(f"expected the kernel's source as a str, got {type(source).__name__}")
    namespace = {"math": math, "__name__": "generated_kernel"}
    try:
        exec(compile(source, f"<generated {name}>", "exec"), namespace)
    except SyntaxError as exc:
        raise AssertionError(f"the generated source does not parse: {exc.msg} in line {exc.lineno}: "
                             f"{(exc.text or '').strip()!r}") from None
    if not callable(namespace.get(name)):
        defined = sorted(k for k in namespace if not k.startswith("__") and k != "math")
        raise AssertionError(f"the generated source must define a function named {name!r}; it defines {defined}")
    out = [0.0] * int(out_size)
    namespace[name](out, **{k: [float(x) for x in np.asarray(v).reshape(-1)] for k, v in buffers.items()})
    return [float(x) for x in out]
