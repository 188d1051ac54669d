"""One visit per page and width: what a reader's browser shows, measured once for every check.

tests/test_site.py asks `survey(...)` for the whole site at 1280 px and at 390 px (one browser,
one fresh context per page: an empty cache, so the bytes are a first visit's), and its tests
read the measurements. A page added later is measured without touching this file.
"""
from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from conftest import open_page, wait_for_mathjax

SLACK = 3   # px: glyph overhangs (italic math) are not content cut off (site.js uses the same)

# Everything measured in the page, in one evaluate.
SURVEY_JS = """() => {
  const SLACK = %(slack)d;
  const vw = document.documentElement.clientWidth;
  const article = document.querySelector('article.bd-article') || document.body;
  const describe = (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}: `
      + (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 70);
  const clipper = (el) => { for (let a = el.parentElement; a; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return a; } return null; };
  const shown = (el) => el.getClientRects().length > 0 && el.getBoundingClientRect().width > 0;

  // Content past the right edge, outside a box that scrolls; boxes that scroll without the cue;
  // and content a box cuts off (overflow hidden) so that no reader can reach it.
  const wide = [], hidden = [];
  for (const el of document.querySelectorAll('.bd-article-container *')) {
    if (el.closest('mjx-assistive-mml')) continue;   // MathJax's copy for screen readers, clipped away
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const box = clipper(el);
    const clip = box && getComputedStyle(box).overflowX;
    if (box && (clip === 'hidden' || clip === 'clip') && r.right > box.getBoundingClientRect().right + SLACK
        && el.matches('table *, pre *, figure *, .cell_output *, mjx-container *')) {
      hidden.push(`right=${Math.round(r.right)} past ${Math.round(box.getBoundingClientRect().right)} ` + describe(el));
    }
    if (r.right <= vw + SLACK) continue;
    if (box && box.getBoundingClientRect().right <= vw + SLACK) continue;
    wide.push(`right=${Math.round(r.right)} ` + describe(el));
  }
  const uncued = [...article.querySelectorAll('*')].filter(el => {
    const o = getComputedStyle(el).overflowX;
    return (o === 'auto' || o === 'scroll') && el.scrollWidth > el.clientWidth + SLACK && el.clientWidth > 0
        && !el.classList.contains('sf-overflows');
  }).map(describe);

  // Code cells (and other code blocks) that scroll sideways: their longest line.
  const code = [...article.querySelectorAll('div.highlight pre')].filter(shown)
    .filter(pre => pre.scrollWidth > pre.clientWidth + SLACK)
    .map(pre => {
      const lines = pre.textContent.split('\\n');
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
      return {width: pre.clientWidth, needs: pre.scrollWidth, chars: longest.length, line: longest.trim().slice(0, 100),
              output: !!pre.closest('.cell_output, .output')};
    });
  const codeBoxes = [...article.querySelectorAll('.cell_input div.highlight pre')].filter(shown);
  const charWidth = (() => {
    const pre = codeBoxes[0];
    if (!pre) return null;
    const probe = document.createElement('span');
    probe.textContent = 'x'.repeat(100);
    pre.appendChild(probe);
    const w = probe.getBoundingClientRect().width / 100;
    probe.remove();
    return {char: w, box: pre.clientWidth - parseFloat(getComputedStyle(pre).paddingLeft) - parseFloat(getComputedStyle(pre).paddingRight)};
  })();

  // Display equations wider than their column.
  const items = (el) => { try { return MathJax.startup.document.getMathItemsWithin(el); } catch (e) { return []; } };
  const equations = [...article.querySelectorAll('mjx-container[display="true"]')].filter(shown).map(m => {
    const box = m.closest('div.math') || m.parentElement;
    const tex = (items(box)[0] || {}).math || box.textContent;
    return {width: Math.round(m.scrollWidth), box: Math.round(box.clientWidth), tex: tex.trim().replace(/\\s+/g, ' ')};
  }).filter(e => e.width > e.box + SLACK);

  // Figures (images in the text) and widget frames: their size as shown.
  const figures = [...article.querySelectorAll('img')].filter(i => !i.closest('.widget-viewer')).map(i => ({
    src: i.currentSrc || i.src, shown: Math.round(i.getBoundingClientRect().width * 10) / 10,
    natural: i.naturalWidth, id: (i.closest('figure') || {}).id || '', alt: i.alt}));
  const frames = [...article.querySelectorAll('.widget-viewer img')].map(i => ({
    src: i.src.slice(0, 40), data: shown(i) ? i.src : '', visible: shown(i),
    shown: Math.round(i.getBoundingClientRect().width * 10) / 10, natural: i.naturalWidth, alt: i.alt}));
  const unsupported = [...article.querySelectorAll('.widget-unsupported')].map(e => e.textContent);

  const unrendered = [...document.querySelectorAll('.math')].filter(el => !el.querySelector('mjx-container'))
    .map(el => el.textContent.slice(0, 80));
  const broken = [...document.images].filter(i => i.complete && i.naturalWidth === 0).map(i => i.src.slice(0, 100));
  const math = document.querySelectorAll('mjx-container').length;
  return {vw, math, pageWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 8), hidden: hidden.slice(0, 8),
          uncued: uncued.slice(0, 8), code, charWidth, equations, figures, frames, unsupported, unrendered, broken,
          text: article.innerText};
}""" % {"slack": SLACK}

