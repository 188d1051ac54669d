"""nbgrader's Execute preprocessor with three changes, configured in by the worker.

1. The kernel is a SandboxedKernelManager (see sandbox.py), started isolated with the grader's guard
   (guard.py) installed before any notebook code.
2. A kernel that dies (os._exit, a segfault, running out of memory), or a cell that does not stop
   when interrupted at its timeout (it ignores SIGINT, or forks without end), costs that cell, not
   the whole submission: nbgrader alone writes nothing and the student scores 0. Here the notebook
   is run again from the top with that cell replaced by a `raise`, so every other cell still
   counts; a log line "[grader] <what> in cell N" tells the grader to say so.
3. Grades must be earned: before the first cell the guard takes trusted copies of what the tests use
   (running the RELEASED notebook's imports); after every cell it puts back whatever the cell changed
   among them; just before each graded test cell it rebinds the names that test reads and sets only
   the trusted IPython hooks; just after, it remembers the helpers the test defined. The grader talks
   to the guard through a user expression of an empty, silent execute request (no input transformer
   or cell hook sees it, and nothing lands in the notebook), and checks that the answer carries its
   nonce. What the guard found, or its silence, becomes a log line "[grader-flag] cell N: <what>":
   the submission is flagged for the instructor, its score stays what the tests gave with trusted
   tools. A test cell's output cannot be cleared by the notebook's code (a failure would vanish).
"""
from __future__ import annotations

import ast
import copy
import json
import re
import secrets

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute

from .guard import DOOR_NAME
from .sandbox import SandboxedKernelManager

CRASH_MARK = "[grader]"
FLAG_MARK = "[grader-flag]"
GUARD_TIMEOUT = 300   # seconds for one call to the guard, whatever the cell time limit
WHAT = {DeadKernelError: "kernel died in cell {cell} (os._exit, a crash, or too much memory)",
        CellTimeoutError: "cell {cell} did not stop when interrupted at its time limit"}
SKIPPED = ("raise RuntimeError('The grader skipped this cell: running it killed the Python kernel "
           "(os._exit, a crash, too much memory) or it did not stop when interrupted at its time limit. "
           "The cells after it were still graded.')")


RELEASE_MEMORY = """
import sys, gc
sys.last_type = sys.last_value = sys.last_traceback = None
_ip = get_ipython()
for _name in ("InteractiveTB", "SyntaxTB"):
    if hasattr(getattr(_ip, _name, None), "tb"):
        getattr(_ip, _name).tb = None
_ip.last_execution_result = None
del _ip, _name
gc.collect()
"""


def parse_grader_log(log: str) -> tuple[list[str], list[str]]:
    """(crashes, flags) from an autograde log: what follows each CRASH_MARK and FLAG_MARK, in order."""
    crashes, flags = [], []
    for line in (log or "").splitlines():
        if FLAG_MARK in line:
            flags.append(line.split(FLAG_MARK, 1)[1].strip())
        elif CRASH_MARK in line:
            crashes.append(line.split(CRASH_MARK, 1)[1].strip())
    return crashes, list(dict.fromkeys(flags))


def release_imports(nb) -> list[str]:
    """The import statements of a released notebook's given cells (not its answer cells), as source.

    The guard runs them before any student code, so the names they bind are the trusted ones."""
    statements = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        todo = list(tree.body)
        while todo:
            node = todo.pop(0)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                statements.append(ast.unparse(node))
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                todo += [n for field in ("body", "orelse", "finalbody", "handlers") for n in getattr(node, field, [])]
            elif isinstance(node, ast.ExceptHandler):
                todo += node.body
    return list(dict.fromkeys(statements))


