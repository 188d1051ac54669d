"""One switch for how big an experiment runs: "full" on a GPU, "smoke" on a CPU or in CI.

Introduced in chapter 0 (set-up and tensors).

Override with the environment variable COURSE_RUN_SIZE=full|smoke (e.g. a full run on a fast
CPU, or a smoke run on a GPU to check a notebook end to end).
"""
from __future__ import annotations

import os

from .device import pick_device

ENV_VAR = "COURSE_RUN_SIZE"
SIZES = ("smoke", "full")


def run_size() -> str:
    """ "full" or "smoke": the environment variable if set, else full exactly when a CUDA GPU is here."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value:
        if value not in SIZES:
            raise ValueError(f"{ENV_VAR}={value!r} is not a run size; set it to one of {SIZES} or unset it")
        return value
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return "smoke"
    return "full" if pick_device().type == "cuda" else "smoke"


def pick(*, full, smoke):
    """Choose a setting by run size: `steps = pick(full=5000, smoke=20)`."""
    return full if run_size() == "full" else smoke
