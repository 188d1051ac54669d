"""Per-student feedback HTML that never shows hidden tests' source.

For each graded test: points, passed/failed, and why it failed, from the trusted side's record of
how the test ended (never from anything the student's kernel printed). A failing *visible* line
shows its error message. A failing *hidden* test shows the message its author wrote for students,
never its source or traceback; an exception raised in student code shows as "Your code raised" and
its first line, cut short (hidden-test source never reaches the student's process, so it cannot be
there; a message that quotes a hidden line is withheld all the same). A submission that could not
be graded gets a page too: why, and what to resubmit.
"""
from __future__ import annotations

import html

from .results import NOT_SUBMITTED, StudentResult

LIMIT = 2000    # characters of one test's message on the page


def failure_message(test: dict | None, visible_lines: int, secret: list[str] = ()) -> str:
    """A student-safe sentence about why a test cell failed, from how it ended on the trusted side
    (runner.py): its own message for a visible line, the author's message for a hidden one, the
    student's own error cut to one short line, and never a line of hidden-test source."""
    if test is None:
        return "This test did not run (the notebook could not be run to its end)."
    kind, ename, message, line = test.get("kind"), test.get("ename", ""), test.get("message", ""), test.get("line")
    if ename == "NotImplementedError" and kind == "student":
        return "Not attempted yet: the function still raises NotImplementedError."
    if kind == "timeout":
        return (f"The test did not finish in {test.get('limit', 0):g} s and was stopped: a loop that does not "
                f"end, or code far too slow for the test's small inputs.")
    if kind == "died":
        return ("Running your code killed the Python kernel (os._exit, a crash, or too much memory), so this "
                "test could not finish.")
    visible = line is not None and line <= visible_lines
    message = message[:LIMIT]
    leaks = any(hidden in message for hidden in secret)
    if kind == "student":
        text = f"Your code raised {message}" if not leaks else f"Your code raised {ename}"
        return text if visible else f"A hidden test failed: {text[0].lower()}{text[1:]}"
    if visible and not leaks:
        return message
    if message.partition(": ")[2].strip() and not leaks:
        return f"A hidden test failed: {message}"
    return (f"A hidden test failed ({ename or 'AssertionError'}). Read the part's instructions again: the hidden "
            f"tests check what they ask for with other inputs than the visible tests use.")


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
