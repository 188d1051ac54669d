"""Result tables on the book's pages: rows of measurements as a real table, not a printout.

Introduced in chapter 2 (the micrograd speed table); every chapter's result tables use it.

A printout of aligned columns (print(f"{name:12s} {loss:8.3f}")) is a table only in a monospace
font on a wide screen: on a phone its lines wrap and the columns are lost, and a screen reader
reads it as a run of numbers. A Markdown table becomes an HTML table on the site (its cells
wrap, and a table still too wide scrolls inside its own box) and stays a table in Jupyter.

    table(["run", "seconds"], [["closure engine", 12.3], ["course_lib", 0.41]])
        an IPython Markdown object: the last value of a code cell whose metadata says
        `mystnb: {markdown_format: myst}`, or glue("name", table(...), display=False) and
        {glue:md}`name` where the page wants it. Numbers are right-aligned and shown with `digits`
        significant figures unless they are given as text.
"""
from __future__ import annotations

from numbers import Number


def cell(value, digits: int = 3) -> str:
    """One cell's text: numbers to `digits` significant figures, `|` escaped, never a line break."""
    if isinstance(value, bool) or not isinstance(value, Number):
        text = str(value)
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = f"{value:.{digits}g}"
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list], digits: int = 3, align: str | None = None) -> str:
    """The Markdown text of a table. align: one letter per column, l, r or c (default: r for a
    column of numbers, l otherwise)."""
    if any(len(row) != len(header) for row in rows):
        widths = sorted({len(row) for row in rows})
        raise ValueError(f"every row needs {len(header)} cells, one per header {header}; got rows of {widths}")
    if align is None:
        align = "".join("r" if rows and all(isinstance(r[i], Number) and not isinstance(r[i], bool)
                                            for r in rows) else "l" for i in range(len(header)))
    if len(align) != len(header) or set(align) - set("lrc"):
        raise ValueError(f"align needs one of l, r, c per column ({len(header)}), got {align!r}")
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join(rule[a] for a in align) + "|"]
    lines += ["| " + " | ".join(cell(v, digits) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def table(header: list[str], rows: list[list], digits: int = 3, align: str | None = None):
    """The table as an IPython Markdown object (see the module's docstring for where it goes)."""
    from IPython.display import Markdown

    return Markdown(markdown_table(header, rows, digits, align))
