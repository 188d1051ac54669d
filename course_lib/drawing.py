"""Drawing a computation graph: one box per value (data, grad), one circle per operation.

Introduced in chapter 2 (micrograd). Works on any micrograd-style graph: nodes that keep their
children in `_prev` and their op in `_op`, so it draws the student's own engine as well as
course_lib.engine's.
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
