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
    problems = []
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
    generate(ids)
    for aid in ids:
        print(f"released notebooks/{aid}/{aid}.ipynb")
    return 0
