"""Student release: solutions/<id>/<id>.ipynb -> notebooks/<id>/<id>.ipynb with nbgrader.

The release is committed (Colab opens notebooks straight from the repository), so CI checks that
it is exactly what nbgrader generates from the current solutions.
"""
from __future__ import annotations

import difflib
import json
import tempfile
from pathlib import Path

from . import NOTEBOOKS, SOLUTIONS, assignments
from .config import nbgrader_config


class ReleaseError(RuntimeError):
    pass


# The notebooks' first cell (it finds or installs course_lib) has one source, setup_cell.py; the
# release stamps it, with the students' repository (_config.yml), into every solution's first cell.
SETUP_CELL = Path(__file__).with_name("setup_cell.py")


def setup_cell_source() -> str:
    from .publish import repositories

    url = repositories().published.url
    return SETUP_CELL.read_text().replace("__REPOSITORY_URL__", url).rstrip("\n")


def stale_setup_cells(assignment_ids: list[str]) -> list[str]:
    """Solutions whose first cell is not the set-up cell (tagged remove-cell) as setup_cell.py makes it."""
    import nbformat

    want = setup_cell_source()
    stale = []
    for aid in assignment_ids:
        first = nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4).cells[0]
        if first.cell_type != "code" or first.source != want or "remove-cell" not in first.metadata.get("tags", []):
            stale.append(aid)
    return stale


def stamp_setup_cells(assignment_ids: list[str]) -> None:
    """Write the set-up cell into each solution's first cell (inserting it where the first cell is another)."""
    import nbformat

    for aid in stale_setup_cells(assignment_ids):
        path = SOLUTIONS / aid / f"{aid}.ipynb"
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0] if nb.cells else None
        if first is None or first.cell_type != "code" or "course_lib" not in first.source:
            first = nbformat.v4.new_code_cell()
            first.id = "setup"
            nb.cells.insert(0, first)
        first.source = setup_cell_source()
        first.metadata["tags"] = sorted(set(first.metadata.get("tags", [])) | {"remove-cell"})
        nbformat.write(nb, path)
        print(f"solutions/{aid}/{aid}.ipynb: set-up cell stamped from autograder/setup_cell.py")


def generate(assignment_ids: list[str], release_dir: Path = NOTEBOOKS) -> None:
    """Run nbgrader generate_assignment for each id, writing into release_dir/<id>/."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        # A throwaway gradebook: releasing must not touch the instructor's.
        config = nbgrader_config(course_root=Path(tmp), release_dir=release_dir)
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        for aid in assignment_ids:
            if not (SOLUTIONS / aid / f"{aid}.ipynb").exists():
                raise ReleaseError(f"no source notebook solutions/{aid}/{aid}.ipynb")
            result = api.generate_assignment(aid, force=True, create=True)
            if not result["success"]:
                raise ReleaseError(f"nbgrader generate_assignment {aid} failed:\n{result['log']}\n{result.get('error', '')}")


def out_of_sync(assignment_ids: list[str]) -> list[str]:
    """Human-readable differences between notebooks/ and a fresh release; empty when in sync."""
    problems = [f"solutions/{aid}/{aid}.ipynb: the first cell is not autograder/setup_cell.py's set-up cell"
                for aid in stale_setup_cells(assignment_ids)]
    with tempfile.TemporaryDirectory(prefix="release-check-") as tmp:
        fresh_dir = Path(tmp) / "release"
        generate(assignment_ids, release_dir=fresh_dir)
        for aid in assignment_ids:
            fresh_files = {p.relative_to(fresh_dir / aid) for p in (fresh_dir / aid).rglob("*") if p.is_file()}
            committed_files = {p.relative_to(NOTEBOOKS / aid) for p in (NOTEBOOKS / aid).rglob("*") if p.is_file()} \
                if (NOTEBOOKS / aid).exists() else set()
            for rel in sorted(fresh_files - committed_files):
                problems.append(f"notebooks/{aid}/{rel} is missing")
            for rel in sorted(committed_files - fresh_files):
                problems.append(f"notebooks/{aid}/{rel} is not generated from solutions/{aid}/ (stale file?)")
            for rel in sorted(fresh_files & committed_files):
                want, have = fresh_dir / aid / rel, NOTEBOOKS / aid / rel
                if rel.suffix == ".ipynb":
                    want_text = json.dumps(json.loads(want.read_text()), indent=1, sort_keys=True).splitlines()
                    have_text = json.dumps(json.loads(have.read_text()), indent=1, sort_keys=True).splitlines()
                else:
                    want_text, have_text = want.read_bytes(), have.read_bytes()
                if want_text != have_text:
                    diff = "" if isinstance(want_text, bytes) else "\n".join(list(difflib.unified_diff(
                        have_text, want_text, "committed", "generated", lineterm="", n=1))[:40])
                    problems.append(f"notebooks/{aid}/{rel} differs from what solutions/{aid}/ generates\n{diff}")
    return problems


def main(args) -> int:
    ids = args.assignments or assignments()
    if args.check:
        problems = out_of_sync(ids)
        if problems:
            print("notebooks/ is out of sync with solutions/. Run `make notebooks` and commit the result.\n")
            print("\n".join(problems))
            return 1
        print(f"notebooks/ is in sync with solutions/ ({', '.join(ids)})")
        return 0
    stamp_setup_cells(ids)
    generate(ids)
    for aid in ids:
        print(f"released notebooks/{aid}/{aid}.ipynb")
    return 0
