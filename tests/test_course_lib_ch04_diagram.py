"""Chapter 4's diagram cannot disagree with the code: its arrows are the data flow of
course_lib.transformer's post-LN Transformer, recorded from a forward pass (transformer.dataflow),
and no label of it is crossed by a line."""
from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from course_lib import drawing
from course_lib.transformer import DecoderBlock, Transformer, dataflow

SVG = Path(__file__).resolve().parent.parent / "book" / "ch04" / "transformer.svg"


def traced(n_layers=1, pre_ln=False, collapse_layers=True):
    torch.manual_seed(0)
    model = Transformer(vocab_size=11, d_model=16, n_heads=2, d_ff=32, n_layers=n_layers, max_len=8, pre_ln=pre_ln)
    src, tgt = torch.randint(0, 11, (2, 7)), torch.randint(0, 11, (2, 5))
    return dataflow(model, src, tgt, collapse_layers=collapse_layers)


def mismatch(drawn: set, ran: set) -> str:
    lines = [f"  drawn, but the code does not do it: {e}" for e in sorted(drawn - ran)]
    lines += [f"  the code does it, but it is not drawn: {e}" for e in sorted(ran - drawn)]
    return "\n".join(lines)


def test_the_drawing_is_the_traced_data_flow_of_the_post_ln_model():
    problems = mismatch(drawing.diagram_edges(), traced())
    assert not problems, "the diagram and the forward pass disagree:\n" + problems


def test_the_committed_svg_is_the_drawing_and_carries_the_traced_arrows():
    text = SVG.read_text()
    assert text == drawing.transformer_svg(), "book/ch04/transformer.svg is stale: run book/ch04/make_diagram.py"
    ns = {"s": "http://www.w3.org/2000/svg"}
    paths = ET.fromstring(text).findall(".//s:path[@class='flow']", ns)
    arrows = {(p.get("data-from"), p.get("data-to"), p.get("data-port")) for p in paths if p.get("data-from")}
    unexplained = [p.get("d") for p in paths if not p.get("data-from") and not p.get("data-outside")]
    assert not unexplained, f"arrows that stand for no data flow: {unexplained}"
    problems = mismatch(arrows, traced())
    assert not problems, "transformer.svg and the forward pass disagree:\n" + problems
    boxes = {b.id for b in drawing.DIAGRAM_BOXES}
    assert {e for edge in arrows for e in edge[:2]} <= boxes | {"output"}, "an arrow ends at no box"


def test_the_old_cross_attention_wiring_fails_the_check():
    """The chapter's first drawing fed cross-attention from the decoder twice (K and Q) and from the
    encoder once (V); in the paper and in the code the encoder gives K and V, the decoder Q."""
    drawn = drawing.diagram_edges()
    old = (drawn - {("encoder.ln_2", "decoder.cross_attn", "K")}) | {("decoder.ln_1", "decoder.cross_attn", "K")}
    problems = mismatch(old, traced())
    assert "('decoder.ln_1', 'decoder.cross_attn', 'K')" in problems
    assert "('encoder.ln_2', 'decoder.cross_attn', 'K')" in problems


def test_the_trace_follows_the_code_not_the_names(monkeypatch):
    """A decoder block that takes its queries from the encoder and its keys and values from itself
    (the backwards cross-attention, written in code) is recorded as such."""
    def backwards(self, x, memory, self_mask=None, memory_mask=None):
        x = self.ln_1(x + self.self_attn(x, mask=self_mask))
        x = self.ln_2(x + self.cross_attn(memory, context=x))         # the bug: Q from memory
        return self.ln_3(x + self.ff(x))
    monkeypatch.setattr(DecoderBlock, "forward", backwards)
    torch.manual_seed(0)
    model = Transformer(vocab_size=11, d_model=16, n_heads=2, d_ff=32, n_layers=1, max_len=8, pre_ln=False)
    ids = torch.randint(0, 11, (2, 6))
    flow = dataflow(model, ids, ids.flip(1))
    assert ("encoder.ln_2", "decoder.cross_attn", "Q") in flow
    assert {("decoder.ln_1", "decoder.cross_attn", p) for p in "KV"} <= flow
    assert mismatch(drawing.diagram_edges(), flow)


def test_the_drawing_is_post_ln_and_a_pre_ln_model_would_not_match_it():
    pre = traced(pre_ln=True)
    assert ("encoder.ln_1", "encoder.attn", "Q") in pre, "pre-LN: the LayerNorm comes before the attention"
    assert mismatch(drawing.diagram_edges(), pre)


