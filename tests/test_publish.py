"""`make publish DEST=dir`: the students' repository, with no solution and no hidden test in it.

Fast: the two repositories are named once (_config.yml) and every place that needs a URL reads it
there; the published _config.yml, Makefile and README; bad destinations and a missing source
notebook stop publishing before anything is written; the leak finder finds what it must.
Slow: publish for real into a temp folder, then look for answers everywhere in it (its one commit,
the wheel), build its site and look there too (pages, `_sources`, every link), and run its ch00
notebook in the Colab stand-in (tests/test_colab_standin.py).
"""
from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder import NOTEBOOKS, REPO, SOLUTIONS, assignments
from autograder import cells as nbcells
from autograder import publish
from autograder.publish import PublishError, Repository, Repositories
from autograder.release import setup_cell_source
# The Colab stand-in's fixtures and helpers, as tests/test_colab_standin.py defines them.
from test_colab_standin import run, standin_kernel, standin_python, text_of, with_solutions  # noqa: F401

# The placeholder URL this repository carried before the two repositories were settings.
OLD_PLACEHOLDER = "github.com/" + "dl-course/dl-course"


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    files = []
    for rel in out.splitlines():
        path = REPO / rel
        if path.is_file() and path.suffix not in (".png", ".whl", ".pdf", ".jpg", ".svg"):
            files.append(path)
    return files


# ---- the two repositories, named once ----------------------------------------------------------------

def test_config_names_the_source_and_the_students_repository():
    repos = publish.repositories()
    assert repos.source.url != repos.published.url, "the private source and the public students' repository must differ"
    for repo in (repos.source, repos.published):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", repo.org_repo) and repo.branch


def test_every_place_that_needs_a_repository_url_reads_it_from_the_one_setting():
    """The URLs are written in _config.yml and stamped from there into the notebooks' set-up cell;
    nowhere else (code, pages, README) spells them out, and the old placeholder is gone."""
    repos = publish.repositories()
    urls = {repos.source.url, repos.published.url}
    setup = setup_cell_source()
    assert f'repository="{repos.published.url}"' in setup, "the set-up cell must install from the students' repository"
    stray = []
    for path in tracked_text_files():
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        if OLD_PLACEHOLDER in text and not rel.startswith("tests/"):
            stray.append(f"{rel}: the old placeholder {OLD_PLACEHOLDER}")
        if rel == "_config.yml" or not any(u in text for u in urls):
            continue
        if path.suffix == ".ipynb":   # only the set-up cell, stamped from the setting, may name a repository
            cells = nbformat.reads(text, as_version=4).cells
            naming = [c for c in cells if any(u in c.source for u in urls)]
            if len(naming) == 1 and naming[0].source.startswith(setup):
                continue
        stray.append(f"{rel}: spells out a repository URL instead of reading _config.yml")
    assert not stray, "\n".join(stray)


def test_changing_the_setting_changes_every_output(monkeypatch):
    other = Repositories(Repository("https://github.com/some-uni/dl-private", "main"),
                         Repository("https://github.com/some-uni/dl-students", "fall"))
    monkeypatch.setattr(publish, "repositories", lambda config=None: other)
    assert 'repository="https://github.com/some-uni/dl-students"' in setup_cell_source()
    config = yaml.safe_load(publish.published_config((REPO / "_config.yml").read_text(), other.published))
    assert config["repository"] == {"url": "https://github.com/some-uni/dl-students", "branch": "fall"}
    readme = publish.student_readme(other, "T", "course_lib-0.1.0-py3-none-any.whl", ["ch00"])
    assert "https://colab.research.google.com/github/some-uni/dl-students/blob/fall/notebooks/ch00/ch00.ipynb" in readme
    assert "dl-private" not in readme


def test_a_repository_that_is_not_on_github_is_refused(tmp_path):
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    cfg["repository"]["published"]["url"] = "git@github.com:org/name.git"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(PublishError, match=r"repository\.published\.url must be a GitHub repository"):
        publish.repositories(tmp_path / "_config.yml")


# ---- the files written for students ------------------------------------------------------------------

def test_published_config_names_only_the_students_repository():
    source = (REPO / "_config.yml").read_text()
    repo = Repository("https://github.com/some-uni/dl-students", "main")
    out = publish.published_config(source, repo)
    got, want = yaml.safe_load(out), yaml.safe_load(source)
    assert got["repository"] == {"url": repo.url, "branch": "main"}
    assert {k: v for k, v in got.items() if k != "repository"} == {k: v for k, v in want.items() if k != "repository"}
    assert "published" not in out and "source" not in got["repository"]
    assert out.splitlines()[0] == source.splitlines()[0], "the rest of the file, comments included, is kept"


