"""Each chapter page as a notebook that Colab can open: book/_colab/<page>.ipynb.

A chapter page (book/chNN/index.md) is MyST markdown that Jupyter Book executes; Colab opens only
.ipynb files from GitHub. So every page with a kernel (a `kernelspec` in its front matter) gets a
generated twin, committed like notebooks/ is, which the page's Colab button opens:

    book/ch01/index.md  ->  book/_colab/ch01/index.ipynb
    https://colab.research.google.com/github/<org>/<repo>/blob/<branch>/book/_colab/ch01/index.ipynb

    .venv/bin/python book/_ext/colab_notebooks.py          # regenerate (`make notebooks` runs it)
    .venv/bin/python book/_ext/colab_notebooks.py --check  # exit 1 if a committed copy is stale

The twin starts with the exercise notebooks' set-up cell (autograder/setup_cell.py) and a
stand-in for myst_nb.glue (Colab has no myst_nb: a glued figure is simply shown). Citations become
"(Author, year)" text; figure directives, whose figure the code cell above already shows, go.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BOOK = REPO / "book"
OUT = BOOK / "_colab"

GLUE_STAND_IN = '''\
# Outside the course site there is no myst_nb: `glue(name, figure)` then just shows the figure.
try:
    import myst_nb  # noqa: F401
except ImportError:
    import types
    from IPython.display import display as _show

    sys.modules["myst_nb"] = types.SimpleNamespace(glue=lambda name, value, display=True: _show(value))
'''

CITE = re.compile(r"\{cite:[pt]\}`([^`]+)`")
FIGURE_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{(?:glue:figure|figure)\}.*?^\1[ \t]*$\n?", re.M | re.S)
ROLE = re.compile(r"\{(?:ref|numref|doc|eq)\}`([^`<]*?)(?:\s*<[^>]*>)?`")


def chapter_pages() -> list[Path]:
    """MyST pages under book/ that run code (a kernelspec in their front matter)."""
    return sorted(p for p in BOOK.rglob("*.md")
                  if not any(part.startswith("_") for part in p.relative_to(BOOK).parts)
                  and re.search(r"^kernelspec:", p.read_text().split("\n---", 1)[0], re.M))


def notebook_path(page: Path) -> Path:
    return OUT / page.relative_to(BOOK).with_suffix(".ipynb")


def author_year(entry) -> str:
    """"Karpathy, 2019", "Glorot and Bengio, 2010", "Rumelhart et al., 1986": as the site cites."""
    last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in entry.persons.get("author", [])]
    who = last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2 else f"{last[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


def _author_year() -> dict[str, str]:
    from pybtex.database import parse_file

    return {key: author_year(entry) for key, entry in parse_file(str(BOOK / "references.bib")).entries.items()}


def _setup_source() -> str:
    """The exercise notebooks' set-up cell (finds or installs course_lib): one source, in autograder."""
    sys.path.insert(0, str(REPO))
    from autograder.release import setup_cell_source

    return setup_cell_source()


def build_notebook(page: Path) -> dict:
    import nbformat
    from myst_nb.core.read import read_myst_markdown_notebook

    labels = _author_year()
    nb = read_myst_markdown_notebook(page.read_text())
    for cell in nb.cells:
        cell.pop("id", None)
        if cell.cell_type == "markdown":
            text = FIGURE_DIRECTIVE.sub("", cell.source)
            text = CITE.sub(lambda m: "(" + "; ".join(labels.get(k.strip(), k.strip()) for k in m.group(1).split(",")) + ")", text)
            cell.source = ROLE.sub(lambda m: m.group(1), text).strip("\n")
    source_url = page.relative_to(REPO).as_posix()
    intro = nbformat.v4.new_markdown_cell(
        f"This notebook is generated from `{source_url}`, a page of the course site. Run it from top to "
        "bottom (in Colab: Runtime → Run all); the site shows the same page with its figures.")
    setup = nbformat.v4.new_code_cell(_setup_source() + "\n\n" + GLUE_STAND_IN)
    nb.cells = [c for c in nb.cells if c.source.strip()]
    at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0   # after the title and opening
    nb.cells[at:at] = [intro, setup]
    nb.metadata = {"kernelspec": nb.metadata.get("kernelspec", {}), "language_info": {"name": "python"},
                   "colab": {"provenance": []}}
    for cell in nb.cells:
        cell.pop("id", None)
    return nb


def render(page: Path) -> str:
    import nbformat

    nb = build_notebook(page)
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nbformat.writes(nb) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for page in chapter_pages():
        path, text = notebook_path(page), render(page)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.relative_to(REPO).as_posix())
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if check and stale:
        print("out of date (run `make notebooks` and commit them):", *stale, sep="\n  ")
        return 1
    print(("stale: " if check else "written: ") + (", ".join(stale) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
