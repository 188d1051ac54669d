"""Plotting defaults shared by the book and the notebooks, so every figure looks like one course.

Introduced in chapter 0 (set-up and tensors).
"""
from __future__ import annotations

import matplotlib

COURSE_STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "axes.prop_cycle": matplotlib.cycler(
        color=["#3465a4", "#f57900", "#4e9a06", "#cc0000", "#75507b", "#c17d11", "#555753"]
    ),
}


def use_course_style() -> None:
    """Apply the course's matplotlib defaults (idempotent)."""
    matplotlib.rcParams.update(COURSE_STYLE)
