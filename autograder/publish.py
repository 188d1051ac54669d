"""`make publish DEST=dir` (`python -m autograder publish DEST`): the students' repository, without answers.

nbgrader's model, kept: the instructors' source repository (this one: solutions/ with every solution
and hidden test, the grader, the tests) stays private; students get the release. `publish` writes
that release as a repository of its own, in an empty folder DEST:

    book/  notebooks/  course_lib/  dist/course_lib-<version>-py3-none-any.whl  _config.yml  _toc.yml
    benchmarks/ (the chapters' scripts and results the pages read)  pyproject.toml  requirements*.txt
    Makefile (student, wheel, book)  README.md (for students)  .gitignore

and never solutions/, autograder/, tests/ (tests/variants holds answers) or the grading benchmarks.
course_lib is published on purpose: it keeps the reference modules later chapters build on (as
micrograd and nanoGPT are public anyway); the solution notebooks and the hidden tests are not.

The two repositories are named once, in _config.yml (`repositories()` reads them): `repository.url`
is this one, `repository.published.url` the students'. The published _config.yml names only the
students' repository, so the site built from DEST links there (Colab, download, repository, edit:
"edit this page" of an exercise opens notebooks/, as the tree has no solutions/; book/_ext/site_fixes.py).

Before anything is written: DEST must be empty (or absent) and outside this repository, every
released notebook must have its source in solutions/, notebooks/ must be what nbgrader generates from
solutions/ and the pages' Colab notebooks (book/_colab) must be current. After writing, before the
commit: no line of a hidden test or of a solution that is not public by design may appear anywhere in
the tree, the wheel included (`find_leaks`). Any failure leaves DEST as it was.

History: DEST gets a fresh `git init` with ONE commit. A copy of this repository's history would
carry the solutions in every earlier commit; one new commit holds the published files and nothing
else, and the README says how to push it on top of the students' repository's own history.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from . import AUTOGRADER_DIR, NOTEBOOKS, REPO, SOLUTIONS
from . import cells as nbcells

# What the students' repository holds, as paths or globs of this one. Everything else stays here.
PUBLISHED = ["book", "notebooks", "course_lib", "_toc.yml", "pyproject.toml", "requirements-student.txt",
             "benchmarks/ch[0-9][0-9]_*.py", "benchmarks/results/ch[0-9][0-9]_*"]
SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}
# Files written for the students' repository (templates in student_repo/).
TEMPLATES = AUTOGRADER_DIR / "student_repo"
# The Makefile targets students use; the rest (notebooks, test, lint, publish, ...) need solutions/ or tests/.
STUDENT_TARGETS = ["$(STAMP)", "venv", "student", "wheel", "book"]
# requirements.txt of the students' repository: the notebooks' set, and the site builder.
SITE_PACKAGES = ["jupyter-book"]
# The organisation in _config.yml's placeholder URLs: an instructor replaces it before publishing.
PLACEHOLDER = "your-github-org"
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", nbcells.HIDDEN_BEGIN, nbcells.HIDDEN_END)


class PublishError(RuntimeError):
    pass


# ---- the two repositories, set once in _config.yml ---------------------------------------------------

@dataclass(frozen=True)
class Repository:
    url: str       # https://github.com/<org>/<name>
    branch: str

    @property
    def org_repo(self) -> str:
        return urlparse(self.url).path.strip("/").removesuffix(".git")


@dataclass(frozen=True)
class Repositories:
    source: Repository      # this one: solutions and hidden tests (private)
    published: Repository   # the students' one, written by `make publish` (public)


def repositories(config: Path | None = None) -> Repositories:
    """The course's two repositories, from _config.yml's `repository:` block."""
    import yaml

    path = config or REPO / "_config.yml"
    block = (yaml.safe_load(path.read_text()) or {}).get("repository") or {}
    published = block.get("published") or {}

    def repo(where: dict, key: str) -> Repository:
        url = str(where.get("url") or "").rstrip("/")
        if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
            raise PublishError(f"{path.name}: {key}.url must be a GitHub repository, https://github.com/<org>/<name> "
                               f"(Colab opens notebooks from GitHub); found {url or 'nothing'!r}")
        return Repository(url, str(where.get("branch") or "main"))

    return Repositories(repo(block, "repository"), repo(published, "repository.published"))


def published_config(text: str, repo: Repository) -> str:
    """_config.yml for the students' repository: its `repository:` block (with the comments above it)
    names only `repo`; every other line is kept as written."""
    import yaml

    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("repository:")), None)
    if start is None:
        raise PublishError("_config.yml has no `repository:` block")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():   # keep the blank lines after the block
        end -= 1
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    block = ("# The students' repository: the site's Colab, download, repository and edit links and the\n"
             "# notebooks' set-up cell point here. Written by `make publish` in the course's source repository.\n"
             f"repository:\n  url: {repo.url}\n  branch: {repo.branch}\n")
    out = "".join(lines[:start]) + block + "".join(lines[end:])
    want = yaml.safe_load(text)
    want["repository"] = {"url": repo.url, "branch": repo.branch}
    if yaml.safe_load(out) != want:
        raise PublishError("could not rewrite _config.yml's `repository:` block (is it laid out as url/branch/published?)")
    return out


# ---- what must never be published -----------------------------------------------------------------

def _released_part(source: str) -> str:
    """A source cell as the release has it, near enough for telling public lines: no solutions, no hidden tests."""
    return SOLUTION_BLOCK.sub("", nbcells.strip_hidden_tests(source))


def _solution_lines(source: str) -> list[str]:
    return [line.strip() for block in SOLUTION_BLOCK.findall(source) for line in block.splitlines()
            if len(line.strip()) > nbcells.SECRET_MIN_CHARS]


def secrets() -> dict[str, str]:
    """Every substantial line (stripped) of a hidden test or a solution that is not public by design
    -> where it comes from. Public by design: what the release keeps of each source notebook, the
    book's pages and course_lib (the reference modules later chapters build on). A line such as
    `loss.backward()` is in those too, and is no secret."""
    import nbformat

    sources = {aid: nbformat.read(SOLUTIONS / aid / f"{aid}.ipynb", as_version=4) for aid in _solved()}
    public = {line.strip() for nb in sources.values() for cell in nb.cells
              for line in _released_part(cell.source).splitlines()}
    for path in [*sorted((REPO / "book").rglob("*.md")), *sorted((REPO / "course_lib").glob("*.py"))]:
        public |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    found: dict[str, str] = {}
    for aid, nb in sources.items():
        for cell in nb.cells:
            gid = nbcells.grade_id(cell) or "a cell"
            for kind, lines in (("a hidden test", nbcells.hidden_lines(cell.source)),
                                ("a solution", _solution_lines(cell.source))):
                for line in lines:
                    if line not in public:
                        found.setdefault(line, f"{kind} in solutions/{aid}/{aid}.ipynb ({gid})")
    return found


TAG = re.compile(r"<[^>]+>")


def _texts(name: str, data: bytes):
    """(name, text) of a file as a reader meets it: notebooks by their cells, HTML by its text, zip
    files (the wheel) by their members; binary files give nothing."""
    suffix = Path(name).suffix.lower()
    if suffix in (".whl", ".zip"):
        import io
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                yield from _texts(f"{name}!{member}", zf.read(member))
        return
    if b"\0" in data:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if suffix == ".ipynb":
        try:
            nb = json.loads(text)
            text = "\n".join("".join(c.get("source", "")) + "\n" + "".join(
                "".join(o.get("text", "")) for o in c.get("outputs", [])) for c in nb.get("cells", []))
        except (ValueError, AttributeError, TypeError):
            pass
    elif suffix in (".html", ".htm"):
        text = html.unescape(TAG.sub("", text))
    yield name, text


def find_leaks(tree: Path) -> list[str]:
    """What in `tree` (a published repository, a built site) gives answers away: a solutions folder or
    notebook, an nbgrader solution or hidden-test marker in a notebook, or a line of `secrets()`."""
    tree = Path(tree)
    secret = secrets()
    solution_bytes = {(SOLUTIONS / aid / f"{aid}.ipynb").read_bytes() for aid in _solved()}
    leaks = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file() and ".git" not in p.relative_to(tree).parts):
        rel = path.relative_to(tree).as_posix()
        if "solutions" in path.relative_to(tree).parts:
            leaks.append(f"{rel}: a solutions folder")
        data = path.read_bytes()
        if data in solution_bytes:
            leaks.append(f"{rel}: a copy of a solutions notebook")
            continue
        for name, text in _texts(rel, data):
            if name.endswith(".ipynb"):
                leaks += [f"{name}: holds the marker {m!r}" for m in MARKERS if m in text]
            for line in dict.fromkeys(line.strip() for line in text.splitlines()):
                if line in secret:
                    leaks.append(f"{name}: {line!r} is {secret[line]}")
    return leaks


# ---- checks before anything is written ---------------------------------------------------------------

def _solved() -> list[str]:
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name)


def _released() -> list[str]:
    return sorted(p.parent.name for p in NOTEBOOKS.glob("*/*.ipynb") if p.stem == p.parent.name)


def check_destination(dest: Path) -> Path:
    dest = Path(dest).expanduser().resolve()
    if dest == REPO or dest.is_relative_to(REPO):
        raise PublishError(f"DEST {dest} is inside the course's source repository ({REPO}): the published "
                           f"repository must live elsewhere, e.g. make publish DEST=../{REPO.name}-students")
    if REPO.is_relative_to(dest):
        raise PublishError(f"DEST {dest} holds the course's source repository: choose an empty folder elsewhere")
    if dest.exists() and not dest.is_dir():
        raise PublishError(f"DEST {dest} is a file, not a folder: choose an empty folder (or a new path)")
    if dest.is_dir() and any(dest.iterdir()):
        raise PublishError(f"DEST {dest} is not empty: nothing was written. Publish into an empty folder or a new "
                           f"path (each publish is a fresh repository; README.md says how to push it on top of the "
                           f"students' repository)")
    return dest


def check_sources() -> list[str]:
    """The assignment ids to publish; raises if a released notebook has no source or notebooks/ is stale."""
    released, solved = _released(), _solved()
    missing = [aid for aid in released if aid not in solved]
    if missing:
        raise PublishError("no source for " + ", ".join(f"notebooks/{a}/{a}.ipynb" for a in missing) + ": "
                           + ", ".join(f"solutions/{a}/{a}.ipynb" for a in missing) + " is missing. Publishing needs "
                           "every source notebook, to check that no hidden test or solution goes out with the release. "
                           "Restore it (git checkout), or remove the released notebook and its _toc.yml entry. "
                           "Nothing was written.")
    unreleased = [aid for aid in solved if aid not in released]
    if unreleased:
        raise PublishError(f"{', '.join(unreleased)}: in solutions/ but not released; run `make notebooks`. Nothing was written.")
    from .release import out_of_sync

    problems = out_of_sync(solved)
    if problems:
        raise PublishError("notebooks/ is not what nbgrader generates from solutions/: run `make notebooks` (and "
                           "commit), then publish. Nothing was written.\n" + "\n".join(problems[:5]))
    proc = subprocess.run([sys.executable, str(REPO / "book" / "_ext" / "colab_notebooks.py"), "--check"],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        raise PublishError("the chapter pages' Colab notebooks (book/_colab) are out of date: run `make notebooks`. "
                           "Nothing was written.\n" + proc.stdout + proc.stderr)
    return solved


# ---- the files written for students ----------------------------------------------------------------

def _requirement(name: str, path: Path | None = None) -> str:
    """The pinned line of package `name` in requirements.txt (one place for every pin)."""
    path = path or REPO / "requirements.txt"
    for line in path.read_text().splitlines():
        if re.match(rf"{re.escape(name)}\s*(==|>=|~=|<|$)", line.strip(), re.I):
            return line.strip()
    raise PublishError(f"{path.name} does not pin {name}")


def student_requirements() -> str:
    return ("# The site builder on top of what the notebooks need (requirements-student.txt); `make book`\n"
            "# installs this file into .venv.\n-r requirements-student.txt\n"
            + "".join(_requirement(name) + "\n" for name in SITE_PACKAGES))


RULE = re.compile(r"^([^\s#=:][^=:\n]*?)[ \t]*:(?!=)[ \t]*(.*)$", re.M)


def student_makefile(text: str) -> str:
    """The source Makefile, cut to STUDENT_TARGETS (one recipe for each, here and there). A kept target's
    prerequisite that is cut is replaced by what that one needed (book: notebooks -> book: $(STAMP) wheel)."""
    blocks = re.split(r"\n\s*\n", text.strip("\n"))
    rules = {}
    for block in blocks:
        m = RULE.search(block)
        if m and not m.group(1).startswith("."):
            rules[m.group(1).strip()] = m.group(2).split()

    def needs(target: str, seen=()) -> list[str]:
        out = []
        for dep in rules.get(target, []):
            if dep in STUDENT_TARGETS or dep not in rules:
                out.append(dep)
            elif dep not in seen:
                out += needs(dep, (*seen, dep))
        return list(dict.fromkeys(out))

    kept = ["# The students' repository: written by `make publish` from the course's source Makefile."]
    for block in blocks:
        m = RULE.search(block)
        if m and m.group(1).strip() == ".PHONY":
            kept.append(".PHONY: " + " ".join(t for t in STUDENT_TARGETS if not t.startswith("$")))
        elif not m:
            kept.append(block)
        elif m.group(1).strip() in STUDENT_TARGETS:
            target = m.group(1).strip()
            line = f"{target}: {' '.join(needs(target))}".rstrip()
            kept.append(block[:m.start()] + line + block[m.end():])
    return "\n\n".join(kept) + "\n"


def student_readme(repos: Repositories, title: str, wheel: str, ids: list[str]) -> str:
    pub = repos.published
    colab = f"https://colab.research.google.com/github/{pub.org_repo}/blob/{pub.branch}"
    exercises = "\n".join(f"| {aid} | [`notebooks/{aid}/{aid}.ipynb`](notebooks/{aid}/{aid}.ipynb) | "
                          f"[open in Colab]({colab}/notebooks/{aid}/{aid}.ipynb) |" for aid in ids)
    return string.Template((TEMPLATES / "README.md").read_text()).substitute(
        title=title, url=pub.url, url_name=pub.org_repo.split("/")[-1], wheel=wheel, exercises=exercises)


# ---- publish ------------------------------------------------------------------------------------------

def _copy_published(tmp: Path) -> None:
    for pattern in PUBLISHED:
        for src in sorted(REPO.glob(pattern)):
            files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
            for f in files:
                rel = f.relative_to(REPO)
                if any(part in SKIPPED or part.startswith(".") for part in rel.parts) or f.suffix == ".pyc":
                    continue
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, tmp / rel)


def build_wheel(out: Path) -> Path:
    """course_lib's wheel, built as `make wheel` builds it."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(out), str(REPO)], capture_output=True, text=True, cwd=REPO)
    wheels = sorted(out.glob("course_lib-*.whl"))
    if proc.returncode or len(wheels) != 1:
        raise PublishError(f"could not build course_lib's wheel:\n{proc.stdout}{proc.stderr}")
    return wheels[0]


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=True).stdout.strip()


