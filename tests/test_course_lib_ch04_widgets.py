"""course_lib.widgets: controls linked in the browser (jslink) to frames rendered in advance."""
from __future__ import annotations

import ipywidgets as widgets
from ipywidgets.widgets.widget_link import Link
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib.widgets import as_widget, precomputed_widget  # noqa: E402


def links(box):
    """(control, stack) pairs joined by a jslink, found among all live widgets."""
    return [(ln.source[0], ln.target[0]) for ln in widgets.Widget.widgets.values()
            if isinstance(ln, Link) and ln.source[0] in controls_of(box)]


def controls_of(box):
    return [row.children[1] for row in box.children[:-1]]


def test_one_axis_every_frame_rendered_once_and_linked():
    calls = []
    box = precomputed_widget(lambda i: calls.append(i) or f"<p>frame {i}</p>", {"η": ["0.1", "0.3", "0.5"]},
                             initial=(2,))
    assert calls == [0, 1, 2]
    (slider,), stack = controls_of(box), box.children[-1]
    assert isinstance(slider, widgets.SelectionSlider) and slider.index == 2
    assert isinstance(stack, widgets.Stack) and stack.selected_index == 2
    assert [c.value for c in stack.children] == ["<p>frame 0</p>", "<p>frame 1</p>", "<p>frame 2</p>"]
    assert links(box) == [(slider, stack)]


def test_two_axes_link_the_second_control_to_every_inner_stack():
    box = precomputed_widget(lambda i, j: f"{i},{j}", {"layer": ["1", "2"], "head": ["a", "b", "c"]},
                             controls={"layer": "buttons", "head": "dropdown"})
    layer, head = controls_of(box)
    assert isinstance(layer, widgets.ToggleButtons) and isinstance(head, widgets.Dropdown)
    outer = box.children[-1]
    assert [[w.value for w in inner.children] for inner in outer.children] == [["0,0", "0,1", "0,2"], ["1,0", "1,1", "1,2"]]
    pairs = links(box)
    assert (layer, outer) in pairs
    assert {id(s) for c, s in pairs if c is head} == {id(inner) for inner in outer.children}


def test_frames_of_each_kind_and_clear_errors():
    fig = plt.figure(figsize=(1, 1))
    img = as_widget(fig, alt="an empty square")
    assert isinstance(img, widgets.Image) and img.format == "svg+xml" and b"<svg" in bytes(img.value)[:1000]
    assert img.tooltip == "an empty square"
    assert fig.number not in plt.get_fignums(), "the figure should be closed once rendered"
    assert isinstance(as_widget(b"\x89PNG..."), widgets.Image)
    label = widgets.Label("x")
    assert as_widget(label) is label
    with pytest.raises(TypeError, match="matplotlib Figure"):
        as_widget(3.0)
    with pytest.raises(ValueError, match="at least one choice"):
        precomputed_widget(str, {"x": []})
    with pytest.raises(ValueError, match="unknown control"):
        precomputed_widget(str, {"x": ["a"]}, controls={"x": "knob"})


def test_frames_carry_alt_text_naming_the_choice():
    box = precomputed_widget(lambda i: plt.figure(figsize=(1, 1)), {"η": ["0.1", "0.3"]}, alt="Loss curve")
    assert [f.tooltip for f in box.children[-1].children] == ["Loss curve (η: 0.1)", "Loss curve (η: 0.3)"]
    box = precomputed_widget(lambda i, j: plt.figure(figsize=(1, 1)), {"a": ["x", "y"], "b": ["u"]},
                             alt=lambda i, j: f"frame {i}-{j}")
    assert [inner.children[0].tooltip for inner in box.children[-1].children] == ["frame 0-0", "frame 1-0"]
