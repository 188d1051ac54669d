"""A data loader that keeps a whole image set on the device and augments it there.

Introduced in chapter 3 (batch size and SGD on CIFAR-10).

    loader = DeviceLoader(images, labels, batch_size=512, shuffle=True, augment=True, seed=0)
    for x, y in loader:        # x: (B, 3, 32, 32) float, normalised, on loader.device; y: (B,) int64
        ...

CIFAR-10 is 150 MB as uint8: it fits on any GPU, so there is no reason for DataLoader workers
that decode and copy one image at a time. The images are normalised once; each batch is a gather
of rows, a random crop (pad by `pad`, then cut a 32x32 window at a random offset per image, as
one indexing operation) and a random horizontal flip, all tensor ops on the device, no Python per
image. Every random number comes from one CPU generator seeded by `seed`, so the batches are the
same on any device and every run repeats exactly. The last batch is ragged (smaller) when
batch_size does not divide the data, unless drop_last=True.
"""
from __future__ import annotations

import math

import torch

from .device import pick_device

# Per-channel mean and standard deviation of CIFAR-10's training images, in 0..255 units.
CIFAR10_MEAN = (125.31, 122.95, 113.87)
CIFAR10_STD = (62.99, 62.09, 66.70)


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator, flip: bool = True) -> torch.Tensor:
    """Pad (B, C, H, W) by `pad` (reflect), cut an HxW window at a random offset per image, flip half."""
    b, c, h, w = x.shape
    if pad > 0:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]   # (B, 1, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]   # (B, 1, 1, W)
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chan = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[batch, chan, rows, cols]                                         # (B, C, H, W)
    if flip:
        mirror = (torch.rand(b, generator=generator) < 0.5).to(x.device)[:, None, None, None]
        x = torch.where(mirror, x.flip(3), x)
    return x


class DeviceLoader:
    """Batches of (images, labels) from tensors held on the device; see the module docstring."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, shuffle: bool = True,
                 drop_last: bool = False, augment: bool = False, pad: int = 4, seed: int = 0,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
                 mean=CIFAR10_MEAN, std=CIFAR10_STD, channels_last: bool = False):
        if images.ndim != 4 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"images must be (N, C, H, W) with one label each; got images {tuple(images.shape)} "
                             f"and labels {tuple(labels.shape)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if drop_last and batch_size > len(labels):
            raise ValueError(f"batch_size={batch_size} > {len(labels)} examples with drop_last=True: no batch at all")
        self.device = torch.device(device) if device is not None else pick_device()
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.augment, self.pad, self.channels_last = augment, pad, channels_last
        mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        std = torch.tensor(std, dtype=torch.float32)[:, None, None]
        x = (images.float() - mean) / std if images.dtype == torch.uint8 else images.float()
        self.images = x.to(self.device, dtype)                  # (N, C, H, W), normalised once
        self.labels = labels.to(self.device, torch.int64)       # (N,)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for k in range(len(self)):
            idx = order[k * self.batch_size:(k + 1) * self.batch_size]   # the last one may be ragged
            x = self.images[idx]
            if self.augment:
                x = random_crop_flip(x, self.pad, self.generator)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]