def test_more_layers_add_only_the_arrows_from_one_block_to_the_next():
    """The N× frames stand for the repeat: with two layers the only new arrows run from the last box of
    a block into the first ones of the next."""
    extra = traced(n_layers=2) - traced(n_layers=1)
    assert extra == {("encoder.ln_2", "encoder.attn", p) for p in "QKV"} | {("encoder.ln_2", "encoder.ln_1", "")} | \
        {("decoder.ln_3", "decoder.self_attn", p) for p in "QKV"} | {("decoder.ln_3", "decoder.ln_1", "")}
    full = traced(n_layers=2, collapse_layers=False)
    assert {("encoder.1.ln_2", f"decoder.{i}.cross_attn", p) for i in (0, 1) for p in "KV"} <= full, \
        "every decoder block reads the LAST encoder block's output"


@functools.cache
def _font(weight):
    from matplotlib.font_manager import FontProperties
    return FontProperties(family="DejaVu Sans", weight=weight)


def _text_rect(t: drawing.DiagramText):
    """(x0, y0, x1, y1) of a text in the drawing's units, measured with the drawing's first font."""
    from matplotlib.textpath import TextPath
    e = TextPath((0, 0), t.text.replace("&amp;", "&"), size=t.size, prop=_font(t.weight)).get_extents()
    shift = {"start": 0, "middle": -e.x1 / 2, "end": -e.x1}[t.anchor]
    x0, x1, y0, y1 = e.x0 + shift, e.x1 + shift, -e.y1, -e.y0                  # y grows downwards
    if t.rotate == -90:                                                           # (u, v) -> (v, -u)
        x0, x1, y0, y1 = y0, y1, -x1, -x0
    return t.x + x0 - 1, t.y + y0 - 1, t.x + x1 + 1, t.y + y1 + 1


def _segments():
    segs = [(a.source, p, q) for a in drawing.DIAGRAM_ARROWS for p, q in zip(a.points, a.points[1:])]
    for label, _, (left, top, right, bottom), _ in drawing.DIAGRAM_FRAMES:
        corners = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
        segs += [(f"frame of {label}", p, q) for p, q in zip(corners, corners[1:])]
    return segs


def _crosses(rect, p, q):
    """Does the axis-parallel segment p-q enter the rectangle?"""
    x0, y0, x1, y1 = rect
    (px, py), (qx, qy) = p, q
    return max(px, qx) > x0 and min(px, qx) < x1 and max(py, qy) > y0 and min(py, qy) < y1


def test_no_label_is_crossed_by_a_line_or_sits_on_a_box():
    assert all(p[0] == q[0] or p[1] == q[1] for _, p, q in _segments()), "the checker assumes right angles"
    texts = drawing.diagram_texts()
    rects = [_text_rect(t) for t in texts]
    problems = [f"{t.text!r} is crossed by {name}" for t, r in zip(texts, rects) for name, p, q in _segments()
                if _crosses(r, p, q)]
    problems += [f"{t.text!r} overlaps the box {b.id}" for t, r in zip(texts, rects) for b in drawing.DIAGRAM_BOXES
                 if b.kind != "input" and _crosses(r, (b.x, b.y), (b.x + b.w, b.y + b.h))]
    problems += [f"{a.text!r} overlaps {b.text!r}" for i, a in enumerate(texts) for j, b in enumerate(texts)
                 if i < j and _crosses(rects[i], rects[j][:2], rects[j][2:])]
    assert all(0 <= r[0] and r[2] <= drawing.DIAGRAM_W and 0 <= r[1] and r[3] <= drawing.DIAGRAM_H for r in rects)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("box", [b for b in drawing.DIAGRAM_BOXES if b.kind in ("emb", "attn", "norm", "ff", "out")],
                         ids=lambda b: b.id)
def test_box_labels_fit_beside_their_number(box):
    inner = drawing.DiagramText(box.x + 21 + (box.w - 24) / 2, box.cy + 3.8, box.label, 10.5)
    x0, _, x1, _ = _text_rect(inner)
    assert box.x + 19 <= x0 and x1 <= box.x + box.w - 1, f"{box.label!r} does not fit its box"


def test_live_diagram_puts_a_label_over_every_box_with_a_panel():
    ids = {b.id for b in drawing.DIAGRAM_BOXES}
    panels = {box: f"<p>panel of {box}</p>" for box in ids}
    html = drawing.live_diagram(panels, selected="decoder.cross_attn")
    radios = html.count('type="radio"')
    assert radios == len(ids), "one radio button per box"
    assert html.count("<label for=") == len(drawing.DIAGRAM_BOXES), "positions is drawn twice: two labels"
    assert html.count(" checked") == 1 and "<script" not in html
    for box in ids:
        assert f"panel of {box}" in html
    assert drawing.transformer_svg().split("<defs>")[1][:200] in html, "the live view draws the same diagram"
    with pytest.raises(ValueError, match="does not have"):
        drawing.live_diagram({"decoder.nothing": ""}, selected="decoder.nothing")
    with pytest.raises(ValueError, match="selected"):
        drawing.live_diagram(panels, selected="nowhere")
