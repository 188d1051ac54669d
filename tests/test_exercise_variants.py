"""Tests of graded exercises must fail wrong implementations and pass every correct one.

The solution notebook's cells run in-process (no kernel: fast), with one answer cell replaced by
a variant from tests/variants/<assignment>.py; the test cell that follows it must then pass (a
correct variant) or fail (a classic mistake).
"""
from __future__ import annotations

import contextlib
import importlib
import io

import nbformat
import pytest

from autograder import SOLUTIONS, assignments


def variant_modules():
    out = {}
    for aid in assignments():
        try:
            out[aid] = importlib.import_module(f"variants.{aid}")
        except ModuleNotFoundError:
            pass
    return out


VARIANTS = variant_modules()


def run_with(aid: str, replacements: dict[str, str]) -> dict[str, BaseException | None]:
    """Run the solution notebook with answers replaced; return each test cell's exception (or None)."""
    nb = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    namespace = {"__name__": "__main__"}
    results = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            if cell.cell_type != "code" or "remove-cell" in cell.metadata.get("tags", []):
                continue
            meta = cell.metadata.get("nbgrader", {})
            source = replacements.get(meta.get("grade_id"), cell.source)
            try:
                exec(compile(source, f"<{aid}:{meta.get('grade_id', cell.id)}>", "exec"), namespace)
                error = None
            except Exception as exc:
                error = exc
            if meta.get("grade"):
                results[meta["grade_id"]] = error
            elif error is not None and not meta.get("solution"):
                raise RuntimeError(f"{aid}: ungraded cell {cell.id} failed") from error
    return results


def test_every_assignment_has_variants():
    missing = [aid for aid in assignments() if aid not in VARIANTS]
    assert not missing, f"add tests/variants/<aid>.py with RIGHT and WRONG answers for {missing}"


def test_reference_solution_passes_in_process():
    for aid in VARIANTS:
        failed = {k: v for k, v in run_with(aid, {}).items() if v is not None}
        assert not failed, f"{aid}: the solution fails {failed}"


def next_test(aid: str, answer_id: str) -> str:
    nb = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    ids = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    start = next(i for i, m in enumerate(ids) if m.get("grade_id") == answer_id)
    return next(m["grade_id"] for m in ids[start + 1:] if m.get("grade"))


RIGHT_CASES = [(aid, gid, i) for aid, mod in VARIANTS.items() for gid, srcs in mod.RIGHT.items() for i in range(len(srcs))]
WRONG_CASES = [(aid, gid, label) for aid, mod in VARIANTS.items() for gid, pairs in mod.WRONG.items() for label, _ in pairs]


@pytest.mark.parametrize("aid, answer_id, i", RIGHT_CASES, ids=[f"{a}-{g}-{i}" for a, g, i in RIGHT_CASES])
def test_other_correct_implementations_pass(aid, answer_id, i):
    source = VARIANTS[aid].RIGHT[answer_id][i]
    results = run_with(aid, {answer_id: source})
    failed = {k: f"{type(v).__name__}: {v}" for k, v in results.items() if v is not None}
    assert not failed, f"a correct {answer_id} fails:\n{source}\n{failed}"


@pytest.mark.parametrize("aid, answer_id, label", WRONG_CASES, ids=[f"{a}-{g}-{l}" for a, g, l in WRONG_CASES])
def test_classic_mistakes_fail(aid, answer_id, label):
    source = dict(VARIANTS[aid].WRONG[answer_id])[label]
    test_id = next_test(aid, answer_id)
    results = run_with(aid, {answer_id: source})
    assert results[test_id] is not None, f"{test_id} passes a wrong {answer_id} ({label}):\n{source}"
    print(f"{label}: {type(results[test_id]).__name__}: {str(results[test_id])[:160]}")
