"""Interactive figures with no kernel. Introduced in chapter 1 (the learning-rate slider); chapter 4
uses it for the Transformer diagram and its attention heat maps.

The course site is static: no Python runs behind a page. So every picture a control can ask for
is rendered once, at build time, into a stack of frames, and the control only chooses which frame
shows. The choosing is an ipywidgets `jslink`, which the widget manager runs in the browser; the
page embeds the widgets' state and works offline like any figure. In Jupyter the same widget
works unchanged.

    precomputed_widget(render, {"learning rate": ["0.1", "0.3"]})
        one control per axis; render(i) (or render(i, j, ...) with several axes) returns the frame
        for those choices: a matplotlib Figure, PNG bytes, an HTML string or any widget.

Every frame is stored in the page, so the number of frames (the product of the axes' lengths)
times their size is the page's weight: keep frames few and small. A matplotlib frame is stored as
SVG (course_lib.plotting.svg: sharp at any size, its dense parts raster at `dpi`), drawn at most
plotting.COLUMN_IN wide so that its text reads on a phone. Every frame needs words for readers who
cannot see it: `alt`, a sentence (the choices shown are added to it) or a function of the indices.
"""
from __future__ import annotations

import ipywidgets as widgets

CONTROLS = {"slider": widgets.SelectionSlider, "buttons": widgets.ToggleButtons, "dropdown": widgets.Dropdown}


def as_widget(frame, dpi: int = 200, alt: str = "", width: str = "") -> widgets.Widget:
    """A rendered frame as a widget: Figure -> SVG image, PNG bytes -> image, str -> HTML.

    alt: the image's text alternative (the site gives it to screen readers; Jupyter shows it as a
    tooltip). Prefer returning the Figure: PNG bytes show at their pixel size, blurred on a phone's
    2x screen unless `width` (CSS px) is half their pixel width."""
    if isinstance(frame, widgets.Widget):
        return frame
    if hasattr(frame, "savefig"):                       # a matplotlib Figure
        import matplotlib
        import matplotlib.pyplot as plt

        from .plotting import svg

        with matplotlib.rc_context({"savefig.dpi": dpi}):
            text = svg(frame)
        plt.close(frame)
        return widgets.Image(value=text.encode(), format="svg+xml", tooltip=alt or None)
    if isinstance(frame, bytes):
        return widgets.Image(value=frame, format="png", tooltip=alt or None, width=width)
    if isinstance(frame, str):
        return widgets.HTML(frame)
    raise TypeError(f"render returned a {type(frame).__name__}; return a matplotlib Figure, PNG bytes, "
                    f"an HTML string or an ipywidgets widget")


def precomputed_widget(render, axes: dict[str, list[str]], *, alt=None, initial=None, controls=None,
                       dpi: int = 200, width: str = "360px") -> widgets.VBox:
    """Controls (one per axis: its name -> the labels of its choices) over precomputed frames.

    render(*indices) draws the frame for one index per axis; it is called for every combination.
    alt: what each frame shows, in words: a sentence, to which the choices are added ("... (learning
    rate η: 0.1)"), or alt(*indices) -> the sentence for that frame. initial: the index per axis shown
    first (default all 0). controls: per axis "slider" (default), "buttons" or "dropdown".
    dpi: the resolution of a frame's raster parts. Returns a VBox: the controls, then the frames.
    """
    names = list(axes)
    if not names or any(not axes[n] for n in names):
        raise ValueError(f"every axis needs at least one choice, got {axes}")
    sizes = [len(axes[n]) for n in names]
    initial = tuple(initial or (0,) * len(names))
    controls = controls or {}
    unknown = set(controls.values()) - set(CONTROLS)
    if unknown:
        raise ValueError(f"unknown control kind {unknown}; use one of {sorted(CONTROLS)}")

    # Nested stacks: depth d holds one Stack per choice of the axes before it; axis d's control is
    # linked to every Stack at depth d, so each control acts whatever the others show.
    stacks_at_depth: list[list[widgets.Stack]] = [[] for _ in names]

    def describe(indices: tuple) -> str:
        if callable(alt):
            return alt(*indices)
        chosen = "; ".join(f"{n}: {axes[n][i]}" for n, i in zip(names, indices))
        return f"{alt} ({chosen})" if alt else ""

    def build(prefix: tuple) -> widgets.Widget:
        depth = len(prefix)
        if depth == len(names):
            return as_widget(render(*prefix), dpi=dpi, alt=describe(prefix))
        stack = widgets.Stack([build(prefix + (i,)) for i in range(sizes[depth])],
                              selected_index=initial[depth])
        stacks_at_depth[depth].append(stack)
        return stack

    frames = build(())
    rows = []
    for depth, name in enumerate(names):
        kind = controls.get(name, "slider")
        options = [(label, i) for i, label in enumerate(axes[name])]
        layout = widgets.Layout(width=width) if kind == "slider" else widgets.Layout(width="auto")
        extra = {"continuous_update": True} if kind == "slider" else {}
        control = CONTROLS[kind](options=options, value=initial[depth], layout=layout, **extra)
        for stack in stacks_at_depth[depth]:
            widgets.jslink((control, "index"), (stack, "selected_index"))
        # The label is its own HTML widget (the site's viewer names the control after it).
        rows.append(widgets.HBox([widgets.HTML(f"<b>{name}</b>&nbsp;"), control],
                                 layout=widgets.Layout(flex_flow="row wrap", align_items="center")))
    return widgets.VBox([*rows, frames])
