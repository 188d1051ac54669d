"""Drawing a computation graph: one box per value (data, grad), one circle per operation.

Introduced in chapter 2 (micrograd). Works on any micrograd-style graph: nodes that keep their
children in `_prev` and their op in `_op`, so it draws the student's own engine as well as
course_lib.engine's.

Chapter 4 adds the Transformer's diagram (transformer_svg): its boxes are named after the modules
of course_lib.transformer.Transformer and its arrows are data, checked by the tests against the
data flow that course_lib.transformer.dataflow records from a forward pass.
"""
from __future__ import annotations

from .engine import topological_order

__all__ = ["draw_graph"]


def _label(node, labels):
    name = labels.get(id(node), "")
    head = f"{name} | " if name else ""
    return f"{head}data {node.data:.3g}\ngrad {float(node.grad):.3g}"


def draw_graph(root, labels=None, ax=None, use_graphviz=None, vertical=False):
    """Draw the graph that produced `root`: one box per Value (data, grad), one circle per op.

    `labels` maps Values to names ({a: "a"}). With the `graphviz` package (and its `dot` program)
    installed and use_graphviz not False, returns a graphviz.Digraph (Jupyter shows it);
    otherwise draws with matplotlib, inputs on the left and `root` on the right, and returns the
    Axes. Works on any engine whose nodes keep their children in `_prev` and their op in `_op`.
    `vertical=True` draws inputs at the top and `root` at the bottom (narrow: fits a phone).
    """
    labels = {id(k): v for k, v in (labels or {}).items()}
    nodes = topological_order(root)                  # children before parents
    edges = [(child, node) for node in nodes for child in node._prev]
    if use_graphviz is not False:
        try:
            import graphviz
            dot = graphviz.Digraph(graph_attr={"rankdir": "TB" if vertical else "LR"})
            for n in nodes:
                dot.node(str(id(n)), _label(n, labels).replace("\n", " | "), shape="record")
                if getattr(n, "_op", ""):
                    dot.node(f"{id(n)}op", n._op, shape="circle")
                    dot.edge(f"{id(n)}op", str(id(n)))
            for child, parent in edges:
                dot.edge(str(id(child)), f"{id(parent)}op")
            dot.pipe(format="svg")            # fails here, not in Jupyter, if `dot` is missing
            return dot
        except Exception:
            if use_graphviz:
                raise
    if vertical:
        return _draw_matplotlib_vertical(root, nodes, edges, labels, ax)
    return _draw_matplotlib(root, nodes, edges, labels, ax)


def _draw_matplotlib_vertical(root, nodes, edges, labels, ax):
    """Top to bottom; an input sits in the row just above its first user, so rows stay short."""
    import matplotlib.pyplot as plt

    depth = {}
    for node in nodes:                             # children first, so their depth is known
        depth[id(node)] = 1 + max((depth[id(c)] for c in node._prev), default=-1)
    users = {}
    for child, parent in edges:
        users.setdefault(id(child), []).append(depth[id(parent)])
    rows = {}
    for node in nodes:
        if not node._prev and id(node) in users:   # an input: just above its first user
            depth[id(node)] = min(users[id(node)]) - 1
        rows.setdefault(depth[id(node)], []).append(node)
    pos = {id(n): (2.3 * (i - (len(row) - 1) / 2), -1.5 * d) for d, row in rows.items() for i, n in enumerate(row)}
    if ax is None:
        width = 1.2 + 2.0 * max(len(r) for r in rows.values())
        _, ax = plt.subplots(figsize=(min(width, 9), min(0.4 + 1.15 * len(rows), 14)))
    return _paint(ax, root, nodes, edges, labels, pos, VERTICAL)


def _draw_matplotlib(root, nodes, edges, labels, ax):
    import matplotlib.pyplot as plt

    # Layer = longest path from an input, so every edge points right.
    depth, columns = {}, {}
    for node in nodes:                             # children first, so their depth is known
        depth[id(node)] = d = 1 + max((depth[id(c)] for c in node._prev), default=-1)
        columns.setdefault(d, []).append(node)
    pos = {}
    for d, col in columns.items():
        for i, node in enumerate(col):
            pos[id(node)] = (2.0 * d, (len(col) - 1) / 2 - i)
    if ax is None:
        width = 2.2 + 1.9 * len(columns)
        height = 1.2 + 0.9 * max(len(c) for c in columns.values())
        _, ax = plt.subplots(figsize=(min(width, 14), min(height, 10)))
    return _paint(ax, root, nodes, edges, labels, pos, HORIZONTAL)


