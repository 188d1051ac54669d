"""Shared fixtures. Tests never depend on ../shared: they make their own small data.

Site fixtures: `built_site` builds the whole book once per session (as `make book` does, with
-W -n); `page` is a headless-Chromium page on that site. The site loads MathJax from a CDN, which
tests cannot reach: the browser is given the same files from its npm package, downloaded once,
checksummed, into .cache/browser-deps (course_lib.data.download). Widgets need no CDN: the site
serves its own viewer (book/_static/widget_viewer.js).
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_program(name: str, apt_package: str) -> str:
    """Path of a system program a test needs. Missing: a loud skip here, a failure in CI."""
    path = shutil.which(name)
    if path:
        return path
    message = (f"{name} is not installed: `sudo apt-get install {apt_package}` (or run .ci/run, which "
               f"installs every system package the tests need)")
    if IN_CI:
        pytest.fail(message)
    pytest.skip("MISSING SYSTEM PACKAGE: " + message)


def require_sandbox() -> None:
    """The grader's bubblewrap sandbox, installed and able to create namespaces here."""
    from autograder.sandbox import bwrap_available

    require_program("bwrap", "bubblewrap")
    if not bwrap_available():
        message = "bubblewrap is installed but cannot create namespaces on this machine"
        pytest.fail(message) if IN_CI else pytest.skip(message)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def venv_scripts_on_path():
    """nbgrader and jupyter-book start helper programs (alembic, kernels) found on PATH."""
    bin_dir = os.path.dirname(sys.executable)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


# npm package -> (version, tarball sha256). The CDN URLs in the built pages map onto these.
BROWSER_DEPS = {
    "mathjax": ("3.2.2", "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"),
}
CDN = re.compile(r"https://(?:cdn\.jsdelivr\.net/npm|unpkg\.com)/((?:@[^/@]+/)?[^/@]+)@[^/]+/(.*)")


def require_c_compiler() -> None:
    """A C compiler that builds chapter 7's kernels (course_lib.lazy's C backend). Missing: a loud skip
    here (the numpy backend's tests still run), a failure in CI, whose .ci/run installs gcc."""
    from course_lib import lazy

    if lazy._compiler().cc is None:
        message = (f"{lazy._compiler().problem}: `sudo apt-get install gcc libc6-dev` (or run .ci/run) to test "
                   f"the C backend; the numpy backend's tests ran")
        pytest.fail(message) if IN_CI else pytest.skip("MISSING SYSTEM PACKAGE: " + message)


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """Build the whole book from scratch, as CI and `make book` do: -W -n --keep-going.

    COURSE_SITE_HTML=path/to/_build/html reuses a site built already (a quicker loop while writing
    pages; CI always builds)."""
    prebuilt = os.environ.get("COURSE_SITE_HTML")
    if prebuilt and not IN_CI:
        assert (Path(prebuilt) / "index.html").exists(), f"COURSE_SITE_HTML={prebuilt} holds no built site"
        return Path(prebuilt)
    out = tmp_path_factory.mktemp("site")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(REPO), "--path-output", str(out), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line and "IPKernelApp" not in line]
    assert proc.returncode == 0 and not warnings, "the book does not build cleanly:\n" + "\n".join(warnings or log.splitlines()[-40:])
    html = out / "_build" / "html"
    assert (html / "index.html").exists()
    return html


@pytest.fixture(scope="session")
def browser_deps() -> dict[str, Path]:
    """npm packages the pages pull from CDNs, unpacked under .cache/browser-deps/<name>/package."""
    from course_lib import data

    cache = REPO / ".cache" / "browser-deps"
    os.environ["COURSE_DATA_DIR"] = str(cache)
    roots = {}
    for name, (version, sha256) in BROWSER_DEPS.items():
        base = name.split("/")[-1]
        tgz = data.download(f"https://registry.npmjs.org/{name}/-/{base}-{version}.tgz", sha256,
                            filename=f"{base}-{version}.tgz")
        root = cache / f"{base}-{version}"
        if not (root / "package").exists():
            with tarfile.open(tgz) as tf:
                tf.extractall(root, filter="data")
        roots[name] = root / "package"
    return roots


