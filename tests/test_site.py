"""The reader's pipeline: the book builds with warnings as errors, and renders in a real browser.

Every check runs over EVERY page of the built site (html_pages), so a chapter added later is
checked without touching this file: math renders, figures are numbered, captioned and described,
nothing is wider than a phone, the menus open at 390 px, each page stays within its weight budget,
and chapter pages carry what every chapter promises (objectives, notation link, check-yourself).
Fixtures (built_site, site_url, page with CDN files served locally) live in conftest.py.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from bs4 import BeautifulSoup

from conftest import DESKTOP, PHONE, REPO, html_pages, open_page, wait_for_mathjax

pytestmark = pytest.mark.slow
SCREENSHOTS = REPO / "_build" / "screenshots"   # every page at both widths, to look at


def chapter_pages(built_site):
    """The chapter pages (book/chNN/*.html), whatever chapters exist by now."""
    return [rel for rel in html_pages(built_site) if re.match(r"book/ch\d\d/", rel)]


def article(built_site, rel):
    return BeautifulSoup((built_site / rel).read_text(), "html.parser").select_one("article.bd-article")

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


def test_every_page_renders_its_math(built_site, site_url, page):
    shots = SCREENSHOTS
    shots.mkdir(parents=True, exist_ok=True)
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
        # ERR_FAILED: a CDN request the test blocks; failed loads are checked by URL below.
        console = [m for m in page.console_errors if "ERR_FAILED" not in m and "Failed to load resource" not in m]
        assert not console, f"{rel}: errors in the browser console: {console}"
        assert not page.not_found, f"{rel}: files the page asks for and the site lacks: {page.not_found}"
        page.console_errors.clear()
        page.screenshot(path=str(shots / f"{rel.replace('/', '_')}-1280.png"), full_page=True)
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


# ---- figures -------------------------------------------------------------------------------------
FILE_NAME = re.compile(r"^[\w./-]+\.(png|svg|jpe?g|gif)$|_build/|jupyter_execute", re.I)


def test_every_figure_is_numbered_captioned_and_described(built_site):
    """Every image in a page's text is a numbered figure with a caption and alt text in words.

    The convention every chapter follows: `{glue:figure}` (figures computed in the page) or
    `{figure}` (files), with `:name: fig-chNN-slug` and `:alt: <what it shows>`. A plt.show()
    output or a bare image fails here. Widget frames (ipywidgets) are controls, not figures.
    """
    problems, n_figures = [], 0
    for rel in html_pages(built_site):
        body = article(built_site, rel)
        if body is None:
            continue
        for img in body.find_all("img"):
            if img.find_parent(class_="jupyter-widgets") or img.find_parent(class_="widget-subarea"):
                continue
            alt = (img.get("alt") or "").strip()
            figure = img.find_parent("figure")
            caption = figure.find("figcaption") if figure else None
            if len(alt.split()) < 4 or FILE_NAME.search(alt):
                problems.append(f"{rel}: image {img.get('src')} has no alt text in words (alt={alt!r})")
            if caption is None or not caption.find(class_="caption-number") or len(caption.get_text(" ", strip=True).split()) < 4:
                problems.append(f"{rel}: image {img.get('src')} is not a numbered, captioned figure")
        for figure in body.find_all("figure"):
            n_figures += 1
            if not figure.get("id"):
                problems.append(f"{rel}: a figure without a name (:name: fig-chNN-slug) cannot be referenced")
    assert not problems, "\n".join(problems)
    assert n_figures >= 8, f"expected the chapters' figures, found {n_figures}"


def test_diagrams_are_vector_images(built_site):
    """Computation graphs are drawn as SVG, sharp at any zoom on a phone."""
    for rel, name in (("book/ch01/index.html", "fig-ch01-graph"), ("book/ch02/index.html", "fig-ch02-graph")):
        figure = article(built_site, rel).find(id=name)
        assert figure is not None, f"{rel}: no figure {name}"
        src = figure.find("img")["src"]
        assert src.endswith(".svg"), f"{rel}: {name} is {src}, not an SVG"


# ---- phone width -----------------------------------------------------------------------------------
OVERFLOW_JS = """() => {
  const vw = document.documentElement.clientWidth;
  const clipper = (el) => { for (let a = el.parentElement; a; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return a; } return null; };
  const describe = (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}: `
      + (el.textContent || '').trim().slice(0, 60);
  const wide = [];
  const slack = 3;   // px: glyph overhangs (italic math) are not content cut off (site.js uses the same)
  // The article column; the sidebars are drawers off screen until their button opens them.
  for (const el of document.querySelectorAll('.bd-article-container *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= vw + slack) continue;
    if (el.closest('mjx-assistive-mml')) continue;   // MathJax's copy for screen readers, clipped away
    const box = clipper(el);
    if (box && box.getBoundingClientRect().right <= vw + slack) continue;  // inside a box that scrolls or clips
    wide.push(`right=${Math.round(r.right)} ` + describe(el));
  }
  const uncued = [...document.querySelectorAll('.bd-article *')].filter(el => {
    const o = getComputedStyle(el).overflowX;
    return (o === 'auto' || o === 'scroll') && el.scrollWidth > el.clientWidth + slack && el.clientWidth > 0
        && !el.classList.contains('sf-overflows');
  }).map(describe);
  return {pageWidth: document.documentElement.scrollWidth, vw, wide: wide.slice(0, 8), uncued: uncued.slice(0, 8)};
}"""


def test_nothing_is_wider_than_a_phone(built_site, site_url, page):
    """At 390 px no content runs past the right edge outside a box that scrolls, and every box
    that does scroll sideways shows the cue (site.js marks it, site.css draws the edge shadow)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.resize(PHONE)
    problems = []
    for rel in html_pages(built_site):
        page.goto(f"{site_url}/{rel}", wait_until="load")
        if page.locator(".math").count():
            wait_for_mathjax(page)
        page.wait_for_timeout(300)
        found = page.evaluate(OVERFLOW_JS)
        if found["pageWidth"] > found["vw"] + 1 or found["wide"]:
            problems.append(f"{rel}: page {found['pageWidth']} px wide at {found['vw']} px; too wide: {found['wide']}")
        if found["uncued"]:
            problems.append(f"{rel}: scrolls sideways without the cue: {found['uncued']}")
        page.screenshot(path=str(SCREENSHOTS / f"{rel.replace('/', '_')}-390.png"), full_page=True)
    assert not problems, "\n".join(problems)
    print(f"phone screenshots in {SCREENSHOTS}")


def test_menus_open_at_phone_width_and_the_sidebar_collapses_on_desktop(built_site, site_url, page):
    """The visible menu and page-contents buttons work (the themes bound only a hidden copy)."""
    for rel in html_pages(built_site):
        page.resize(PHONE)
        page.goto(f"{site_url}/{rel}", wait_until="load")
        menu = page.locator(".bd-header-article .primary-toggle")
        assert menu.is_visible(), f"{rel}: no visible menu button at 390 px"
        menu.click()
        dialog = page.locator("#pst-primary-sidebar-modal")
        dialog.wait_for(state="visible", timeout=3000)
        links = dialog.locator("nav a.reference")
        assert links.count() >= 3 and links.first.is_visible(), f"{rel}: the menu opened without the chapter links"
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=3000)
        contents = page.locator(".bd-header-article .secondary-toggle")
        if contents.count() and contents.is_visible():
            contents.click()
            toc = page.locator("#pst-secondary-sidebar-modal")
            toc.wait_for(state="visible", timeout=3000)
            assert toc.locator("a").count() >= 1, f"{rel}: the page-contents dialog is empty"
            page.keyboard.press("Escape")
            toc.wait_for(state="hidden", timeout=3000)

        page.resize(DESKTOP)
        page.locator("#pst-primary-sidebar").wait_for(state="visible", timeout=3000)   # back from the dialog
        hidden = "() => getComputedStyle(document.querySelector('#pst-primary-sidebar')).visibility === '{}'"
        page.locator(".bd-header-article .primary-toggle").click()
        page.wait_for_function(hidden.format("hidden"), timeout=3000)
        page.locator(".bd-header-article .primary-toggle").click()
        page.wait_for_function(hidden.format("visible"), timeout=3000)
        assert not page.errors, f"{rel}: JavaScript errors: {page.errors}"


def test_one_search_box_and_icons_without_the_icon_script(built_site, site_url, page):
    for rel in html_pages(built_site):
        html = (built_site / rel).read_text()
        assert "fontawesome.js" not in html, f"{rel}: loads Font Awesome's 1.5 MB icon script"
        if rel == "index.html":          # the redirect to the first page
            continue
        page.goto(f"{site_url}/{rel}", wait_until="load")
        page.evaluate("() => document.fonts.ready.then(() => true)")
        boxes = [b for b in page.locator(".search-button-field").all() if b.is_visible()]
        assert len(boxes) == 1, f"{rel}: {len(boxes)} search boxes visible, expected the sidebar's one"
        n_icons = page.locator(".bd-header-article i.fas, .bd-header-article i.fab").count()
        assert n_icons >= 3, f"{rel}: the header buttons' icons are missing"
        missing = page.evaluate("""() => [...document.querySelectorAll('i.fa-solid, i.fas, i.fab, i.fa-brands')]
            .filter(i => i.offsetParent !== null).filter(i => {
              const s = getComputedStyle(i), c = getComputedStyle(i, '::before').content;
              return c === 'none' || c === '""' || !document.fonts.check(`${s.fontWeight} 16px ${s.fontFamily}`, c.slice(1, -1));
            }).map(i => `${i.className} (${getComputedStyle(i).fontFamily})`)""")
        assert not missing, f"{rel}: icons whose font did not load (they show as empty boxes): {missing}"


# ---- weight ----------------------------------------------------------------------------------------
# What a page may make a reader download, with an empty cache (uncompressed bytes: what the
# browser parses; a server's gzip roughly halves text). Every page pays fixed costs: MathJax's
# tex-mml-chtml bundle (1.2 MB, on pages with math) and the theme's CSS, JS and web fonts (about
# 1 MB), so a page of text weighs about 2.3 MB. 3 MB leaves a chapter about 0.7 MB for its own
# figures and outputs: on a slow phone connection (1.5 Mbit/s) 3 MB is 16 s, already twice what the
# theme alone costs. A page with widgets also loads the widget manager (4.4 MB: the only build
# @jupyter-widgets/html-manager publishes is unminified) and require.js; 9 MB leaves it about
# 1.5 MB of precomputed frames. Before these budgets the chapter 1 page weighed 9.6 MB and every
# page carried a 1.5 MB icon script.
BUDGET_BYTES = 3_000_000
BUDGET_WITH_WIDGETS_BYTES = 9_000_000


def test_every_page_stays_within_its_weight_budget(built_site, site_url, browser, browser_deps):
    rows, over = [], []
    for rel in html_pages(built_site):
        page = open_page(browser, browser_deps, site_url, PHONE)   # a first visit: an empty cache
        page.goto(f"{site_url}/{rel}", wait_until="networkidle")
        page.wait_for_timeout(500)
        total = sum(page.bytes.values())
        page.context.close()
        widgets = "application/vnd.jupyter.widget-state+json" in (built_site / rel).read_text()
        budget = BUDGET_WITH_WIDGETS_BYTES if widgets else BUDGET_BYTES
        biggest = sorted(page.bytes.items(), key=lambda kv: -kv[1])[:3]
        rows.append(f"{total / 1e6:6.2f} MB  {rel}  ("
                    + ", ".join(f"{Path(urlparse(u).path).name} {n / 1e3:.0f} kB" for u, n in biggest) + ")")
        if total > budget:
            over.append(f"{rel}: {total / 1e6:.2f} MB, budget {budget / 1e6:.1f} MB")
    print("page weights:\n" + "\n".join(rows))
    assert not over, "pages over their weight budget:\n" + "\n".join(over)


def test_widget_viewer_only_on_pages_with_widgets(built_site):
    for rel in html_pages(built_site):
        html = (built_site / rel).read_text()
        has_widgets = "application/vnd.jupyter.widget-state+json" in html
        assert ("widget_viewer.js" in html) == has_widgets, \
            f"{rel}: widget_viewer.js {'missing' if has_widgets else 'loaded without widgets'}"
        for script in ("embed-amd.js", "require.js"):
            assert script not in html, f"{rel}: loads {script} (the 4.4 MB widget manager); the site's viewer replaces it"


# ---- what every chapter page promises --------------------------------------------------------------
def test_chapter_pages_open_with_objectives_link_notation_and_end_with_check_yourself(built_site):
    pages = chapter_pages(built_site)
    assert len(pages) >= 3
    for rel in pages:
        body = article(built_site, rel)
        text = body.get_text(" ", strip=True)
        assert "you will be able to" in text[:3000].lower(), f"{rel}: should open with what the reader will be able to do"
        assert body.find("a", href=re.compile(r"notation\.html")), f"{rel}: should link the notation page"
        heading = body.find(lambda t: t.name in ("h2", "h3") and "Check yourself" in t.get_text())
        assert heading, f"{rel}: no 'Check yourself' section"
        section = heading.find_parent("section")
        questions = section.find("ol")
        assert questions and len(questions.find_all("li", recursive=False)) >= 2, f"{rel}: no check-yourself questions"
        assert re.search(r"[Ee]xercise parts? \d", questions.get_text()), f"{rel}: questions should point at exercise parts"
        answers = section.find("details") or section.find(class_="dropdown")
        assert answers is not None, f"{rel}: check-yourself answers should be hidden in a dropdown"


def test_pages_speak_to_readers_not_to_the_course_authors(built_site):
    for rel in html_pages(built_site):
        body = article(built_site, rel)
        if body is None:
            continue
        text = body.get_text(" ", strip=True)
        leaks = re.findall(r".{0,30}\b(?:the seed|seeds? \d{3})\b.{0,30}", text, re.I)
        assert not leaks, f"{rel}: words written for the course's authors: {leaks}"


# ---- references and repository links ------------------------------------------------------------
def test_references_are_cited_and_labelled_as_the_text_cites_them(built_site):
    from pybtex.database import parse_file

    entries = parse_file(str(REPO / "book" / "references.bib")).entries
    refs = BeautifulSoup((built_site / "book" / "references.html").read_text(), "html.parser")
    listed = {c["id"]: c.select_one("span.label").get_text(strip=True).strip("[]") for c in refs.select("div.citation")}
    assert len(listed) == len(entries), (f"the reference list has {len(listed)} entries, references.bib {len(entries)}: "
                                         "an entry nobody cites (or a citation missing from the list)")
    cited = {}   # entry id -> the texts citing it; "(Karpathy, 2019)" links its whole label, "Karpathy (2019)" its year
    for rel in html_pages(built_site):
        for a in BeautifulSoup((built_site / rel).read_text(), "html.parser").select('a[href*="references.html#"]'):
            cited.setdefault(a["href"].split("#")[-1], set()).add(re.sub(r"\s+,", ",", a.get_text(" ", strip=True)))
    for anchor, label in listed.items():
        assert re.fullmatch(r"[^\d\[\]]+, \d{4}[a-z]?", label), f"label {label!r} is not author-year"
        assert anchor in cited, f"[{label}] is listed but no page cites it"
        wrong = [t for t in cited[anchor] if "," in t and t != label]
        assert not wrong, f"[{label}] is cited as {wrong}: the list and the text should agree"


def test_every_page_has_an_edit_button_to_its_real_source(built_site):
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    prefix = f"{cfg['repository']['url'].rstrip('/')}/edit/{cfg['repository'].get('branch', 'main')}/"
    for rel in html_pages(built_site):
        if rel == "index.html":          # the redirect to the first page
            continue
        links = set(re.findall(r'href="(' + re.escape(prefix) + r'[^"]+)"', (built_site / rel).read_text()))
        assert len(links) == 1, f"{rel}: expected one 'edit this page' link, found {links}"
        source = links.pop()[len(prefix):]
        assert (REPO / source).is_file(), f"{rel}: 'edit this page' points at {source}, not a file of the repository"
        assert not source.startswith("notebooks/"), f"{rel}: edit the exercise's source in solutions/, not {source}"


def test_colab_notebooks_of_chapter_pages_are_up_to_date():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(REPO / "book" / "_ext" / "colab_notebooks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