# Where a layout puts things around a box centred at (x, y): the ends of the arrow from a box to its
# user's op, the op's circle and its arrow to its result, as (dx, dy); text size; axis margins.
HORIZONTAL = dict(edge_from=(0.55, 0.0), edge_to=(-0.9, 0.0), op_from=(-0.66, 0.0), op_to=(-0.5, 0.0),
                  op_at=(-0.78, 0.0), fontsize=8, xpad=(1.1, 0.9), ypad=(0.7, 0.7))
VERTICAL = dict(edge_from=(0.0, -0.32), edge_to=(0.0, 0.78), op_from=(0.0, 0.56), op_to=(0.0, 0.34),
                op_at=(0.0, 0.68), fontsize=10, xpad=(1.2, 1.2), ypad=(0.5, 0.5))


def _paint(ax, root, nodes, edges, labels, pos, layout):
    """Boxes at `pos`, each op's circle beside its result, arrows child box -> user's op -> result."""
    def at(node, key):
        (x, y), (dx, dy) = pos[id(node)], layout[key]
        return x + dx, y + dy

    arrow = dict(arrowstyle="->", color="0.45", lw=1, shrinkA=0, shrinkB=0)
    for child, parent in edges:
        ax.annotate("", xy=at(parent, "edge_to"), xytext=at(child, "edge_from"), arrowprops=arrow)
    for node in nodes:
        x, y = pos[id(node)]
        ax.text(x, y, _label(node, labels), ha="center", va="center", fontsize=layout["fontsize"],
                family="monospace", bbox=dict(boxstyle="round,pad=0.35", ec="#3465a4", lw=1,
                                              fc="#eef3fb" if node is not root else "#fde9d9"))
        op = getattr(node, "_op", "")
        if op:
            ax.annotate("", xy=at(node, "op_to"), xytext=at(node, "op_from"), arrowprops=arrow)
            ax.text(*at(node, "op_at"), op, ha="center", va="center", fontsize=layout["fontsize"], color="#f57900",
                    bbox=dict(boxstyle="circle,pad=0.25", fc="white", ec="#f57900", lw=1))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - layout["xpad"][0], max(xs) + layout["xpad"][1])
    ax.set_ylim(min(ys) - layout["ypad"][0], max(ys) + layout["ypad"][1])
    ax.axis("off")
    return ax


# ---- chapter 4: the Transformer of "Attention Is All You Need", redrawn -------------------------
# The diagram is data: boxes named after the modules of course_lib.transformer.Transformer, and
# arrows (from, to, port) with the route each is drawn along. tests/test_course_lib_ch04_diagram.py
# checks the arrows against course_lib.transformer.dataflow, which records them from a forward
# pass of the post-LN model, so the drawing cannot say something the code does not do.
from dataclasses import dataclass  # noqa: E402


@dataclass(frozen=True)
class DiagramBox:
    id: str                 # the module (or input, buffer, junction) it stands for: dataflow's name
    label: str
    kind: str               # emb | attn | norm | ff | out | add | pe | input
    number: int | None      # the section of chapter 4 that turns it into code
    x: float                # left, top, width, height in the drawing's units
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True)
class DiagramArrow:
    source: str
    target: str
    port: str               # "Q", "K", "V" into an attention box, "" elsewhere
    points: tuple           # the route, ((x, y), ...), drawn with an arrow head at the end


DIAGRAM_W, DIAGRAM_H = 380, 708
_ENC, _DEC, _BW, _BH = 96, 284, 132, 28            # column centres, box width and height
_PORT_DX = {"V": -46, "K": -16, "Q": 34}            # where Q, K, V enter an attention box (paper order)
_RES_ENC, _RES_DEC = _ENC - _BW / 2 - 4, _DEC + _BW / 2 + 4   # residual paths: outside each column
FILLS = {"emb": "#f6d5e5", "attn": "#fbe3b3", "norm": "#faf5c4", "ff": "#cfe3f2", "out": "#c8ebdf",
         "add": "#ffffff", "pe": "#ffffff"}
ACCENT = "#0072b2"          # Okabe-Ito blue: arrows
HIGHLIGHT = "#d55e00"       # Okabe-Ito vermillion: the selected box in the live view


