"""Per-student feedback HTML that never shows hidden tests.

For each graded test: points, passed/failed, and, when a *visible* test line failed, its error
message. When only hidden tests failed, the student learns that and the error type, nothing more:
no hidden source, no traceback, no raw output (student code could have printed hidden test
source into it with an IPython hook).
"""
from __future__ import annotations

import html
import re

from nbformat import NotebookNode

HIDDEN_MARK = "### BEGIN HIDDEN TESTS"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")


def visible_line_count(source_cell_source: str) -> int:
    """Lines of a test cell that students see (all of them if there are no hidden tests)."""
    lines = source_cell_source.splitlines()
    return next((i for i, line in enumerate(lines) if line.strip() == HIDDEN_MARK), len(lines))


def hidden_lines(source_cell_source: str) -> list[str]:
    """The substantial lines of a test cell's hidden block."""
    lines = source_cell_source.splitlines()
    start = visible_line_count(source_cell_source)
    return [line.strip() for line in lines[start + 1:] if len(line.strip()) > 12 and "END HIDDEN TESTS" not in line]


def test_result(cell: NotebookNode | None, visible_lines: int, secret: list[str] = ()) -> str:
    """A student-safe sentence about why a test cell failed."""
    if cell is None:
        return "This test cell was missing from your notebook; it was put back and run."
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        if any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in cell.get("outputs", [])):
            return "The cell wrote to stderr (a warning or print to sys.stderr), which counts as a failure."
        return "The test did not pass."
    err = errors[0]
    ename, evalue = err.get("ename", "Error"), err.get("evalue", "")
    if ename == "NotImplementedError":
        return "Not attempted yet: the function still raises NotImplementedError."
    trace = ANSI.sub("", "\n".join(err.get("traceback", [])))
    m = CELL_LINE.search(trace)
    message = f"{ename}: {evalue}"[:2000]
    # A visible line failed: its message teaches. Unless it quotes hidden tests (student code can
    # raise with whatever source it finds), in which case it is treated like a hidden failure.
    if m and int(m.group(1)) <= visible_lines and not any(line in message for line in secret):
        return message
    return (f"A hidden test failed ({ename}). Hidden tests try more cases than the visible ones: other "
            f"shapes, a batch of one, other dtypes, edge values. Check that your code handles them.")


def render(student_id: str, assignment: str, rows: list[dict], score: float, max_score: float, notes: list[str]) -> str:
    """rows: dicts with grade_id, points, max_points, message (None when passed)."""
    def esc(x):
        return html.escape(str(x))
    items = []
    for r in rows:
        passed = r["message"] is None
        mark = "passed" if passed else "failed"
        detail = "" if passed else f"<pre>{esc(r['message'])}</pre>"
        items.append(f"<tr class='{mark}'><td><code>{esc(r['grade_id'])}</code></td>"
                     f"<td>{r['points']:g} / {r['max_points']:g}</td><td>{mark}{detail}</td></tr>")
    note_html = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(assignment)} feedback: {esc(student_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }}
tr.passed td:last-child {{ color: #2e7d32; }} tr.failed td:last-child {{ color: #c62828; }}
pre {{ white-space: pre-wrap; color: #333; background: #f6f6f6; padding: .5rem; }}
</style></head><body>
<h1>{esc(assignment)}: {score:g} / {max_score:g}</h1>
<p>Student: <code>{esc(student_id)}</code></p>
<table><tr><th>test</th><th>points</th><th>result</th></tr>
{''.join(items)}
</table>
{f'<h2>Notes from the grader</h2><ul>{note_html}</ul>' if notes else ''}
</body></html>
"""
