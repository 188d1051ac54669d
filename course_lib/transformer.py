"""Introduced in chapter 4: the Transformer of "Attention Is All You Need", one box at a time.

Every box of the paper's diagram is a few lines here, in the order the chapter takes them:

    TokenEmbedding                 token ids -> vectors, scaled by sqrt(d_model)       (B, T) -> (B, T, C)
    sinusoidal_positions           the "squiggly" positional encoding                  (T, C)
    scaled_dot_product_attention   softmax(q k^T / sqrt(d_k)) v, with an optional mask
    causal_mask, padding_mask      boolean masks: True where attending is allowed
    MultiHeadAttention             split into heads, attend, concatenate, project
    LayerNorm                      normalise each position over its C features
    FeedForward                    the position-wise two-layer MLP
    EncoderBlock, DecoderBlock     residual + LayerNorm around the above (pre_ln=True: GPT-2's order)
    Transformer                    encoder-decoder with an output projection to logits
    position_dependency            which input positions each output position depends on (backprop)

Tensors are batch-first, (B, T, C) as in nanoGPT. A mask is a bool tensor that broadcasts against
the attention scores (B, H, T_q, T_k); a query row whose keys are all masked attends to nothing
and gets zeros, as torch.nn.functional.scaled_dot_product_attention gives.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


class TokenEmbedding(nn.Module):
    """A lookup table of vectors, multiplied by sqrt(d_model) (section 3.4 of the paper)."""

    def __init__(self, vocab_size: int, d_model: int):
        super().__init__()
        self.table = nn.Embedding(vocab_size, d_model)
        self.scale = math.sqrt(d_model)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table(ids) * self.scale                        # (B, T) -> (B, T, C)


def sinusoidal_positions(n_positions: int, d_model: int) -> torch.Tensor:
    """PE[t, 2i] = sin(t / 10000^(2i/C)), PE[t, 2i+1] = cos(same angle); shape (n_positions, C)."""
    if d_model % 2:
        raise ValueError(f"sinusoidal_positions needs an even d_model (sine/cosine pairs), got {d_model}")
    t = torch.arange(n_positions, dtype=torch.float64)[:, None]           # (T, 1)
    freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (C/2,)
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq)
    return pe.to(torch.get_default_dtype())


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v over the last two dims; returns (output, attention weights).

    q (..., T_q, d_k), k (..., T_k, d_k), v (..., T_k, d_v); mask: bool, True = may attend.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))              # (..., T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))                  # before the softmax
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:                                                    # all keys masked: 0/0
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    return weights @ v, weights


def causal_mask(T: int, device=None) -> torch.Tensor:
    """(T, T) bool: position t may attend to positions 0..t only."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(lengths, T: int) -> torch.Tensor:
    """(B, 1, 1, T) bool: key s of sequence b is real when s < lengths[b]; broadcasts over heads and queries."""
    lengths = torch.as_tensor(lengths)
    return (torch.arange(T, device=lengths.device)[None, :] < lengths[:, None])[:, None, None, :]


class MultiHeadAttention(nn.Module):
    """Project to queries, keys and values, split C into n_heads heads, attend, concatenate, project.

    forward(x, context=None, mask=None): self-attention when context is None, cross-attention
    (queries from x, keys and values from context) otherwise. The last attention weights are kept
    in .attention, (B, H, T_q, T_k), for drawing.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.attention = None

    def split_heads(self, x):                                   # (B, T, C) -> (B, H, T, C/H)
        B, T, C = x.shape
        return x.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)

    def forward(self, x, context=None, mask=None):
        context = x if context is None else context
        B, T, C = x.shape
        q = self.split_heads(self.q_proj(x))                    # (B, H, T, hs)
        k = self.split_heads(self.k_proj(context))              # (B, H, S, hs)
        v = self.split_heads(self.v_proj(context))              # (B, H, S, hs)
        y, weights = scaled_dot_product_attention(q, k, v, mask)
        self.attention = weights.detach()                       # (B, H, T, S)
        y = y.transpose(1, 2).reshape(B, T, C)                  # concatenate the heads
        return self.out_proj(y)


class LayerNorm(nn.Module):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last dim; var is the biased (1/C) one."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class FeedForward(nn.Module):
    """The same two-layer MLP applied at every position: C -> d_ff -> C."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.fc = nn.Linear(d_model, d_ff)
        self.proj = nn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.proj(torch.relu(self.fc(x)))