def _box(id, label, kind, number, cx, top):
    return DiagramBox(id, label, kind, number, cx - _BW / 2, top, _BW, _BH)


def _round(id, cx, cy, r, kind, number=None, label=""):
    return DiagramBox(id, label, kind, number, cx - r, cy - r, 2 * r, 2 * r)


ADD_SRC, ADD_TGT = "add(positions, src_embed)", "add(positions, tgt_embed)"
DIAGRAM_BOXES = (
    DiagramBox("src", "source tokens", "input", None, _ENC - 60, 684, 120, 16),
    DiagramBox("tgt", "target, shifted right", "input", None, _DEC - 66, 684, 132, 16),
    _box("src_embed", "Input embedding", "emb", 1, _ENC, 638),
    _box("tgt_embed", "Output embedding", "emb", 1, _DEC, 638),
    _round("positions", _ENC - 48, 614, 12, "pe", 2, "positions"),
    _round("positions", _DEC + 48, 614, 12, "pe", 2, "positions"),
    _round(ADD_SRC, _ENC, 614, 8, "add"),
    _round(ADD_TGT, _DEC, 614, 8, "add"),
    _box("encoder.attn", "Self-attention", "attn", 5, _ENC, 520),
    _box("encoder.ln_1", "Add &amp; Norm", "norm", 6, _ENC, 472),
    _box("encoder.ff", "Feed forward", "ff", 7, _ENC, 404),
    _box("encoder.ln_2", "Add &amp; Norm", "norm", 6, _ENC, 356),
    _box("decoder.self_attn", "Masked attention", "attn", 4, _DEC, 520),
    _box("decoder.ln_1", "Add &amp; Norm", "norm", 6, _DEC, 472),
    _box("decoder.cross_attn", "Cross-attention", "attn", 9, _DEC, 392),
    _box("decoder.ln_2", "Add &amp; Norm", "norm", 6, _DEC, 344),
    _box("decoder.ff", "Feed forward", "ff", 7, _DEC, 276),
    _box("decoder.ln_3", "Add &amp; Norm", "norm", 6, _DEC, 228),
    _box("lm_head", "Linear", "out", 10, _DEC, 160),
    _box("output", "Softmax", "out", 10, _DEC, 112),
)
# the N× frames: (left, top, right, bottom), the label beside each, its section number
DIAGRAM_FRAMES = (("Encoder block, N×", 8, (_ENC - _BW / 2 - 10, 344, _ENC + _BW / 2 + 10, 578), "left"),
                  ("Decoder block, N×", 9, (_DEC - _BW / 2 - 10, 216, _DEC + _BW / 2 + 10, 578), "right"))


def _up(cx, y_from, y_to):
    return ((cx, y_from), (cx, y_to))


def _attention_inputs(source, target, cx, y_split, y_box_bottom, ports="VKQ", stem_from=None):
    """Arrows into an attention box's ports, branching from a stem at (cx, y_split)."""
    stem = () if stem_from is None else ((cx, stem_from),)
    return [DiagramArrow(source, target, p, stem + ((cx, y_split), (cx + _PORT_DX[p], y_split),
                                                   (cx + _PORT_DX[p], y_box_bottom))) for p in ports]


def _residual(source, target, x_side, y_from, y_to, cx, box_edge):
    return DiagramArrow(source, target, "", ((cx, y_from), (x_side, y_from), (x_side, y_to), (box_edge, y_to)))


