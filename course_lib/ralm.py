"""Retrieval in context: put a retrieved passage in front of the prompt (In-Context RALM, Ram et al. 2023).

Introduced in chapter 6. The model is not changed and not retrained: every `stride` tokens the
recent text (the last `query_chars` characters) becomes a BM25 query over passages of the
training text (course_lib.bm25); the best passage is placed before the context, and the next
`stride` tokens are scored with it there:

    input = passage + context[-m:] + continuation[:-1]      (m chosen so the input fills block_size)
    loss  = mean over the continuation's tokens of -log p(token | everything before it in the input)

Only the continuation is scored: the passage is evidence, not text to predict. When the input is
too long the oldest *context* tokens go, never the passage (that is the point of retrieving it).
Without retrieval the same continuation is scored with the full block_size of context, so the
comparison is with the model at its best, not with a shortened context.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .bm25 import BM25, words


class PassageRetriever:
    """BM25 over passages of `text`: windows of `length` characters every `stride` characters."""

    def __init__(self, text: str, length: int = 32, stride: int | None = None, **bm25_options):
        if length < 1 or len(text) < length:
            raise ValueError(f"passages of {length} characters need a text at least that long (got {len(text)})")
        stride = stride or max(1, length // 2)
        self.text, self.length = text, length
        self.starts = np.arange(0, len(text) - length + 1, stride)
        self.bm25 = BM25([words(text[s:s + length]) for s in self.starts], **bm25_options)

    def __len__(self) -> int:
        return len(self.starts)

    def retrieve(self, query: str) -> tuple[str | None, float]:
        """(passage, score) of the best passage for the words of `query`; (None, 0.0) when no passage
        shares a word with it."""
        q = words(query)
        if not q:
            return None, 0.0
        score, best = self.bm25.top(q, 1)
        if score[0] <= 0:
            return None, 0.0
        s = int(self.starts[best[0]])
        return self.text[s:s + self.length], float(score[0])


def in_context_input(retrieved, context, continuation, block_size: int) -> tuple[list[int], int]:
    """(input ids, n_scored): retrieved + the newest context that fits + continuation[:-1]; the
    last n_scored = len(continuation) positions of the input predict the continuation."""
    retrieved, context, continuation = list(retrieved), list(context), list(continuation)
    if not continuation:
        raise ValueError("the continuation is empty: there is nothing to score")
    if not context:
        raise ValueError("the context is empty: the first continuation token needs a token before it")
    room = block_size - len(retrieved) - (len(continuation) - 1)
    if room < 1:
        raise ValueError(f"a retrieved passage of {len(retrieved)} and a continuation of {len(continuation)} "
                         f"tokens leave no room for context in block_size={block_size}: shorten the passage")
    return retrieved + context[-room:] + continuation[:-1], len(continuation)


@torch.no_grad()
def continuation_nll(model, retrieved, context, continuation) -> torch.Tensor:
    """Per-token -log p (nats) of `continuation` after `retrieved` + `context` (token id lists)."""
    x, n = in_context_input(retrieved, context, continuation, model.config.block_size)
    logits, _ = model(torch.tensor([x]), torch.tensor([x[1:] + [continuation[-1]]]))
    logp = F.log_softmax(logits[0, -n:].float(), dim=-1)                    # (n, V)
    return -logp.gather(1, torch.tensor(continuation).view(-1, 1)).squeeze(1)


@torch.no_grad()
def evaluate_in_context(model, tokenizer, text: str, retriever: PassageRetriever | None, stride: int = 16,
                        query_chars: int = 32, batch_size: int = 64, first: int | None = None):
    """Score `text` in chunks of `stride` characters, each after a retrieved passage (retriever given)
    or after the full context (retriever None). Returns (nll per scored character (n,), chunk starts,
    the retrieved passages (None where nothing shared a word with the query))."""
    model.eval()
    ids = tokenizer.encode(text)
    T = model.config.block_size
    first = T if first is None else first
    starts = list(range(first, len(ids) - stride + 1, stride))
    inputs, passages = [], []
    for c in starts:
        passage = retriever.retrieve(text[max(0, c - query_chars):c])[0] if retriever else None
        passages.append(passage)
        doc = tokenizer.encode(passage) if passage else []
        x, _ = in_context_input(doc, ids[:c], ids[c:c + stride], T)
        inputs.append(x)
    nll = []
    for b in range(0, len(inputs), batch_size):
        rows = inputs[b:b + batch_size]
        lengths = {len(r) for r in rows}
        if len(lengths) > 1:
            raise ValueError("inputs of one batch differ in length: use passages of one length")
        x = torch.tensor(rows)                                             # (b, L)
        logits, _ = model(x, torch.zeros_like(x))
        targets = torch.tensor([ids[c:c + stride] for c in starts[b:b + batch_size]])   # (b, stride)
        logp = F.log_softmax(logits[:, -stride:].float(), dim=-1)
        nll.append(-logp.gather(2, targets.unsqueeze(-1)).squeeze(-1))
    return torch.cat(nll).reshape(-1), np.array(starts), passages
