"""Chapter 4's page in a real browser: the redrawn diagram (SVG), the formulas and figures, and the
two widgets (pick a box; attention heat maps per layer and head) clicked through at desktop and
phone width. The site has no kernel: every frame was rendered at build time and embedded as widget
state, and the controls only choose which one shows (course_lib.widgets).

Uses the whole-site build from conftest.py (`built_site`), like tests/test_site_ch01.py.
"""
from __future__ import annotations

import re

import pytest
from conftest import wait_for_mathjax

pytestmark = pytest.mark.slow

PAGE = "book/ch04/index.html"
WIDTHS = {"desktop": 1280, "phone": 390}


def widget_outputs(page):
    """The cell outputs that hold a widget with a dropdown: the box picker, then the heat maps."""
    page.wait_for_selector(".jupyter-widgets select", timeout=30000)
    page.wait_for_function("() => [...document.querySelectorAll('.jupyter-widgets img')].some(i => i.naturalWidth > 0)",
                           timeout=20000)
    outputs = page.locator(".cell_output:has(.jupyter-widgets select)")
    assert outputs.count() == 2, f"expected the box picker and the heat-map widget, found {outputs.count()}"
    return outputs.nth(0), outputs.nth(1)


def shown(output):
    """(a fingerprint of the one visible frame image's bytes, visible text) inside one widget's output.

    The bytes, not the src: the widget manager may give a frame a new blob: URL each time it shows it.
    """
    return output.evaluate("""async (el) => {
        const visible = (n) => n.offsetParent !== null && n.getBoundingClientRect().height > 0;
        const imgs = [...el.querySelectorAll('img')].filter(visible);
        const html = [...el.querySelectorAll('.widget-html-content')].filter(visible).map(n => n.textContent).join(' | ');
        if (imgs.length !== 1) return [`${imgs.length} images visible`, html];
        const bytes = new Uint8Array(await (await fetch(imgs[0].src)).arrayBuffer());
        let h = 0;
        for (const b of bytes) h = (h * 31 + b) | 0;
        return [`${bytes.length}:${h}`, html];
    }""")


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_ch04_diagram_formulas_and_figures(built_site, site_url, page, width):
    html = (built_site / PAGE).read_text()
    assert "notebooks/ch04/ch04.html" in html, "the chapter page should link its exercises"
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{site_url}/{PAGE}", wait_until="load")
    wait_for_mathjax(page)
    unrendered = page.evaluate("""() => [...document.querySelectorAll('.math')]
        .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 80))""")
    assert not unrendered, f"math left as raw TeX: {unrendered[:3]}"
    assert page.locator("mjx-container").count() > 30, "the chapter's formulas should render"
    diagram = page.locator("#fig-ch04-diagram img")
    assert diagram.get_attribute("src").endswith(".svg"), "the Transformer diagram should be an SVG"
    diagram.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#fig-ch04-diagram img').naturalWidth > 0", timeout=20000)
    box = diagram.bounding_box()
    assert box["width"] >= min(300, width - 60) and box["x"] + box["width"] <= width + 1, (
        f"the diagram should fill a phone's width without running off it: {box} at {width} px")
    for _ in range(60):                   # scroll through so that lazily loaded images load
        page.mouse.wheel(0, 900)
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=20000)
    figures = page.evaluate("""() => [...document.querySelectorAll('figure img')].map(i => [i.src, i.naturalWidth])""")
    assert len(figures) >= 6, f"expected the diagram and the chapter's figures, found {figures}"
    assert all(w > 0 for _, w in figures), f"figures that did not load: {[s for s, w in figures if w == 0]}"
    assert not page.errors, f"JavaScript errors: {page.errors}"


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_ch04_widgets_click_through_without_a_kernel(built_site, site_url, page, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{site_url}/{PAGE}", wait_until="load")
    boxes, heads = widget_outputs(page)

    # The box picker: every box shows its own frame, named, with its tensor's shape.
    select = boxes.locator("select").first
    select.scroll_into_view_if_needed()
    labels = select.evaluate("(s) => [...s.options].map(o => o.textContent.replace(/\\u00a0/g, ' '))")
    assert len(labels) >= 8 and any("Cross-attention" in lab for lab in labels), f"box options: {labels}"
    frames, texts = set(), []
    for i, label in enumerate(labels):
        select.select_option(index=i)
        page.wait_for_timeout(200)
        src, text = shown(boxes)
        assert not src.endswith("visible"), f"box {label!r}: {src}"
        assert label in text and re.search(r"out \(1, \d+, \d+\)", text), f"box {label!r} shows {text!r}"
        frames.add(src)
        texts.append(text)
    assert len(frames) == len(labels), f"each box should show its own picture; {len(frames)} for {len(labels)} boxes"

    # The heat maps: the dropdown picks the attention, the buttons pick layer and head.
    kind = heads.locator("select").first
    kind.scroll_into_view_if_needed()
    seen = {shown(heads)[0]}
    n_kinds = kind.evaluate("(s) => s.options.length")
    for k in range(n_kinds):
        kind.select_option(index=k)
        for layer in ("1", "2"):
            heads.locator(".widget-toggle-buttons").nth(0).get_by_role("button", name=layer, exact=True).click()
            for head in ("1", "2"):
                heads.locator(".widget-toggle-buttons").nth(1).get_by_role("button", name=head, exact=True).click()
                page.wait_for_timeout(150)
                src, _ = shown(heads)
                assert not src.endswith("visible"), f"attention {k}, layer {layer}, head {head}: {src}"
                seen.add(src)
    assert len(seen) == n_kinds * 4, f"every attention, layer and head should have its own heat map; saw {len(seen)}"

    # Nothing of the widgets runs past a phone's edge.
    for output in (boxes, heads):
        right = output.evaluate("(el) => Math.max(...[...el.querySelectorAll('*')].map(n => n.getBoundingClientRect().right))")
        assert right <= width + 1, f"a widget runs past the right edge: {right:.0f} px at {width} px"
    assert not page.errors, f"JavaScript errors: {page.errors}"
