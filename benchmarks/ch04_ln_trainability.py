"""Chapter 4: post-LN (the paper's order) vs pre-LN (GPT-2's) — which one trains without warm-up?

A character-level language model on tiny Shakespeare, built from course_lib.transformer's blocks
(causal self-attention), trained with Adam at a constant learning rate from step 0 (no warm-up),
for each LN order, two learning rates (fixed beforehand, not tuned) and five seeds. Trained on the
first 200,000 characters; the loss at the end is measured on the next 40,000 (held out, the same
windows for every run). Besides the curves it records, per run: the gradient norm of each block's
weights at initialisation (Xiong et al. 2020 analyse these); how much the first Adam step moves
the logits (Adam moves every weight by about the learning rate whatever the gradient's scale, so
what differs between the orders is how much the output moves); and how far the final predictions
are from the letter frequencies (KL to the unigram distribution: near 0 means the model ignores
its context). CPU, one thread, about 20 runs of 20 CPU-seconds:

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
              lrs=[1e-3, 1e-2], seeds=[0, 1, 2, 3, 4], log_every=10, train_chars=200_000,
              val_chars=40_000, val_batches=20)


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


@torch.no_grad()
def held_out(model, val_batches, unigram):
    """Mean loss on the held-out windows, and the mean KL(model's prediction || letter frequencies)."""
    losses, kls = [], []
    for x, y in val_batches:
        logp = F.log_softmax(model(x), dim=-1)                      # (B, T, V)
        losses.append(F.nll_loss(logp.flatten(0, 1), y.flatten()).item())
        kls.append((logp.exp() * (logp - unigram.log())).sum(-1).mean().item())
    return sum(losses) / len(losses), sum(kls) / len(kls)


def train(data, val_batches, unigram, vocab, pre_ln, lr, seed, cfg):
    seed_everything(seed)
    model = CharLM(vocab, cfg["d_model"], cfg["n_heads"], cfg["d_ff"], cfg["n_layers"], cfg["T"], pre_ln)
    gen = torch.Generator().manual_seed(1000 + seed)
    stream = batches(data, cfg["B"], cfg["T"], gen)
    x0, y0 = next(stream)
    norms = grad_norms_at_init(model, x0, y0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve, first_step_change = [], None
    for step in range(cfg["steps"]):
        x, y = next(stream)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        if step == 0:
            with torch.no_grad():
                before = model(x0)
        opt.step()
        if step == 0:   # how far one Adam step (every weight moved by about lr) moves the logits
            with torch.no_grad():
                first_step_change = ((model(x0) - before).norm() / before.norm()).item()
        if step % cfg["log_every"] == 0 or step == cfg["steps"] - 1:
            curve.append([step, loss.item()])
    val_loss, kl = held_out(model, val_batches, unigram)
    return dict(curve=curve, grad_norms_at_init=norms, first_step_logit_change=first_step_change,
                val_loss=val_loss, kl_to_unigram=kl)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ch04_ln_trainability.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    text = Path(args.data).read_text()
    chars = sorted(set(text))
    cfg = CONFIG
    ids = torch.tensor([chars.index(c) for c in text[: cfg["train_chars"] + cfg["val_chars"]]])
    data, val = ids[: cfg["train_chars"]], ids[cfg["train_chars"]:]
    unigram = torch.bincount(data, minlength=len(chars)).double() / len(data)      # letter frequencies
    val_stream = batches(val, cfg["B"], cfg["T"], torch.Generator().manual_seed(99))
    val_batches = [next(val_stream) for _ in range(cfg["val_batches"])]
    unigram = unigram.float().clamp_min(1e-8)
    runs, t0 = [], time.process_time()
    for lr in cfg["lrs"]:
        for seed in cfg["seeds"]:
            for pre_ln in (False, True):
                c0 = time.process_time()
                run = train(data, val_batches, unigram, len(chars), pre_ln, lr, seed, cfg)
                curve = run["curve"]
                final = sum(loss for _, loss in curve[-5:]) / 5
                runs.append(dict(order="pre-LN" if pre_ln else "post-LN", lr=lr, seed=seed, final_loss=final,
                                 cpu_seconds=round(time.process_time() - c0, 1), **run))
                print(f"{runs[-1]['order']:8s} lr={lr:g} seed={seed}: loss {curve[0][1]:.3f} -> {final:.3f} "
                      f"(last 5 logged), held out {run['val_loss']:.3f}, KL to unigram {run['kl_to_unigram']:.3f}, "
                      f"first step moves the logits by {run['first_step_logit_change']:.3f}; |grad| at init, "
                      f"first/last block {run['grad_norms_at_init'][0]:.3f}/{run['grad_norms_at_init'][-1]:.3f}"
                      f"   [{time.process_time() - t0:.0f} CPU-s]", flush=True)
    val_unigram = -unigram.double().log()[val].mean().item()
    entropy = -(unigram.double() * unigram.double().log()).sum().item()
    out = dict(config=cfg, data=f"tiny Shakespeare: characters 0-{cfg['train_chars']:,} for training, the next "
                                f"{cfg['val_chars']:,} held out ({len(chars)}-character vocabulary)",
               unigram_entropy_train=entropy, unigram_loss_held_out=val_unigram,
               note="lrs fixed beforehand (not tuned); val_loss on the same held-out windows for every run",
               device="CPU, 1 thread", machine=platform.machine(), torch=torch.__version__,
               cpu_seconds=round(time.process_time() - t0, 1), runs=runs)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
