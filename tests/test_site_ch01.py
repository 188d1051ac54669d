"""Chapter 1's page in a real browser: its formulas render, its figures load, and the learning-rate
slider (ipywidgets, embedded as static widget state and shown by the site's kernel-free viewer,
book/_static/widget_viewer.js) changes the picture.

Uses the whole-site build from conftest.py (`built_site`), like tests/test_site.py.
"""
from __future__ import annotations

import re

import pytest

from conftest import wait_for_mathjax

pytestmark = pytest.mark.slow   # grades whole notebooks / drives a browser: `make test-fast` skips it

PAGE = "book/ch01/index.html"


def shown_frame(page):
    """src of the one image of the learning-rate Stack that is visible now."""
    return page.evaluate("""() => {
        const imgs = [...document.querySelectorAll('.jupyter-widgets img')]
            .filter(i => i.offsetParent !== null && i.getBoundingClientRect().height > 0);
        return imgs.length === 1 ? imgs[0].src : `${imgs.length} images visible`;
    }""")


def test_ch01_page_renders_formulas_and_figures(built_site, site_url, page):
    html = (built_site / PAGE).read_text()
    assert "notebooks/ch01/ch01.html" in html, "the chapter page should link its exercises"
    figures = [src for src in re.findall(r'<img[^>]+src="([^"]+\.(?:png|svg))"', html) if "_static/" not in src]
    assert len(figures) >= 4, f"expected the chapter's figures (surface, graph, saliency, depth), found {figures}"
    for src in figures:
        assert (built_site / "book" / "ch01" / src).resolve().stat().st_size > 5000, f"{src} looks empty"

    page.goto(f"{site_url}/{PAGE}", wait_until="load")
    wait_for_mathjax(page)
    n_math = page.locator(".math").count()
    assert n_math >= 10, f"expected the chapter's formulas, found {n_math} math elements"
    unrendered = page.evaluate("""() => [...document.querySelectorAll('.math')]
        .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 80))""")
    assert not unrendered, f"math left as raw TeX: {unrendered[:3]}"
    assert page.locator("mjx-container").count() > 20, "inline math ($...$) should render too"
    for _ in range(40):    # scroll through so that lazily loaded images load
        page.mouse.wheel(0, 900)
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=20000)
    sizes = page.evaluate("() => [...document.querySelectorAll('article img')].map(i => [i.src, i.naturalWidth])")
    broken = [src for src, width in sizes if width == 0]
    assert not broken, f"images that did not load: {broken}"
    assert len(sizes) >= 4
    assert not page.errors, f"JavaScript errors: {page.errors}"


def test_ch01_learning_rate_slider_changes_the_picture(built_site, site_url, page):
    page.goto(f"{site_url}/{PAGE}", wait_until="load")
    page.wait_for_selector(".jupyter-widgets input[type=range]", timeout=30000)
    page.wait_for_function("() => [...document.querySelectorAll('.jupyter-widgets img')].some(i => i.naturalWidth > 0)",
                           timeout=20000)
    readout = page.locator(".jupyter-widgets .widget-readout").first
    first_label, first_frame = readout.inner_text(), shown_frame(page)
    assert first_frame.startswith("blob:") or first_frame.startswith("data:"), f"no single frame shown: {first_frame}"

    handle = page.locator(".jupyter-widgets input[type=range]").first
    assert handle.get_attribute("aria-label") == "learning rate η", "the slider should be named by its label"
    handle.scroll_into_view_if_needed()
    frames, labels = {first_frame}, {first_label}
    for key in ["ArrowRight", "ArrowRight", "Home", "ArrowRight"]:
        handle.focus()
        page.keyboard.press(key)
        page.wait_for_timeout(300)
        frames.add(shown_frame(page))
        labels.add(readout.inner_text())
    assert len(labels) >= 4, f"the slider did not move through the learning rates: {labels}"
    assert len(frames) >= 4 and all(not f.endswith("visible") for f in frames), (
        f"moving the slider should show a different figure each time (jslink to the Stack); got {frames}")
    assert not page.errors, f"JavaScript errors: {page.errors}"
