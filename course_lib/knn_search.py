"""Exact k-nearest-neighbour search by one matrix product, and recall@k of an approximate search.

Introduced in chapter 6: the reference every approximate index is measured against.

The squared L2 distance expands into a matrix product:

    |q - x|^2 = |q|^2 - 2 q.x + |x|^2          so   D = |Q|^2 - 2 Q X^T + |X|^2      (n_q, N)

one (n_q, C) @ (C, N) product for all pairs, then the k smallest of each row. Cosine similarity
is the dot product of unit vectors; its k *largest* are the nearest. Queries go in batches so
that the (batch, N) distance matrix stays small (64 queries against a million keys: 256 MB).
"""
from __future__ import annotations

import numpy as np
import torch

METRICS = ("l2", "cosine")


def _as_float_tensor(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        x = x if x.flags.writeable else x.copy()           # torch wants writable memory (a memmap is not)
    t = torch.as_tensor(x)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows of vectors), got shape {tuple(t.shape)}")
    return t.float()


def check_query(queries, n_keys: int, width: int, k: int) -> None:
    """Clear errors for a search of `queries` (n_q, C) with k neighbours among n_keys keys of `width`."""
    shape = tuple(queries.shape)
    if len(shape) != 2:
        raise ValueError(f"queries must be a 2-D array (rows of vectors), got shape {shape}")
    if n_keys == 0:
        raise ValueError("the datastore is empty (0 keys): add entries before searching it")
    if shape[1] != width:
        raise ValueError(f"queries are {shape[1]} wide but the keys are {width} wide: a query must "
                         f"come from the same layer of the same model as the keys")
    if not 1 <= k <= n_keys:
        raise ValueError(f"k={k} must be between 1 and the number of keys ({n_keys})")


def check_search_inputs(queries, keys, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries (n_q, C) and keys (N, C) as float32 tensors, with errors that say what is wrong."""
    q, x = _as_float_tensor("queries", queries), _as_float_tensor("keys", keys)
    check_query(q, x.shape[0], x.shape[1], k)
    return q, x


@torch.no_grad()
def exact_search(queries, keys, k: int, metric: str = "l2", batch_size: int = 64, keys_sq=None):
    """(scores, ids), each (n_q, k), nearest first.

    metric "l2": scores are squared L2 distances, ascending. metric "cosine": cosine similarities,
    descending. Among equal distances torch.topk picks any. keys_sq: the keys' squared norms (N,),
    when the caller keeps them: an index searched one query at a time should not recompute a million
    norms for every query.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    q, x = check_search_inputs(queries, keys, k)
    if metric == "cosine":
        q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    x_sq = (x * x).sum(1) if keys_sq is None or metric != "l2" else torch.as_tensor(keys_sq)   # (N,)
    scores, ids = [], []
    for start in range(0, q.shape[0], batch_size):
        qb = q[start:start + batch_size]                                    # (b, C)
        sim = qb @ x.T                                                      # (b, N): the one product
        if metric == "l2":
            d = ((qb * qb).sum(1, keepdim=True) - 2 * sim + x_sq).clamp_min(0)
            s, i = torch.topk(d, k, dim=1, largest=False, sorted=True)
        else:
            s, i = torch.topk(sim, k, dim=1, largest=True, sorted=True)
        scores.append(s)
        ids.append(i)
    return torch.cat(scores), torch.cat(ids)


def recall_at_k(approx_ids, exact_ids, k: int) -> float:
    """The fraction of the true k nearest neighbours (exact_ids[:, :k]) that are among the first k
    ids an approximate search returned (approx_ids[:, :k]), averaged over queries. Order within
    the k does not matter; -1 (faiss's "no result") never counts."""
    a, e = np.asarray(approx_ids)[:, :k], np.asarray(exact_ids)[:, :k]
    if a.shape[0] != e.shape[0]:
        raise ValueError(f"{a.shape[0]} approximate rows but {e.shape[0]} exact rows: one row per query each")
    if e.shape[1] < k:
        raise ValueError(f"exact_ids has {e.shape[1]} columns; recall@{k} needs the {k} true neighbours")
    found = [len(set(row_a[row_a >= 0].tolist()) & set(row_e.tolist())) for row_a, row_e in zip(a, e)]
    return float(np.mean(found) / k)