def _source_revision() -> str:
    try:
        rev = _git(REPO, "rev-parse", "--short", "HEAD")
        dirty = _git(REPO, "status", "--porcelain", "--untracked-files=no", "--", *PUBLISHED)
        return rev + (" with uncommitted changes" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "a copy that is not a git checkout"


def _commit(tree: Path, branch: str) -> None:
    """A fresh repository with one commit of everything in `tree` (the instructor's git identity if set)."""
    def config(key, default):
        got = subprocess.run(["git", "config", key], capture_output=True, text=True, cwd=tree).stdout.strip()
        return got or default
    env = {**os.environ, "GIT_AUTHOR_NAME": config("user.name", "Course publisher"),
           "GIT_AUTHOR_EMAIL": config("user.email", "publisher@localhost")}
    env["GIT_COMMITTER_NAME"], env["GIT_COMMITTER_EMAIL"] = env["GIT_AUTHOR_NAME"], env["GIT_AUTHOR_EMAIL"]
    subprocess.run(["git", "init", "--quiet", "--initial-branch", branch, str(tree)], check=True)
    subprocess.run(["git", "-C", str(tree), "add", "--all"], check=True)
    subprocess.run(["git", "-C", str(tree), "commit", "--quiet", "--no-verify", "-m",
                    f"Course release, published from the source repository at {_source_revision()}"],
                   check=True, env=env)


def publish(dest: Path, log=print) -> Path:
    import yaml

    dest = check_destination(dest)
    repos = repositories()
    ids = check_sources()
    if PLACEHOLDER in repos.published.url or PLACEHOLDER in repos.source.url:
        log(f"warning: _config.yml still names the placeholder repositories ({repos.source.url}, "
            f"{repos.published.url}): set `repository: url:` and `repository: published: url:`, run `make notebooks`, "
            f"and publish again before students use it (their Colab links and set-up cell point there).")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.publishing-", dir=dest.parent))
    try:
        _copy_published(tmp)
        config = (REPO / "_config.yml").read_text()
        (tmp / "_config.yml").write_text(published_config(config, repos.published))
        wheel = build_wheel(tmp / "dist")
        (tmp / "requirements.txt").write_text(student_requirements())
        (tmp / "Makefile").write_text(student_makefile((REPO / "Makefile").read_text()))
        shutil.copy(TEMPLATES / "gitignore", tmp / ".gitignore")
        title = yaml.safe_load(config).get("title", "The course")
        (tmp / "README.md").write_text(student_readme(repos, title, wheel.name, ids))
        leaks = find_leaks(tmp)
        if leaks:
            raise PublishError("the published tree would give answers away; nothing was written:\n  "
                               + "\n  ".join(leaks[:20]) + (f"\n  ... {len(leaks) - 20} more" if len(leaks) > 20 else ""))
        _commit(tmp, repos.published.branch)
        if dest.exists():
            dest.rmdir()          # empty (checked above)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files = len(_git(dest, "ls-files").splitlines())
    log(f"published {', '.join(ids)} to {dest}: {files} files in one commit for {repos.published.url} "
        f"(branch {repos.published.branch}). Check it, then push it: see README.md, 'Publishing to students'.")
    return dest


def add_parser(sub) -> None:
    p = sub.add_parser("publish", help="write the students' repository (no solutions, no hidden tests) into DEST",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("dest", type=Path, help="an empty folder (or a new path) outside this repository")
    p.set_defaults(run=main)


def main(args) -> int:
    try:
        publish(args.dest)
    except PublishError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 2
    return 0
