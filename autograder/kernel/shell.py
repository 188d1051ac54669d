"""An IPython shell that runs a notebook's cells in this process and keeps what each cell showed.

Not ipykernel: no ZMQ, no message loop, nothing to start per submission. `get_ipython()`, magics,
display() and matplotlib's inline figures work as in Jupyter; each cell's streams, displays, result
and error are collected as notebook outputs (capped in size) for the graded notebook the instructor
reads. None of this decides a point.
"""
from __future__ import annotations

import sys

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

MAX_TEXT = 100_000       # characters of stream output kept per cell
MAX_DATA = 2_000_000     # characters of display data (a PNG in base64) kept per cell
KEPT_MIMES = ("text/plain", "text/html", "text/markdown", "image/png", "image/svg+xml", "image/jpeg")


class _Outputs:
    def __init__(self):
        self.items: list[dict] = []
        self.text = self.data = 0

    def stream(self, name: str, text: str) -> None:
        if self.text >= MAX_TEXT or not text:
            return
        text = text[:MAX_TEXT - self.text]
        self.text += len(text)
        if self.text >= MAX_TEXT:
            text += "\n[output truncated by the grader]\n"
        last = self.items[-1] if self.items else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.items.append({"output_type": "stream", "name": name, "text": text})

    def display(self, kind: str, data: dict, count=None) -> None:
        kept = {}
        for mime in KEPT_MIMES:
            value = data.get(mime)
            if isinstance(value, str) and self.data + len(value) <= MAX_DATA:
                kept[mime] = value
                self.data += len(value)
        if kept:
            item = {"output_type": kind, "data": kept}
            if kind == "execute_result":
                item["execution_count"] = count
            self.items.append(item)


class _Stream:
    def __init__(self, shell, name):
        self.shell, self.name = shell, name
        self.encoding, self.errors = "utf-8", "replace"

    def write(self, text) -> int:
        self.shell.outputs.stream(self.name, str(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1 if self.name == "stdout" else 2


class _Publisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self.shell.outputs.display("display_data", data)

    def clear_output(self, wait=False):
        self.shell.outputs.items = [o for o in self.shell.outputs.items if o["output_type"] == "error"]


class _Hook(DisplayHook):
    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        self.shell.outputs.display("execute_result", format_dict, self.shell.execution_count)


class GradingShell(InteractiveShell):
    """The notebook's shell. `run(source)` -> {"outputs": [...], "error": exception name or None}."""

    def __init__(self, **kwargs):
        super().__init__(display_pub_class=_Publisher, displayhook_class=_Hook, **kwargs)
        self.outputs = _Outputs()
        self.streams = (_Stream(self, "stdout"), _Stream(self, "stderr"))

    def _showtraceback(self, etype, evalue, stb):
        text = "\n".join(stb) if isinstance(stb, list) else str(stb)
        self.outputs.items.append({"output_type": "error", "ename": getattr(etype, "__name__", "Error"),
                                   "evalue": str(evalue)[:MAX_TEXT], "traceback": [text[-MAX_TEXT:]]})

    def run(self, source: str) -> dict:
        self.outputs = _Outputs()
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.streams
        try:
            self.run_cell(source, store_history=True)
        finally:
            sys.stdout, sys.stderr = saved
        errors = [o for o in self.outputs.items if o["output_type"] == "error"]
        if errors and errors[-1]["ename"] == "MemoryError":
            self.release_memory()
        return {"outputs": self.outputs.items, "error": errors[-1]["ename"] if errors else None}

    def release_memory(self) -> None:
        """After a MemoryError, let go of the traceback IPython keeps (and with it every frame's memory)."""
        sys.last_type = sys.last_value = sys.last_traceback = None
        for name in ("InteractiveTB", "SyntaxTB"):
            if hasattr(getattr(self, name, None), "tb"):
                getattr(self, name).tb = None
        self.last_execution_result = None
        __import__("gc").collect()


def make_shell() -> GradingShell:
    """The shell, made once in the zygote: no history database, no colours, matplotlib inline."""
    from traitlets.config import Config
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    shell = GradingShell.instance(config=config)
    try:
        shell.enable_matplotlib("inline")
    except Exception:     # no matplotlib, or no inline backend: plots are simply not kept
        pass
    return shell
