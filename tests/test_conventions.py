"""The course's conventions (CONTRIBUTING.md), checked, so that chapter N+1 is built like chapter N.

For every assignment chNN (one per solutions/chNN/chNN.ipynb): its book page, its student notebook,
its variants file and its place in the table of contents. For course_lib: every module says which
chapter introduces it and is listed in the package's module table. For benchmarks: every script has
committed results, and every results file a book page names exists. (That every graded part has
RIGHT, WRONG and HEADLINE variants is checked by tests/test_exercise_variants.py.)
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from autograder import assignments

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = assignments()


def toc_entries() -> list[tuple[str, list[str]]]:
    """(chapter file, its section files) for every chapter in _toc.yml."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    return [(ch["file"], [s["file"] for s in ch.get("sections", [])])
            for part in toc.get("parts", []) for ch in part.get("chapters", [])]


def test_there_are_assignments():
    assert ASSIGNMENTS, "no solutions/chNN/chNN.ipynb found"
    assert all(re.fullmatch(r"ch\d\d", aid) for aid in ASSIGNMENTS), f"assignment ids must be chNN: {ASSIGNMENTS}"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_chapter_has_every_file(aid):
    needed = [f"book/{aid}/index.md", f"solutions/{aid}/{aid}.ipynb", f"notebooks/{aid}/{aid}.ipynb",
              f"tests/variants/{aid}.py"]
    missing = [p for p in needed if not (REPO / p).is_file()]
    assert not missing, f"{aid} lacks {missing} (see CONTRIBUTING.md, 'Adding chapter N')"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_chapter_page_is_in_the_toc_with_its_exercise(aid):
    entries = dict(toc_entries())
    assert f"book/{aid}/index" in entries, f"_toc.yml has no chapter entry `file: book/{aid}/index`"
    assert f"notebooks/{aid}/{aid}" in entries[f"book/{aid}/index"], \
        f"_toc.yml: book/{aid}/index needs the section `file: notebooks/{aid}/{aid}`"


def test_chapters_are_in_order_in_the_toc():
    chapters = [f.split("/")[1] for f, _ in toc_entries() if re.fullmatch(r"book/ch\d\d/index", f)]
    assert chapters == sorted(chapters), f"chapters out of order in _toc.yml: {chapters}"


def course_lib_modules() -> list[Path]:
    return sorted(p for p in (REPO / "course_lib").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", course_lib_modules(), ids=lambda p: p.stem)
def test_course_lib_module_names_its_chapter_and_is_listed(path):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert re.search(r"[Ii]ntroduced in chapter \d", doc), \
        f"course_lib/{path.name}: its docstring must say 'Introduced in chapter N' (the chapter that needs it)"
    package_doc = ast.get_docstring(ast.parse((REPO / "course_lib" / "__init__.py").read_text()))
    assert re.search(rf"^\s*{path.stem}\s+\d", package_doc, re.M), \
        f"course_lib/__init__.py's module table does not list `{path.stem}` (name, chapter, what)"


# Benchmarks only a GPU can run (no GPU is lent to this project): their pages say "not run on a GPU
# yet" until a person with one runs `make gpu-check` and commits what it writes.
NEEDS_A_GPU = {"gpu_check"}


def test_every_benchmark_has_committed_results():
    results = {p.name for p in (REPO / "benchmarks" / "results").iterdir()}
    scripts = sorted(p.stem for p in (REPO / "benchmarks").glob("*.py"))
    lacking = [s for s in scripts if s not in NEEDS_A_GPU and not any(name.startswith(s) for name in results)]
    assert not lacking, (f"benchmarks without a results file in benchmarks/results/ (named after the script): "
                         f"{lacking}; run them and commit what they write")


def test_results_files_named_by_book_pages_exist():
    pages = [p.read_text(encoding="utf-8") for p in (REPO / "book").rglob("*.md")]
    named = {m for text in pages for m in re.findall(r"benchmarks/results/[\w./-]+\w", text)}
    read = {m for text in pages for m in re.findall(r"read_result\(\s*[\"']([^\"']+)[\"']", text)}
    assert read, "no page reads a committed result through course_lib.results.read_result"
    named |= {f"benchmarks/results/{name}" for name in read}
    missing = sorted(p for p in named if not (REPO / p).is_file() and Path(p).stem not in NEEDS_A_GPU)
    assert not missing, f"book pages read results files that are not committed: {missing}"


def test_pages_read_results_through_course_lib():
    """A page's code that opens benchmarks/results/ by a relative path works on the site but not in
    its Colab twin, where no repository is at hand: course_lib.results.read_result finds or fetches it."""
    direct = [f"{p.relative_to(REPO)}: {m}" for p in (REPO / "book").rglob("*.md")
              for m in re.findall(r"\.\./benchmarks/results\b.*", p.read_text(encoding="utf-8"))]
    assert not direct, f"read these with course_lib.results.read_result(name): {direct}"