def test_published_makefile_has_the_students_targets_and_they_run(tmp_path):
    text = publish.student_makefile((REPO / "Makefile").read_text())
    targets = set(re.findall(r"^([\w$()]+):(?!=)", text, re.M))
    assert {"student", "wheel", "book", "venv", "$(STAMP)"} <= targets
    assert not targets & {"notebooks", "test", "test-fast", "lint", "publish"}, f"targets that need solutions/: {targets}"
    assert re.search(r"^book: .*\$\(STAMP\)", text, re.M), "book must install the site builder first"
    (tmp_path / "Makefile").write_text(text)
    for name in ("requirements.txt", "requirements-student.txt", "pyproject.toml"):
        (tmp_path / name).write_text("")
    proc = subprocess.run(["make", "-n", "student", "book"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "jupyter-book build" in proc.stdout and "pip install --quiet -r requirements-student.txt" in proc.stdout


def test_published_requirements_pin_what_the_source_pins():
    text = publish.student_requirements()
    assert "-r requirements-student.txt" in text
    pin = next(line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("jupyter-book"))
    assert pin in text.splitlines()


# ---- bad input: nothing written, nothing lost ----------------------------------------------------------

def test_a_destination_that_is_not_empty_is_left_alone(tmp_path):
    dest = tmp_path / "students"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(PublishError, match="is not empty: nothing was written"):
        publish.publish(dest, log=lambda *a: None)
    assert [p.name for p in dest.iterdir()] == ["notes.txt"] and (dest / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["students"], "no half-written folder may be left behind"


@pytest.mark.parametrize("where", [".", "students", "build/students", ".."])
def test_a_destination_inside_the_repository_or_around_it_is_refused(where, tmp_path):
    dest = (REPO / where).resolve()
    existed = dest.exists()
    with pytest.raises(PublishError, match="inside the course's source repository|holds the course's source|not empty"):
        publish.publish(dest, log=lambda *a: None)
    assert dest.exists() == existed


def test_a_destination_that_is_a_file_is_refused(tmp_path):
    dest = tmp_path / "students"
    dest.write_text("a file")
    with pytest.raises(PublishError, match="is a file"):
        publish.publish(dest, log=lambda *a: None)
    assert dest.read_text() == "a file"


def test_a_missing_solutions_notebook_stops_publishing(tmp_path, monkeypatch):
    """A released notebook whose source is gone: publishing cannot check what is hidden, so it stops."""
    solutions = tmp_path / "solutions"
    for aid in assignments()[1:]:
        (solutions / aid).mkdir(parents=True)
        shutil.copy(SOLUTIONS / aid / f"{aid}.ipynb", solutions / aid)
    monkeypatch.setattr(publish, "SOLUTIONS", solutions)
    dest = tmp_path / "students"
    with pytest.raises(PublishError, match=r"solutions/ch00/ch00\.ipynb is missing.*Nothing was written"):
        publish.publish(dest, log=lambda *a: None)
    assert not dest.exists()


# ---- the leak finder finds what it must ----------------------------------------------------------------

def a_hidden_line_and_a_solution_line() -> tuple[str, str]:
    secret = publish.secrets()
    hidden = next(line for line, where in secret.items() if where.startswith("a hidden test in solutions/ch00"))
    solution = next(line for line, where in secret.items() if where.startswith("a solution in solutions/ch00"))
    return hidden, solution


def test_the_release_itself_gives_nothing_away(tmp_path):
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    assert publish.find_leaks(tmp_path) == []


def test_the_leak_finder_finds_hidden_tests_and_solutions_wherever_they_are(tmp_path):
    hidden, solution = a_hidden_line_and_a_solution_line()
    (tmp_path / "page.md").write_text(f"Some prose.\n\n```python\n    {hidden}\n```\n")
    escaped = html.escape(solution).replace(" ", '</span> <span class="n">')
    (tmp_path / "page.html").write_text(f"<pre><span>{escaped}</span></pre>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("course_lib/x.py", f"def f():\n    {hidden}\n")
    (tmp_path / "course_lib-0.1.0-py3-none-any.whl").write_bytes(buf.getvalue())
    source = nbformat.read(SOLUTIONS / "ch00" / "ch00.ipynb", as_version=4)
    source.cells = source.cells[:6]
    nbformat.write(source, tmp_path / "renamed.ipynb")          # a trimmed solutions notebook under another name
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "x.txt").write_text("")
    leaks = "\n".join(publish.find_leaks(tmp_path))
    assert f"page.md: {hidden!r} is a hidden test" in leaks
    assert f"page.html: {solution!r} is a solution" in leaks
    assert "course_lib-0.1.0-py3-none-any.whl!course_lib/x.py" in leaks
    assert "renamed.ipynb: holds the marker '### BEGIN SOLUTION'" in leaks
    assert "solutions/x.txt: a solutions folder" in leaks


# ---- publishing for real (slow) ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("publish") / "students"
    publish.publish(dest, log=print)
    return dest


def git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_the_published_repository_holds_the_release_and_no_answer(published):
    assert git(published, "rev-list", "--all", "--count").strip() == "1", "one commit, no history"
    assert git(published, "status", "--porcelain", "--ignored") == "", "everything published is in that commit"
    files = git(published, "ls-files").splitlines()
    assert not [f for f in files if f.split("/")[0] in ("solutions", "tests", "autograder")], files
    for required in ("README.md", "_config.yml", "_toc.yml", "Makefile", "requirements.txt", "requirements-student.txt",
                     "pyproject.toml", "book/_ext/site_fixes.py", "book/_static/site.css", "course_lib/__init__.py"):
        assert required in files, f"the students' repository lacks {required}"
    assert [f for f in files if re.fullmatch(r"dist/course_lib-.+-py3-none-any\.whl", f)], "the wheel is published"
    for aid in assignments():
        assert (published / "notebooks" / aid / f"{aid}.ipynb").read_bytes() == \
            (NOTEBOOKS / aid / f"{aid}.ipynb").read_bytes(), f"notebooks/{aid} is published as released"
    assert publish.find_leaks(published) == []
    # Independently of the leak finder: no marker and no hidden block anywhere in the commit.
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
        hits = subprocess.run(["git", "-C", str(published), "grep", "-l", marker, "--", "*.ipynb", "*.py"],
                              capture_output=True, text=True).stdout.split()
        assert not hits, f"{marker!r} in {hits}"
    texts = "\n".join(t for p in published.rglob("*") if p.is_file() and ".git" not in p.parts
                      for _, t in publish._texts(p.name, p.read_bytes()))
    for aid in assignments():
        for cell in nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4).cells:
            lines = nbcells.hidden_lines(cell.source)
            if len(lines) >= 2:
                assert "\n".join(lines[:2]) not in "\n".join(line.strip() for line in texts.splitlines()), \
                    f"{aid}/{nbcells.grade_id(cell)}: its hidden tests are in the published tree"


@pytest.fixture(scope="module")
def published_site(published, built_site, tmp_path_factory) -> Path:
    """The published tree's site, built as its `make book` builds it. The chapter pages' executed
    results come from the source site's cache (`built_site`): the same pages, so the same cache keys."""
    out = tmp_path_factory.mktemp("published-site")
    cache = built_site.parent / ".jupyter_cache"
    if cache.is_dir():
        shutil.copytree(cache, out / "_build" / ".jupyter_cache")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(published), "--path-output", str(out), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line and "IPKernelApp" not in line]
    assert proc.returncode == 0 and not warnings, "the published site does not build:\n" + "\n".join(warnings or log.splitlines()[-40:])
    return out / "_build" / "html"


@pytest.mark.slow
def test_the_published_site_gives_nothing_away(published_site):
    assert (published_site / "_sources" / "notebooks" / "ch00" / "ch00.ipynb").is_file(), "the download button's file"
    assert publish.find_leaks(published_site) == []


@pytest.mark.slow
def test_every_link_of_the_published_site_points_at_the_students_repository(published, published_site):
    repos = publish.repositories()
    pub, src = repos.published, repos.source
    links = {}
    for page in published_site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert src.url not in text and f"/{src.org_repo}/" not in text, \
            f"{page.relative_to(published_site)} names the source repository"
        for href in re.findall(r'href="([^"]+)"', text):
            links.setdefault(html.unescape(href), page.relative_to(published_site).as_posix())
    colab = {h: p for h, p in links.items() if h.startswith("https://colab.research.google.com/")}
    edits = {h: p for h, p in links.items() if "/edit/" in h}
    assert colab and edits, "the site has Colab and edit links"
    assert not [h for h in links if "/solutions/" in h or h.startswith("solutions/")], "a link into solutions/"
    for href, page in colab.items():
        m = re.fullmatch(r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/([^/]+)/(.+\.ipynb)", href)
        assert m and m.group(1) == pub.org_repo and m.group(2) == pub.branch, f"{page}: Colab opens {href}"
        assert (published / m.group(3)).is_file(), f"{page}: Colab would open {m.group(3)}, not in the repository"
    for href, page in edits.items():
        assert href.startswith(f"{pub.url}/edit/{pub.branch}/"), f"{page}: edit link {href}"
        target = href[len(f"{pub.url}/edit/{pub.branch}/"):]
        assert (published / target).is_file(), f"{page}: 'edit this page' points at {target}, not in the repository"
        if page.startswith("notebooks/"):
            assert target == page.replace(".html", ".ipynb"), f"{page}: edits {target}, not its released notebook"
    for href, page in links.items():
        if "github.com" in href and pub.org_repo in href:
            rest = href.split(f"github.com/{pub.org_repo}", 1)[1]
            assert rest == "" or rest[0] in "/?#", f"{page}: {href} is not the students' repository"


@pytest.mark.slow
def test_a_published_notebook_runs_in_the_colab_standin_with_the_published_wheel(published, standin_kernel, tmp_path):  # noqa: F811
    aid = "ch00"
    (wheel,) = (published / "dist").glob("course_lib-*.whl")
    folder = tmp_path / "content"
    folder.mkdir()
    shutil.copy(wheel, folder)
    nb = with_solutions(aid)     # the published notebook is the release (checked above), answers filled in
    nbformat.write(nb, folder / f"{aid}.ipynb")
    ran = run(nb, folder, standin_kernel)
    assert f"course_lib installed from {folder / wheel.name}" in text_of(ran.cells[0].outputs)
    errors = [i for i, c in enumerate(ran.cells) if c.cell_type == "code"
              and any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"cells {errors} failed"

