"""Run one prepared notebook: student cells in the sandboxed kernel, test cells here, points from here.

Each code cell runs where it belongs:
- a test cell (nbgrader `grade`, not an answer) on the trusted side (trusted.run_test); it earns its
  points if and only if it finished without raising there, whatever the kernel printed or returned;
- a read-only cell (helpers the tests use) in both places: in the kernel, as in Jupyter, and on the
  trusted side, so that the tests call the instructor's helpers, not the kernel's; but a class such a
  cell defines (ch07's engine: the Tensor the student's code builds on) is the kernel's on the trusted
  side too, so that a test's objects are of the class the student's code expects;
- every other cell in the kernel (kernel.run_cell), its outputs kept for the instructor.
Before each test cell, and at the end, the kernel's guard reports what notebook code replaced since
(flags, no points): a check per test cell, not per cell, because none of them decides a point.

A cell gets the cell time limit; once one has timed out, later cells that are not tests get
AFTER_TIMEOUT (config.py), so a looping function costs one full timeout. A kernel that dies, or
does not stop when interrupted, costs the cell it was running: the notebook is run again from the
top in a fresh kernel with that cell skipped (a test cell then fails), at most MAX_CRASHES times.
"""
from __future__ import annotations

import ast
import copy
import time
from dataclasses import dataclass, field

from . import cells as nbcells
from .remote import KernelDied
from .trusted import Grading, Outcome, new_namespace, run_test

MAX_CRASHES = 3
SKIPPED = ("raise RuntimeError('The grader skipped this cell: running it killed the Python kernel "
           "(os._exit, a crash, too much memory) or it did not stop when interrupted at its time limit. "
           "The cells after it were still graded.')")
CRASHED = {"died": "kernel died in cell {cell} (os._exit, a crash, or too much memory)",
           "stuck": "cell {cell} did not stop when interrupted at its time limit"}


@dataclass
class Ran:
    """One cell as it ran: its outputs (notebook format), and for a test cell its outcome."""
    index: int
    where: str                      # "kernel", "trusted" (a test) or "both" (a read-only helper)
    outputs: list = field(default_factory=list)
    outcome: Outcome | None = None
    seconds: float = 0.0
    limit: float = 0.0


@dataclass
class RunResult:
    cells: dict[int, Ran] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    failed: str | None = None        # the notebook could not be graded at all: why


