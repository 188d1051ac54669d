"""A scalar reverse-mode autograd engine and a tiny neural-net library, API-compatible with
karpathy/micrograd, built to avoid what makes a first engine slow or fragile.

    Value(data) .data .grad   + - * / ** neg (and reflected)   relu tanh exp log   backward()
    Module (parameters, zero_grad)   Neuron(nin, nonlin=True)   Layer(nin, nout)   MLP(nin, nouts)

Chapter 2 has students write the closure-based engine; this one is the course's reference for
later chapters and for the book's demos. It differs in three ways, each for a measured reason:

1. No closures. A node stores its children and the local derivatives d(out)/d(child), computed in
   the forward pass; one generic loop does the chain rule. A closure that refers to its own output
   node makes a reference cycle, so every graph becomes garbage that only the cyclic garbage
   collector can free, and that collector ends up dominating the run. Here plain reference
   counting frees each graph as soon as the loss goes out of scope.
2. An iterative topological sort: no recursion, so a chain of 10^6 nodes is fine (a recursive
   sort dies near Python's recursion limit, about 1000).
3. Bigger nodes. A neuron's weighted sum (with its ReLU) is ONE node with 2n + 1 children instead
   of 2n + 1 nodes. Python pays per node, so fewer, bigger nodes is the first speed-up any engine
   makes; PyTorch takes it all the way to one node per tensor operation.

Gradients follow PyTorch: leaves (nodes made by the user) accumulate `.grad` across backward
calls; intermediate nodes are reset at each call. Also here: make_moons, a two-moons data
generator, and draw_graph, a drawing of any micrograd-style graph (nodes with `_prev`, `_op`).
"""
from __future__ import annotations

import math
import random
from operator import mul

__all__ = ["Value", "Module", "Neuron", "Layer", "MLP", "topological_order", "make_moons", "draw_graph"]

_ONES = (1.0, 1.0)   # d(a + b)/da, d(a + b)/db: shared, so `+` allocates no tuple for them


class Value:
    """A scalar in a computation graph: its value, its gradient, its children and local derivatives."""

    __slots__ = ("data", "grad", "_prev", "_local", "_op")

    def __init__(self, data, _children=(), _op="", _local=()):
        self.data = float(data)
        self.grad = 0.0
        self._prev = _children    # tuple of Values this node was computed from
        self._local = _local      # d(self)/d(child) for each child; () means all zero
        self._op = _op            # for drawing and debugging only

    # ---- primitive operations: the value, and the local derivative for each child ----------
    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), "+", _ONES)

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), "*", (other.data, self.data))

    def __pow__(self, k):
        if not isinstance(k, (int, float)):
            raise TypeError(f"Value ** {type(k).__name__}: only int/float exponents are supported")
        return Value(self.data ** k, (self,), f"**{k}", (k * self.data ** (k - 1),))

    def relu(self):
        on = self.data > 0
        return Value(self.data if on else 0.0, (self,), "relu", (1.0,) if on else ())

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), "tanh", (1.0 - t * t,))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), "exp", (e,))

    def log(self):
        return Value(math.log(self.data), (self,), "log", (1.0 / self.data,))

    # ---- derived operations: built from the primitives, so they need no derivative of their own
    def __neg__(self):
        return self * -1.0

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return other * self ** -1

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    # ---- reverse mode ------------------------------------------------------------------------
    def backward(self):
        """d(self)/d(node) into node.grad for every node this Value depends on."""
        order = topological_order(self)            # children before parents
        for node in order:
            if node._prev:                         # intermediate nodes start from zero each call
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):               # parents before children: chain rule
            g = node.grad
            for child, local in zip(node._prev, node._local):
                child.grad += local * g


def topological_order(root):
    """Every node reachable from `root`, each after all of its children (iterative DFS)."""
    order, seen = [], {root}
    stack = [(root, iter(root._prev))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if child not in seen:
                seen.add(child)
                stack.append((child, iter(child._prev)))
                break
        else:                                       # every child is placed: place the node
            stack.pop()
            order.append(node)
    return order


def linear(w, x, b, relu=False):
    """One node for b + sum_i w_i x_i (and its ReLU): 2n + 1 children, one Python object."""
    x = [xi if isinstance(xi, Value) else Value(xi) for xi in x]
    wd = [wi.data for wi in w]
    xd = [xi.data for xi in x]
    act = sum(map(mul, wd, xd), b.data)
    children = (*w, *x, b)
    if relu and act <= 0:
        return Value(0.0, children, "relu(w·x+b)")          # flat: every local derivative is 0
    local = (*xd, *wd, 1.0)                                 # d/dw_i = x_i, d/dx_i = w_i, d/db = 1
    return Value(act, children, "relu(w·x+b)" if relu else "w·x+b", local)


# ---- a tiny neural-net library ------------------------------------------------------------------
class Module:
    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self):
        return []


