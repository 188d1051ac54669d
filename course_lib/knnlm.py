"""kNN-LM: a language model that also votes with its nearest neighbours (Khandelwal et al. 2020).

Introduced in chapter 6. Over a text the model has read (the training split), store one entry per
position t: the key is the hidden state the model's read-out sees after reading tokens 0..t, the
value is token t+1, the token that followed. To predict the next token of new text, look up the
k keys nearest to the current hidden state and let their values vote:

    p_kNN(y) = sum over neighbours j with value y of softmax_j(-d_j / tau)      (d_j: squared L2)
    p(y)     = lam p_kNN(y) + (1 - lam) p_LM(y)

A key must not have read the token it stores (that is leakage: a neighbour would then hand the
answer back); lam, k and tau are chosen on a validation split, never on the test split.

Positions are encoded with overlapping windows (a window of block_size tokens every `stride`
tokens; each window contributes only the positions the previous one did not), so every position
but the first few sees at least block_size - stride tokens of context.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def hidden_and_logits(model, idx: torch.Tensor):
    """(hidden, logits) for every position of idx (B, T): hidden (B, T, C) is the input of the
    model's read-out (lm_head: the output of the final LayerNorm), logits (B, T, V) its output."""
    captured = []
    hook = model.transformer.ln_f.register_forward_hook(lambda module, inputs, out: captured.append(out))
    try:
        model(idx)                       # course_lib.gpt computes ln_f over all positions
    finally:
        hook.remove()
    hidden = captured[0]
    return hidden, model.lm_head(hidden)


def windows(n_inputs: int, block_size: int, stride: int):
    """[(start, end, keep_from)]: windows ids[start:end] (at most block_size long) that cover input
    positions 0 .. n_inputs-1; each keeps the positions keep_from .. end-1 (the first window all)."""
    if not 0 < stride <= block_size:
        raise ValueError(f"stride must be in 1..block_size={block_size}, got {stride}")
    out, covered, start = [], 0, 0
    while covered < n_inputs:
        end = min(start + block_size, n_inputs)
        out.append((max(0, end - block_size), end, covered))   # the last window: a full one too
        covered = end
        start += stride
    return out


@torch.no_grad()
def encode_positions(model, ids, stride: int | None = None, batch_size: int = 64):
    """For every position t < len(ids) - 1: the hidden state after reading ids[..t] (float32, (n-1, C)),
    the model's log-probability of the true next token ids[t+1] ((n-1,)), and that token ((n-1,))."""
    model.eval()
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    n_inputs = len(ids) - 1
    if n_inputs < 1:
        raise ValueError(f"need at least 2 tokens (an input and the token after it), got {len(ids)}")
    T = model.config.block_size
    stride = stride or T // 2
    width = model.config.n_embd
    hidden = torch.empty(n_inputs, width)
    logp = torch.empty(n_inputs)
    spans = windows(n_inputs, T, stride)
    full = [s for s in spans if s[1] - s[0] == T]
    ragged = [s for s in spans if s[1] - s[0] != T]
    for group in [full[i:i + batch_size] for i in range(0, len(full), batch_size)] + [[s] for s in ragged]:
        x = torch.stack([ids[s:e] for s, e, _ in group])                               # (b, T)
        y = torch.stack([ids[s + 1:e + 1] for s, e, _ in group])
        h, logits = hidden_and_logits(model, x)
        lp = F.log_softmax(logits.float(), dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)   # (b, T)
        for row, (s, e, keep) in enumerate(group):
            hidden[keep:e] = h[row, keep - s:]
            logp[keep:e] = lp[row, keep - s:]
    return hidden, logp, ids[1:].clone()


@dataclass
class Datastore:
    """keys (N, C) float32: hidden states; values (N,) int64: the token that followed each."""
    keys: np.ndarray
    values: np.ndarray

    def __post_init__(self):
        if len(self.keys) != len(self.values):
            raise ValueError(f"{len(self.keys)} keys but {len(self.values)} values: one value per key")

    def __len__(self) -> int:
        return len(self.values)

    @property
    def bytes_per_entry(self) -> float:
        """float32 key plus the stored token id (int64 here; a uint8 suffices for 65 characters)."""
        return (self.keys.nbytes + self.values.nbytes) / max(1, len(self))


