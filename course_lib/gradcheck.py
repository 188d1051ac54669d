"""Numerical gradients by central differences, for checking backward passes written by hand.

Introduced in chapter 1 (backprop by hand).

    f'(x) ≈ (f(x + h) - f(x - h)) / 2h        error O(h²), versus O(h) for a one-sided difference

Work in float64: in float32 the rounding error of f (~1e-7·|f|) divided by 2h swamps the answer.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d x at `x`, one coordinate at a time; `f` maps an array like `x` to a scalar.

    `x` is perturbed in place and restored, so `f` may close over it.
    """
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise TypeError(f"numeric_grad needs a float64 array (rounding in {x.dtype} hides the gradient); got {x.dtype}")
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = float(f(x))
        x[i] = old - h
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(a, b, eps: float = 1e-12) -> float:
    """max |a - b| / max(|a| + |b|): scale-free, so one threshold (~1e-7 in float64) fits all."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a) + np.abs(b))), eps)) if a.size else 0.0
