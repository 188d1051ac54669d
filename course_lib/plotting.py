"""The course's figure style, shared by the book and the notebooks: one look, legible on a phone.

Introduced in chapter 0 (set-up and tensors).

Phone first. On a 390-px phone a figure gets 342 CSS px (the text column less the figure's
margins); a figure drawn COLUMN_IN = 5.2 inches wide (499 CSS px at 96 px to the inch) shrinks
there to 69%, so its smallest text, the 10-pt tick labels (13.3 px), is still 9.1 px. On a desktop the same figure
shows at full size. So: draw figures at most COLUMN_IN wide and put panels below each other,
not side by side (`figsize=column_figsize(rows)`). The site's browser test measures every
figure's text at 390 px (tests/test_site.py).

    use_course_style()       rcParams (sizes, a colour-blind-safe palette, legends with a frame)
                             and, in IPython/Jupyter, every matplotlib Figure shown or glued as SVG
    svg(fig)                 the SVG text of a figure: text and lines as vectors; images and dense
                             artists (big scatters, contours, surfaces) raster at 200 dpi inside it
    legend_below(ax)         a legend under the axes, for plots whose every corner holds data
    check_figure(fig)        what would make a figure hard to read on a phone (text too small once
                             shrunk to the column, a legend over the data), as sentences

PALETTE is Okabe and Ito's set of eight colours, told apart with every common colour-vision
deficiency; the default colour cycle uses it in that order (yellow last: too light for lines).
"""
from __future__ import annotations

import io
import re

import matplotlib

COLUMN_IN = 5.2          # widest figure, inches: 499 CSS px, shown at 69% on a phone
PHONE_COLUMN_PX = 342    # what a figure gets on a 390-px phone (the theme's column less its margins)
MIN_TEXT_PX = 9.0        # smallest text a reader should meet in a figure on that phone, in CSS px
CSS_PX_PER_PT = 96 / 72

PALETTE = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
           "purple": "#CC79A7", "sky": "#56B4E9", "black": "#000000", "yellow": "#F0E442"}

COURSE_STYLE = {
    "figure.figsize": (COLUMN_IN, 3.4),
    "figure.dpi": 100,
    "savefig.dpi": 200,                 # raster parts inside an SVG, and PNGs: sharp on a 2x screen
    "savefig.bbox": "tight",
    "svg.hashsalt": "course",           # the same figure gives the same SVG (stable builds)
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.8,
    "legend.frameon": True,             # an opaque box: a legend never mixes with the lines behind it
    "legend.framealpha": 0.92,
    "legend.edgecolor": "#cccccc",
    "legend.loc": "best",
    "image.cmap": "viridis",
    "axes.prop_cycle": matplotlib.cycler(color=[PALETTE[c] for c in (
        "blue", "orange", "green", "vermillion", "purple", "sky", "black")]),
}

HEAVY_VERTICES = 20_000   # an artist with more points than this is drawn as pixels inside the SVG


def column_figsize(rows: float = 1, row_height: float = 3.0) -> tuple[float, float]:
    """(width, height) in inches for `rows` panels stacked in the phone-wide column."""
    return (COLUMN_IN, rows * row_height)


def use_course_style() -> None:
    """Apply the course's matplotlib defaults (idempotent); in IPython, show Figures as SVG."""
    # Load Jupyter's inline backend first: once loaded (matplotlib loads it lazily, at the first
    # figure) it resets the figure formats and some rcParams.
    if "inline" in str(matplotlib.rcParams._get("backend")):
        import matplotlib_inline.backend_inline  # noqa: F401
    matplotlib.rcParams.update(COURSE_STYLE)
    _show_figures_as_svg()


def _show_figures_as_svg() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure

    formatters = shell.display_formatter.formatters
    for mime in ("image/png", "image/jpeg", "application/pdf"):
        formatters[mime].pop(Figure, None)
    formatters["image/svg+xml"].for_type(Figure, svg)


def _heavy(artist) -> bool:
    """Points an artist draws: a dense scatter, contour set, mesh or 3-D surface is better as pixels."""
    try:
        paths = artist.get_paths()
    except (AttributeError, NotImplementedError):
        return False
    vertices = sum(len(p.vertices) for p in paths)
    offsets = getattr(artist, "get_offsets", lambda: ())()
    return vertices * max(len(offsets), 1) > HEAVY_VERTICES


