"""Chapter 4's page in a real browser: the redrawn diagram (SVG), the formulas and figures, and the
live diagram whose boxes are the control, clicked through at desktop and phone width. The site has
no kernel: every panel was rendered at build time, and each box is a label for a radio button that
CSS turns into "show this panel" (course_lib.drawing.live_diagram).

Uses the whole-site build from conftest.py (`built_site`), like tests/test_site_ch01.py.
"""
from __future__ import annotations

import pytest
from conftest import wait_for_mathjax

pytestmark = pytest.mark.slow

PAGE = "book/ch04/index.html"
WIDTHS = {"desktop": 1280, "phone": 390}


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
def test_ch04_live_diagram_boxes_are_the_control(built_site, site_url, page, width):
    """The live diagram's boxes are the control: clicking each shows its own panel, with a loaded
    picture; the arrow keys move between boxes; nothing runs past a phone's edge."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{site_url}/{PAGE}", wait_until="load")
    live = page.locator("#fig-ch04-live .ch04-live")
    live.scroll_into_view_if_needed()
    labels = live.locator(".ch04-live-figure label")
    n = labels.count()
    assert n >= 18, f"expected a clickable label over every box of the drawing, found {n}"

    def shown():
        return live.evaluate("""async (el) => {
            const panels = [...el.querySelectorAll('.ch04-live-panels > div')]
                .filter(p => p.offsetParent !== null);
            if (panels.length !== 1) return [`${panels.length} panels visible`, '', 0];
            const img = panels[0].querySelector('img');
            if (img && !img.complete) await new Promise(r => img.addEventListener('load', r));
            return [panels[0].id, panels[0].textContent, img ? img.naturalWidth : -1];
        }""")

    first = shown()
    assert "Cross-attention" in first[1], f"cross-attention should be shown first, got {first[:2]}"
    seen = {}
    for i in range(n):
        label = labels.nth(i)
        title = label.get_attribute("title")
        label.click()
        panel, text, img_width = shown()
        assert not panel.endswith("visible"), f"box {title!r}: {panel}"
        assert title.split(" ", 1)[-1] in text, f"box {title!r} shows {text[:80]!r}"
        assert img_width != 0, f"box {title!r}: its picture did not load"
        seen.setdefault(panel, title)
        outline = label.evaluate("(el) => getComputedStyle(el).outlineStyle")
        assert outline == "solid", f"the chosen box {title!r} should be outlined, got {outline}"
    assert len(seen) >= 18, f"each box should have its own panel; saw {len(seen)}"

    # keyboard: the boxes are radio buttons, so the arrow keys move from one to the next
    live.locator("input[type=radio]:checked").focus()
    before = shown()[0]
    page.keyboard.press("ArrowDown")
    assert shown()[0] != before, "the arrow keys should move to another box"

    right = live.evaluate("(el) => Math.max(...[...el.querySelectorAll('*')]"
                          ".map(n => n.getBoundingClientRect().right))")
    assert right <= width + 1, f"the live diagram runs past the right edge: {right:.0f} px at {width} px"
    assert not page.errors, f"JavaScript errors: {page.errors}"


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_ch04_diagram_text_is_legible_and_never_crossed_by_a_line(built_site, site_url, page, width):
    """Measured in the browser on the inline copy of the drawing: every text is at least 9 CSS px,
    and no arrow or frame passes through a text."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{site_url}/{PAGE}", wait_until="load")
    svg = page.locator("#fig-ch04-live svg")
    svg.scroll_into_view_if_needed()
    report = svg.evaluate("""(svg) => {
        const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        const texts = [...svg.querySelectorAll('text')];
        const small = texts.map(t => [t.textContent, parseFloat(getComputedStyle(t).fontSize) * scale])
                           .filter(([, px]) => px < 9);
        const rects = texts.map(t => [t.textContent, t.getBoundingClientRect()]);
        const crossings = [];
        for (const line of svg.querySelectorAll('path.flow, rect.frame')) {
            const length = line.getTotalLength(), ctm = line.getScreenCTM();
            for (let d = 0; d <= length; d += 0.5) {
                const p = line.getPointAtLength(d).matrixTransform(ctm);
                for (const [name, r] of rects) {
                    if (p.x > r.left + 0.5 && p.x < r.right - 0.5 && p.y > r.top + 0.5 && p.y < r.bottom - 0.5)
                        crossings.push(`${name} by ${line.dataset.from || line.getAttribute('class')}`);
                }
            }
        }
        return {scale, small, crossings: [...new Set(crossings)]};
    }""")
    assert not report["small"], f"text under 9 px at {width} px: {report['small'][:5]}"
    assert not report["crossings"], f"labels crossed by a line at {width} px: {report['crossings']}"
