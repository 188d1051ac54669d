"""Graded tests must pass every correct answer, fail plausible wrong ones, and name the headline one.

tests/variants/<assignment>.py holds, keyed by the answer cell's grade_id:

    RIGHT    = {answer_id: [source, ...]}           other correct answers: every test cell passes
    WRONG    = {answer_id: [(label, source), ...]}  plausible mistakes: some graded test cell at or
                                                    after the part fails
    HEADLINE = {answer_id: (label, "words")}        the part's headline mistake (a WRONG label): the
                                                    part's VISIBLE tests (its test cells up to the
                                                    next answer, hidden blocks removed) fail with a
                                                    message containing "words" (any case)

The solution notebook's code cells run in-process, without a kernel. Fast: the cells before an
answer run once (in this process, advancing through the notebook in order), then each variant runs
in a forked child (os.fork) from that point and stops at the last cell it needs.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import pickle
import select
import signal
import time

import nbformat
import pytest
import torch

from autograder import SOLUTIONS, assignments

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
VARIANT_TIMEOUT_S = 120

# One BLAS/OpenMP thread: a forked child must not inherit a thread pool it cannot use.
torch.set_num_threads(1)


def variant_modules():
    out = {}
    for aid in assignments():
        try:
            out[aid] = importlib.import_module(f"variants.{aid}")
        except ModuleNotFoundError as exc:
            if exc.name != f"variants.{aid}":
                raise
    return out


VARIANTS = variant_modules()


class Cell:
    def __init__(self, cell, aid):
        meta = cell.metadata.get("nbgrader", {})
        self.id = meta.get("grade_id") or cell.id
        self.source = cell.source
        self.graded = bool(meta.get("grade")) and not meta.get("solution")
        self.answer = bool(meta.get("solution"))
        self.filename = f"<{aid}:{self.id}>"

    @property
    def visible(self) -> str:
        """The test cell as students see it: the hidden block removed."""
        head, _, rest = self.source.partition(HIDDEN_BEGIN)
        return head + rest.partition(HIDDEN_END)[2]


def notebook_cells(aid: str) -> list[Cell]:
    nb = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    return [Cell(c, aid) for c in nb.cells
            if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])]


def answer_index(cells: list[Cell], answer_id: str) -> int:
    return next(i for i, c in enumerate(cells) if c.answer and c.id == answer_id)


def part_tests(cells: list[Cell], answer_id: str) -> list[int]:
    """The part's test cells: the graded cells after its answer, up to the next answer cell."""
    start, out = answer_index(cells, answer_id), []
    for i in range(start + 1, len(cells)):
        if cells[i].answer:
            break
        if cells[i].graded:
            out.append(i)
    return out


def run_cell(source: str, filename: str, namespace: dict) -> BaseException | None:
    try:
        exec(compile(source, filename, "exec"), namespace)
    except Exception as exc:
        return exc
    return None


# ---- the reference run, advanced through the notebook once; variants fork from it ---------------
class Cursor:
    """The solution notebook executed up to (not including) cell `position`, in `namespace`."""

    def __init__(self, aid: str):
        self.aid, self.cells, self.position = aid, notebook_cells(aid), 0
        self.namespace = {"__name__": "__main__"}

    def advance_to(self, index: int) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            while self.position < index:
                cell = self.cells[self.position]
                error = run_cell(cell.source, cell.filename, self.namespace)
                if error is not None:
                    raise RuntimeError(f"{self.aid}: the solution's cell {cell.id} fails") from error
                self.position += 1


_cursors: dict[str, Cursor] = {}


def cursor_at(aid: str, index: int) -> Cursor:
    cur = _cursors.get(aid)
    if cur is None or cur.position > index:    # cannot go back: start again from the top
        cur = _cursors[aid] = Cursor(aid)
    cur.advance_to(index)
    return cur


