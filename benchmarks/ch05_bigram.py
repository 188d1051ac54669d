"""The input-only baseline of chapter 5: a bigram model of tiny Shakespeare's characters.

Counts of (character, next character) pairs in the training split, add-alpha smoothed, scored on
the validation split (nanoGPT's 90/10 split). No training, no GPU: numpy counts. Writes
benchmarks/results/ch05_bigram.json, which book/ch05/index.md reads.

    .venv/bin/python benchmarks/ch05_bigram.py [--data PATH]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from course_lib.chardata import tiny_shakespeare_path, train_val_split

RESULTS = Path(__file__).parent / "results" / "ch05_bigram.json"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    args = p.parse_args()
    path = Path(args.data) if Path(args.data).exists() else tiny_shakespeare_path()
    tok, train, val = train_val_split(path.read_text(encoding="utf-8"))
    V = tok.vocab_size
    counts = np.zeros((V, V))
    np.add.at(counts, (train[:-1], train[1:]), 1)
    unigram = np.bincount(train, minlength=V) / len(train)
    out = {"vocab_size": V, "uniform_loss": float(np.log(V)),
           "unigram_val_loss": float(-np.log(unigram[val] + 1e-12).mean())}
    for alpha in (0.01, 0.1, 1.0):
        probs = (counts + alpha) / (counts + alpha).sum(1, keepdims=True)
        out[f"bigram_val_loss_alpha_{alpha}"] = float(-np.log(probs[val[:-1], val[1:]]).mean())
        out[f"bigram_train_loss_alpha_{alpha}"] = float(-np.log(probs[train[:-1], train[1:]]).mean())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
