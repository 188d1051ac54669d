"""Chapter 4: post-LN (the paper's order) vs pre-LN (GPT-2's) — which one trains without warm-up?

A character-level language model on tiny Shakespeare, built from course_lib.transformer's blocks
(causal self-attention), trained with Adam at a constant learning rate from step 0 (no warm-up),
for each LN order, several learning rates and seeds. It also records, at initialisation, the
gradient norm of each block's weights: Xiong et al. (2020) show post-LN's are largest near the
output, which is why it needs a warm-up. CPU, one thread, a few minutes:

    .venv/bin/python benchmarks/ch04_ln_trainability.py [--data ../shared/data/tinyshakespeare/input.txt]

writes benchmarks/results/ch04_ln_trainability.json, which the chapter 4 page plots.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.seed import seed_everything
from course_lib.transformer import EncoderBlock, LayerNorm, TokenEmbedding, causal_mask, sinusoidal_positions

REPO = Path(__file__).resolve().parent.parent
CONFIG = dict(d_model=64, n_heads=4, d_ff=256, n_layers=12, T=64, B=16, steps=150,
              lrs=[1e-3, 1e-2], seeds=[0, 1], log_every=10)


class CharLM(nn.Module):
    """Embedding + positions, n_layers causal blocks, (a final LayerNorm for pre-LN), a linear head."""

    def __init__(self, vocab, d_model, n_heads, d_ff, n_layers, T, pre_ln):
        super().__init__()
        self.embed = TokenEmbedding(vocab, d_model)
        self.register_buffer("pos", sinusoidal_positions(T, d_model), persistent=False)
        self.register_buffer("mask", causal_mask(T), persistent=False)
        self.blocks = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff, pre_ln) for _ in range(n_layers))
        self.ln_f = LayerNorm(d_model) if pre_ln else nn.Identity()
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx):
        x = self.embed(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            x = block(x, self.mask)
        return self.head(self.ln_f(x))


def batches(data, B, T, generator):
    while True:
        starts = torch.randint(0, len(data) - T - 1, (B,), generator=generator)
        x = torch.stack([data[s: s + T] for s in starts])
        y = torch.stack([data[s + 1: s + T + 1] for s in starts])
        yield x, y


def grad_norms_at_init(model, x, y):
    """Norm of the gradient of each block's weights at initialisation, first block to last."""
    model.zero_grad()
    F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
    return [math.sqrt(sum(float(p.grad.pow(2).sum()) for p in b.parameters() if p.grad is not None))
            for b in model.blocks]


def train(data, vocab, pre_ln, lr, seed, cfg):
    seed_everything(seed)
    model = CharLM(vocab, cfg["d_model"], cfg["n_heads"], cfg["d_ff"], cfg["n_layers"], cfg["T"], pre_ln)
    gen = torch.Generator().manual_seed(1000 + seed)
    stream = batches(data, cfg["B"], cfg["T"], gen)
    x0, y0 = next(stream)
    norms = grad_norms_at_init(model, x0, y0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    for step in range(cfg["steps"]):
        x, y = next(stream)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % cfg["log_every"] == 0 or step == cfg["steps"] - 1:
            curve.append([step, loss.item()])
    return curve, norms


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ch04_ln_trainability.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    text = Path(args.data).read_text()
    chars = sorted(set(text))
    data = torch.tensor([chars.index(c) for c in text[:200_000]])
    cfg = CONFIG
    runs, t0 = [], time.process_time()
    for lr in cfg["lrs"]:
        for seed in cfg["seeds"]:
            for pre_ln in (False, True):
                curve, norms = train(data, len(chars), pre_ln, lr, seed, cfg)
                final = sum(loss for _, loss in curve[-5:]) / 5
                runs.append(dict(order="pre-LN" if pre_ln else "post-LN", lr=lr, seed=seed, curve=curve,
                                 final_loss=final, grad_norms_at_init=norms))
                print(f"{runs[-1]['order']:8s} lr={lr:g} seed={seed}: loss {curve[0][1]:.3f} -> {final:.3f} "
                      f"(mean of the last 5 logged); |grad| at init, first/last block "
                      f"{norms[0]:.3f}/{norms[-1]:.3f}   [{time.process_time() - t0:.0f} CPU-s]", flush=True)
    out = dict(config=cfg, data=f"tiny Shakespeare, first 200,000 characters ({len(chars)}-character vocabulary)",
               device="CPU, 1 thread", machine=platform.machine(), torch=torch.__version__,
               cpu_seconds=round(time.process_time() - t0, 1), runs=runs)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