def in_child(fn, what: str):
    """fn() in a forked child (its changes to the namespace stay there); its picklable result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                                    # the child
        os.close(read_end)
        try:
            payload = pickle.dumps(("ok", fn()))
        except BaseException as exc:                                # noqa: BLE001 - reported to the parent
            payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write_end)
    data, deadline = b"", time.monotonic() + VARIANT_TIMEOUT_S
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"{what}: ran longer than {VARIANT_TIMEOUT_S} s")
            chunk = os.read(pipe.fileno(), 1 << 16)
            if not chunk:
                break
            data += chunk
    os.waitpid(pid, 0)
    if not data:
        pytest.fail(f"{what}: the child process died without a result")
    status, value = pickle.loads(data)
    if status != "ok":
        pytest.fail(f"{what}: {value}")
    return value


def run_variant(aid: str, answer_id: str, source: str, mode: str) -> list[tuple[str, str | None]]:
    """Run `source` in place of the answer, then the cells after it, in a forked child.

    mode "all": every cell up to the last graded one (stops at nothing);
    mode "until_fail": stops after the first graded cell that fails;
    mode "visible": only the part's test cells, hidden blocks removed, stopping at the first failure.
    Returns [(test cell id, None or "ExceptionType: message")] for the test cells that ran.
    """
    cells = notebook_cells(aid)
    start = answer_index(cells, answer_id)
    cur = cursor_at(aid, start)
    return in_child(lambda: _child(cur, cells, start, answer_id, source, mode), f"{aid}/{answer_id}")


def _child(cur: Cursor, cells: list[Cell], start: int, answer_id: str, source: str, mode: str):
    namespace, results = cur.namespace, []
    with contextlib.redirect_stdout(io.StringIO()):
        error = run_cell(source, cells[start].filename, namespace)
        if mode == "visible":
            indices = part_tests(cells, answer_id)
        else:
            last = max(i for i, c in enumerate(cells) if c.graded)
            indices = range(start + 1, last + 1)
        for i in indices:
            cell = cells[i]
            error = run_cell(cell.visible if mode == "visible" else cell.source, cell.filename, namespace)
            if cell.graded:
                results.append((cell.id, None if error is None else f"{type(error).__name__}: {error}"))
                if error is not None and mode != "all":
                    break
    return results


def failures(results) -> dict[str, str]:
    return {gid: err for gid, err in results if err is not None}


# ---- the tests ------------------------------------------------------------------------------------
def graded_answers(aid: str) -> list[str]:
    return [c.id for c in notebook_cells(aid) if c.answer]


def test_every_assignment_has_variants():
    missing = [aid for aid in assignments() if aid not in VARIANTS]
    assert not missing, f"add tests/variants/<aid>.py with RIGHT, WRONG and HEADLINE for {missing}"


@pytest.mark.parametrize("aid", sorted(VARIANTS))
def test_every_graded_part_has_right_wrong_and_headline(aid):
    mod = VARIANTS[aid]
    problems = []
    for answer_id in graded_answers(aid):
        for kind in ("RIGHT", "WRONG", "HEADLINE"):
            if not getattr(mod, kind, {}).get(answer_id):
                problems.append(f"{kind}[{answer_id!r}] is missing")
        headline = getattr(mod, "HEADLINE", {}).get(answer_id)
        if headline and headline[0] not in dict(getattr(mod, "WRONG", {}).get(answer_id, [])):
            problems.append(f"HEADLINE[{answer_id!r}] names {headline[0]!r}, which is not a label in WRONG[{answer_id!r}]")
    for kind in ("RIGHT", "WRONG", "HEADLINE"):
        for answer_id in getattr(mod, kind, {}):
            if answer_id not in graded_answers(aid):
                problems.append(f"{kind}[{answer_id!r}]: no answer cell with that grade_id in solutions/{aid}")
    assert not problems, f"tests/variants/{aid}.py:\n" + "\n".join(problems)


@pytest.mark.parametrize("aid", sorted(VARIANTS))
def test_reference_solution_passes_in_process(aid):
    cells = notebook_cells(aid)
    namespace = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in cells:
            error = run_cell(cell.source, cell.filename, namespace)
            assert error is None, f"{aid}: the solution's cell {cell.id} fails: {type(error).__name__}: {error}"


@pytest.mark.parametrize("aid", sorted(VARIANTS))
def test_each_test_cell_runs_on_its_own(aid):
    """A test cell needs only the cells that are not tests above it, never another test cell's names."""
    cells, namespace, failed = notebook_cells(aid), {"__name__": "__main__"}, {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in cells:
            if not cell.graded:
                error = run_cell(cell.source, cell.filename, namespace)
                assert error is None, f"{aid}: the solution's cell {cell.id} fails: {error!r}"
                continue
            error = in_child(lambda: repr(run_cell(cell.source, cell.filename, namespace)), f"{aid}/{cell.id}")
            if error != "None":
                failed[cell.id] = error
    assert not failed, (f"{aid}: these test cells fail when the other test cells have not run (move what they "
                        f"share into a cell that is not a test): {failed}")


def in_notebook_order(cases):
    """Cases sorted by the answer's place in the notebook, so the reference run only moves forward."""
    order = {aid: {gid: i for i, gid in enumerate(graded_answers(aid))} for aid in VARIANTS}
    return sorted(cases, key=lambda c: (c[0], order[c[0]].get(c[1], -1)))


RIGHT_CASES = in_notebook_order([(aid, gid, i) for aid, mod in VARIANTS.items()
                                 for gid, srcs in mod.RIGHT.items() for i in range(len(srcs))])
WRONG_CASES = in_notebook_order([(aid, gid, label) for aid, mod in VARIANTS.items()
                                 for gid, pairs in mod.WRONG.items() for label, _ in pairs])
HEADLINE_CASES = in_notebook_order([(aid, gid, label) for aid, mod in VARIANTS.items()
                                    for gid, (label, _) in getattr(mod, "HEADLINE", {}).items()])


@pytest.mark.parametrize("aid, answer_id, i", RIGHT_CASES, ids=[f"{a}-{g}-{i}" for a, g, i in RIGHT_CASES])
def test_other_correct_implementations_pass(aid, answer_id, i):
    source = VARIANTS[aid].RIGHT[answer_id][i]
    failed = failures(run_variant(aid, answer_id, source, "all"))
    assert not failed, f"a correct {answer_id} fails:\n{source}\n{failed}"


@pytest.mark.parametrize("aid, answer_id, label", WRONG_CASES, ids=["-".join(c) for c in WRONG_CASES])
def test_classic_mistakes_fail(aid, answer_id, label):
    source = dict(VARIANTS[aid].WRONG[answer_id])[label]
    failed = failures(run_variant(aid, answer_id, source, "until_fail"))
    assert failed, f"every test at or after {answer_id} passes a wrong {answer_id} ({label}):\n{source}"


@pytest.mark.parametrize("aid, answer_id, label", HEADLINE_CASES, ids=["-".join(c) for c in HEADLINE_CASES])
def test_headline_mistake_fails_the_visible_test_by_name(aid, answer_id, label):
    _, words = VARIANTS[aid].HEADLINE[answer_id]
    source = dict(VARIANTS[aid].WRONG[answer_id])[label]
    failed = failures(run_variant(aid, answer_id, source, "visible"))
    assert failed, f"{aid}: the visible tests of {answer_id} pass its headline mistake ({label})"
    (test_id, message), = failed.items()
    assert words.lower() in message.lower(), (
        f"{aid}/{test_id} fails the headline mistake ({label}) with a message that does not say {words!r}:\n{message}")


# ---- reading the messages: `PYTHONPATH=. .venv/bin/python tests/test_exercise_variants.py ch03 [answer_id]` --
def print_messages(aid: str, only: str | None = None) -> None:
    """Each WRONG variant's first failure: the test cell, whether its visible part fails, the message."""
    cases = [(gid, label) for gid, pairs in VARIANTS[aid].WRONG.items() if only in (None, gid) for label, _ in pairs]
    caught = 0
    for _, gid, label in in_notebook_order([(aid, g, lab) for g, lab in cases]):
        source = dict(VARIANTS[aid].WRONG[gid])[label]
        failed = failures(run_variant(aid, gid, source, "until_fail"))
        visible = failures(run_variant(aid, gid, source, "visible"))
        caught += bool(failed)
        where = ", ".join(failed) or "NOT CAUGHT"
        message = next(iter(failed.values()), "")
        print(f"[{gid}] {label}\n    {where}{' (visible)' if visible else ''}: {message[:600]}\n")
    print(f"{aid}: {caught} of {len(cases)} wrong variants caught")


if __name__ == "__main__":
    import sys
    print_messages(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
