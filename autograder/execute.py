"""nbgrader's Execute preprocessor with two changes, configured in by the worker.

1. The kernel is a SandboxedKernelManager (see sandbox.py).
2. A kernel that dies (os._exit, a segfault, running out of memory) costs the cell that killed it,
   not the whole submission: nbgrader alone writes nothing and the student scores 0. Here the
   notebook is run again from the top with that cell replaced by a `raise`, so every other cell
   still counts; the log line "[grader] kernel died in cell N" tells the grader to say so.
"""
from __future__ import annotations

import copy

from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute

from .sandbox import SandboxedKernelManager

CRASH_MARK = "[grader] kernel died in cell"
SKIPPED = ("raise RuntimeError('The grader skipped this cell: running it killed the Python kernel "
           "(os._exit, a crash, or too much memory). The cells after it were still graded.')")


class CrashTolerantExecute(Execute):
    max_crashes = 3

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)

    def preprocess_cell(self, cell, resources, index):
        self._current_index = index
        return super().preprocess_cell(cell, resources, index)

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
            except DeadKernelError:
                i = self._current_index
                if i < 0 or i in crashed or len(crashed) >= self.max_crashes:
                    raise
                crashed.append(i)
                self.log.warning("%s %d", CRASH_MARK, i + 1)
                continue
            for i in crashed:  # show the student's own code, with the error the grader recorded
                out.cells[i].source = original.cells[i].source
            return out, resources