def build_datastore(model, ids, stride: int | None = None, batch_size: int = 64) -> Datastore:
    """One entry per position of `ids` that has a next token: (hidden state after ids[..t], ids[t+1])."""
    hidden, _, targets = encode_positions(model, ids, stride, batch_size)
    return Datastore(hidden.numpy(), targets.numpy())


def knn_distribution(distances, values, vocab_size: int, temperature: float = 1.0) -> torch.Tensor:
    """p_kNN (n, V) from the k neighbours of each of n queries: distances (n, k) squared L2,
    values (n, k) their tokens. Each neighbour's weight is softmax(-d / tau) over the k; a token's
    probability is the sum of the weights of the neighbours that vote for it."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    d = torch.as_tensor(np.asarray(distances), dtype=torch.float64)
    v = torch.as_tensor(np.asarray(values), dtype=torch.int64)
    if d.shape != v.shape or d.ndim != 2:
        raise ValueError(f"distances {tuple(d.shape)} and values {tuple(v.shape)} must both be (n, k)")
    w = torch.softmax(-d / temperature, dim=1)                                           # (n, k)
    return torch.zeros(d.shape[0], vocab_size, dtype=torch.float64).scatter_add_(1, v, w)


def interpolate(p_knn, p_lm, lam: float):
    """lam p_kNN + (1 - lam) p_LM: a mixture of two distributions is a distribution."""
    if not 0 <= lam <= 1:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    return lam * p_knn + (1 - lam) * p_lm


def knn_target_prob(distances, values, targets, k: int, temperature: float) -> np.ndarray:
    """p_kNN(target) for each query from its first k neighbours, without forming (n, V)."""
    d = np.asarray(distances, dtype=np.float64)[:, :k]
    z = -d / temperature
    w = np.exp(z - z.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    hit = np.asarray(values)[:, :k] == np.asarray(targets).reshape(-1, 1)
    return (w * hit).sum(axis=1)


def interpolated_nll(lm_logp, p_knn_target, lam: float) -> np.ndarray:
    """-log(lam p_kNN(y) + (1 - lam) p_LM(y)) per position, in nats (stable for tiny probabilities)."""
    lm_logp = np.asarray(lm_logp, dtype=np.float64)
    with np.errstate(divide="ignore"):
        terms = np.stack([np.log(lam) + np.log(p_knn_target), np.log1p(-lam) + lm_logp])
    return -np.logaddexp(terms[0], terms[1])


def tune(val_lm_logp, val_distances, val_values, val_targets, lambdas, ks, temperatures):
    """Grid search on the VALIDATION split: [(loss, lam, k, tau)] sorted, best first."""
    rows = []
    for k in ks:
        for tau in temperatures:
            pk = knn_target_prob(val_distances, val_values, val_targets, k, tau)
            for lam in lambdas:
                rows.append((float(interpolated_nll(val_lm_logp, pk, lam).mean()), float(lam), int(k), float(tau)))
    return sorted(rows)


class KNNLM:
    """A model, an index over a datastore's keys and its values: next-token distributions for sampling."""

    def __init__(self, model, index, values, k: int, temperature: float, lam: float):
        self.model, self.index, self.values = model, index, np.asarray(values)
        self.k, self.temperature, self.lam = k, temperature, lam

    @torch.no_grad()
    def next_token_probs(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, V) p(next token) for contexts idx (B, T <= block_size)."""
        hidden, logits = hidden_and_logits(self.model, idx)
        p_lm = torch.softmax(logits[:, -1].double(), dim=-1)
        if self.lam == 0:
            return p_lm
        d, i = self.index.search(hidden[:, -1].numpy(), self.k)
        p_knn = knn_distribution(d, self.values[i], p_lm.shape[1], self.temperature)
        return interpolate(p_knn, p_lm, self.lam)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, generator: torch.Generator | None = None):
        """Append sampled tokens one at a time, as GPT.generate does (temperature 1, no top-k)."""
        for _ in range(max_new_tokens):
            p = self.next_token_probs(idx[:, -self.model.config.block_size:])
            idx = torch.cat([idx, torch.multinomial(p.float(), 1, generator=generator)], dim=1)
        return idx