@pytest.fixture(scope="session")
def site_url(built_site):
    handler = functools.partial(QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def browser():
    chromium = require_program("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}   # an iPhone 12-15 held upright, in CSS pixels


def open_page(browser, browser_deps, site_url, viewport=DESKTOP):
    """A page in a fresh browser context (empty cache) on the site, CDN files served locally."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.resize = page.set_viewport_size
    page.blocked = []   # external requests we could not serve locally
    page.errors = []    # uncaught JavaScript errors
    page.console_errors = []   # console.error messages and failed loads, as a reader's console shows them
    page.bytes = {}     # url -> bytes of the response body, for page weight
    page.not_found = []  # URLs of the site the page asked for and the server does not have

    def route(r):
        url = r.request.url
        if url.startswith(site_url) or url.startswith("data:"):
            return r.continue_()
        m = CDN.match(url)
        name, rel = (m.group(1), m.group(2)) if m else (None, None)
        if name in browser_deps and (browser_deps[name] / rel).is_file():
            page.bytes[url] = (browser_deps[name] / rel).stat().st_size   # what the CDN would send
            return r.fulfill(path=str(browser_deps[name] / rel))
        page.blocked.append(url)
        return r.abort()

    def remember_size(response):
        if response.status == 404:
            page.not_found.append(response.url)
        try:
            page.bytes.setdefault(response.url, len(response.body()))
        except Exception:       # a redirect or an aborted request has no body
            pass

    page.route("**/*", route)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", remember_size)
    return page


@pytest.fixture
def page(browser, browser_deps, site_url):
    """A desktop-sized page; `page.resize(PHONE)` makes it a phone (touch is not emulated)."""
    page = open_page(browser, browser_deps, site_url)
    yield page
    page.context.close()


def html_pages(built_site):
    """Every page of the site (not the index, search page or the root's redirect to the first page)."""
    skip = {"genindex.html", "search.html"}
    return sorted(str(p.relative_to(built_site)) for p in built_site.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts
                  and 'http-equiv="Refresh"' not in p.read_text()[:2000])


def wait_for_mathjax(page):
    page.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                           timeout=20000)
    page.evaluate("() => window.MathJax.startup.promise")




# ---- markers and the CI time budget --------------------------------------------------------------
CHAPTER = re.compile(r"\bch\d\d\b")
CI_BUDGET_S = 20 * 60   # `make test` on a fresh clone, 2 cores, every chapter (CONTRIBUTING.md)


def chapters_of(nodeid: str) -> list[str]:
    """The chapters a test id names (test_ch03_x, test_x[ch03], tests/variants ch03-...), sorted."""
    return sorted(set(CHAPTER.findall(nodeid.replace("_", " ").replace("-", " "))))


def pytest_configure(config):
    from autograder import assignments
    for aid in assignments():
        config.addinivalue_line("markers", f"{aid}: tests of chapter {aid} (applied from the test id)")


# `make test` runs on two workers (pytest-xdist). One group runs on one worker: files whose session
# fixtures write the same place share a group (the site build; course_lib's wheel and the Colab
# stand-in's virtualenv); every other file is its own group, so its module fixtures (a graded class)
# run once; test_grading splits by chapter. The heaviest groups go first.
SHARED_GROUPS = {"test_site.py": "site", "test_site_ch01.py": "site", "test_site_ch04.py": "site",
                 "test_colab_standin.py": "wheel", "test_publish.py": "wheel", "test_gradescope.py": "wheel"}
BY_CHAPTER = {"test_grading.py"}
FIRST = ["site", "wheel", "test_exercise_variants.py", "test_autograder_safety.py"]


def group_of(nodeid: str) -> str:
    name = nodeid.split("::")[0].rsplit("/", 1)[-1]
    if name in BY_CHAPTER:
        return name + ":" + ",".join(chapters_of(nodeid))
    return SHARED_GROUPS.get(name, name)


def pytest_collection_modifyitems(config, items):
    """Mark each test with the chapters its id names (`pytest -m ch03`), so one chapter runs alone;
    put the heaviest groups first (a stable sort: the same order on every worker)."""
    for item in items:
        for aid in chapters_of(item.nodeid):
            item.add_marker(aid)
    rank = {g: i for i, g in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(FIRST)))


@pytest.hookimpl(optionalhook=True)   # xdist's hook: unknown (and unused) where xdist is not loaded
def pytest_xdist_make_scheduler(config, log):
    """Whole groups (group_of) to a worker, in collection order. (xdist's own --dist loadgroup
    reads marks that it cannot attach under pytest 9: every test ended up a group of its own.)"""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return group_of(nodeid)

    config.option.loadscopereorder = False
    return GroupScheduling(config, log)


_seconds_per_file: dict[str, float] = {}


def pytest_runtest_logreport(report):
    _seconds_per_file[report.nodeid.split("::")[0]] = _seconds_per_file.get(report.nodeid.split("::")[0], 0.0) \
        + report.duration


def pytest_terminal_summary(terminalreporter):
    """Seconds per test file, slowest first, against the CI budget: the budget stays visible."""
    if not _seconds_per_file:
        return
    total = sum(_seconds_per_file.values())
    terminalreporter.section(f"time per test file (total {total:.0f} s; CI budget {CI_BUDGET_S} s for make test)")
    for path, seconds in sorted(_seconds_per_file.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