_KV_Y = 440                                           # the encoder's output runs at this height
DIAGRAM_ARROWS = (
    DiagramArrow("src", "src_embed", "", _up(_ENC, 684, 666)),
    DiagramArrow("tgt", "tgt_embed", "", _up(_DEC, 684, 666)),
    DiagramArrow("src_embed", ADD_SRC, "", _up(_ENC, 638, 622)),
    DiagramArrow("tgt_embed", ADD_TGT, "", _up(_DEC, 638, 622)),
    DiagramArrow("positions", ADD_SRC, "", ((_ENC - 36, 614), (_ENC - 8, 614))),
    DiagramArrow("positions", ADD_TGT, "", ((_DEC + 36, 614), (_DEC + 8, 614))),
    # encoder: self-attention, Add & Norm, feed forward, Add & Norm
    *_attention_inputs(ADD_SRC, "encoder.attn", _ENC, 566, 548, stem_from=606),
    _residual(ADD_SRC, "encoder.ln_1", _RES_ENC, 566, 486, _ENC, _ENC - _BW / 2),
    DiagramArrow("encoder.attn", "encoder.ln_1", "", _up(_ENC, 520, 500)),
    DiagramArrow("encoder.ln_1", "encoder.ff", "", _up(_ENC, 472, 432)),
    _residual("encoder.ln_1", "encoder.ln_2", _RES_ENC, 452, 370, _ENC, _ENC - _BW / 2),
    DiagramArrow("encoder.ff", "encoder.ln_2", "", _up(_ENC, 404, 384)),
    # the encoder's output: the keys and values of every decoder block's cross-attention
    *[DiagramArrow("encoder.ln_2", "decoder.cross_attn", p,
                   ((_ENC + _BW / 2, 370), (190, 370), (190, _KV_Y), (_DEC + _PORT_DX[p], _KV_Y),
                    (_DEC + _PORT_DX[p], 420))) for p in "VK"],
    # decoder: masked self-attention, Add & Norm, cross-attention, Add & Norm, feed forward, Add & Norm
    *_attention_inputs(ADD_TGT, "decoder.self_attn", _DEC, 566, 548, stem_from=606),
    _residual(ADD_TGT, "decoder.ln_1", _RES_DEC, 566, 486, _DEC, _DEC + _BW / 2),
    DiagramArrow("decoder.self_attn", "decoder.ln_1", "", _up(_DEC, 520, 500)),
    *_attention_inputs("decoder.ln_1", "decoder.cross_attn", _DEC, 456, 420, ports="Q", stem_from=472),
    _residual("decoder.ln_1", "decoder.ln_2", _RES_DEC, 456, 358, _DEC, _DEC + _BW / 2),
    DiagramArrow("decoder.cross_attn", "decoder.ln_2", "", _up(_DEC, 392, 372)),
    DiagramArrow("decoder.ln_2", "decoder.ff", "", _up(_DEC, 344, 304)),
    _residual("decoder.ln_2", "decoder.ln_3", _RES_DEC, 324, 242, _DEC, _DEC + _BW / 2),
    DiagramArrow("decoder.ff", "decoder.ln_3", "", _up(_DEC, 276, 256)),
    DiagramArrow("decoder.ln_3", "lm_head", "", _up(_DEC, 228, 188)),
    DiagramArrow("lm_head", "output", "", _up(_DEC, 160, 140)),
)
DIAGRAM_KEY = ("1 embedding × √d_model", "2 positional encoding", "3 scaled dot-product attention",
               "4 masks", "5 multi-head attention", "6 residual + LayerNorm", "7 feed-forward net",
               "8 encoder block", "9 decoder block, cross-attention", "10 output layer, softmax")


def diagram_edges() -> set:
    """The drawing's arrows as (from, to, port): what course_lib.transformer.dataflow records."""
    return {(a.source, a.target, a.port) for a in DIAGRAM_ARROWS}


@dataclass(frozen=True)
class DiagramText:
    x: float
    y: float                # the baseline
    text: str
    size: float
    anchor: str = "middle"  # start | middle | end
    weight: str = "normal"
    rotate: int = 0         # -90: read from bottom to top
    fill: str = "#2e3436"


def diagram_texts() -> list:
    """Every text of the drawing except those inside boxes (those cannot meet an arrow)."""
    texts = [DiagramText(_ENC, 698, "source tokens", 10.5), DiagramText(_DEC, 698, "target, shifted right", 10.5),
             DiagramText(_DEC, 92, "next-token probabilities", 10.5),
             DiagramText(8, 16, "Sections of this page", 10.5, "start", "bold")]
    texts += [DiagramText(8, 32 + 14 * i, line, 10.5, "start") for i, line in enumerate(DIAGRAM_KEY)]
    for b in DIAGRAM_BOXES:
        if b.kind == "pe":
            texts.append(DiagramText(b.cx - 15, b.y - 6, "positions", 10.5, "start"))
    for label, _, (left, top, right, bottom), side in DIAGRAM_FRAMES:
        x = left - 6 if side == "left" else right + 13
        texts.append(DiagramText(x, (top + bottom) / 2 - 10, label, 11, weight="bold", rotate=-90))
    for a in DIAGRAM_ARROWS:
        if a.port:
            (x, y) = a.points[-1]
            texts.append(DiagramText(x + 3, y + 10, a.port, 10.5, "start", "bold", fill=ACCENT))
    return texts


