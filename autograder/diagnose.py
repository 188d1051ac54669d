"""What a grading run says about one submission, in words for the instructor and the student.

From the worker's answer and the graded notebook: why a notebook could not be graded; which part
ran past its time; which part ran out of memory (and that later failures may follow from it).
"""
from __future__ import annotations

from . import cells as nbcells
from .config import TIMEOUT_ERRORS

def failure_status(result: dict, notebook_timeout: int, log_path) -> str | None:
    """The status of a submission the worker could not grade, or None if it was graded."""
    if result.get("timeout"):
        return (f"timed out: grading stopped after {notebook_timeout} s, the limit for a "
                f"whole notebook (an endless loop, or far too slow)")
    if result.get("worker_died"):
        return f"could not be graded: the grading process died (exit {result['worker_died']})"
    if result.get("success"):
        return None
    error = str(result.get("error") or "unknown error")
    if result.get("trace"):      # the worker itself failed: not the submission's doing (a re-run tries again)
        return f"grader error: {error}"[:300]
    if "kernel did not start" in error:
        return (f"could not be graded: the Python kernel did not start (a problem of the grading "
                f"machine, not the submission; see {log_path})")
    if "died again and again" in error:
        return "could not be graded: the kernel died again and again (os._exit, crashes or memory)"
    return "could not be graded: " + error.strip().splitlines()[-1][:300]


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def _out_of_memory(output) -> bool:
    """An error output from hitting the memory limit: Python's MemoryError, or torch's allocator."""
    return output.get("ename") in ("MemoryError", "OutOfMemoryError") or "can't allocate memory" in output.get("evalue", "")


def _join(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def timeout_note(graded, cell_timeout: int) -> str | None:
    """"Part 2 did not finish in 60 s ...", parts named as the student sees them."""
    parts = nbcells.part_names(graded)
    timed_out = [i for i, c in enumerate(graded.cells) if any(o.get("ename") in TIMEOUT_ERRORS for o in _errors(c))]
    if not timed_out:
        return None
    return (f"{_join(dict.fromkeys(parts[i] for i in timed_out))} did not finish in {cell_timeout} s and "
            f"{'was' if len(timed_out) == 1 else 'were'} stopped (the cells after it still ran)")


def memory_status(graded, memory_mb: int) -> str | None:
    """Which cell ran out of memory first, the limit, and that later failures may follow from it."""
    out_of_memory = [i for i, c in enumerate(graded.cells) if any(map(_out_of_memory, _errors(c)))]
    if not out_of_memory:
        return None
    later = len(out_of_memory) - 1
    return (f"{nbcells.describe(graded, out_of_memory[0])} ran out of memory (the grader's limit is {memory_mb} MB "
            f"per notebook)" + (f"; {later} later cell(s) ran out too, which may follow from it: memory the first "
                                f"one kept is not given back" if later else ""))
