"""Re-attach nbgrader cell metadata that a submission lost (Colab does not reliably keep it).

Without it nbgrader 0.9.6 grades the notebook 0 without a word, or crashes with
`add_missing_cells`. Each graded cell of the release notebook is matched to a submission cell,
strongest evidence first, and its metadata copied over:
  1. the cell id (kept by Jupyter, often by Colab);
  2. the exact source of a locked cell (test cells: students must not edit them);
  3. the first line of an answer cell (the `def name(...)` line the stub starts with);
  4. position: the only unmatched cell of the right type between two matched neighbours.
"""
from __future__ import annotations

import copy

from nbformat import NotebookNode

from .cells import grade_id, is_answer, is_locked, is_read_only, is_test, same_visible_source
from .cells import meta as _nbgrader


def _first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")


def repair(submission: NotebookNode, release: NotebookNode) -> list[str]:
    """Repair `submission` in place against `release`; return notes on what was re-attached."""
    graded = [(i, c) for i, c in enumerate(release.cells) if grade_id(c)]
    by_id = {grade_id(c): c for _, c in graded}
    match: dict[str, int] = {}  # grade_id -> index of the submission cell that carries it

    # Keep metadata that is intact; drop metadata that names no cell of this assignment.
    for j, cell in enumerate(submission.cells):
        meta = _nbgrader(cell)
        if meta is None:
            continue
        gid = meta.get("grade_id")
        if gid in by_id and gid not in match and by_id[gid].cell_type == cell.cell_type:
            match[gid] = j
        else:
            del cell.metadata["nbgrader"]

    def free(j, cell_type):
        return j not in match.values() and submission.cells[j].cell_type == cell_type

    def attach(gid, j, how, notes):
        submission.cells[j].metadata["nbgrader"] = copy.deepcopy(_nbgrader(by_id[gid]))
        match[gid] = j
        notes.append(f"{gid}: metadata re-attached ({how})")

    notes: list[str] = []
    passes = [
        ("cell id", lambda rc, sc: rc.get("id") and sc.get("id") == rc.get("id")),
        ("locked source", lambda rc, sc: is_locked(rc) and same_visible_source(sc.source, rc.source)),
        ("first line", lambda rc, sc: is_answer(rc) and _first_line(rc.source)
         and _first_line(rc.source) in (line.strip() for line in sc.source.splitlines())),
    ]
    for how, same in passes:
        for _, rc in graded:
            gid = grade_id(rc)
            if gid in match:
                continue
            hits = [j for j, sc in enumerate(submission.cells) if free(j, rc.cell_type) and same(rc, sc)]
            if hits:
                attach(gid, hits[0], how, notes)

    # Position: between two matched neighbours (in release order), one unmatched release cell of a
    # type and one free submission cell of that type: they are the same cell.
    order = [grade_id(c) for _, c in graded]
    for k, gid in enumerate(order):
        if gid in match:
            continue
        lo = max((i for i in range(k) if order[i] in match), default=-1)
        hi = min((i for i in range(k + 1, len(order)) if order[i] in match), default=len(order))
        cell_type = by_id[gid].cell_type
        rivals = [g for g in order[lo + 1:hi] if g not in match and by_id[g].cell_type == cell_type]
        start = match[order[lo]] if lo >= 0 else -1
        stop = match[order[hi]] if hi < len(order) else len(submission.cells)
        gap = [j for j in range(start + 1, stop) if free(j, cell_type)]
        if len(rivals) == 1 and len(gap) == 1:
            attach(gid, gap[0], "position", notes)

    missing = [g for g in order if g not in match]
    if missing:
        notes.append("no cell found for " + ", ".join(missing) + " (nbgrader re-inserts missing test cells; a missing answer scores 0)")
    return notes



def restore(submission: NotebookNode, source: NotebookNode, release: NotebookNode) -> list[str]:
    """Make `submission` (repaired) the notebook to grade, in place: every test cell and read-only
    cell gets the instructor's source (hidden tests back in) and the release's metadata (its points,
    not the file's); one a student deleted is put back where the release has it. Answers stay as the
    student wrote them. Returns a note for each test cell whose visible source the student edited."""
    released = {grade_id(c): c for c in release.cells if grade_id(c) and (is_test(c) or is_read_only(c))}
    full = {grade_id(c): c.source for c in source.cells if grade_id(c)}
    notes, found = [], set()
    for cell in submission.cells:
        gid = grade_id(cell)
        if gid not in released or gid in found:
            continue
        found.add(gid)
        if is_test(released[gid]) and not same_visible_source(cell.source, released[gid].source):
            notes.append(f"{gid}: the test cell was edited; the original was restored and run")
        cell.source = full.get(gid, released[gid].source)
        cell.metadata["nbgrader"] = copy.deepcopy(_nbgrader(released[gid]))
    order = [grade_id(c) for c in release.cells if grade_id(c)]
    for k, gid in enumerate(order):
        if gid in released and gid not in found:
            before = [g for g in order[:k] if g in {grade_id(c) for c in submission.cells}]
            at = next((j + 1 for j, c in enumerate(submission.cells) if before and grade_id(c) == before[-1]), 0)
            cell = copy.deepcopy(released[gid])
            cell.source = full.get(gid, cell.source)
            submission.cells.insert(at, cell)
            found.add(gid)
    return notes