def _number(cx, cy, n):
    return (f'<circle cx="{cx}" cy="{cy}" r="8" fill="#3b3b3b"/>'
            f'<text x="{cx}" y="{cy + 3.6}" text-anchor="middle" class="num">{n}</text>')


def _svg_box(b: DiagramBox) -> str:
    data = f'class="box" data-box="{b.id}"'
    if b.kind == "input":
        return ""
    if b.kind == "add":
        r = b.w / 2
        return (f'<g {data}><circle cx="{b.cx}" cy="{b.cy}" r="{r}" fill="white" stroke="#3b3b3b"/>'
                f'<path d="M{b.cx - 5},{b.cy} h10 M{b.cx},{b.cy - 5} v10" stroke="#3b3b3b"/></g>')
    if b.kind == "pe":
        r = b.w / 2
        return (f'<g {data}><circle cx="{b.cx}" cy="{b.cy}" r="{r}" fill="white" stroke="#3b3b3b"/>'
                f'<path d="M{b.cx - 8},{b.cy} q4,-9 8,0 t8,0" fill="none" stroke="{ACCENT}" stroke-width="1.5"/>'
                + _number(b.cx - 26, b.y - 10, b.number) + "</g>")
    return (f'<g {data}><rect x="{b.x}" y="{b.y}" width="{b.w}" height="{b.h}" rx="5" fill="{FILLS[b.kind]}" '
            f'stroke="#3b3b3b"/>' + _number(b.x + 11, b.cy, b.number)
            + f'<text x="{b.x + 21 + (b.w - 24) / 2}" y="{b.cy + 3.8}" text-anchor="middle">{b.label}</text></g>')


def _svg_text(t: DiagramText) -> str:
    turn = f' transform="rotate({t.rotate} {t.x} {t.y})"' if t.rotate else ""
    return (f'<text x="{t.x}" y="{t.y}" text-anchor="{t.anchor}" font-size="{t.size}" font-weight="{t.weight}" '
            f'fill="{t.fill}"{turn}>{t.text}</text>')


def transformer_svg() -> str:
    """The diagram as SVG: boxes carry data-box (the module), arrows data-from/data-to/data-port."""
    parts = []
    for label, number, (left, top, right, bottom), side in DIAGRAM_FRAMES:
        parts.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" rx="8" '
                     f'class="frame"/>')
        x = left - 10 if side == "left" else right + 12
        parts.append(_number(x, (top + bottom) / 2 + 58, number))
    for a in DIAGRAM_ARROWS:
        d = "M" + " L".join(f"{x},{y}" for x, y in a.points)
        parts.append(f'<path d="{d}" class="flow" data-from="{a.source}" data-to="{a.target}" '
                     f'data-port="{a.port}" marker-end="url(#head)"/>')
    parts.append(f'<path d="M{_DEC},112 L{_DEC},100" class="flow" data-outside="the softmax\'s result" '
                 f'marker-end="url(#head)"/>')
    parts += [_svg_box(b) for b in DIAGRAM_BOXES]
    parts += [_svg_text(t) for t in diagram_texts()]
    return f'''<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {DIAGRAM_W} {DIAGRAM_H}" role="img"
 aria-labelledby="ch04-diagram-title ch04-diagram-desc" font-family="DejaVu Sans, Helvetica, Arial, sans-serif"
 font-size="10.5">
<title id="ch04-diagram-title">The Transformer, redrawn</title>
<desc id="ch04-diagram-desc">Encoder on the left, decoder on the right. Tokens are embedded (1) and
positions added (2). The encoder block (8), repeated N times, is self-attention (5) whose queries,
keys and values all come from its input, then Add and Norm (6), a feed-forward net (7), Add and Norm.
The decoder block (9), repeated N times, is masked self-attention (4), Add and Norm, cross-attention
whose keys and values come from the encoder's output and whose queries come from the decoder, Add
and Norm, a feed-forward net, Add and Norm. A linear layer and a softmax (10) give next-token
probabilities.</desc>
<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6"
 orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{ACCENT}"/></marker>
<style>.flow{{stroke:{ACCENT};stroke-width:1.4;fill:none}} .frame{{fill:#f5f5f2;stroke:#7f7f7a;stroke-dasharray:4 3}}
.num{{font-size:10px;fill:white;font-weight:bold}}</style></defs>
<rect width="{DIAGRAM_W}" height="{DIAGRAM_H}" fill="white"/>
{chr(10).join(parts)}
</svg>
'''


