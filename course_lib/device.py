"""Which device to train on, and which reduced-precision dtype it runs natively.

Introduced in chapter 0 (set-up and tensors).

Detect what the machine can do instead of adding flags: cuda, then Apple's mps, then cpu.
"""
from __future__ import annotations

import platform
import sys

import torch


def pick_device() -> torch.device:
    """The best device here: cuda → mps → cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: torch.device | str | None = None) -> torch.dtype:
    """The dtype to autocast to on `device`; float32 means "do not autocast".

    bf16 only where the hardware has it natively (NVIDIA compute capability 8.0+: A100, H100,
    RTX 30xx/40xx). A T4 (7.5) *reports* bf16 as supported, but emulates it slowly, so older
    GPUs get fp16, which needs a GradScaler (see `needs_grad_scaler`). On the CPU we stay in
    float32: the course's CPU runs are small smoke runs, where autocast buys nothing.
    """
    device = torch.device(device) if device is not None else pick_device()
    if device.type == "cuda":
        major, _minor = torch.cuda.get_device_capability(device)
        return torch.bfloat16 if major >= 8 else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def needs_grad_scaler(dtype: torch.dtype) -> bool:
    """fp16 has a narrow exponent range: small gradients underflow unless the loss is scaled."""
    return dtype == torch.float16


def in_colab() -> bool:
    return "google.colab" in sys.modules


def describe_environment() -> dict:
    """What a student pastes into a help request: versions, device, GPU, Colab or not."""
    import numpy

    device = pick_device()
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "device": device.type,
        "autocast_dtype": str(autocast_dtype(device)).replace("torch.", ""),
        "colab": in_colab(),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["compute_capability"] = f"{props.major}.{props.minor}"
    return info
