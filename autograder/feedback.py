"""Per-student feedback HTML that never shows hidden tests' source.

For each graded test: points, passed/failed, and why it failed. A failing *visible* line shows its
error message. A failing *hidden* test shows the message its author wrote for students (the
assertion's text), never its source, traceback or the cell's raw output (student code could have
printed hidden source there with an IPython hook); a message that quotes a hidden line is withheld.
A submission that could not be graded gets a page too: why, and what to resubmit.
"""
from __future__ import annotations

import html
import re

from nbformat import NotebookNode

from .results import NOT_SUBMITTED, StudentResult

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")


def failure_message(cell: NotebookNode | None, visible_lines: int, secret: list[str] = ()) -> str:
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
    # Student code can raise with whatever source it finds: a message that quotes hidden lines is withheld.
    leaks = any(line in message for line in secret)
    if m and int(m.group(1)) <= visible_lines and not leaks:
        return message
    if evalue.strip() and not leaks:
        return f"A hidden test failed: {message}"
    return (f"A hidden test failed ({ename}). Read the part's instructions again: the hidden tests check what "
            f"they ask for with other inputs than the visible tests use.")


WHAT_TO_DO = {
    "empty file": "Your file was empty. Open your notebook, check your work is there, save it and upload it again.",
    "unreadable notebook": "The file is not a notebook Jupyter can open (damaged or not saved as .ipynb). "
                           "Download it again from Jupyter or Colab (File → Download → .ipynb) and resubmit.",
    "not a Jupyter notebook": "The file is not a notebook. Resubmit the .ipynb file of this exercise.",
    "not a notebook": "The file is not a notebook. Resubmit the .ipynb file of this exercise.",
    "no .ipynb file": "No notebook was found in what you handed in. Resubmit the .ipynb file of this exercise.",
    "wrong assignment": "You handed in another exercise's notebook. Resubmit the notebook of this exercise.",
    "unsupported notebook format": "Open the notebook in Jupyter or Colab, save it and resubmit.",
    NOT_SUBMITTED: "Nothing was received from you for this exercise.",
}


def _what_to_do(status: str) -> str | None:
    return next((advice for start, advice in WHAT_TO_DO.items() if status.startswith(start)), None)


def render(result: StudentResult, assignment: str, max_score: float) -> str:
    def esc(x):
        return html.escape(str(x))
    notes = [*result.notes, *result.student_notes] + ([result.status] if result.status != "ok" else [])
    if result.graded:
        items = []
        for t in result.tests:
            passed = t.message is None
            mark = "passed" if passed else "failed"
            detail = "" if passed else f"<pre>{esc(t.message)}</pre>"
            items.append(f"<tr class='{mark}'><td><code>{esc(t.grade_id)}</code></td>"
                         f"<td>{t.points:g} / {t.max_points:g}</td><td>{mark}{detail}</td></tr>")
        headline = f"{result.score:g} / {max_score:g}"
        body = f"<table><tr><th>test</th><th>points</th><th>result</th></tr>\n{''.join(items)}\n</table>"
    else:
        headline = f"not graded (of {max_score:g})"
        advice = _what_to_do(result.status)
        body = (f"<p class='ungraded'>Your submission could not be graded: {esc(result.status)}.</p>"
                + (f"<p>{esc(advice)}</p>" if advice else ""))
        notes = list(result.notes)
    label = "Graded file" if result.graded else "File received"
    graded_file = f"<p>{label}: <code>{esc(result.submitted_file)}</code></p>" if result.submitted_file else ""
    note_html = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(assignment)} feedback: {esc(result.student_id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border-bottom: 1px solid #ddd; padding: .5rem; text-align: left; vertical-align: top; }}
tr.passed td:last-child {{ color: #2e7d32; }} tr.failed td:last-child {{ color: #c62828; }}
pre {{ white-space: pre-wrap; color: #333; background: #f6f6f6; padding: .5rem; }}
</style></head><body>
<h1>{esc(assignment)}: {headline}</h1>
<p>Student: <code>{esc(result.student_id)}</code></p>
{graded_file}
{body}
{f'<h2>Notes from the grader</h2><ul>{note_html}</ul>' if notes else ''}
</body></html>
"""
