"""The micrograd API in one import, as chapter 2's notebook uses it: engine, nn, moons, drawing.

Introduced in chapter 2. Each idea lives in its own module (course_lib.engine, course_lib.nn,
course_lib.datasets.make_moons, course_lib.drawing.draw_graph); this module only gathers them under
karpathy/micrograd's names.
"""
from .datasets import make_moons
from .drawing import draw_graph
from .engine import Value, linear, topological_order
from .nn import MLP, Layer, Module, Neuron

__all__ = ["Value", "linear", "topological_order", "Module", "Neuron", "Layer", "MLP", "make_moons", "draw_graph"]