class Neuron(Module):
    """relu(w·x + b) (or w·x + b when nonlin=False); weights uniform in [-1, 1], bias 0."""

    def __init__(self, nin, nonlin=True):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        return linear(self.w, x, self.b, relu=self.nonlin)

    def parameters(self):
        return self.w + [self.b]

    def __repr__(self):
        return f"{'ReLU' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    def __init__(self, nin, nout, **kwargs):
        self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out       # one output: a Value, as micrograd does

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """ReLU layers, then a linear output layer."""

    def __init__(self, nin, nouts):
        sizes = [nin] + list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


# ---- data -----------------------------------------------------------------------------------------
def make_moons(n=100, noise=0.1, seed=0):
    """Two interleaving half circles: X of shape (n, 2) (float64) and labels y in {0, 1} (int64).

    The upper moon (label 0) is centred at (0, 0), the lower one (label 1) at (1, 0.5); Gaussian
    noise of standard deviation `noise` is added to every coordinate. Same recipe as
    scikit-learn's make_moons, without needing scikit-learn.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n0 = n // 2
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n - n0)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)                 # (n0, 2)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)       # (n - n0, 2)
    X = np.concatenate([upper, lower]) + rng.normal(scale=noise, size=(n, 2))
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n - n0, dtype=np.int64)])
    perm = rng.permutation(n)
    return X[perm], y[perm]


# ---- drawing ------------------------------------------------------------------------------------
def _graph(root):
    """Nodes (children first) and edges (child, parent) of any micrograd-style graph."""
    nodes, seen, stack = [], {id(root)}, [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for child in getattr(node, "_prev", ()):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    edges = [(child, node) for node in nodes for child in getattr(node, "_prev", ())]
    return nodes, edges


def _label(node, labels):
    name = labels.get(id(node), "")
    head = f"{name} | " if name else ""
    return f"{head}data {node.data:.3g}\ngrad {float(node.grad):.3g}"


def draw_graph(root, labels=None, ax=None, use_graphviz=None):
    """Draw the graph that produced `root`: one box per Value (data, grad), one circle per op.

    `labels` maps Values to names ({a: "a"}). With the `graphviz` package (and its `dot` program)
    installed and use_graphviz not False, returns a graphviz.Digraph (Jupyter shows it);
    otherwise draws with matplotlib, inputs on the left and `root` on the right, and returns the
    Axes. Works on any engine whose nodes keep their children in `_prev` and their op in `_op`.
    """
    labels = {id(k): v for k, v in (labels or {}).items()}
    nodes, edges = _graph(root)
    if use_graphviz is not False:
        try:
            import graphviz
            dot = graphviz.Digraph(graph_attr={"rankdir": "LR"})
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
    return _draw_matplotlib(root, nodes, edges, labels, ax)


def _draw_matplotlib(root, nodes, edges, labels, ax):
    import matplotlib.pyplot as plt

    # Layer = longest path from an input, so every edge points right.
    depth, columns = {}, {}
    for node in topological_order_any(root):      # children first, so their depth is known
        kids = getattr(node, "_prev", ())
        depth[id(node)] = d = 1 + max((depth[id(c)] for c in kids), default=-1)
        columns.setdefault(d, []).append(node)
    pos = {}
    for d, col in columns.items():
        for i, node in enumerate(col):
            pos[id(node)] = (2.0 * d, (len(col) - 1) / 2 - i)
    if ax is None:
        width = 2.2 + 1.9 * len(columns)
        height = 1.2 + 0.9 * max(len(c) for c in columns.values())
        _, ax = plt.subplots(figsize=(min(width, 14), min(height, 10)))
    for child, parent in edges:
        (x0, y0), (x1, y1) = pos[id(child)], pos[id(parent)]
        ax.annotate("", xy=(x1 - 0.9, y1), xytext=(x0 + 0.55, y0),      # child box -> parent's op
                    arrowprops=dict(arrowstyle="->", color="0.45", lw=1, shrinkA=0, shrinkB=0))
    for node in nodes:
        x, y = pos[id(node)]
        ax.text(x, y, _label(node, labels), ha="center", va="center", fontsize=8, family="monospace",
                bbox=dict(boxstyle="round,pad=0.35", fc="#eef3fb" if node is not root else "#fde9d9",
                          ec="#3465a4", lw=1))
        op = getattr(node, "_op", "")
        if op:
            ax.annotate("", xy=(x - 0.5, y), xytext=(x - 0.66, y),          # op -> its result
                        arrowprops=dict(arrowstyle="->", color="0.45", lw=1, shrinkA=0, shrinkB=0))
            ax.text(x - 0.78, y, op, ha="center", va="center", fontsize=8, color="#f57900",
                    bbox=dict(boxstyle="circle,pad=0.25", fc="white", ec="#f57900", lw=1))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.1, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    return ax


def topological_order_any(root):
    """topological_order for any micrograd-style node (children in `_prev`, a set or a tuple)."""
    order, seen = [], {id(root)}
    stack = [(root, iter(getattr(root, "_prev", ())))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(getattr(child, "_prev", ()))))
                break
        else:
            stack.pop()
            order.append(node)
    return order