ICONS_JS = """() => [...document.querySelectorAll('i.fa-solid, i.fas, i.fab, i.fa-brands')]
  .filter(i => i.offsetParent !== null).filter(i => {
    const s = getComputedStyle(i), c = getComputedStyle(i, '::before').content;
    return c === 'none' || c === '""' || !document.fonts.check(`${s.fontWeight} 16px ${s.fontFamily}`, c.slice(1, -1));
  }).map(i => `${i.className} (${getComputedStyle(i).fontFamily})`)"""


def _menus_at_phone_width(page) -> list[str]:
    """The visible menu and page-contents buttons open their dialogs (the themes bound a hidden copy)."""
    problems = []
    menu = page.locator(".bd-header-article .primary-toggle")
    if not menu.is_visible():
        return ["no visible menu button at 390 px"]
    page.evaluate("() => window.scrollTo(0, 0)")
    menu.click()
    dialog = page.locator("#pst-primary-sidebar-modal")
    try:
        dialog.wait_for(state="visible", timeout=3000)
        links = dialog.locator("nav a.reference")
        if links.count() < 3 or not links.first.is_visible():
            problems.append("the menu opened without the chapter links")
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden", timeout=3000)
        contents = page.locator(".bd-header-article .secondary-toggle")
        if contents.count() and contents.is_visible():
            contents.click()
            toc = page.locator("#pst-secondary-sidebar-modal")
            toc.wait_for(state="visible", timeout=3000)
            if toc.locator("a").count() < 1:
                problems.append("the page-contents dialog is empty")
            page.keyboard.press("Escape")
            toc.wait_for(state="hidden", timeout=3000)
    except Exception as exc:         # a dialog that does not open or close: say which
        problems.append(f"menu dialogs: {str(exc).splitlines()[0]}")
    return problems


def _sidebar_collapses_on_desktop(page) -> list[str]:
    hidden = "() => getComputedStyle(document.querySelector('#pst-primary-sidebar')).visibility === '{}'"
    try:
        page.evaluate("() => window.scrollTo(0, 0)")
        page.locator(".bd-header-article .primary-toggle").click()
        page.wait_for_function(hidden.format("hidden"), timeout=3000)
        page.locator(".bd-header-article .primary-toggle").click()
        page.wait_for_function(hidden.format("visible"), timeout=3000)
    except Exception as exc:
        return [f"the menu button does not collapse the sidebar: {str(exc).splitlines()[0]}"]
    return []


