"""The reader's pipeline: the book builds with warnings as errors, and renders in a real browser.

The site loads MathJax (and, on pages with widgets, require.js and the widget manager) from
CDNs, which tests cannot reach. The browser is given the same files from their npm packages,
downloaded once, checksummed, into .cache/browser-deps (course_lib.data.download).
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from conftest import REPO, require_program

# npm package -> (version, tarball sha256). The CDN URLs in the built pages map onto these.
BROWSER_DEPS = {
    "mathjax": ("3.2.2", "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"),
    "requirejs": ("2.3.4", "583693b373f6ab0528ea6644fab5cdb5822011c9b5b1ff1615590d5f2f473dcd"),
    "@jupyter-widgets/html-manager": ("1.0.6", "6c198ceb99ba7e7526990a1de16e8147ad7d3a714e3fb06741183623c04b5f6e"),
}
CDN = re.compile(r"https://(?:cdn\.jsdelivr\.net/npm|unpkg\.com)/((?:@[^/@]+/)?[^/@]+)@[^/]+/(.*)")
REQUIRE_JS = re.compile(r"https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^/]+/require(?:\.min)?\.js")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """Build the whole book from scratch, as CI and `make book` do: -W -n --keep-going."""
    out = tmp_path_factory.mktemp("site")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(REPO), "--path-output", str(out), "-W", "-n", "--keep-going"],
                          capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line and "IPKernelApp" not in line]
    assert proc.returncode == 0 and not warnings, f"the book does not build cleanly:\n" + "\n".join(warnings or log.splitlines()[-40:])
    html = out / "_build" / "html"
    assert (html / "index.html").exists()
    return html


def test_book_has_every_page_of_the_toc(built_site):
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    def walk(entries):
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections", []) + e.get("chapters", []))
    for part in toc["parts"]:
        walk(part["chapters"])
    for f in files:
        assert (built_site / f"{f}.html").exists(), f"{f} is in _toc.yml but was not built"


def test_chapter_figures_come_from_the_executed_pages(built_site):
    page = (built_site / "book" / "ch00" / "index.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= 2, "chapter 0 should show its two figures"
    for src in images:
        assert (built_site / "book" / "ch00" / src).resolve().stat().st_size > 5000


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


@pytest.fixture
def page(browser, browser_deps, site_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.blocked = []   # external requests we could not serve locally
    page.errors = []    # uncaught JavaScript errors

    def route(r):
        url = r.request.url
        if url.startswith(site_url) or url.startswith("data:"):
            return r.continue_()
        m = CDN.match(url)
        name, rel = (m.group(1), m.group(2)) if m else (("requirejs", "require.js") if REQUIRE_JS.match(url) else (None, None))
        if name in browser_deps and (browser_deps[name] / rel).is_file():
            return r.fulfill(path=str(browser_deps[name] / rel))
        page.blocked.append(url)
        return r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def html_pages(built_site):
    skip = {"genindex.html", "search.html"}
    return sorted(str(p.relative_to(built_site)) for p in built_site.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)


def wait_for_mathjax(page):
    page.wait_for_function("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise",
                           timeout=20000)
    page.evaluate("() => window.MathJax.startup.promise")


def test_every_page_renders_its_math(built_site, site_url, page, tmp_path_factory):
    shots = tmp_path_factory.mktemp("screenshots")
    pages_with_math = 0
    for rel in html_pages(built_site):
        page.goto(f"{site_url}/{rel}", wait_until="load")
        n_math = page.locator(".math").count()
        if n_math:
            wait_for_mathjax(page)
            pages_with_math += 1
            unrendered = page.evaluate("""() => [...document.querySelectorAll('.math')]
                .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 80))""")
            assert not unrendered, f"{rel}: math left as raw TeX: {unrendered[:3]}"
        text = page.inner_text("article")
        raw = re.findall(r"\$\$|\\\(|\\\[|\\frac|\\sum", text)
        assert not raw, f"{rel}: raw TeX visible on the page: {raw[:5]}"
        broken = page.evaluate("() => [...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)")
        assert not broken, f"{rel}: images that did not load: {broken}"
        assert not page.errors, f"{rel}: JavaScript errors: {page.errors}"
        page.screenshot(path=str(shots / (rel.replace("/", "_") + ".png")), full_page=True)
    assert pages_with_math >= 2, "expected math on the chapter page and its exercises"
    assert not [u for u in page.blocked if "mathjax" in u], f"MathJax files not served locally: {page.blocked}"
    print(f"screenshots in {shots}")


def test_notebook_pages_carry_a_working_colab_link(built_site, site_url, page):
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    org_repo = urlparse(cfg["repository"]["url"]).path.strip("/")
    branch = cfg["repository"].get("branch", "main")
    notebooks = [rel for rel in html_pages(built_site) if rel.startswith("notebooks/")]
    assert notebooks, "no exercise pages in the site"
    for rel in notebooks:
        page.goto(f"{site_url}/{rel}", wait_until="load")
        link = page.locator('a[href^="https://colab.research.google.com/"]')
        assert link.count() == 1, f"{rel}: expected one Colab link, found {link.count()}"
        page.locator(".dropdown-launch-buttons button").first.click()
        link.wait_for(state="visible", timeout=5000)
        href = link.get_attribute("href")
        m = re.fullmatch(r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/([^/]+)/(.+\.ipynb)", href)
        assert m, f"{rel}: not a Colab GitHub link: {href}"
        assert m.group(1) == org_repo and m.group(2) == branch, f"{rel}: Colab link points at {m.group(1)}@{m.group(2)}, expected {org_repo}@{branch}"
        target = REPO / m.group(3)
        assert target.is_file() and m.group(3) == rel.replace(".html", ".ipynb"), \
            f"{rel}: Colab would open {m.group(3)}, which is not this page's notebook in the repository"
        # The set-up cell (it installs course_lib in Colab) is hidden on the site.
        assert "find_spec" not in page.inner_text("article")


def test_chapter_pages_have_no_launch_buttons_but_link_their_exercises(built_site):
    page = (built_site / "book" / "ch00" / "index.html").read_text()
    assert "colab.research.google.com" not in page, "Colab cannot open a .md chapter page"
    assert "notebooks/ch00/ch00.html" in page


def test_pages_with_widgets_render_them(built_site, site_url, page):
    """Widget state embedded in a page (ipywidgets) must come alive with the local widget JS."""
    with_widgets = [rel for rel in html_pages(built_site)
                    if "application/vnd.jupyter.widget-state+json" in (built_site / rel).read_text()]
    for rel in with_widgets:
        page.goto(f"{site_url}/{rel}", wait_until="load")
        page.wait_for_selector(".jupyter-widgets", timeout=20000)
        assert not page.errors, f"{rel}: JavaScript errors: {page.errors}"
    if not with_widgets:
        pytest.skip("no page embeds widgets yet")
