"""Show Colab/Binder launch buttons only on pages that are real .ipynb notebooks.

sphinx-book-theme also adds them to MyST-markdown pages (book/chNN/*.md), pointing Colab at a
.md file it cannot open. Chapter pages link to their exercise notebook instead.
"""
from pathlib import Path


def _drop_launch_buttons(app, pagename, templatename, context, doctree):
    if Path(app.env.doc2path(pagename)).suffix == ".ipynb":
        return
    buttons = context.get("header_buttons")
    if buttons:
        context["header_buttons"] = [b for b in buttons if b.get("label") != "launch-buttons"]


def setup(app):
    # After sphinx-book-theme's own handler (priority 500) has added the buttons.
    app.connect("html-page-context", _drop_launch_buttons, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
