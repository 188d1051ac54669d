"""What chapter 3's benchmarks share: the data, its validation split, and a cache of finished runs.

The 5,085-image training subset (../shared/data/cifar10-subset, the first 1,017 images of each
training batch) is split once, by course_lib.protocol.validation_split (seed 0), into 4,068 images
to train on and 1,017 to tune on; the 1,017 test images are never used to choose anything. The
whitening filters depend only on the training images, so they are computed once here.

A run that finished is appended to a JSON-lines cache (one line per run), so a sweep that was
stopped goes on where it stopped; a run is found again by its key (phase, batch size, lr, seed...).
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from course_lib import cifar10
from course_lib.cifar_trainer import whitening_filters
from course_lib.loader import DeviceLoader
from course_lib.protocol import Split, validation_split

N_VALIDATION = 1017
SPLIT_SEED = 0


@dataclass
class Data:
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    split: Split
    whitening: torch.Tensor          # whitening_filters of the (normalised) training split

    def record(self) -> dict:
        return {"source": "5,085-image CIFAR-10 subset (the first 1,017 images of each training batch) "
                          "and 1,017 test images",
                "train": len(self.train_y), "validation": len(self.val_y), "test": len(self.test_y),
                "validation_split": self.split.record()}


def load(folder: str | Path) -> Data:
    x, y = cifar10.load_npz(Path(folder) / "train.npz")
    test_x, test_y = cifar10.load_npz(Path(folder) / "test.npz")
    split = validation_split(len(y), N_VALIDATION, seed=SPLIT_SEED)
    tr, va = torch.from_numpy(split.train), torch.from_numpy(split.validation)
    images = DeviceLoader(x[tr], y[tr], 1, device="cpu").images                # normalised, as train() does
    return Data(x[tr], y[tr], x[va], y[va], test_x, test_y, split, whitening_filters(images[:5000]))


def machine() -> dict:
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    return {"device": f"CPU, 1 thread ({platform.machine()}, {platform.processor() or 'unknown'})",
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "malloc_settings": malloc,
            "note": "CPU-seconds are process time (user + system) on a 2-core machine shared with other jobs"}


class RunCache:
    """Finished runs by key, kept in a JSON-lines file so that an interrupted benchmark resumes."""

    def __init__(self, path: Path, also=()):
        """Runs are written to `path`; they are read from it and from the files in `also` (e.g. the
        caches of processes that ran parts of the same benchmark at the same time)."""
        self.path = Path(path)
        self.runs = {}
        for file in (*map(Path, also), self.path):
            if file.exists():
                for line in file.read_text().splitlines():
                    if line.strip():
                        run = json.loads(line)
                        self.runs[run["key"]] = run

    def get(self, key: str) -> dict | None:
        return self.runs.get(key)

    def put(self, run: dict) -> dict:
        self.runs[run["key"]] = run
        with self.path.open("a") as f:
            f.write(json.dumps(run) + "\n")
        return run
