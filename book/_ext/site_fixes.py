"""Fixes to Jupyter Book 1.x's HTML (sphinx-book-theme 1.3 on pydata-sphinx-theme 0.17), every page.

1. Launch buttons that open something. Exercise pages (.ipynb) keep the theme's Colab/Binder
   buttons. A chapter page (MyST .md) gets one Colab button that opens its generated notebook twin,
   book/_colab/<page>.ipynb (colab_notebooks.py); the theme would point Colab at the .md file,
   which Colab cannot open. Pages without code get no launch button.
2. "Edit this page" on an exercise page edits its source in solutions/, not the generated
   notebooks/ copy, where the tree has it (the instructors' repository; the students' one, written
   by `make publish`, has none and keeps the link to its notebooks/).
3. No duplicate inline scripts: sphinx-thebe registers its configuration script once per read
   phase, and a page that declares `const THEBE_JS_URL` twice throws a JavaScript error.
4. No 1.5 MB icon script. pydata-sphinx-theme loads Font Awesome's JavaScript (every icon as SVG
   data) on every page, although its stylesheet already draws the dozen icons the site uses from
   the Font Awesome web fonts. The script tag is removed from the written pages and the file from
   the output.
5. A valid colour mode: without `default_mode` the theme sets mode "" and logs
   "Got invalid theme mode" on every page. Light, because the figures are drawn on white.
6. Bibliography labels that match the citations: the text cites "(Karpathy, 2019)"
   (bibtex_reference_style author_year), so the list is labelled [Karpathy, 2019], not [Kar19].
   The pybtex style "authoryear" (bibtex_default_style in _config.yml) is registered here.
7. book/_static/site.css and site.js: the phone-width navigation fix, the hidden duplicate header
   search box, outputs and equations that fit (see those files).
8. Figure, table and equation numbers per chapter: "Fig. 4.2" is chapter 4's second figure
   (Sphinx counts through the whole book unless its toc is numbered, which would also number the
   titles). A chapter's exercise page continues its chapter's count; other pages count alone.
9. The intro's chapter table links every chapter in the toc; a row for a chapter not in this
   build (being written on another branch) shows its title, "in preparation", and no link,
   instead of failing the build. tests/test_site.py checks that the toc and the table agree.
11. No search index on pages that do not search: pydata-sphinx-theme loads searchtools.js and the
   whole searchindex.js (78 kB, growing with every chapter) on every page, for a search-as-you-type
   box this site does not turn on; the search page keeps them.
10. Lighter icons. The theme's stylesheet names all 1,900 Font Awesome icons and every page loads
   two 120-160 kB icon fonts for the dozen icons the site shows. After the build the stylesheet
   keeps the rules of the icons a page or script of the site names, and the fonts keep only their
   glyphs (fontTools), as WOFF: 274 kB of fonts become a few kB.
"""
from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATIC = HERE.parent / "_static"
sys.path.insert(0, str(HERE))

import pybtex.plugin  # noqa: E402
from docutils import nodes  # noqa: E402
from sphinx import addnodes  # noqa: E402
from sphinx.transforms.post_transforms import SphinxPostTransform  # noqa: E402
from colab_notebooks import REPO, author_year, notebook_path  # noqa: E402
from pybtex.style.formatting.unsrt import Style as UnsrtStyle  # noqa: E402
from pybtex.style.labels import BaseLabelStyle  # noqa: E402


class AuthorYearLabels(BaseLabelStyle):
    """[Karpathy, 2019], [Glorot and Bengio, 2010], [Rumelhart et al., 1986]: as the text cites them."""

    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year(entry)


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = "author_year_title"


pybtex.plugin.register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)

ICON_RULE = re.compile(r"\.fa-([a-z0-9-]+)::?before")
ICON_FONTS = ("fa-solid-900", "fa-regular-400", "fa-brands-400")
ICON_SCRIPT = re.compile(r'[ \t]*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>\n?')


CHAPTER_DOC = re.compile(r"(?:book|notebooks)/ch(\d\d)/")


def _number_per_chapter(app, env):
    """Renumber env.toc_fignumbers (Sphinx's whole-book count) as (chapter, n) per chapter."""
    by_chapter: dict[tuple, list] = {}
    for docname, kinds in env.toc_fignumbers.items():
        m = CHAPTER_DOC.match(docname)
        chapter = (int(m.group(1)),) if m else ()
        for figtype, numbers in kinds.items():
            for node_id, number in numbers.items():
                by_chapter.setdefault((chapter or (docname,), figtype), []).append((number, docname, node_id))
    for (chapter, figtype), entries in by_chapter.items():
        prefix = chapter if isinstance(chapter[0], int) else ()
        for n, (_, docname, node_id) in enumerate(sorted(entries), start=1):
            env.toc_fignumbers[docname][figtype][node_id] = (*prefix, n)
    return []


CHAPTER_PAGE = re.compile(r"book/ch\d\d/index")


class ChaptersInPreparation(SphinxPostTransform):
    """On the root page, a link to a chapter page this build lacks becomes its title, unlinked."""

    default_priority = 5               # before myst-parser resolves (and warns about) the links

    def run(self, **kwargs):
        if self.env.docname != self.config.root_doc:
            return
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst":
                continue
            target = node.get("reftarget", "")      # a docname, or a path myst found no file for
            if node.get("refdomain") != "doc":
                target = posixpath.normpath(posixpath.join(posixpath.dirname(self.env.docname), target))
                target = target.removesuffix(".md")
            if CHAPTER_PAGE.fullmatch(target) and target not in self.env.all_docs:
                node.replace_self([*node.children, nodes.emphasis(text=" (in preparation)")])


def _config_inited(app, config):
    config.html_static_path.append(str(STATIC))
    config.html_context.setdefault("default_mode", "light")


