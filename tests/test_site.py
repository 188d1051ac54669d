"""The reader's pipeline: the book builds with warnings as errors, and renders in a real browser.

Fixtures (built_site, site_url, page with CDN files served locally) live in conftest.py.
"""
from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
import yaml

from conftest import REPO, html_pages, wait_for_mathjax

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


def test_chapter_pages_launch_their_generated_notebook_in_colab(built_site):
    """Colab opens .ipynb files only: a chapter page's button opens its committed twin in book/_colab/."""
    import sys
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    from colab_notebooks import chapter_pages, notebook_path

    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    org_repo = urlparse(cfg["repository"]["url"]).path.strip("/")
    pages = chapter_pages()
    assert pages, "no chapter pages found under book/"
    for source in pages:
        rel = source.relative_to(REPO).with_suffix(".html")
        html = (built_site / rel).read_text()
        links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html)
        twin = notebook_path(source).relative_to(REPO).as_posix()
        assert links == [f"https://colab.research.google.com/github/{org_repo}/blob/{cfg['repository'].get('branch', 'main')}/{twin}"], \
            f"{rel}: expected one Colab link to {twin}, found {links}"
        assert (REPO / twin).is_file(), f"{twin} is missing: run `make notebooks`"
    ch00 = (built_site / "book" / "ch00" / "index.html").read_text()
    assert "notebooks/ch00/ch00.html" in ch00, "the chapter page should link its exercises"


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
