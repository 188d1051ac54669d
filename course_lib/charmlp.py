"""Chapter 7's model: a character-level MLP language model (Bengio et al. 2003), written once for any
tensor library with tinygrad's (or PyTorch's) methods.

Introduced in chapter 7 (under the hood): the same function trains with course_lib.tensor, with
tinygrad and with PyTorch, so that the three can be compared step for step.

    embed -> concatenate the context -> tanh hidden layer -> logits over the vocabulary

    params = init_params(vocab=65, context=8, embed=16, hidden=256, seed=0)   # numpy arrays
    X, Y = windows(token_ids, context=8, starts=...)      # one-hot inputs (B, T, V), one-hot targets (B, V)
    loss = mlp_loss(tensors, X, Y)                        # any library: only @ reshape + tanh log_softmax * sum mean

The embedding is a matrix product with one-hot rows, the way tinygrad embeds tokens; it keeps the
model inside what every library spells the same way.
"""
from __future__ import annotations

import numpy as np

PARAM_NAMES = ("C", "W1", "b1", "W2", "b2")


def init_params(vocab: int, context: int, embed: int, hidden: int, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 weights: embeddings N(0, 1); each layer's weights N(0, 1/fan_in); biases 0."""
    rng = np.random.default_rng(seed)
    shapes = {"C": (vocab, embed), "W1": (context * embed, hidden), "b1": (hidden,), "W2": (hidden, vocab),
              "b2": (vocab,)}
    scale = {"C": 1.0, "W1": (context * embed) ** -0.5, "b1": 0.0, "W2": hidden ** -0.5, "b2": 0.0}
    return {k: (rng.standard_normal(s) * scale[k]).astype(np.float32) for k, s in shapes.items()}


def windows(ids: np.ndarray, context: int, starts: np.ndarray, vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs: the `context` characters at each start, one-hot (B, context, vocab); targets: the
    character after them, one-hot (B, vocab). float32."""
    ids = np.asarray(ids)
    idx = np.asarray(starts)[:, None] + np.arange(context + 1)[None, :]
    tokens = ids[idx]                                                # (B, context + 1)
    onehot = np.eye(vocab, dtype=np.float32)
    return onehot[tokens[:, :context]], onehot[tokens[:, context]]


def mlp_loss(p: dict, X, Y):
    """Mean cross-entropy of the MLP's next-character logits; p holds the library's tensors."""
    B, T, _ = X.shape
    emb = (X @ p["C"]).reshape(B, -1)                               # (B, T*E)
    h = (emb @ p["W1"] + p["b1"]).tanh()                           # (B, H)
    logits = h @ p["W2"] + p["b2"]                                  # (B, V)
    return -(logits.log_softmax(-1) * Y).sum(-1).mean()


def sgd_step(Tensor, p: dict, X, Y, lr: float):
    """One step of SGD with a tinygrad-style Tensor class (course_lib.tensor or tinygrad): the loss,
    its gradient, the update, and one realize for all of it. Returns the loss (a realized Tensor)."""
    loss = mlp_loss(p, X, Y)
    loss.backward()
    for t in p.values():
        t.assign(t - lr * t.grad)
        t.grad = None
    Tensor.realize(loss, *p.values())
    return loss


def sgd_step_torch(p: dict, X, Y, lr: float):
    """The same step in PyTorch (eager)."""
    import torch

    loss = mlp_loss(p, X, Y)
    loss.backward()
    with torch.no_grad():
        for t in p.values():
            t -= lr * t.grad
            t.grad = None
    return loss