def live_diagram(panels: dict, selected: str, name: str = "ch04-live") -> str:
    """The diagram as HTML whose boxes are the control: click (or tab to) a box and its panel shows.

    panels maps a box id of DIAGRAM_BOXES to the HTML shown for it (boxes without one are not
    clickable); `selected` is shown first. No script and no kernel: each box is a <label> over the
    drawing for a hidden radio button, and CSS shows the panel of the checked one, so it works on
    a static site, in Jupyter and in Colab alike. The panel sits beside the drawing where the
    column is wide enough, below it otherwise. The root also carries `widget-viewer`, the site's
    class for an interactive figure's frames: its tests judge the panel shown (alt text, vector,
    legible on a phone), not the hidden ones.
    """
    unknown = set(panels) - {b.id for b in DIAGRAM_BOXES}
    if unknown or selected not in panels:
        raise ValueError(f"panels for boxes the drawing does not have: {sorted(unknown)}; "
                         f"selected={selected!r} must be one of the panels")
    ids = {box: f"{name}-{i}" for i, box in enumerate(panels)}
    titles = {b.id: (f"{b.number} " if b.number else "") + (b.label or b.id).replace("&amp;", "&")
              for b in DIAGRAM_BOXES}
    css = [f".{name} {{display:flex; flex-wrap:wrap; gap:14px; align-items:flex-start; margin:0.5em 0}}",
           f".{name} > input {{position:absolute; opacity:0; width:1px; height:1px; pointer-events:none}}",
           f".{name}-figure {{position:relative; width:100%; max-width:{DIAGRAM_W}px; flex:0 1 {DIAGRAM_W}px}}",
           f".{name}-figure svg {{display:block; width:100%; height:auto}}",
           f".{name}-figure label {{position:absolute; cursor:pointer; border-radius:6px; margin:0}}",
           f".{name}-figure label:hover {{outline:2px dashed {ACCENT}}}",
           f".{name}-panels {{flex:1 1 300px; min-width:0; max-width:100%}}",
           f".{name}-panels > div {{display:none}} .{name}-panels img {{max-width:100%; height:auto}}",
           f".{name}-panels p {{margin:0 0 0.4em 0}}",
           f".{name} .sr-only {{position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0)}}"]
    for box, rid in ids.items():
        css.append(f"#{rid}:checked ~ .{name}-panels #{rid}-panel {{display:block}}")
        css.append(f"#{rid}:checked ~ .{name}-figure label[for={rid}] {{outline:3px solid {HIGHLIGHT}}}")
        css.append(f"#{rid}:focus-visible ~ .{name}-figure label[for={rid}] {{outline:3px dashed {HIGHLIGHT}}}")
    inputs = [f'<input type="radio" name="{name}" id="{rid}" aria-label="{titles[box]}"'
              + (" checked" if box == selected else "") + ">" for box, rid in ids.items()]
    hits = []
    for b in DIAGRAM_BOXES:
        if b.id not in ids:
            continue
        grow = max(0.0, (24 - b.w) / 2), max(0.0, (24 - b.h) / 2)   # small targets get 24 units
        x, y, w, h = b.x - grow[0], b.y - grow[1], b.w + 2 * grow[0], b.h + 2 * grow[1]
        style = (f"left:{100 * x / DIAGRAM_W:.3f}%; top:{100 * y / DIAGRAM_H:.3f}%; "
                 f"width:{100 * w / DIAGRAM_W:.3f}%; height:{100 * h / DIAGRAM_H:.3f}%")
        hits.append(f'<label for="{ids[b.id]}" style="{style}" title="{titles[b.id]}">'
                    f'<span class="sr-only">{titles[b.id]}</span></label>')
    shown = [f'<div id="{rid}-panel">{panels[box]}</div>' for box, rid in ids.items()]
    svg = transformer_svg().replace('role="img"', 'role="img" aria-hidden="true"')
    return (f'<div class="{name} widget-viewer"><style>{" ".join(css)}</style>{"".join(inputs)}'
            f'<div class="{name}-figure">{svg}{"".join(hits)}</div>'
            f'<div class="{name}-panels" aria-live="polite">{"".join(shown)}</div></div>')
