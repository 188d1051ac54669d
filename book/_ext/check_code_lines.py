"""The line-length rule for code the book's pages show: `make lint` runs this.

At 1280 px a code cell's box holds CODE_LINE_CHARS characters (book/_static/site.css sets the
code font for it; the site's browser test measures what the browser shows: tests/test_site.py,
test_code_cells_fit_the_desktop_column); a longer line makes the reader scroll sideways, and
often hides what the line is for. Checked: the code cells and code blocks of book/**/*.md,
except cells tagged remove-input (never shown). Usage: python book/_ext/check_code_lines.py
[files...]; prints each long line as path:line: and exits 1 if there is one.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CODE_LINE_CHARS = 80     # PEP 8's 79 and one: site.css sizes code cells to hold 80 at 1280 px
FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\{code-cell\}|\{code-block\}|\{code\}|python|ipython3?|bash|text)?(.*)$")


def long_lines(path: Path, limit: int = CODE_LINE_CHARS) -> list[tuple[int, str]]:
    """(line number, line) of each shown code line longer than `limit` characters in a MyST page."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or m.group(2) is None:
            i += 1
            continue
        fence, start = m.group(1), i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith(fence):
            body.append((i + 1, lines[i]))
            i += 1
        i += 1
        options = "\n".join(text for _, text in body[:12] if text.startswith(":") or text.startswith("tags"))
        front = _front_matter(body)
        if "remove-input" in options or "remove-input" in front or "remove-cell" in options + front:
            continue
        found += [(n, text) for n, text in body if len(text) > limit and n > start + 1 + len(front.splitlines())]
    return found


def _front_matter(body: list[tuple[int, str]]) -> str:
    """A code cell's YAML options between --- lines at its top, as text ('' if none)."""
    if not body or body[0][1].strip() != "---":
        return ""
    for k, (_, text) in enumerate(body[1:], start=1):
        if text.strip() == "---":
            return "\n".join(t for _, t in body[:k + 1])
    return ""


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((REPO / "book").rglob("*.md"))
    bad = 0
    for path in paths:
        shown = path.resolve().relative_to(REPO).as_posix() if REPO in path.resolve().parents else str(path)
        for n, text in long_lines(path):
            print(f"{shown}:{n}: code line of {len(text)} characters (at most "
                  f"{CODE_LINE_CHARS}, or it scrolls at 1280 px): {text.strip()[:60]}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