def cell_names(source: str) -> tuple[list[str], list[str]]:
    """(names the cell reads, names it binds at its top level) of a test cell's source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return sorted(set(re.findall(r"[A-Za-z_]\w*", source))), []
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    # Names assigned inside the test's own functions are theirs, not the notebook's: harmless to keep.
    return sorted(read), sorted(bound)


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class CrashTolerantExecute(Execute):
    max_crashes = 3
    trusted_imports: list[str] = []     # set by the worker: release_imports(the released notebook)
    _in_test = False

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    def _guard(self, action: str, args=None) -> list[str] | None:
        """Ask the guard in the kernel to do `action`; what it found, or None if it did not answer."""
        nonce = secrets.token_hex(8)
        expression = f"{DOOR_NAME}({nonce!r}, {action!r}, {json.dumps(args or [])})"
        cell_timeout, self.timeout = self.timeout, max(self.timeout or 0, GUARD_TIMEOUT)   # arming imports torch
        try:
            reply = self.wait_for_reply(self.kc.execute("", silent=True, store_history=False,
                                                        user_expressions={"guard": expression}))
        finally:
            self.timeout = cell_timeout
        try:
            value = reply["content"]["user_expressions"]["guard"]
            if value.get("ename") == "MemoryError":   # out of memory: the tests cannot run either
                return []
            answer = json.loads(ast.literal_eval(value["data"]["text/plain"]))
            if answer["nonce"] == nonce:
                return [str(f) for f in answer["flags"]]
        except Exception:
            pass
        return None

    def _record(self, where: str, found: list[str] | None) -> None:
        if found is None:
            found = ["the grader's guard did not answer (its checks were disabled)"]
        for what in found:
            text = f"{where}: {what}"
            if text not in self._flags:
                self._flags.append(text)

    def clear_output(self, outs, msg, cell_index):
        if self._in_test:   # a test's failure must not be wiped by code the notebook left running
            self._record(f"cell {cell_index + 1}", ["cleared a test cell's output (a failure would vanish)"])
            return
        super().clear_output(outs, msg, cell_index)

    def preprocess_cell(self, cell, resources, index):
        self._current_index = index
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        if not self._armed:
            self._armed = True
            found = self._guard("arm", self.trusted_imports)
            if found is None:   # interrupted (a loaded machine): once more
                found = self._guard("arm", self.trusted_imports)
            if found is None:
                self._guard_off = True
                found = ["the grader's guard did not start: this notebook's tests ran unguarded"]
            self._record("before cell 1", found)
        if self._guard_off:
            return self._execute_cell(cell, resources, index)
        test = is_test_cell(cell)
        if test:
            read, bound = cell_names(cell.source)
            self._record(f"before cell {index + 1}", self._guard("enter", [read, bound]))
        self._in_test = test
        try:
            cell, resources = self._execute_cell(cell, resources, index)
        finally:
            self._in_test = False
        self._record(f"cell {index + 1}", self._guard("leave", bound) if test else self._guard("check"))
        return cell, resources

    def _execute_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if any(o.get("output_type") == "error" and o.get("ename") == "MemoryError" for o in cell.get("outputs", [])):
            # IPython keeps the last traceback, and with it every frame's memory: a MemoryError in one
            # cell would then starve all later cells. Let go of it, quietly.
            self.wait_for_reply(self.kc.execute(RELEASE_MEMORY, silent=True, store_history=False))
        return cell, resources

    def preprocess(self, nb, resources=None, km=None):
        original = copy.deepcopy(nb)
        crashed: list[int] = []
        while True:
            attempt = copy.deepcopy(original)
            for i in crashed:
                attempt.cells[i].source = SKIPPED
            self._current_index = -1
            self._armed, self._guard_off, self._in_test, self._flags = False, False, False, []
            try:
                out, resources = super().preprocess(attempt, resources, km)
            except (DeadKernelError, CellTimeoutError) as exc:
                i = self._current_index
                if i < 0 or i in crashed or len(crashed) >= self.max_crashes:
                    raise
                crashed.append(i)
                self.log.warning("%s %s", CRASH_MARK, WHAT[type(exc)].format(cell=i + 1))
                continue
            for i in crashed:  # show the student's own code, with the error the grader recorded
                out.cells[i].source = original.cells[i].source
            for text in self._flags:
                self.log.warning("%s %s", FLAG_MARK, text)
            return out, resources