def _colab_button(app, pagename):
    """The launch group for a MyST chapter page: Colab on its generated notebook, if it has one."""
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return None
    twin = notebook_path(Path(app.env.doc2path(pagename)))
    if not twin.exists():
        return None
    opts = app.config.html_theme_options       # jupyter-book fills these from _config.yml
    repo_url = opts.get("repository_url", "").rstrip("/")
    branch = opts.get("repository_branch") or "main"
    org_repo = repo_url.split("github.com/")[-1]
    colab = opts.get("launch_buttons", {}).get("colab_url", "").rstrip("/")
    if not (colab and "github.com/" in repo_url):
        return None
    url = f"{colab}/github/{org_repo}/blob/{branch}/{twin.relative_to(REPO).as_posix()}"
    return {"type": "group", "tooltip": "Run this page in Colab", "icon": "fas fa-rocket", "label": "launch-buttons",
            "buttons": [{"type": "link", "text": "Colab", "tooltip": "Run this page in Colab",
                         "icon": "_static/images/logo_colab.png", "url": url}]}


def _fix_page(app, pagename, templatename, context, doctree):
    buttons = context.get("header_buttons")
    if buttons is not None:
        source = Path(app.env.doc2path(pagename))
        if source.suffix != ".ipynb":
            kept = [b for b in buttons if b.get("label") != "launch-buttons"]
            colab = _colab_button(app, pagename)
            if colab:
                kept.insert(0, colab)
            buttons[:] = kept
        if pagename.startswith("notebooks/") and (REPO / "solutions" / f"{pagename[len('notebooks/'):]}.ipynb").is_file():
            for group in buttons:
                for b in group.get("buttons", []):
                    if b.get("label") == "source-edit-button":
                        b["url"] = b["url"].replace("/notebooks/", "/solutions/")
    if "script_files" in context:
        seen, unique = set(), []
        for script in context["script_files"]:
            key = (getattr(script, "filename", script) or "", repr(sorted(getattr(script, "attributes", {}).items())))
            if key not in seen:
                seen.add(key)
                unique.append(script)
        context["script_files"] = unique


SEARCH_SCRIPTS = re.compile(r'[ \t]*<script src="[^"]*(?:_static/searchtools\.js|_static/language_data\.js|'
                            r'searchindex\.js)"></script>\n?')


def _drop_icon_script(app, exception):
    if exception or app.builder.format != "html":
        return
    out = Path(app.outdir)
    search_as_you_type = app.config.html_theme_options.get("search_as_you_type", False)
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        lighter = ICON_SCRIPT.sub("", text)
        if page.name != "search.html" and not search_as_you_type:
            lighter = SEARCH_SCRIPTS.sub("", lighter)
        if lighter != text:
            page.write_text(lighter, encoding="utf-8")
    for leftover in (out / "_static" / "scripts").glob("fontawesome.js*"):
        leftover.unlink()


def _trim_icons(app, exception):
    """Keep the icon rules the site uses and subset the icon fonts to their glyphs."""
    if exception or app.builder.format != "html":
        return
    out = Path(app.outdir)
    css_path = out / "_static" / "styles" / "pydata-sphinx-theme.css"
    fonts = out / "_static" / "vendor" / "fontawesome" / "webfonts"
    if not css_path.exists() or not fonts.exists():
        return
    corpus = " ".join(p.read_text(encoding="utf-8", errors="replace") for pattern in ("*.html", "*.js")
                      for p in out.rglob(pattern))
    used = set(re.findall(r"fa-([a-z0-9-]+)", corpus))
    css = css_path.read_text(encoding="utf-8")
    kept, codepoints = [], set()

    def rule(m):
        selectors, body = m.group(1).split(","), m.group(2)
        names = [ICON_RULE.fullmatch(sel.strip()) for sel in selectors]
        if not all(names):
            return m.group(0)                         # not an icon rule: untouched
        keep = [sel for sel, name in zip(selectors, names) if name.group(1) in used]
        if not keep:
            return ""
        kept.append(keep)
        codepoints.update(int(c, 16) for c in re.findall(r'content:\s*"\\([0-9a-f]+)', body))
        return ",".join(keep) + "{" + body + "}"

    css = re.sub(r"(?<=[}\n])([^{}@]+)\{([^{}]*)\}", rule, css)
    if not codepoints:
        return
    from fontTools import subset

    for name in ICON_FONTS:
        source = fonts / f"{name}.woff2"
        if not source.exists():
            continue
        options = subset.Options()
        options.flavor = "woff"                      # zlib: WOFF2 would need the brotli package
        options.layout_features = ["*"]
        font = subset.load_font(str(fonts / f"{name}.ttf"), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=codepoints)
        subsetter.subset(font)
        subset.save_font(font, str(fonts / f"{name}.woff"), options)
        css = re.sub(rf'url\(([^)]*?){name}\.woff2\) format\("woff2"\),url\([^)]*?{name}\.ttf\) format\("truetype"\)',
                     rf'url(\g<1>{name}.woff) format("woff")', css)
        source.unlink()
        (fonts / f"{name}.ttf").unlink()
    css_path.write_text(css, encoding="utf-8")


def setup(app):
    app.connect("config-inited", _config_inited)
    app.add_post_transform(ChaptersInPreparation)
    app.connect("env-get-updated", _number_per_chapter, priority=900)   # after Sphinx numbers the figures
    # After sphinx-book-theme's own handler (priority 500) has added the buttons.
    app.connect("html-page-context", _fix_page, priority=900)
    app.connect("build-finished", _drop_icon_script)
    app.connect("build-finished", _trim_icons, priority=600)   # after the icon script is gone
    app.add_css_file("site.css")
    app.add_js_file("site.js", loading_method="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
