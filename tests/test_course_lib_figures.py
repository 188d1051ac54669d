"""course_lib.plotting (figures legible on a phone) and course_lib.tables (result tables)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib import plotting, tables  # noqa: E402


@pytest.fixture(autouse=True)
def course_style():
    with matplotlib.rc_context():
        plotting.use_course_style()
        yield
    plt.close("all")


def test_a_column_wide_figure_in_the_course_style_reads_on_a_phone():
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4], label="quadratic")
    ax.set_xlabel("x"), ax.set_title("A title")
    assert plotting.check_figure(fig) == []


def test_a_wide_figure_has_text_too_small_on_a_phone():
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("step")
    problems = plotting.check_figure(fig)
    assert problems and "'step'" in " ".join(problems) and "px on a phone" in problems[0]


def test_a_legend_over_the_lines_is_reported_and_one_below_is_not():
    x = np.linspace(0, 10, 100)
    fig, ax = plt.subplots()
    for k in range(4):
        ax.plot(x, np.sin(x + k), label=f"phase {k}")
    ax.legend(loc="center")
    assert any("legend of axes 1 covers" in p for p in plotting.check_figure(fig))
    ax.get_legend().remove()
    plotting.legend_below(ax)
    assert plotting.check_figure(fig) == []


def test_svg_keeps_text_as_vectors_rasterises_dense_artists_and_says_what_it_found():
    fig, ax = plt.subplots()
    dense = ax.scatter(*np.random.default_rng(0).random((2, 5000)), s=2)
    ax.plot([0, 1], [0, 1], label="line")
    svg = plotting.svg(fig)
    assert dense.get_rasterized() and "<image" in svg, "the 5,000-point scatter should be pixels in the SVG"
    assert "<!-- line -->" in svg or "line" in svg
    assert "course_lib.plotting:" in svg and "<svg" in svg[:1000]


def test_use_course_style_shows_figures_as_svg_in_ipython():
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure

    shell = InteractiveShell.instance()
    try:
        plotting.use_course_style()
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        data, _ = shell.display_formatter.format(fig)
        assert "image/svg+xml" in data and "image/png" not in data
        assert isinstance(fig, Figure)
    finally:
        InteractiveShell.clear_instance()


def test_markdown_table_aligns_numbers_escapes_bars_and_checks_its_rows():
    text = tables.markdown_table(["run", "seconds", "steps"], [["a | b", 1.23456, 1000], ["c", 0.5, 20]])
    lines = text.splitlines()
    assert lines[0] == "| run | seconds | steps |"
    assert lines[1] == "|:---|---:|---:|"
    assert lines[2] == "| a \\| b | 1.23 | 1,000 |"
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        tables.markdown_table(["a", "b"], [[1]])
    with pytest.raises(ValueError, match="align"):
        tables.markdown_table(["a"], [[1]], align="x")
    assert tables.table(["a"], [[1]]).data.startswith("| a |")
