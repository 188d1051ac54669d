"""nbgrader's Execute preprocessor with two changes, configured in by the worker.

1. The kernel is a SandboxedKernelManager (see sandbox.py).
2. A kernel that dies (os._exit, a segfault, running out of memory), or a cell that does not stop
   when interrupted at its timeout (it ignores SIGINT, or forks without end), costs that cell, not
   the whole submission: nbgrader alone writes nothing and the student scores 0. Here the notebook
   is run again from the top with that cell replaced by a `raise`, so every other cell still
   counts; a log line "[grader] <what> in cell N" tells the grader to say so.
"""
from __future__ import annotations

import copy

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute

from .sandbox import SandboxedKernelManager

CRASH_MARK = "[grader]"
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


class CrashTolerantExecute(Execute):
    max_crashes = 3

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    def preprocess_cell(self, cell, resources, index):
        self._current_index = index
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
            return out, resources
