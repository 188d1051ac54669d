"""Steps to a target versus batch size, and Shallue et al.'s fit S(B) = S_min (1 + B_crit / B).

Introduced in chapter 3 (batch size and SGD on CIFAR-10), after Shallue et al. (2018), "Measuring
the Effects of Data Parallelism on Neural Network Training", and McCandlish et al. (2018).

Train at several batch sizes (each with its own tuned learning rate), record how many optimizer
steps each needs to reach a target (`steps_to_target`), and fit the two-regime curve: below B_crit
doubling B halves the steps (perfect scaling), above it the steps level off at S_min. The fit is
linear in 1/B: S = S_min + (S_min B_crit) / B, solved by least squares on relative errors, so that
a 1,000-step run weighs as much as a 10-step one.
"""
from __future__ import annotations

import numpy as np


def steps_to_target(curve, target: float, higher_is_better: bool = True) -> int | None:
    """The first step at which `curve` ((step, value) pairs in step order) reaches `target`; None if never."""
    for step, value in curve:
        if (value >= target) if higher_is_better else (value <= target):
            return int(step)
    return None


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
