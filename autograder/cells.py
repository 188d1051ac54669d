"""What an nbgrader cell is, in one place: kinds, grade ids, points, hidden-test blocks, parts.

Every other module (release, repair, grade, feedback, report) and the tests read cells through
these functions, never through `cell.metadata["nbgrader"]` chains of their own.

- an *answer* cell: `solution: true` (students write code in it; it may also be graded manually);
- a *test* cell: `grade: true` and not `solution` (autograded; its points count);
- a *read-only* code cell: `locked`, neither answer nor test (helpers the tests use);
- a test cell's *hidden block*: the lines between HIDDEN_BEGIN and HIDDEN_END, which the release
  drops and the grader puts back; the lines above it are the *visible* tests students see;
- a *part*: what students see as "Part N", from the nearest "Part N" heading above a cell.
"""
from __future__ import annotations

import ast
import re

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
HIDDEN_BLOCK = re.compile(re.escape(HIDDEN_BEGIN) + r".*?" + re.escape(HIDDEN_END) + r"\r?\n?", re.S)
# A hidden line shorter than this is too common (`assert ok`, `x = 1`) to tell a leak from chance.
SECRET_MIN_CHARS = 12
PART_HEADING = re.compile(r"^#+\s*Part\s+(\d+)\b", re.M)


def meta(cell) -> dict | None:
    """The cell's nbgrader metadata, or None (missing, or not a dict as a broken export may have)."""
    value = cell.get("metadata", {}).get("nbgrader")
    return value if isinstance(value, dict) else None


def grade_id(cell) -> str | None:
    return (meta(cell) or {}).get("grade_id")


def is_answer(cell) -> bool:
    return bool((meta(cell) or {}).get("solution"))


def is_test(cell) -> bool:
    m = meta(cell) or {}
    return bool(m.get("grade")) and not m.get("solution")


def is_graded(cell) -> bool:
    return bool((meta(cell) or {}).get("grade"))


def is_locked(cell) -> bool:
    return bool((meta(cell) or {}).get("locked"))


def is_read_only(cell) -> bool:
    """A locked cell that is neither an answer nor graded: given code the tests rely on (test helpers).
    When graded it runs on the trusted side too, from the instructor's source."""
    m = meta(cell) or {}
    return cell.get("cell_type") == "code" and bool(m.get("locked")) and not m.get("solution") and not m.get("grade")


def points(cell) -> float:
    return float((meta(cell) or {}).get("points", 0))


def test_cells(nb) -> list[tuple[str, float]]:
    """(grade_id, points) of the autograded test cells, in notebook order."""
    return [(grade_id(c), points(c)) for c in nb.cells if is_test(c)]


def by_grade_id(nb) -> dict[str, object]:
    """grade_id -> cell, for the cells that have one."""
    return {grade_id(c): c for c in nb.cells if grade_id(c)}


def max_score(nb) -> float:
    return sum(p for _, p in test_cells(nb))


# ---- hidden tests ---------------------------------------------------------------------------------

def visible_line_count(source: str) -> int:
    """Lines of a test cell that students see (all of them if it has no hidden block)."""
    lines = source.splitlines()
    return next((i for i, line in enumerate(lines) if line.strip() == HIDDEN_BEGIN), len(lines))


def hidden_lines(source: str) -> list[str]:
    """The substantial lines (stripped) of a cell's hidden blocks: what feedback must never quote."""
    lines = []
    for block in re.findall(re.escape(HIDDEN_BEGIN) + r"(.*?)" + re.escape(HIDDEN_END), source, flags=re.S):
        lines += [line.strip() for line in block.splitlines() if len(line.strip()) > SECRET_MIN_CHARS]
    return lines


def strip_hidden_tests(source: str) -> str:
    """The cell as the release has it: hidden blocks removed (nbgrader's ClearHiddenTests)."""
    return HIDDEN_BLOCK.sub("", source)


def same_visible_source(a: str, b: str) -> bool:
    """The same cell once hidden blocks, trailing spaces and line endings are set aside (editors and
    Colab change those)."""
    def norm(s):
        return "\n".join(line.rstrip() for line in strip_hidden_tests(s).splitlines()).strip()
    return norm(a) == norm(b)


# ---- parts, as students see them --------------------------------------------------------------------

def part_names(nb) -> list[str]:
    """For each cell, how a student finds it: "Part N", else the heading above it, else "the set-up cell"."""
    names, current = [], "the first cells"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = PART_HEADING.search(cell.source)
            if m:
                current = f"Part {m.group(1)}"
            else:
                heading = next((line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")), None)
                if heading and not heading.lower().startswith("exercises"):
                    current = f"the cells under “{heading}”"
        names.append(current)
    return names


def describe(nb, index: int) -> str:
    """A cell by its part, e.g. "Part 3's test cell", "Part 3 (your answer)", for messages to students."""
    name = part_names(nb)[index]
    cell = nb.cells[index]
    if is_test(cell):
        return f"{name} (its test cell)"
    if is_answer(cell):
        return f"{name} (your answer)"
    return name


# ---- the imports the tests rely on -------------------------------------------------------------------

def release_imports(nb) -> list[str]:
    """The import statements of a released notebook's given cells (not its answer cells), as source.

    The trusted side runs them before the first test (the names tests use are the grader's), and the
    zygote before the first kernel (so that importing them costs a submission nothing)."""
    statements = []
    for cell in nb.cells:
        if cell.cell_type != "code" or is_answer(cell):
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
