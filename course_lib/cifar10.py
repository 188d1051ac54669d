"""CIFAR-10 without torchvision: the official python archive, parsed into uint8 tensors.

Introduced in chapter 3 (batch size and SGD on CIFAR-10).

    train_x, train_y = load("train")    # (50000, 3, 32, 32) uint8, (50000,) int64
    test_x, test_y = load("test")       # (10000, 3, 32, 32) uint8, (10000,) int64

The archive (Krizhevsky 2009) is fetched once through course_lib.data.download, checked against
the md5 its authors publish, and cached (COURSE_DATA_DIR, COURSE_OFFLINE work as for every
download). Inside it, `cifar-10-batches-py/data_batch_1` ... `data_batch_5` and `test_batch` are
pickled dicts: b"data" is a (10000, 3072) uint8 array, each row one image as 1024 red, then 1024
green, then 1024 blue bytes in row-major order; b"labels" is a list of ints 0..9.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import torch

from . import data

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class CIFARFormatError(ValueError):
    """The archive is not a CIFAR-10 python archive; the message says what is wrong."""


def _read_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.load(io.BytesIO(raw), encoding="bytes")
    except Exception as exc:
        raise CIFARFormatError(f"{name}: not a pickled CIFAR-10 batch ({exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise CIFARFormatError(f"{name}: expected a dict with keys b'data' and b'labels'")
    images = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
        raise CIFARFormatError(f"{name}: b'data' must be uint8 of shape (N, 3072), got {images.dtype} {images.shape}")
    if len(labels) != len(images):
        raise CIFARFormatError(f"{name}: {len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise CIFARFormatError(f"{name}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    return images.reshape(-1, 3, 32, 32), labels   # each row is R-plane, G-plane, B-plane: (N, 3, 32, 32)


def read_archive(path: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of `split` ("train" or "test") from the .tar.gz."""
    if split not in BATCHES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = [], []
    try:
        archive = tarfile.open(path, "r:gz")
    except (tarfile.TarError, OSError) as exc:
        raise CIFARFormatError(f"{path}: not a gzipped tar archive ({exc}); delete it and download again") from exc
    with archive:
        for name in BATCHES[split]:
            try:
                member = archive.extractfile(f"{FOLDER}/{name}")
            except KeyError:
                member = None
            if member is None:
                raise CIFARFormatError(f"{path} has no {FOLDER}/{name}: is it the CIFAR-10 *python* archive?")
            x, y = _read_batch(member.read(), name)
            images.append(x)
            labels.append(y)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def load(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10's `split` as uint8 images (N, 3, 32, 32) and int64 labels, downloading once (163 MB)."""
    return read_archive(data.download(URL, md5=MD5), split)


def load_npz(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels from an .npz with arrays `images` (N, 3, 32, 32) uint8 and `labels` (N,)."""
    with np.load(path) as f:
        images, labels = f["images"], f["labels"].astype(np.int64)
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32):
        raise CIFARFormatError(f"{path}: `images` must be uint8 (N, 3, 32, 32), got {images.dtype} {images.shape}")
    return torch.from_numpy(images), torch.from_numpy(labels)


def synthetic(n: int, seed: int = 0, noise: float = 25.0) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-shaped stand-in data for offline smoke runs: each class is a colour-and-stripe pattern
    plus noise, so a network can learn it. Never a substitute for the real thing in a figure."""
    classes = torch.Generator().manual_seed(10)                          # the same classes for every seed
    templates = torch.rand(10, 3, 1, 1, generator=classes) * 160 + 48    # (10, 3, 1, 1) class colours
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    stripes = torch.sin(torch.arange(32.0) * (torch.arange(10.0)[:, None] + 1) / 5)  # (10, 32)
    x = templates[labels] + 40 * stripes[labels][:, None, None, :]       # (n, 3, 1, 32) -> broadcast
    x = x + noise * torch.randn(n, 3, 32, 32, generator=g)
    return x.clamp(0, 255).to(torch.uint8), labels