class NotebookRun:
    def __init__(self, nb, imports: list[str], start_kernel, cell_timeout: float, after_timeout: float):
        self.nb, self.imports, self.start_kernel = nb, imports, start_kernel
        self.cell_timeout, self.after_timeout = cell_timeout, after_timeout

    def run(self) -> RunResult:
        skipped: dict[int, str] = {}
        while True:
            result = RunResult()
            crash = self._attempt(result, skipped)
            if crash is None:
                result.crashes = [CRASHED[how].format(cell=i + 1) for i, how in skipped.items()]
                return result
            index, how = crash
            if index in skipped or len(skipped) >= MAX_CRASHES:
                result.failed = "the kernel died again and again (os._exit, crashes or memory)"
                result.crashes = [CRASHED[how].format(cell=i + 1) for i, how in skipped.items()]
                return result
            skipped[index] = how

    def _attempt(self, result: RunResult, skipped: dict[int, str]):
        """Run every cell once; (index, how) of the cell that killed the kernel, or None."""
        kernel = self.start_kernel()
        session = kernel.session
        import course_lib.testing as testing
        testing._grader = Grading(session)
        try:
            result.flags += [f"before cell 1: {f}" for f in kernel.flags]
            namespace = new_namespace(session)
            source = "\n".join(f"try:\n    {line}\nexcept Exception:\n    pass" for line in self.imports)
            imports = run_test(source, "<grader: the release's imports>", namespace, session, time.monotonic() + 300)
            if imports.kind != "passed":
                raise RuntimeError(f"the released notebook's imports failed on the trusted side: {imports.message}")
            tripped = False
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                test, helper = nbcells.is_test(cell), nbcells.is_read_only(cell)
                limit = self.cell_timeout if test or not tripped else min(self.cell_timeout, self.after_timeout)
                ran = Ran(index, "trusted" if test else "both" if helper else "kernel", limit=limit)
                result.cells[index] = ran
                start = time.monotonic()
                try:
                    if index in skipped:
                        if test:
                            ran.outcome = Outcome("died", "KernelDied", "running this test killed the kernel, or it "
                                                  "did not stop when interrupted at its time limit")
                        else:
                            ran.outputs = self._kernel_cell(session, SKIPPED, index, limit)[0]
                        continue
                    if test:
                        result.flags += [f"before cell {index + 1}: {f}" for f in session.request("check")]
                        ran.outcome = run_test(cell.source, f"<test cell {nbcells.grade_id(cell)}>", namespace, session,
                                               start + limit)
                        ran.outputs = _test_outputs(ran.outcome)
                        if ran.outcome.kind == "died":
                            return index, "died"
                        if ran.outcome.kind == "timeout":
                            tripped = True
                            session.resync()
                        continue
                    ran.outputs, timed_out, flags = self._kernel_cell(session, cell.source, index, limit)
                    result.flags += [f"cell {index + 1}: {f}" for f in flags]
                    tripped = tripped or timed_out
                    if helper:
                        outcome = run_test(cell.source, f"<read-only cell {nbcells.grade_id(cell)}>", namespace,
                                           session, time.monotonic() + limit)
                        if outcome.kind == "died":
                            return index, "died"
                        for name in _classes_defined(cell.source):   # looked up in the kernel from now on
                            namespace.pop(name, None)
                finally:
                    ran.seconds = time.monotonic() - start
            result.flags += [f"at the end: {f}" for f in session.request("check")]
            return None
        except KernelDied as exc:
            index = max(result.cells) if result.cells else -1
            return index, "stuck" if "did not stop" in str(exc) else "died"
        finally:
            testing._grader = None
            kernel.close()

    def _kernel_cell(self, session, source: str, index: int, limit: float):
        session.deadline = time.monotonic() + limit
        try:
            reply = session.request("cell", source, index)
        finally:
            session.deadline = None
        if type(reply) is not dict:
            return [], session.interrupted, []
        flags = [str(f) for f in reply.get("flags", []) if isinstance(f, str)][:50]
        return sanitize_outputs(reply.get("outputs")), session.interrupted, flags


def _classes_defined(source: str) -> list[str]:
    try:
        return [node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]
    except SyntaxError:
        return []


def _test_outputs(outcome: Outcome) -> list[dict]:
    outputs = [{"output_type": "stream", "name": "stdout", "text": outcome.stdout[:100_000]}] if outcome.stdout else []
    if outcome.kind != "passed":
        outputs.append({"output_type": "error", "ename": outcome.ename or outcome.kind,
                        "evalue": outcome.message[:20_000], "traceback": [outcome.trace[-50_000:]]})
    return outputs


OUTPUT_KEYS = {"stream": ("name", "text"), "display_data": ("data",), "execute_result": ("data", "execution_count"),
               "error": ("ename", "evalue", "traceback")}


def sanitize_outputs(raw) -> list[dict]:
    """The kernel's outputs as notebook outputs: only known kinds and fields, strings, bounded sizes."""
    outputs, budget = [], 2_500_000
    for item in raw if type(raw) is list else []:
        if type(item) is not dict or item.get("output_type") not in OUTPUT_KEYS:
            continue
        kind = str(item["output_type"])
        out = {"output_type": kind}
        for key in OUTPUT_KEYS[kind]:
            value = item.get(key)
            if key == "data":
                value = {str(k): str(v) for k, v in (value.items() if type(value) is dict else []) if type(v) is str}
                out["metadata"] = {}
            elif key == "execution_count":
                value = value if type(value) is int else None
            elif key == "traceback":
                value = [str(line) for line in value] if type(value) is list else []
            else:
                value = str(value) if value is not None else ""
            out[key] = value
        size = len(str(out))
        if size > budget:
            break
        budget -= size
        outputs.append(out)
    return outputs


def graded_notebook(nb, result: RunResult):
    """The notebook with every cell's outputs, for the instructor (it holds hidden tests)."""
    import nbformat
    graded = copy.deepcopy(nb)
    for index, cell in enumerate(graded.cells):
        if cell.cell_type != "code":
            continue
        ran = result.cells.get(index)
        cell.outputs = [nbformat.from_dict(o) for o in (ran.outputs if ran else [])]
        cell.execution_count = None
        cell.metadata["autograder"] = ({"ran": ran.where, "seconds": round(ran.seconds, 3), "limit": ran.limit}
                                       if ran else {"ran": "not run"})
    return graded