def _visit(page, site_url, rel, viewport, shots, phone) -> dict:
    page.goto(f"{site_url}/{rel}", wait_until="load")
    # A reader scrolls through the whole page: every image loads (and counts in the weight).
    page.evaluate("() => document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
    page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30000)
    if page.locator(".math").count():
        wait_for_mathjax(page)
    try:
        page.wait_for_load_state("networkidle", timeout=15000)
    except Exception:                    # a slow machine: count what has arrived
        pass
    page.wait_for_timeout(200)           # site.js marks scrolling boxes after MathJax
    found = page.evaluate(SURVEY_JS)
    found["icons_missing"] = [] if phone else page.evaluate(ICONS_JS)
    found["search_boxes"] = sum(1 for b in page.locator(".search-button-field").all() if b.is_visible())
    found["header_icons"] = page.locator(".bd-header-article i.fas, .bd-header-article i.fab").count()
    page.screenshot(path=str(shots / f"{rel.replace('/', '_')}-{viewport['width']}.png"), full_page=True)
    found["bytes"] = dict(page.bytes)
    found["navigation"] = _menus_at_phone_width(page) if phone else _sidebar_collapses_on_desktop(page)
    found["errors"] = list(page.errors)
    # ERR_FAILED: a CDN request the test blocks; failed loads are checked by URL (blocked, not_found).
    found["console"] = [m for m in page.console_errors if "ERR_FAILED" not in m and "Failed to load resource" not in m]
    found["not_found"] = list(page.not_found)
    found["blocked"] = list(page.blocked)
    return found


def survey(pages, browser, browser_deps, site_url, viewport, shots: Path) -> dict[str, dict]:
    """Visit every page once at this viewport; return page -> measurements."""
    results = {}
    shots.mkdir(parents=True, exist_ok=True)
    phone = viewport["width"] < 600
    for rel in pages:
        page = open_page(browser, browser_deps, site_url, viewport)   # a first visit: an empty cache
        try:
            results[rel] = _visit(page, site_url, rel, viewport, shots, phone)
        except Exception as exc:          # one page's failure is reported by every test, not a crash
            results[rel] = {"failed": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
        finally:
            page.context.close()
    return results


# ---- reading figures -----------------------------------------------------------------------------
def svg_text_sizes(svg: str) -> list[tuple[str, float]]:
    """(text, font size in the SVG's user units) of each text in an SVG.

    matplotlib draws text as glyph paths: a `<!-- text -->` comment, then a group scaled by
    size/100 (`scale(0.1 -0.1)` is 10 units). Hand-written SVGs use <text> with a font-size
    (attribute, class or the root's). Sub- and superscripts are drawn at 70% of their text's
    size, as in the page's own math, and are not counted separately."""
    found = [(unescape(m.group(1)), 100 * float(m.group(2))) for m in re.finditer(
        r"<!-- (.*?) -->\s*<g transform=\"[^\"]*?scale\(([\d.]+) -[\d.]+\)\"", svg)]
    classes = dict(re.findall(r"\.([\w-]+)\s*\{[^}]*?font-size:\s*([\d.]+)", svg))
    root = re.search(r"<svg\b[^>]*?font-size=\"([\d.]+)", svg)
    for m in re.finditer(r"<text\b([^>]*)>(.*?)</text>", svg, re.S):
        attrs, body = m.group(1), re.sub(r"<[^>]+>", "", m.group(2)).strip()
        size = re.search(r"font-size[=:]\s*\"?([\d.]+)", attrs)
        cls = [c for c in (re.search(r"class=\"([^\"]+)\"", attrs) or [None, ""])[1].split() if c in classes]
        if size:
            found.append((body, float(size.group(1))))
        elif cls:
            found.append((body, float(classes[cls[0]])))
        elif root:
            found.append((body, float(root.group(1))))
    return [(t, s) for t, s in found if t.strip()]


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


def svg_width(svg: str) -> float:
    """The SVG's width in its user units (viewBox), which its text sizes are in."""
    box = re.search(r"viewBox=\"[\d.\-]+ [\d.\-]+ ([\d.]+) [\d.]+\"", svg)
    if box:
        return float(box.group(1))
    width = re.search(r"<svg\b[^>]*?width=\"([\d.]+)", svg)
    return float(width.group(1)) if width else 0.0


def image_source(built_site: Path, site_url: str, src: str) -> tuple[str, bytes]:
    """(kind, bytes) of an image the page showed: a file of the site or a data: URL."""
    if src.startswith("data:"):
        head, data = src.split(",", 1)
        kind = "svg" if "svg" in head else head.split("/")[1].split(";")[0]
        return kind, base64.b64decode(data) if ";base64" in head else unquote(data).encode()
    path = built_site / unquote(urlparse(src).path).lstrip("/")
    return path.suffix.lstrip(".").lower(), path.read_bytes()
