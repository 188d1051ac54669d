"""Two fixes to Jupyter Book 1.x's HTML, applied to every page.

1. Launch buttons (Colab, Binder) only on pages that are real .ipynb notebooks. sphinx-book-theme
   also adds them to MyST-markdown pages (book/chNN/*.md), pointing Colab at a .md file it cannot
   open; chapter pages link to their exercise notebook instead.
2. No duplicate inline scripts. sphinx-thebe registers its configuration script once per read
   phase, and a page that declares `const THEBE_JS_URL` twice throws a JavaScript error.
"""
from pathlib import Path


def _fix_page(app, pagename, templatename, context, doctree):
    if Path(app.env.doc2path(pagename)).suffix != ".ipynb" and context.get("header_buttons"):
        context["header_buttons"] = [b for b in context["header_buttons"] if b.get("label") != "launch-buttons"]
    if "script_files" in context:
        seen, unique = set(), []
        for script in context["script_files"]:
            key = (getattr(script, "filename", script) or "", repr(sorted(getattr(script, "attributes", {}).items())))
            if key not in seen:
                seen.add(key)
                unique.append(script)
        context["script_files"] = unique


def setup(app):
    # After sphinx-book-theme's own handler (priority 500) has added the buttons.
    app.connect("html-page-context", _fix_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
