"""Steps to a target versus batch size, and the fit S(B) = S_min (1 + B_crit / B).

Introduced in chapter 3 (batch size and SGD on CIFAR-10), after Shallue et al. (2019), "Measuring
the Effects of Data Parallelism on Neural Network Training", and McCandlish et al. (2018).

Train at several batch sizes (each with its own tuned learning rate), record how many optimizer
steps each needs to reach a target, and fit the two-regime curve: below B_crit doubling B halves
the steps (perfect scaling), above it the steps level off at S_min. The fit is linear in 1/B:
S = S_min + (S_min B_crit) / B, solved by least squares on relative errors, so that a 1,000-step
run weighs as much as a 10-step one.

A curve is only measured where it is evaluated. `evaluation_steps` places evaluations on a
geometric grid, so that neighbours are at most `resolution` apart (relative); `crossing` returns the
two evaluations that bracket the first crossing of the target and the step interpolated between them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def steps_to_target(curve, target: float, higher_is_better: bool = True) -> int | None:
    """The first step at which `curve` ((step, value) pairs in step order) reaches `target`; None if never."""
    for step, value in curve:
        if (value >= target) if higher_is_better else (value <= target):
            return int(step)
    return None


@dataclass(frozen=True)
class Crossing:
    """Where a curve first reaches its target: between evaluations `before` and `after` (steps),
    at `step` by linear interpolation of the value between them."""
    step: float
    before: int
    after: int

    @property
    def resolution(self) -> float:
        """The bracket's width relative to its end: (after - before) / after."""
        return (self.after - self.before) / self.after


def crossing(curve, target: float) -> Crossing | None:
    """The first crossing of `target` by `curve` ((step, value) pairs in step order, higher is
    better), bracketed and interpolated; None if it never gets there. A crossing at the first
    evaluation is bracketed from step 0 and not interpolated (there is no value before it)."""
    previous = None
    for step, value in curve:
        if value >= target:
            if previous is None:
                return Crossing(step=float(step), before=0, after=int(step))
            s0, v0 = previous
            return Crossing(step=float(s0 + (target - v0) / (value - v0) * (step - s0)), before=int(s0), after=int(step))
        previous = (step, value)
    return None


def evaluation_steps(first: int, last: int, resolution: float = 0.04) -> list[int]:
    """Steps from `first` to `last` (inclusive) on a geometric grid: each step at most `resolution`
    (relative) after the one before it, or the next step where that is less than one step."""
    if not 1 <= first <= last or not 0 < resolution < 1:
        raise ValueError(f"need 1 <= first <= last and 0 < resolution < 1, got {first}, {last}, {resolution}")
    steps, s = [], int(first)
    while s < last:
        steps.append(s)
        s = max(s + 1, int(s * (1 + resolution)))
    return steps + [int(last)]


def fit_steps_vs_batch(batch_sizes, steps) -> tuple[float, float]:
    """(S_min, B_crit) of S(B) = S_min (1 + B_crit / B), least squares on relative error."""
    b = np.asarray(batch_sizes, dtype=float)
    s = np.asarray(steps, dtype=float)
    if b.shape != s.shape or b.ndim != 1 or len(b) < 2:
        raise ValueError(f"need two or more (batch size, steps) pairs of equal length, got {b.shape} and {s.shape}")
    if np.any(b <= 0) or np.any(s <= 0):
        raise ValueError("batch sizes and step counts must be positive (drop runs that never reached the target)")
    # S = c0 + c1 / B with c0 = S_min, c1 = S_min B_crit; divide each row by S for relative error
    design = np.stack([np.ones_like(b), 1.0 / b], axis=1) / s[:, None]
    (c0, c1), *_ = np.linalg.lstsq(design, np.ones_like(s), rcond=None)
    return float(c0), float(c1 / c0)


def predicted_steps(batch_sizes, s_min: float, b_crit: float) -> np.ndarray:
    return s_min * (1.0 + b_crit / np.asarray(batch_sizes, dtype=float))