class EncoderBlock(nn.Module):
    """Self-attention and feed-forward, each wrapped in a residual connection and a LayerNorm.

    post-LN (the paper): x = LN(x + sublayer(x)).  pre-LN (GPT-2): x = x + sublayer(LN(x)).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, pre_ln: bool = True):
        super().__init__()
        self.pre_ln = pre_ln
        self.ln_1, self.attn = LayerNorm(d_model), MultiHeadAttention(d_model, n_heads)
        self.ln_2, self.ff = LayerNorm(d_model), FeedForward(d_model, d_ff)

    def forward(self, x, mask=None):
        if self.pre_ln:
            x = x + self.attn(self.ln_1(x), mask=mask)
            return x + self.ff(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, mask=mask))
        return self.ln_2(x + self.ff(x))


class DecoderBlock(nn.Module):
    """Masked self-attention, cross-attention to the encoder's output, feed-forward; each Add & Norm."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, pre_ln: bool = True):
        super().__init__()
        self.pre_ln = pre_ln
        self.ln_1, self.self_attn = LayerNorm(d_model), MultiHeadAttention(d_model, n_heads)
        self.ln_2, self.cross_attn = LayerNorm(d_model), MultiHeadAttention(d_model, n_heads)
        self.ln_3, self.ff = LayerNorm(d_model), FeedForward(d_model, d_ff)

    def forward(self, x, memory, self_mask=None, memory_mask=None):
        if self.pre_ln:
            x = x + self.self_attn(self.ln_1(x), mask=self_mask)
            x = x + self.cross_attn(self.ln_2(x), context=memory, mask=memory_mask)
            return x + self.ff(self.ln_3(x))
        x = self.ln_1(x + self.self_attn(x, mask=self_mask))
        x = self.ln_2(x + self.cross_attn(x, context=memory, mask=memory_mask))
        return self.ln_3(x + self.ff(x))


class Transformer(nn.Module):
    """Encoder-decoder Transformer: forward(src, tgt) -> logits (B, T_tgt, vocab_size).

    The decoder sees tgt through a causal mask, so logits[:, t] may use tgt[:, :t+1] and all of src.
    src_lengths (optional, (B,)) masks the encoder's padding.
    """

    def __init__(self, vocab_size: int, d_model: int = 32, n_heads: int = 2, d_ff: int = 64,
                 n_layers: int = 2, max_len: int = 64, pre_ln: bool = True):
        super().__init__()
        self.src_embed = TokenEmbedding(vocab_size, d_model)
        self.tgt_embed = TokenEmbedding(vocab_size, d_model)
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        self.encoder = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff, pre_ln) for _ in range(n_layers))
        self.decoder = nn.ModuleList(DecoderBlock(d_model, n_heads, d_ff, pre_ln) for _ in range(n_layers))
        # pre-LN leaves the residual stream un-normalised, so it ends with one more LayerNorm
        self.ln_enc = LayerNorm(d_model) if pre_ln else nn.Identity()
        self.ln_dec = LayerNorm(d_model) if pre_ln else nn.Identity()
        self.lm_head = nn.Linear(d_model, vocab_size)

    def encode(self, src, src_lengths=None):
        mask = None if src_lengths is None else padding_mask(src_lengths, src.shape[1])
        x = self.src_embed(src) + self.positions[: src.shape[1]]          # (B, S, C)
        for block in self.encoder:
            x = block(x, mask)
        return self.ln_enc(x)

    def decode(self, tgt, memory, src_lengths=None):
        memory_mask = None if src_lengths is None else padding_mask(src_lengths, memory.shape[1])
        x = self.tgt_embed(tgt) + self.positions[: tgt.shape[1]]          # (B, T, C)
        self_mask = causal_mask(tgt.shape[1], device=tgt.device)
        for block in self.decoder:
            x = block(x, memory, self_mask, memory_mask)
        return self.lm_head(self.ln_dec(x))                                # (B, T, vocab)

    def forward(self, src, tgt, src_lengths=None):
        return self.decode(tgt, self.encode(src, src_lengths), src_lengths)


def position_dependency(f, x: torch.Tensor) -> torch.Tensor:
    """(T, T) bool M with M[t, s] = True when some output at position t has a non-zero gradient
    with respect to the input at position s. f maps (B, T, C) to (B, T, C'); x is left unchanged.

    A causal model gives a lower-triangular M: nothing at t depends on a later position.
    """
    x = x.detach().clone().requires_grad_(True)
    y = f(x)                                                               # (B, T, C')
    # Random weights, not a plain sum: the C outputs of a LayerNorm sum to a constant, whose
    # gradient is zero whatever they depend on.
    probe = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)
    rows = []
    for t in range(y.shape[1]):
        (grad,) = torch.autograd.grad((y[:, t] * probe[:, t]).sum(), x, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros(x.shape[1], dtype=torch.bool) if grad is None
                    else (grad != 0).any(dim=0).any(dim=-1))               # (T,)
    return torch.stack(rows)


# ---- the diagram's arrows, recorded from a forward pass ------------------------------------------
BOXES = (TokenEmbedding, MultiHeadAttention, LayerNorm, FeedForward, nn.Linear)
PORTS = {"q_proj": "Q", "k_proj": "K", "v_proj": "V"}      # an attention box's three inputs