def svg(fig) -> str:
    """The figure as SVG text: vectors for text and lines, dense artists rasterised inside.

    Adds what check_figure finds to the SVG's description (the site's test reports it)."""
    for ax in fig.axes:
        for artist in ax.get_children():
            if isinstance(artist, matplotlib.collections.Collection) and _heavy(artist):
                artist.set_rasterized(True)
    problems = check_figure(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Description": "course_lib.plotting: "
                                             + ("; ".join(problems) if problems else "ok")})
    return _lighter(buf.getvalue())


def _lighter(svg_text: str) -> str:
    """The same drawing in fewer bytes: coordinates (path data, positions) to 0.01 pt, which no
    screen shows, and no indentation. Scale factors keep every digit (glyphs are drawn scaled)."""
    def two_places(m):
        return re.sub(r"\s+", " ", re.sub(r"(\d+\.\d\d)\d+", r"\1", m.group(0)))

    svg_text = re.sub(r'\sd="[^"]*"', two_places, svg_text)
    svg_text = re.sub(r"translate\([^)]*\)", two_places, svg_text)
    svg_text = re.sub(r'\s(?:x|y|width|height)="[\d.]+"', two_places, svg_text)
    return re.sub(r">\s*\n\s*<", ">\n<", svg_text)


def legend_below(ax, ncol: int = 2, **kwargs):
    """A legend centred under the axes (below its x label): it can never cover the data."""
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, **kwargs)


def check_figure(fig, column_px: float = PHONE_COLUMN_PX, min_px: float = MIN_TEXT_PX) -> list[str]:
    """Sentences naming what would make `fig` hard to read on a phone; [] when nothing does.

    Text: shown in a `column_px`-wide column, a figure wider than the column shrinks with all its
    text; each visible text must stay at least `min_px` CSS px. Legends: a legend inside an axes
    must not cover a data point of that axes' lines or scatters.
    """
    fig.canvas.draw()                                     # lays out ticks, legends, bbox_inches
    renderer = fig.canvas.get_renderer()
    bbox = fig.get_tightbbox(renderer)
    width_px = bbox.width * 72 * CSS_PX_PER_PT           # inches -> pt -> CSS px
    scale = min(1.0, column_px / width_px) if width_px else 1.0
    problems = []
    small = {}
    for text in fig.findobj(matplotlib.text.Text):
        if not text.get_visible() or not text.get_text().strip() or text.figure is None:
            continue
        px = text.get_fontsize() * CSS_PX_PER_PT * scale
        if px < min_px - 0.05:
            small.setdefault(round(px, 1), []).append(text.get_text().strip())
    for px, texts in sorted(small.items()):
        problems.append(f"text {', '.join(repr(t) for t in texts[:3])}{' and more' if len(texts) > 3 else ''} is "
                        f"{px:.1f} px on a phone (figure {width_px / 96:.1f} in wide shown {column_px} px wide; "
                        f"at least {min_px:g} px: a narrower figure or larger text)")
    for i, ax in enumerate(fig.axes):
        legend = ax.get_legend()
        if legend is None or not legend.get_visible() or legend.get_bbox_to_anchor() != ax.bbox:
            continue                                     # no legend, or one placed outside the axes
        box = legend.get_window_extent(renderer)
        points = [_along(line.get_transform().transform(line.get_xydata())) for line in ax.get_lines()
                  if line.get_visible() and line.get_linestyle() not in ("None", "")]
        points += [_along(line.get_transform().transform(line.get_xydata()), 1) for line in ax.get_lines()
                   if line.get_visible() and line.get_marker() not in ("None", "", None)]
        points += [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections
                   if isinstance(c, matplotlib.collections.PathCollection) and len(c.get_offsets())]
        covered = sum(int(((p[:, 0] > box.x0) & (p[:, 0] < box.x1) & (p[:, 1] > box.y0) & (p[:, 1] < box.y1)).sum())
                      for p in points if len(p))
        if covered:
            problems.append(f"the legend of axes {i + 1} covers {covered} data point(s): move it "
                            f"(loc=...) or put it outside (legend_below)")
    return problems


def _along(xy, steps: int = 8):
    """Points along a polyline (display coordinates), `steps` per segment: a segment that crosses
    a legend without a vertex inside it still counts."""
    import numpy as np

    xy = np.asarray(xy, dtype=float)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) < 2 or steps == 1:
        return xy
    t = np.linspace(0, 1, steps, endpoint=False)[None, :, None]
    return (xy[:-1, None, :] + t * (xy[1:, None, :] - xy[:-1, None, :])).reshape(-1, 2)
