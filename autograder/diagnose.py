"""What a grading run says about one submission, in words for the instructor and the student.

From the worker's answer and the graded notebook: why a notebook could not be graded; which part
ran past its time; which part ran out of memory (and that later failures may follow from it);
which nbgrader "checksum has changed" warnings are true (a test cell the student edited) and which
are nbgrader's own noise (the gradebook's copy of a test cell holds its hidden tests).
"""
from __future__ import annotations

from . import cells as nbcells
from .config import TIMEOUT_ERRORS

CHECKSUM_WARNING = "[WARNING] Attribute 'checksum' for cell "


def failure_status(result: dict, notebook_timeout: int, log_path) -> str | None:
    """The status of a submission the worker could not grade, or None if it was graded."""
    if result.get("timeout"):
        return (f"timed out: grading stopped after {notebook_timeout} s, the limit for a "
                f"whole notebook (an endless loop, or far too slow)")
    if result.get("worker_died"):
        return f"could not be graded: the grading process died (exit {result['worker_died']})"
    if result["success"]:
        return None
    log = result["log"] + "\n" + (result["error"] or "")
    if "Kernel died before replying to kernel_info" in log:
        return (f"could not be graded: the Python kernel did not start (a problem of the grading "
                f"machine, not the submission; see {log_path})")
    if "DeadKernelError" in log or "Kernel died" in log:
        return "could not be graded: the kernel died again and again (os._exit, crashes or memory)"
    return "could not be graded: " + _last_error(log)


def _last_error(log: str) -> str:
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("[ERROR]") and "see the" not in line.lower()]
    text = (errors or lines or ["unknown error"])[-1]
    return text.replace("[ERROR]", "").strip()[:300]


def true_checksum_warnings(log: str, submitted, release) -> tuple[str, list[str]]:
    """(the log without nbgrader's false checksum warnings, a note per test cell the student edited)."""
    theirs = {nbcells.grade_id(c): c.source for c in submitted.cells if nbcells.grade_id(c)}
    released = nbcells.by_grade_id(release)
    kept, notes = [], []
    for line in log.splitlines():
        if line.startswith(CHECKSUM_WARNING):
            gid = line[len(CHECKSUM_WARNING):].split(" has changed", 1)[0]
            if gid in released and gid in theirs and nbcells.same_visible_source(theirs[gid], released[gid].source):
                continue
            if gid in released and nbcells.is_test(released[gid]):
                notes.append(f"{gid}: the test cell was edited; the original was restored and run")
        kept.append(line)
    return "\n".join(kept) + ("\n" if log.endswith("\n") else ""), notes


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
