"""A scalar reverse-mode autograd engine, API-compatible with karpathy/micrograd's engine.py.

Introduced in chapter 2 (micrograd). Students write the closure-based engine in the chapter's
notebook; this is the course's reference for the book's demos and later chapters.

    Value(data) .data .grad   + - * / ** neg (and reflected)   relu tanh exp log   backward()

It differs from a first engine in three ways, each for a measured reason
(benchmarks/ch02_micrograd_speed.py):

1. No closures. A node stores its children and the local derivatives d(out)/d(child), computed in
   the forward pass; one generic loop does the chain rule. A closure that refers to its own output
   node makes a reference cycle, so every graph becomes garbage that only the cyclic garbage
   collector can free, and that collector ends up dominating the run. Here plain reference
   counting frees each graph as soon as the loss goes out of scope.
2. An iterative topological sort: no recursion, so a chain of 10^6 nodes is fine (a recursive
   sort dies near Python's recursion limit, about 1000).
3. Bigger nodes. `linear` makes a neuron's weighted sum (with its ReLU) ONE node with 2n + 1
   children instead of 2n + 1 nodes. Python pays per node, so fewer, bigger nodes is the first
   speed-up any engine makes; PyTorch takes it all the way to one node per tensor operation.

Gradients follow PyTorch: leaves (nodes made by the user) accumulate `.grad` across backward
calls; intermediate nodes are reset at each call.
"""
from __future__ import annotations

import math
from operator import mul

__all__ = ["Value", "topological_order", "linear"]

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
    """Every node reachable from `root`, each after all of its children (iterative DFS).

    Works on any micrograd-style graph (children in `_prev`, a tuple or a set), so the drawing code
    and a student's engine from chapter 2 share it. Nodes are told apart by identity.
    """
    order, seen = [], {id(root)}
    stack = [(root, iter(root._prev))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
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
