"""Characters as tokens, tiny Shakespeare, and random training windows.

Introduced in chapter 5: the data side of training a character-level GPT, as nanoGPT's
shakespeare_char prepares it (vocabulary = the sorted distinct characters; the first 90% of the
text is the training split, the last 10% the validation split).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data import download

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


class CharTokenizer:
    """One token per distinct character of a text, numbered in sorted order."""

    def __init__(self, text: str):
        if not text:
            raise ValueError("CharTokenizer needs a non-empty text to read its characters from")
        self.chars = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> list[int]:
        unknown = sorted(set(s) - self.stoi.keys())
        if unknown:
            raise KeyError(f"characters {unknown!r} are not in the vocabulary of {self.vocab_size} characters")
        return [self.stoi[ch] for ch in s]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def tiny_shakespeare_path() -> Path:
    """The corpus (1,115,394 characters) from the char-rnn repository, checksummed and cached."""
    return download(TINY_SHAKESPEARE_URL, sha256=TINY_SHAKESPEARE_SHA256, filename="tinyshakespeare.txt")


def train_val_split(text: str, tokenizer: CharTokenizer | None = None, train_fraction: float = 0.9):
    """(tokenizer, train_ids, val_ids): the text's first `train_fraction` is the training split.
    The ids are uint16 numpy arrays, as nanoGPT writes them to train.bin / val.bin."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction}")
    tokenizer = tokenizer or CharTokenizer(text)
    n = int(len(text) * train_fraction)
    train = np.array(tokenizer.encode(text[:n]), dtype=np.uint16)
    val = np.array(tokenizer.encode(text[n:]), dtype=np.uint16)
    return tokenizer, train, val


def get_batch(data, block_size: int, batch_size: int, generator: torch.Generator | None = None,
              starts: torch.Tensor | None = None):
    """x, y of shape (batch_size, block_size): random windows of `data`, y is x shifted by one.

    Window starts are drawn uniformly from 0 .. len(data) - block_size - 1 (each window needs
    block_size + 1 tokens), unless `starts` gives them.
    """
    if len(data) <= block_size:
        raise ValueError(f"data has {len(data)} tokens; a window needs block_size + 1 = {block_size + 1}")
    if starts is None:
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    data = np.asarray(data)
    x = torch.stack([torch.from_numpy(data[i:i + block_size].astype(np.int64)) for i in starts.tolist()])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block_size].astype(np.int64)) for i in starts.tolist()])
    return x, y
