"""The reader's pipeline: the book builds with warnings as errors, and renders in a real browser.

Every check runs over EVERY page of the built site (html_pages), so a chapter added later is
checked without touching this file. The browser visits each page once at 1280 px and once at
390 px (tests/site_survey.py measures everything in that visit: one fresh context per page, so the
bytes are a first visit's) and the tests below read those measurements: math renders, nothing is
wider than a phone, the menus open, pages weigh at most 3 MB, code fits the desktop column,
equations fit a phone, figure text is legible at 390 px, widget frames are sharp and described.
Screenshots of every page at both widths land in _build/screenshots. Static checks read the built
HTML: figures numbered per chapter, tables as tables, the intro's chapter table against the toc.
Fixtures (built_site, site_url, browser with CDN files served locally) live in conftest.py.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from bs4 import BeautifulSoup

from conftest import DESKTOP, PHONE, REPO, html_pages
from site_survey import image_source, survey, svg_text_sizes, svg_width

pytestmark = pytest.mark.slow
SCREENSHOTS = REPO / "_build" / "screenshots"   # every page at both widths, to look at


def chapter_pages(built_site):
    """The chapter pages (book/chNN/*.html), whatever chapters exist by now."""
    return [rel for rel in html_pages(built_site) if re.match(r"book/ch\d\d/", rel)]


def article(built_site, rel):
    return BeautifulSoup((built_site / rel).read_text(), "html.parser").select_one("article.bd-article")

@pytest.fixture(scope="module")
def desktop(built_site, site_url, browser, browser_deps):
    """Every page at 1280 px: page -> what the browser showed (site_survey.survey)."""
    return measured(survey(html_pages(built_site), browser, browser_deps, site_url, DESKTOP, SCREENSHOTS))


@pytest.fixture(scope="module")
def phone(built_site, site_url, browser, browser_deps):
    """Every page at 390 px."""
    return measured(survey(html_pages(built_site), browser, browser_deps, site_url, PHONE, SCREENSHOTS))


class Measured(dict):
    """page -> measurements, for the pages the browser could measure; `.failed`: page -> why not."""


def measured(pages: dict) -> Measured:
    seen = Measured((rel, found) for rel, found in pages.items() if "failed" not in found)
    seen.failed = {rel: found["failed"] for rel, found in pages.items() if "failed" in found}
    return seen


def test_the_browser_measured_every_page(desktop, phone):
    report([f"{rel} at {w}: {why}" for w, seen in (("1280", desktop), ("390", phone))
            for rel, why in seen.failed.items()], "pages the browser could not open and measure")


def report(problems: list[str], what: str):
    assert not problems, f"{what} ({len(problems)}):\n" + "\n".join(problems)


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
    images = re.findall(r'<img[^>]+src="([^"]+_images/[^"]+\.(?:png|svg))"', page)
    assert len(images) >= 2, "chapter 0 should show its two figures"
    for src in images:
        assert (built_site / "book" / "ch00" / src).resolve().stat().st_size > 5000


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


def test_widget_viewer_only_on_pages_with_widgets(built_site):
    for rel in html_pages(built_site):
        html = (built_site / rel).read_text()
        has_widgets = "application/vnd.jupyter.widget-state+json" in html
        assert ("widget_viewer.js" in html) == has_widgets, \
            f"{rel}: widget_viewer.js {'missing' if has_widgets else 'loaded without widgets'}"
        for script in ("embed-amd.js", "require.js"):
            assert script not in html, f"{rel}: loads {script} (the 4.4 MB widget manager); the site's viewer replaces it"


# ---- in the browser, every page at both widths ----------------------------------------------------
RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\frac|\\sum|\$[A-Za-z\\][^$\n]{0,40}\$")   # the last: inline $x$ left as text


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_page_renders_math_and_images_without_errors(built_site, width, request):
    seen, problems = request.getfixturevalue(width), []
    for rel, found in seen.items():
        if found["unrendered"]:
            problems.append(f"{rel}: math left as raw TeX: {found['unrendered'][:3]}")
        if RAW_TEX.search(found["text"]):
            problems.append(f"{rel}: raw TeX visible on the page: {RAW_TEX.findall(found['text'])[:5]}")
        if found["broken"]:
            problems.append(f"{rel}: images that did not load: {found['broken']}")
        for kind in ("errors", "console", "not_found", "unsupported"):
            if found[kind]:
                problems.append(f"{rel}: {kind.replace('_', ' ')}: {found[kind][:3]}")
        if [u for u in found["blocked"] if "mathjax" in u]:
            problems.append(f"{rel}: MathJax files not served locally: {found['blocked'][:3]}")
    report(problems, f"pages that do not render cleanly at {width} width")
    assert sum(1 for f in seen.values() if f["math"]) >= 2, "expected math on the chapter pages and exercises"


def test_nothing_is_wider_than_a_phone(phone):
    """At 390 px no content runs past the right edge outside a box that scrolls, every box that
    scrolls sideways shows the cue (site.js marks it, site.css draws the edge shadow), and no box
    cuts off a table's column, an output or a figure where no reader can scroll to it."""
    problems = []
    for rel, found in phone.items():
        if found["pageWidth"] > found["vw"] + 1 or found["wide"]:
            problems.append(f"{rel}: page {found['pageWidth']} px wide at {found['vw']} px; too wide: {found['wide']}")
        if found["uncued"]:
            problems.append(f"{rel}: scrolls sideways without the cue: {found['uncued']}")
        if found["hidden"]:
            problems.append(f"{rel}: cut off where no reader can scroll to it: {found['hidden']}")
    report(problems, "content wider than a phone")


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_menus_work(width, request):
    """Phone: the visible menu and page-contents buttons open their dialogs (the themes bound only a
    hidden copy). Desktop: the menu button collapses and restores the sidebar."""
    report([f"{rel}: {p}" for rel, found in request.getfixturevalue(width).items() for p in found["navigation"]],
           f"navigation that does not work at {width} width")


def test_one_search_box_and_icons_without_the_icon_script(built_site, desktop):
    problems = []
    for rel, found in desktop.items():
        if "fontawesome.js" in (built_site / rel).read_text():
            problems.append(f"{rel}: loads Font Awesome's 1.5 MB icon script")
        if found["search_boxes"] != 1:
            problems.append(f"{rel}: {found['search_boxes']} search boxes visible, expected the sidebar's one")
        if found["header_icons"] < 3:
            problems.append(f"{rel}: the header buttons' icons are missing")
        if found["icons_missing"]:
            problems.append(f"{rel}: icons whose font did not load (they show as empty boxes): {found['icons_missing']}")
    report(problems, "search box and icons")


# What a page may make a reader download, with an empty cache (uncompressed bytes: what the browser
# parses; a server's gzip roughly divides text by three). Every page pays fixed costs: MathJax's
# tex-mml-chtml bundle (1.2 MB, on pages with math) and the theme's CSS, JS and icon fonts (about
# 0.5 MB once trimmed, see site_fixes.py), so a page of text weighs about 1.9 MB and 3 MB leaves a
# chapter about 1 MB of its own figures, outputs and widget frames: 16 s on a slow phone connection
# (1.5 Mbit/s). Pages with widgets have the same budget: their viewer is a few kB
# (book/_static/widget_viewer.js). Before: ch01 8.1 MB, ch04 7.7 MB (a 4.4 MB widget manager).
BUDGET_BYTES = 3_000_000


def test_every_page_weighs_at_most_3_mb(phone):
    rows, over = [], []
    for rel, found in phone.items():
        total = sum(found["bytes"].values())
        biggest = sorted(found["bytes"].items(), key=lambda kv: -kv[1])[:3]
        rows.append(f"{total / 1e6:6.2f} MB  {rel}  ("
                    + ", ".join(f"{Path(urlparse(u).path).name[:30]} {n / 1e3:.0f} kB" for u, n in biggest) + ")")
        if total > BUDGET_BYTES:
            over.append(f"{rel}: {total / 1e6:.2f} MB, budget {BUDGET_BYTES / 1e6:.1f} MB")
    print("page weights:\n" + "\n".join(rows))
    report(over, "pages over 3 MB")


def test_code_cells_fit_the_desktop_column(desktop, phone):
    """At 1280 px no code line needs a sideways scroll (book/_ext/check_code_lines.py holds the
    pages' code cells to CODE_LINE_CHARS characters; exercise pages wrap the notebook's longer lines:
    site.css, .sf-exercise; this measures what the browser shows). At 390 px code on chapter pages
    scrolls, with the cue (test_nothing_is_wider_than_a_phone)."""
    problems = [f"{rel}: a {c['chars']}-character line needs {c['needs']} px in a {c['width']} px box: {c['line']!r}"
                for rel, found in desktop.items() for c in found["code"]]
    report(problems, "code lines that run past the right edge at 1280 px")
    assert any(f["charWidth"] for f in desktop.values()), "no code cells measured"


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_display_equations_fit_the_column(width, request):
    """A display equation is split across lines (aligned, or a few shorter equations) so that it fits
    a phone's 358-px column: one that scrolls hides its right-hand side, where the meaning often is."""
    problems = [f"{rel}: {e['width']} px in a {e['box']} px column: {e['tex'][:110]}"
                for rel, found in request.getfixturevalue(width).items() for e in found["equations"]]
    report(problems, f"display equations wider than the column at {width} width")


MIN_TEXT_PX = 9.0 - 0.25   # "about 9 CSS px": course_lib.plotting.MIN_TEXT_PX, less rounding


def test_figure_text_is_legible_on_a_phone(built_site, site_url, phone):
    """Every figure is vector (SVG: sharp at any zoom, its text measurable) and its smallest text,
    scaled as the 390-px page shows the figure, is at least about 9 CSS px. The text sizes are read
    from the SVG (matplotlib's glyph groups or <text> font sizes) and scaled by the width the
    browser gave the image. Figures drawn with course_lib.plotting also say in their description
    whether a legend covers data; that is reported too."""
    problems, measured = [], 0
    for rel, found in phone.items():
        for fig in found["figures"]:
            name = f"{rel}: {fig['id'] or Path(urlparse(fig['src']).path).name}"
            kind, data = image_source(built_site, site_url, fig["src"])
            if kind != "svg":
                problems.append(f"{name}: a {kind.upper()} image ({fig['natural']} px shown at {fig['shown']:.0f}): "
                                f"draw it as SVG (course_lib.plotting.use_course_style shows figures as SVG)")
                continue
            problems += legibility(name, data.decode("utf-8", "replace"), fig["shown"])
            measured += 1
    report(problems, "figures hard to read on a 390-px phone")
    assert measured >= 8, f"expected the chapters' figures, measured {measured}"


def legibility(name: str, svg: str, shown_px: float) -> list[str]:
    problems = []
    sizes, width = svg_text_sizes(svg), svg_width(svg)
    if sizes and width:
        scale = shown_px / width
        small = sorted((size * scale, text) for text, size in sizes if size * scale < MIN_TEXT_PX)
        if small:
            problems.append(f"{name}: {len(small)} text(s) below 9 px, smallest {small[0][0]:.1f} px "
                            f"({', '.join(repr(t[:20]) for _, t in small[:3])}); drawn {width / 72:.1f} in wide, shown "
                            f"{shown_px:.0f} px: draw it at most {5.2} in wide (course_lib.plotting.COLUMN_IN) "
                            f"with panels stacked, or larger text")
    note = re.search(r"<dc:description>course_lib\.plotting: (.*?)</dc:description>", svg, re.S)
    if note and note.group(1).strip() != "ok":
        legends = [p for p in note.group(1).split("; ") if "legend" in p]
        problems += [f"{name}: {p}" for p in legends]
    return problems


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_widget_frames_are_sharp_legible_and_described(built_site, site_url, width, request):
    """Every frame of an interactive figure has alt text in words; the one shown is vector (or a
    PNG with at least two pixels per CSS pixel: sharp on a phone's 2x screen, never stretched), and
    on a phone its text is legible by the figures' rule."""
    problems, frames = [], 0
    for rel, found in request.getfixturevalue(width).items():
        for i, frame in enumerate(found["frames"]):
            frames += 1
            if len(frame["alt"].split()) < 4:
                problems.append(f"{rel}: widget frame {i} has no alt text in words (precomputed_widget(alt=...))")
            if not frame["visible"]:
                continue
            kind, data = image_source(built_site, site_url, frame["data"])
            if kind != "svg" and frame["natural"] < 2 * frame["shown"] - 1:
                problems.append(f"{rel}: widget frame {i} is a {frame['natural']}-px {kind.upper()} shown "
                                f"{frame['shown']:.0f} px wide (blurred on a 2x screen): return the matplotlib "
                                f"Figure from render (SVG)")
            if kind == "svg" and width == "phone":
                problems += legibility(f"{rel}: widget frame {i}", data.decode("utf-8", "replace"), frame["shown"])
    with_widgets = [rel for rel in request.getfixturevalue(width)
                    if "application/vnd.jupyter.widget-state+json" in (built_site / rel).read_text()]
    report(problems, f"widget frames at {width} width")
    if with_widgets:
        assert frames, f"pages {with_widgets} embed widgets but the viewer showed no frames"


# ---- tables, figure numbers, search, the intro ------------------------------------------------------
def text_table(text: str) -> list[str] | None:
    """The lines of a printout laid out as a table, or None.

    A table printout: at least three consecutive lines (a header and two rows) of three or more
    fields, fields separated by runs of two or more spaces, where at least two field edges line
    up (a field's start, or its end for right-aligned numbers, in the same column in every one of
    those lines). Printed arrays and tensors ("[[1, 0],", "tensor(") are not tables."""
    def starts(line):
        if re.match(r"\s*(\[|\(|tensor\(|array\()", line):
            return None
        gaps = list(re.finditer(r"(?<=\S) {2,}(?=\S)", line))
        if len(gaps) < 2:
            return None
        edges = {("start", m.end()) for m in gaps} | {("end", m.start()) for m in gaps}
        return edges | {("end", len(line.rstrip()))}

    lines = text.splitlines()
    run: list[tuple[str, set]] = []
    for line in lines + [""]:
        cols = starts(line)
        if cols is not None:
            run.append((line, cols))
            continue
        if len(run) >= 3:
            for i in range(len(run) - 2):
                shared = set.intersection(*(c for _, c in run[i:i + 3]))
                if len(shared) >= 2:
                    return [line for line, _ in run]
        run = []
    return None


def test_text_table_tells_a_printout_from_other_output():
    table = ("model        params   loss\n"
             "baseline       1024  2.310\n"
             "ours           4096  1.870\n")
    assert text_table(table)
    assert not text_table("tensor([[1, 0, 0],\n        [1, 1, 0],\n        [1, 1, 1]])")
    assert not text_table("loss 2.31  accuracy 0.10\nloss 1.20  accuracy 0.55\n")
    assert not text_table("      python: 3.11.2\n       torch: 2.13.0\n      device: cpu\n")


def test_result_tables_are_tables_not_printouts(built_site):
    """A table of results is an HTML table (course_lib.tables.table): a monospace printout of
    aligned columns wraps on a phone and loses its columns."""
    problems = []
    for rel in html_pages(built_site):
        body = article(built_site, rel)
        if body is None:
            continue
        for out in body.select(".cell_output pre, div.output pre"):
            lines = text_table(out.get_text())
            if lines:
                problems.append(f"{rel}: a printout used as a table ({len(lines)} lines): {lines[0].strip()[:70]!r}")
    report(problems, "printouts used as tables (course_lib.tables.table makes an HTML table)")


def test_figures_are_numbered_per_chapter(built_site):
    """Fig. 4.2 is chapter 4's second figure, on its page and wherever it is referenced."""
    problems, seen = [], 0
    for rel in html_pages(built_site):
        m = re.match(r"(?:book|notebooks)/ch(\d\d)/", rel)
        if not m:
            continue
        chapter, body = int(m.group(1)), article(built_site, rel)
        numbers = [n.get_text(strip=True) for n in body.select("figcaption .caption-number")]
        expected = [f"Fig. {chapter}.{k}" for k in range(1, len(numbers) + 1)]
        if rel.startswith("book/") and numbers != expected:
            problems.append(f"{rel}: figures numbered {numbers}, expected {expected}")
        seen += len(numbers)
        for ref in body.select("a span.std-numref"):
            if not re.fullmatch(rf"Fig\. {chapter}\.\d+", ref.get_text(strip=True)) and "#fig-ch" in ref.parent.get("href", "") \
                    and f"fig-ch{chapter:02d}" in ref.parent.get("href", ""):
                problems.append(f"{rel}: a reference to its own figure reads {ref.get_text(strip=True)!r}")
    report(problems, "figure numbers")
    assert seen >= 8


def test_search_snippets_show_no_raw_tex(built_site, site_url, page):
    page.goto(f"{site_url}/search.html?q=gradient", wait_until="load")
    # Sphinx lists the results one by one, then fetches each page for its snippet: wait for all of them.
    page.wait_for_function("""() => {
        const box = document.querySelector('#search-results');
        if (!box || !box.textContent.includes('Search finished')) return false;
        const items = box.querySelectorAll('li');
        const done = [...items].filter(li => li.querySelector('p.context') || li.querySelector(':scope > span'));
        return items.length >= 3 && done.length === items.length;
    }""", timeout=60000)
    snippets = page.eval_on_selector_all("#search-results li p.context", "els => els.map(e => e.textContent)")
    raw = [s[:120] for s in snippets if re.search(r"\\[A-Za-z(\[]|\$\$", s)]
    assert not raw, f"search snippets show raw TeX ({len(raw)} of {len(snippets)}): {raw[:3]}"
    assert any(sym in " ".join(snippets) for sym in ("∂", "η", "ᵀ", "∑")), "no formula read in any snippet"


def test_the_intro_table_and_the_toc_agree(built_site):
    """Every chapter in _toc.yml has a row in the intro's chapter table, in order, linking its page
    under its own title; a row without a link is a chapter not in this build (in preparation)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    in_toc = [e["file"] for part in toc["parts"] for e in part["chapters"] if re.fullmatch(r"book/ch\d\d/index", e["file"])]
    intro = BeautifulSoup((built_site / "book" / "intro.html").read_text(), "html.parser")
    table = next(t for t in intro.select("article table") if "Chapter" in t.get_text())
    rows, problems = [], []
    for tr in table.select("tbody tr"):
        first = tr.find("td")
        m = re.match(r"\s*(\d+)\.\s*(.+?)(\s*\(in preparation\))?\s*$", first.get_text(" ", strip=True))
        assert m, f"intro row {first.get_text(strip=True)!r}: expected 'N. Title'"
        link = first.find("a")
        rows.append((int(m.group(1)), m.group(2).strip(), link["href"] if link else None, bool(m.group(3))))
    if [n for n, *_ in rows] != sorted(n for n, *_ in rows):
        problems.append(f"rows not in chapter order: {[n for n, *_ in rows]}")
    linked = {n: (title, href) for n, title, href, _ in rows if href}
    for file in in_toc:
        n = int(file[len("book/ch"):len("book/ch") + 2])
        page = BeautifulSoup((built_site / f"{file}.html").read_text(), "html.parser")
        title = re.sub(r"^\d+\.\s*", "", page.select_one("article h1").get_text(" ", strip=True).rstrip("#").strip())
        if n not in linked:
            problems.append(f"{file} is in the toc but the intro's table does not link it")
            continue
        if linked[n][1].split("#")[0] != f"ch{n:02d}/index.html":
            problems.append(f"chapter {n}'s row links {linked[n][1]}")
        if linked[n][0] != title:
            problems.append(f"chapter {n}'s row says {linked[n][0]!r}, its page {title!r}")
    for n, title, href, preparing in rows:
        if not href and (f"book/ch{n:02d}/index" in in_toc or not preparing):
            problems.append(f"chapter {n} ({title}) has no link although its page is in the toc")
    report(problems, "the intro's chapter table and _toc.yml disagree")
    assert not re.search(r"Chapters \d+ to \d+ are ready", intro.get_text()), "the intro still says which chapters are ready"


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