def dataflow(model: nn.Module, *inputs: torch.Tensor, names=("src", "tgt"), collapse_layers: bool = True) -> set:
    """The arrows of the model's diagram, recorded from one real forward pass: a set of
    (from, to, port) with one entry per arrow.

    A box is a submodule of kind TokenEmbedding, MultiHeadAttention, LayerNorm, FeedForward or
    Linear (not inside another box), named by its path in the model ("decoder.0.cross_attn";
    with collapse_layers the layer number is dropped, "decoder.cross_attn", as the diagram's
    "N×" stack draws every layer once). An attention box has three ports, the inputs of its
    q_proj, k_proj and v_proj ("Q", "K", "V"); every other box has one (""). The inputs are
    named by `names`, buffers of the model by their names ("positions"), and the model's
    result is "output". A sum of two such values outside any box is a junction, named
    "add(a, b)", except a sum that goes only into a LayerNorm: that is the "Add" of the
    diagram's "Add & Norm", and its two operands become that box's inputs.

    How: forward hooks mark each box's output with the box's name, a TorchFunctionMode carries
    the marks through every other tensor operation, and a pre-hook on each input records the
    marks that arrive there.
    """
    from torch.overrides import TorchFunctionMode
    from torch.utils._pytree import tree_flatten

    marks: dict[int, frozenset] = {}       # id(tensor) -> the boxes its value comes from
    alive: list = []                       # keep marked tensors alive so their ids stay unique
    edges: set = set()                     # (from, to, port) before layer names are collapsed
    consumers: dict[str, set] = {}         # junction -> the (box, port) pairs it feeds
    depth = [0]                            # > 0 while inside a box's forward

    def mark(t, sources):
        if isinstance(t, torch.Tensor) and sources:
            marks[id(t)] = frozenset(sources)
            alive.append(t)

    def sources_of(*objs):
        found = set()
        for t in tree_flatten(objs)[0]:
            if isinstance(t, torch.Tensor):
                found |= marks.get(id(t), frozenset())
        return found

    def record(to, port, value):
        for source in sources_of(value):
            edges.add((source, to, port))
            consumers.setdefault(source, set()).add((to, port))

    class Carry(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if getattr(func, "__name__", "") in ("add", "__add__", "__radd__") and depth[0] == 0:
                operands = [sources_of(a) for a in args[:2]]
                if len(operands) == 2 and all(operands):
                    name = "add(" + ", ".join(sorted(s for ops in operands for s in ops)) + ")"
                    for ops in operands:
                        for s in ops:
                            edges.add((s, name, ""))
                            consumers.setdefault(s, set()).add((name, ""))
                    mark(out, {name})
                    return out
            for t in tree_flatten(out)[0]:
                mark(t, sources_of(args, kwargs))
            return out

    boxes = {name: m for name, m in model.named_modules()
             if isinstance(m, BOXES) and not any(name.startswith(b + ".") for b in _outer_boxes(model))}
    handles = []
    for name, module in boxes.items():
        def enter(module, args, kwargs, name=name):
            if not isinstance(module, MultiHeadAttention):     # attention: its ports record
                record(name, "", (args, kwargs))
            depth[0] += 1

        def leave(module, args, output, name=name):
            depth[0] -= 1
            marks.pop(id(output), None)
            mark(output, {name})

        handles.append(module.register_forward_pre_hook(enter, with_kwargs=True))
        handles.append(module.register_forward_hook(leave))
        if isinstance(module, MultiHeadAttention):
            for attr, port in PORTS.items():
                handles.append(getattr(module, attr).register_forward_pre_hook(
                    lambda m, args, name=name, port=port: record(name, port, args)))
    for buffer_name, buffer in model.named_buffers():
        mark(buffer, {buffer_name})
    for name, x in zip(names, inputs):
        mark(x, {name})
    try:
        with torch.no_grad(), Carry():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    record("output", "", out)

    # "Add & Norm": a junction that feeds one LayerNorm and nothing else is that box's Add
    for junction, uses in list(consumers.items()):
        if junction.startswith("add(") and len(uses) == 1:
            (to, port), = uses
            if isinstance(boxes.get(to), LayerNorm):
                feeding = {(s, j, p) for s, j, p in edges if j == junction}
                edges -= feeding | {(junction, to, port)}
                edges |= {(s, to, port) for s, _, _ in feeding}
    if collapse_layers:
        edges = {tuple(_collapse(part) for part in edge) for edge in edges}
    return edges


def _outer_boxes(model):
    return [name for name, m in model.named_modules() if name and isinstance(m, BOXES)]


def _collapse(name: str) -> str:
    """"decoder.1.cross_attn" -> "decoder.cross_attn" (also inside junction names)."""
    import re
    return re.sub(r"\.\d+(?=[.,)]|$)", "", name)
