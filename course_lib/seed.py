"""Reproducibility: one call seeds every random number generator the course uses.

Introduced in chapter 0 (set-up and tensors).
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and every GPU); return a torch.Generator seeded alike.

    `deterministic=True` also asks torch for deterministic kernels (slower on a GPU); use it when
    you need bit-identical reruns, e.g. to compare two versions of a training loop.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every cuda device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)
