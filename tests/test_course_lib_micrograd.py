"""Unit tests of chapter 2's library: course_lib.engine and course_lib.nn (checked against torch),
make_moons and draw_graph."""
from __future__ import annotations

import gc
import math
import random

import matplotlib
import numpy as np
import torch

from course_lib.datasets import make_moons
from course_lib.drawing import draw_graph
from course_lib.engine import Value, topological_order
from course_lib.nn import MLP, Layer, Neuron

matplotlib.use("Agg")


def test_ops_and_gradients_match_torch():
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b ** 3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g = g + 10.0 / f
    g = g + (a * 0.1).tanh() + (b * 0.3).exp() + (b + 5).log()
    g.backward()

    at = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    c = at + bt
    d = at * bt + bt ** 3
    c = c + c + 1
    c = c + 1 + c + (-at)
    d = d + d * 2 + (bt + at).relu()
    d = d + 3 * d + (bt - at).relu()
    e = c - d
    f = e ** 2
    gt = f / 2.0
    gt = gt + 10.0 / f
    gt = gt + (at * 0.1).tanh() + (bt * 0.3).exp() + (bt + 5).log()
    gt.backward()
    assert math.isclose(g.data, gt.item(), rel_tol=1e-12)
    assert math.isclose(a.grad, at.grad.item(), rel_tol=1e-12)
    assert math.isclose(b.grad, bt.grad.item(), rel_tol=1e-12)


def test_reused_nodes_accumulate_and_leaves_accumulate_across_calls():
    a = Value(3.0)
    (a + a).backward()
    assert a.grad == 2.0
    b = a * a          # diamond: a feeds both inputs of one op
    a.grad = 0.0
    b.backward()
    assert a.grad == 6.0
    b.backward()       # like torch: leaves accumulate, intermediate nodes start over
    assert a.grad == 12.0


def test_topological_order_puts_children_first():
    x = Value(1.0)
    y = x * 2
    z = y + x
    w = z * y
    order = topological_order(w)
    index = {id(v): i for i, v in enumerate(order)}
    assert len(order) == 5 and order[-1] is w
    for v in order:
        for child in v._prev:
            assert index[id(child)] < index[id(v)]


def test_deep_chain_has_no_recursion_limit():
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = y + x
    y.backward()
    assert x.grad == 100_001


def test_graphs_are_freed_without_the_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        x = Value(2.0)
        for _ in range(3):
            y = (x * x + 1).tanh() * x + MLP(2, [3, 1])([x, 1.0])
            y.backward()
        del y
        assert gc.collect() == 0, "graphs should be freed by reference counting alone (no cycles)"
    finally:
        gc.enable()


def test_neuron_layer_mlp_api_and_function():
    random.seed(0)
    n = Neuron(3)
    assert len(n.parameters()) == 4
    w, b = [p.data for p in n.parameters()[:3]], n.parameters()[3].data
    x = [0.5, -1.0, 2.0]
    expected = max(0.0, sum(wi * xi for wi, xi in zip(w, x)) + b)
    assert math.isclose(n(x).data, expected, abs_tol=1e-12)
    assert len(Layer(3, 4).parameters()) == 16
    assert isinstance(Layer(3, 1)([1.0, 2.0, 3.0]), Value)
    model = MLP(2, [16, 16, 1])
    assert len(model.parameters()) == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1


def test_mlp_gradients_match_torch():
    random.seed(1)
    model = MLP(3, [4, 5, 1])
    xs = [[0.3, -0.2, 1.1], [-1.0, 0.4, 0.0], [0.7, 0.7, -0.5]]
    ys = [1.0, -1.0, 1.0]
    loss = sum((1 + -yi * model(x)).relu() for x, yi in zip(xs, ys)) * (1 / 3) \
        + 1e-3 * sum(p * p for p in model.parameters())
    model.zero_grad()
    loss.backward()

    params = [torch.tensor(p.data, dtype=torch.float64, requires_grad=True) for p in model.parameters()]
    it = iter(params)
    layers = []
    for layer in model.layers:
        W, B = [], []
        for neuron in layer.neurons:                 # parameters(): each neuron's w, then its b
            W.append(torch.stack([next(it) for _ in neuron.w]))
            B.append(next(it))
        layers.append((torch.stack(W), torch.stack(B)))
    X = torch.tensor(xs, dtype=torch.float64)
    h = X
    for i, (W, B) in enumerate(layers):
        h = h @ W.T + B
        if i < len(layers) - 1:
            h = h.relu()
    Y = torch.tensor(ys, dtype=torch.float64)
    loss_t = (1 - Y * h[:, 0]).relu().mean() + 1e-3 * sum((p * p) for p in params)
    loss_t.backward()
    assert math.isclose(loss.data, loss_t.item(), rel_tol=1e-12)
    got = torch.tensor([p.grad for p in model.parameters()], dtype=torch.float64)
    torch.testing.assert_close(got, torch.stack([p.grad for p in params]), rtol=1e-10, atol=1e-12)


def test_zero_grad_then_backward_gives_the_same_gradients():
    random.seed(2)
    model = MLP(2, [3, 1])

    def grads():
        model.zero_grad()
        (model([0.5, -0.3]) * 2).backward()
        return [p.grad for p in model.parameters()]

    assert grads() == grads()


def test_make_moons_shapes_labels_and_seed():
    X, y = make_moons(101, noise=0.1, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float64 and y.shape == (101,)
    assert set(y.tolist()) == {0, 1} and (y == 0).sum() == 50
    X2, y2 = make_moons(101, noise=0.1, seed=3)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X0, y0 = make_moons(200, noise=0.0)
    upper = X0[y0 == 0]
    assert np.allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)   # a half circle of radius 1


def test_draw_graph_with_matplotlib_any_engine():
    class Naive:   # a karpathy-style node: children in a set
        def __init__(self, data, children=(), op=""):
            self.data, self.grad, self._prev, self._op = data, 0, set(children), op

    a, b = Naive(2.0), Naive(-3.0)
    c = Naive(-6.0, (a, b), "*")
    ax = draw_graph(c, labels={a: "a", b: "b"}, use_graphviz=False)
    boxes = [t for t in ax.texts if t.get_bbox_patch() is not None]
    assert len(boxes) == 3 + 1             # three values, one op circle
    x = Value(1.5)
    ax = draw_graph((x * x + 2).tanh(), use_graphviz=False)
    assert len([t for t in ax.texts if t.get_bbox_patch() is not None]) == 5 + 3
