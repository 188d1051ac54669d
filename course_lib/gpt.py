"""A GPT language model in one readable file, compatible with nanoGPT and GPT-2 checkpoints.

Introduced in chapter 5: the decoder-only Transformer that the chapter trains on tiny Shakespeare.

Parameter names and shapes are nanoGPT's (Karpathy's model.py) and GPT-2's, so checkpoints move
both ways without renaming:

    transformer.wte      (vocab_size, n_embd)    token embedding, tied to lm_head.weight
    transformer.wpe      (block_size, n_embd)    learned position embedding
    transformer.h.N      ln_1, attn.c_attn (3C, C), attn.c_proj (C, C), ln_2, mlp.c_fc (4C, C), mlp.c_proj (C, 4C)
    transformer.ln_f     final LayerNorm
    lm_head              (vocab_size, n_embd), the same tensor as wte

Attention is PyTorch's fused `F.scaled_dot_product_attention` (flash / memory-efficient kernels
on a GPU), so there is no causal-mask buffer in the state dict either.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int = 1024   # longest context T the model sees
    vocab_size: int = 50304  # GPT-2's 50,257 tokens padded to a multiple of 64 (faster matmuls)
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768        # C, the width of the residual stream
    dropout: float = 0.0
    bias: bool = True        # biases in Linear and LayerNorm, as in GPT-2

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of n_head={self.n_head} "
                             f"(each head gets n_embd // n_head channels)")


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.dropout = config.dropout

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                       # 3 × (B, T, C)
        # heads become a batch dimension: (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)               # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying: one matrix reads and writes tokens
        # GPT-2's init: N(0, 0.02) everywhere, and the projections that write into the residual
        # stream scaled by 1/sqrt(2 · n_layer) so the stream's variance does not grow with depth.
        # The order of the random draws is nanoGPT's, so the same seed gives the same weights.
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; by default without the position embedding (the convention of the
        scaling-law papers). The token embedding counts once: it is also the output layer."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs (forward + backward) per token: 6N + 12·L·H·Q·T (PaLM, appendix B).

        6N: each weight does one multiply-add (2 FLOPs) per token forward and twice that backward.
        12·L·H·Q·T: attention scores and the weighted sum of values, each (T × Q) · (Q × T) per head.
        """
        cfg = self.config
        T = seq_len or cfg.block_size
        L, H, Q = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head
        return 6 * self.num_params() + 12 * L * H * Q * T

    def forward(self, idx, targets=None):
        """idx (B, T) token ids -> (logits (B, T, vocab), loss): the mean cross-entropy of targets
        (B, T), or None without targets. Targets equal to -1 are ignored. (nanoGPT, without targets,
        computes only the last position's logits, an inference-time shortcut; here the logits always
        have every position, as the chapter's exercise says, so one call serves sampling and surprisal.)"""
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} is longer than block_size={self.config.block_size}; "
                             f"crop the context to its last {self.config.block_size} tokens")
        pos = torch.arange(T, dtype=torch.long, device=idx.device)           # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))                     # (B, T, vocab)
        if targets is None:
            return logits, None
        # reshape, not view: targets may be a non-contiguous slice of a bigger batch (x, y = w[:, :-1], w[:, 1:])
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def crop_block_size(self, block_size: int) -> None:
        """Shrink the context length, e.g. GPT-2's 1024 to 256 for a small fine-tuning run."""
        if not 0 < block_size <= self.config.block_size:
            raise ValueError(f"block_size must be in 1..{self.config.block_size}, got {block_size}")
        self.config.block_size = block_size
        self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size].detach().clone())

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None):
        """Append `max_new_tokens` sampled tokens to idx (B, T), one at a time.

        temperature < 1 sharpens the distribution, > 1 flattens it; top_k keeps only the k most
        likely tokens. Call model.eval() first (dropout off).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}; for greedy decoding use top_k=1")
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.block_size:]                       # at most block_size tokens
            logits, _ = self(context)
            logits = logits[:, -1, :] / temperature                           # (B, vocab)
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = F.softmax(logits, dim=-1)
            next_id = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat((idx, next_id), dim=1)
        return idx

    # ---- GPT-2 weights in the Hugging Face layout -------------------------------------------
    # OpenAI's checkpoints (and Hugging Face's GPT2LMHeadModel) store the four projections as
    # "Conv1D" weights of shape (in, out); nn.Linear keeps (out, in). Those four are transposed.
    HF_TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

    @classmethod
    def from_hf_state_dict(cls, sd: dict, n_head: int, dropout: float = 0.0) -> "GPT":
        """A GPT from a state dict in GPT2LMHeadModel's layout (sizes read from the shapes;
        the head count cannot be, so it is an argument: 12 for the 124M GPT-2)."""
        sd = {k: v for k, v in sd.items() if not k.endswith((".attn.bias", ".attn.masked_bias"))}  # mask buffers
        if "transformer.wte.weight" not in sd:
            raise KeyError("not a GPT-2 state dict in the Hugging Face layout: no 'transformer.wte.weight' "
                           f"(keys start {sorted(sd)[:3]})")
        vocab_size, n_embd = sd["transformer.wte.weight"].shape
        n_layer = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("transformer.h."))
        config = GPTConfig(block_size=sd["transformer.wpe.weight"].shape[0], vocab_size=vocab_size,
                           n_layer=n_layer, n_head=n_head, n_embd=n_embd, dropout=dropout,
                           bias="transformer.ln_f.bias" in sd)
        model = cls(config)
        ours = model.state_dict()
        sd.setdefault("lm_head.weight", sd["transformer.wte.weight"])
        if set(sd) != set(ours):
            raise KeyError(f"keys differ from GPT-2's: missing {sorted(set(ours) - set(sd))[:5]}, "
                           f"unexpected {sorted(set(sd) - set(ours))[:5]}")
        with torch.no_grad():
            for k, v in sd.items():
                v = v.t() if k.endswith(cls.HF_TRANSPOSED) else v
                if v.shape != ours[k].shape:
                    raise ValueError(f"{k}: shape {tuple(v.shape)} does not fit {tuple(ours[k].shape)}")
                ours[k].copy_(v)
        return model

    @classmethod
    def from_pretrained(cls, model_type: str = "gpt2", dropout: float = 0.0) -> "GPT":
        """OpenAI's GPT-2 through Hugging Face `transformers` (pip install transformers; Colab has it)."""
        heads = {"gpt2": 12, "gpt2-medium": 16, "gpt2-large": 20, "gpt2-xl": 25}
        if model_type not in heads:
            raise ValueError(f"model_type must be one of {sorted(heads)}, got {model_type!r}")
        from transformers import GPT2LMHeadModel
        sd = GPT2LMHeadModel.from_pretrained(model_type).state_dict()
        return cls.from_hf_state_dict(sd, n_head=heads[model_type], dropout=dropout)


@torch.no_grad()
def surprisal(model: GPT, ids) -> torch.Tensor:
    """Per-token surprisal in bits, -log2 p(token | the tokens before it), for ids[1:] (len-1 values)."""
    ids = torch.as_tensor(ids, dtype=torch.long).view(1, -1)
    x, y = ids[:, :-1], ids[:, 1:]
    logits, _ = model(x, y)                                                  # (1, T-1, vocab)
    logp = F.log_softmax(logits.float(), dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return -logp[0] / math.log(2)
