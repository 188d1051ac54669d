"""The gradient noise scale B_simple = tr(Σ) / |G|², estimated from two batch sizes.

Introduced in chapter 3 (batch size and SGD on CIFAR-10), after McCandlish et al. (2018),
"An Empirical Model of Large-Batch Training", appendix A.

A minibatch gradient G_B is the true gradient G plus noise whose covariance is Σ/B (Σ: the
per-example gradient covariance). So E|G_B|² = |G|² + tr(Σ)/B. Measuring |G_B|² at a small
batch size b and a big one B gives two equations in the two unknowns:

    |G|²  ≈ (B |G_B|² - b |G_b|²) / (B - b)          (unbiased for |G|²)
    tr(Σ) ≈ (|G_b|² - |G_B|²) / (1/b - 1/B)          (unbiased for tr(Σ))

Each single estimate is very noisy (|G|² can even come out negative), so average each of the two
over many draws and only then take the ratio: B_simple ≈ mean(tr Σ) / mean(|G|²).
"""
from __future__ import annotations

import torch


def two_batch_estimates(sq_norm_small: float, sq_norm_big: float, b_small: int, b_big: int) -> tuple[float, float]:
    """(|G|², tr Σ) from one |G_b|² at batch size b_small and one |G_B|² at b_big (unbiased, noisy)."""
    if not 0 < b_small < b_big:
        raise ValueError(f"need 0 < b_small < b_big, got b_small={b_small}, b_big={b_big}")
    g2 = (b_big * sq_norm_big - b_small * sq_norm_small) / (b_big - b_small)
    trace = (sq_norm_small - sq_norm_big) / (1.0 / b_small - 1.0 / b_big)
    return g2, trace


class NoiseScaleEstimator:
    """Running averages of |G|² and tr(Σ); `b_simple` is their ratio.

    decay=None keeps plain means over every update (for a fixed set of weights); a decay in (0, 1)
    keeps exponential moving averages, for tracking B_simple while a network trains."""

    def __init__(self, b_small: int, b_big: int, decay: float | None = None):
        if decay is not None and not 0 < decay < 1:
            raise ValueError(f"decay must be None or in (0, 1), got {decay}")
        two_batch_estimates(0.0, 0.0, b_small, b_big)          # validates the sizes
        self.b_small, self.b_big, self.decay = b_small, b_big, decay
        self.g2 = self.trace = 0.0
        self.count = 0

    def update(self, sq_norm_small: float, sq_norm_big: float) -> None:
        g2, trace = two_batch_estimates(sq_norm_small, sq_norm_big, self.b_small, self.b_big)
        self.count += 1
        w = 1.0 / self.count if self.decay is None else 1.0 - self.decay
        if self.count == 1:
            w = 1.0
        self.g2 += w * (g2 - self.g2)
        self.trace += w * (trace - self.trace)

    @property
    def b_simple(self) -> float:
        if self.count == 0:
            raise RuntimeError("no updates yet: call update() with measured squared gradient norms first")
        return self.trace / self.g2


def flat_grad(model: torch.nn.Module) -> torch.Tensor:
    """All of `model`'s parameter gradients as one vector (zeros where a gradient is None)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                      for p in model.parameters() if p.requires_grad])


def batch_grad_sq_norm(model: torch.nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> float:
    """|G_B|² of the mean loss over the batch (x, y) at the model's current weights."""
    model.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    g = flat_grad(model)
    model.zero_grad(set_to_none=True)
    return float(g.double().pow(2).sum())


def estimate_noise_scale(model: torch.nn.Module, loss_fn, images: torch.Tensor, labels: torch.Tensor,
                         b_small: int, b_big: int, draws: int, seed: int = 0) -> NoiseScaleEstimator:
    """B_simple of `model` at its current weights: `draws` pairs of random batches of b_small and b_big.

    Put the model in eval mode first if it has BatchNorm or dropout, so that the gradient measured
    is one function's gradient, not a different one per batch size."""
    g = torch.Generator().manual_seed(seed)
    est = NoiseScaleEstimator(b_small, b_big)
    n = len(labels)
    for _ in range(draws):
        small = torch.randperm(n, generator=g)[:b_small].to(labels.device)
        big = torch.randperm(n, generator=g)[:b_big].to(labels.device)
        est.update(batch_grad_sq_norm(model, loss_fn, images[small], labels[small]),
                   batch_grad_sq_norm(model, loss_fn, images[big], labels[big]))
    return est
