"""Unit tests of course_lib.gpt and course_lib.chardata (chapter 5): nanoGPT / GPT-2 compatibility,
FLOPs per token, sampling, and the char-level data pipeline. CPU, small sizes, no real data."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from course_lib import chardata
from course_lib.data import file_digest
from course_lib.gpt import GPT, GPTConfig, surprisal

SMALL = dict(block_size=16, vocab_size=23, n_layer=2, n_head=2, n_embd=16)


def nanogpt_layout(cfg: GPTConfig) -> dict[str, tuple]:
    """nanoGPT's state-dict keys and shapes (model.py with flash attention: no mask buffer), written out."""
    C, V = cfg.n_embd, cfg.vocab_size
    layout = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (cfg.block_size, C)}
    for i in range(cfg.n_layer):
        h = f"transformer.h.{i}."
        layout |= {h + "ln_1.weight": (C,), h + "attn.c_attn.weight": (3 * C, C), h + "attn.c_proj.weight": (C, C),
                   h + "ln_2.weight": (C,), h + "mlp.c_fc.weight": (4 * C, C), h + "mlp.c_proj.weight": (C, 4 * C)}
        if cfg.bias:
            layout |= {h + "ln_1.bias": (C,), h + "attn.c_attn.bias": (3 * C,), h + "attn.c_proj.bias": (C,),
                       h + "ln_2.bias": (C,), h + "mlp.c_fc.bias": (4 * C,), h + "mlp.c_proj.bias": (C,)}
    layout["transformer.ln_f.weight"] = (C,)
    if cfg.bias:
        layout["transformer.ln_f.bias"] = (C,)
    layout["lm_head.weight"] = (V, C)
    return layout


def reference_logits(sd: dict, cfg: GPTConfig, idx: torch.Tensor, conv1d: bool = False) -> torch.Tensor:
    """GPT-2's forward pass written out with plain tensor ops from a state dict (independent of
    course_lib.gpt). conv1d=True reads the Hugging Face layout, where projections are x @ W + b."""
    def linear(x, name):
        w, b = sd[name + ".weight"], sd.get(name + ".bias")
        y = x @ w if conv1d else x @ w.T
        return y + b if b is not None else y

    def ln(x, name):
        return F.layer_norm(x, (cfg.n_embd,), sd[name + ".weight"], sd.get(name + ".bias"), 1e-5)

    B, T = idx.shape
    C, H = cfg.n_embd, cfg.n_head
    x = sd["transformer.wte.weight"][idx] + sd["transformer.wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        q, k, v = linear(ln(x, p + "ln_1"), p + "attn.c_attn").split(C, dim=-1)
        q, k, v = (t.reshape(B, T, H, C // H).permute(0, 2, 1, 3) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2) / math.sqrt(C // H)).masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        x = x + linear(y, p + "attn.c_proj")
        h = F.gelu(linear(ln(x, p + "ln_2"), p + "mlp.c_fc"))
        x = x + linear(h, p + "mlp.c_proj")
    return ln(x, "transformer.ln_f") @ sd["transformer.wte.weight"].T


@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_has_nanogpt_keys_and_shapes_and_loads_a_nanogpt_checkpoint(bias):
    cfg = GPTConfig(**SMALL, bias=bias)
    model = GPT(cfg)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == nanogpt_layout(cfg)
    assert model.lm_head.weight is model.transformer.wte.weight, "lm_head must be tied to wte"
    # a checkpoint in nanoGPT's layout (random weights, as if trained) loads strictly ...
    g = torch.Generator().manual_seed(0)
    ckpt = {k: torch.randn(shape, generator=g) * 0.3 for k, shape in nanogpt_layout(cfg).items()}
    ckpt["lm_head.weight"] = ckpt["transformer.wte.weight"]
    model.load_state_dict(ckpt, strict=True)
    # ... and gives the logits of GPT-2's forward pass written out independently
    idx = torch.randint(cfg.vocab_size, (3, cfg.block_size), generator=g)
    logits, loss = model(idx, idx)
    torch.testing.assert_close(logits, reference_logits(ckpt, cfg, idx), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(loss, F.cross_entropy(logits.view(-1, cfg.vocab_size), idx.view(-1)))


def test_same_seed_same_weights_and_init_statistics():
    cfg = GPTConfig(**SMALL)
    torch.manual_seed(3)
    a = GPT(cfg)
    torch.manual_seed(3)
    b = GPT(cfg)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=0, atol=0, msg=k)
    big = GPT(GPTConfig(block_size=64, vocab_size=512, n_layer=4, n_head=4, n_embd=128))
    assert abs(big.transformer.wte.weight.std().item() - 0.02) < 0.002
    assert abs(big.transformer.h[0].mlp.c_proj.weight.std().item() - 0.02 / math.sqrt(8)) < 0.001
    assert big.transformer.h[0].attn.c_attn.bias.abs().max() == 0


def test_forward_without_targets_returns_every_position_and_rejects_long_inputs():
    model = GPT(GPTConfig(**SMALL)).eval()
    idx = torch.randint(23, (2, 10))
    logits, loss = model(idx)
    assert logits.shape == (2, 10, 23) and loss is None
    full, _ = model(idx, idx)
    torch.testing.assert_close(logits, full)
    window = torch.randint(23, (2, 11))                  # targets as a non-contiguous view of a bigger batch
    _, loss = model(window[:, :-1], window[:, 1:])
    torch.testing.assert_close(loss, model(window[:, :-1].clone(), window[:, 1:].clone())[1])
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPTConfig(n_embd=10, n_head=3)


def test_loss_at_init_is_about_log_vocab():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=65, n_layer=2, n_head=2, n_embd=32))
    idx, targets = torch.randint(65, (8, 32)), torch.randint(65, (8, 32))
    _, loss = model(idx, targets)
    assert abs(loss.item() - math.log(65)) < 0.05


def test_causality_later_tokens_do_not_change_earlier_logits():
    torch.manual_seed(1)
    model = GPT(GPTConfig(**SMALL)).eval()
    idx = torch.randint(23, (1, 12))
    idx2 = idx.clone()
    idx2[0, 8:] = (idx2[0, 8:] + 1) % 23
    a, _ = model(idx, idx)
    b, _ = model(idx2, idx2)
    torch.testing.assert_close(a[:, :8], b[:, :8])
    assert not torch.allclose(a[:, 8:], b[:, 8:])


def test_crop_block_size():
    torch.manual_seed(2)
    model = GPT(GPTConfig(**SMALL)).eval()
    idx = torch.randint(23, (2, 8))
    before, _ = model(idx, idx)
    model.crop_block_size(8)
    assert model.transformer.wpe.weight.shape == (8, 16) and model.config.block_size == 8
    after, _ = model(idx, idx)
    torch.testing.assert_close(before, after)
    with pytest.raises(ValueError):
        model.crop_block_size(9)


def test_generate_top_k_1_is_greedy_and_temperature_and_top_k_shape_the_distribution():
    torch.manual_seed(4)
    model = GPT(GPTConfig(**SMALL)).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(40)       # a peaked next-token distribution
    idx = torch.randint(23, (2, 3))
    out = model.generate(idx, 20, top_k=1)  # longer than block_size: the context is cropped
    assert out.shape == (2, 23) and torch.equal(out[:, :3], idx)
    greedy = idx
    for _ in range(20):
        logits, _ = model(greedy[:, -16:])
        greedy = torch.cat([greedy, logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, greedy)
    # top_k=3: every sampled token is among the 3 most likely
    ctx = torch.randint(23, (400, 4), generator=torch.Generator().manual_seed(0))
    nxt = model.generate(ctx, 1, top_k=3, generator=torch.Generator().manual_seed(1))[:, -1]
    top3 = torch.topk(model(ctx)[0][:, -1], 3).indices
    assert (top3 == nxt[:, None]).any(1).all()
    # a high temperature spreads the samples over more tokens than a low one
    one = torch.full((2000, 1), 5)
    cold = model.generate(one, 1, temperature=0.3, generator=torch.Generator().manual_seed(2))[:, -1]
    hot = model.generate(one, 1, temperature=5.0, generator=torch.Generator().manual_seed(2))[:, -1]
    assert len(hot.unique()) > len(cold.unique())
    with pytest.raises(ValueError, match="temperature"):
        model.generate(idx, 1, temperature=0)


def test_flops_per_token_is_nanogpts_formula_and_matches_torch_flop_counter():
    cfg = GPTConfig(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128)
    torch.manual_seed(0)
    model = GPT(cfg)
    C = cfg.n_embd
    n_params = cfg.vocab_size * C + cfg.n_layer * (12 * C * C + 13 * C) + 2 * C   # wte (= lm_head) + blocks + ln_f
    assert model.num_params() == n_params
    assert model.num_params(non_embedding=False) == n_params + cfg.block_size * C
    L, H, Q, T = cfg.n_layer, cfg.n_head, C // cfg.n_head, cfg.block_size
    assert model.flops_per_token() == 6 * n_params + 12 * L * H * Q * T
    idx = torch.randint(65, (2, T))
    # the math backend spells attention out as matmuls, which the counter sees
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        _, loss = model(idx, idx)
        loss.backward()
    counted = counter.get_total_flops() / idx.numel()
    assert abs(counted / model.flops_per_token() - 1) < 0.01, (counted, model.flops_per_token())


def hf_state_dict(cfg: GPTConfig, g: torch.Generator) -> dict:
    """A GPT-2 state dict in Hugging Face's GPT2LMHeadModel layout: Conv1D weights (in, out), mask buffers."""
    sd = {}
    for k, shape in nanogpt_layout(cfg).items():
        if k.endswith(GPT.HF_TRANSPOSED):
            shape = shape[::-1]
        sd[k] = torch.randn(shape, generator=g) * 0.3
    sd["lm_head.weight"] = sd["transformer.wte.weight"]
    for i in range(cfg.n_layer):
        sd[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(cfg.block_size, cfg.block_size))[None, None]
        sd[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    return sd


def test_gpt2_hugging_face_layout_loads_with_conv1d_transposes():
    cfg = GPTConfig(block_size=12, vocab_size=31, n_layer=2, n_head=4, n_embd=16)
    g = torch.Generator().manual_seed(5)
    sd = hf_state_dict(cfg, g)
    model = GPT.from_hf_state_dict(sd, n_head=4).eval()
    assert model.config == cfg
    assert model.transformer.h[1].attn.c_attn.weight.shape == (48, 16)
    torch.testing.assert_close(model.transformer.h[1].mlp.c_fc.weight, sd["transformer.h.1.mlp.c_fc.weight"].T)
    idx = torch.randint(31, (2, 12), generator=g)
    logits, _ = model(idx, idx)
    torch.testing.assert_close(logits, reference_logits(sd, cfg, idx, conv1d=True), rtol=1e-4, atol=1e-4)
    sd.pop("transformer.h.1.mlp.c_fc.bias")
    with pytest.raises(KeyError, match="missing"):
        GPT.from_hf_state_dict(sd, n_head=4)


def test_surprisal_in_bits_matches_the_softmax():
    torch.manual_seed(6)
    model = GPT(GPTConfig(**SMALL)).eval()
    ids = [3, 7, 1, 22, 5]
    s = surprisal(model, ids)
    logits, _ = model(torch.tensor([ids[:-1]]), torch.tensor([ids[1:]]))
    p = logits[0].softmax(-1)[torch.arange(4), torch.tensor(ids[1:])]
    torch.testing.assert_close(s, -torch.log2(p))


def test_char_tokenizer_roundtrip_and_nanogpt_split(tmp_path):
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 3
    tok, train, val = chardata.train_val_split(text)
    assert tok.chars == sorted(set(text)) and tok.vocab_size == len(set(text))
    assert tok.decode(tok.encode(text)) == text
    n = int(len(text) * 0.9)
    assert train.dtype == np.uint16 and len(train) == n and len(val) == len(text) - n
    assert tok.decode(train) + tok.decode(val) == text
    with pytest.raises(KeyError, match="not in the vocabulary"):
        tok.encode("XYZ~")


def test_get_batch_random_windows_shifted_by_one():
    data = np.arange(100, dtype=np.uint16)
    x, y = chardata.get_batch(data, block_size=8, batch_size=64, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (64, 8) and x.dtype == torch.int64
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
    assert torch.equal(x, x[:, :1] + torch.arange(8))    # contiguous windows
    assert x[:, 0].max() <= 91 and len(x[:, 0].unique()) > 30
    with pytest.raises(ValueError, match="block_size"):
        chardata.get_batch(data[:8], block_size=8, batch_size=1)


def test_tiny_shakespeare_goes_through_the_checksummed_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(Exception, match="COURSE_OFFLINE"):
        chardata.tiny_shakespeare_path()
    fake = tmp_path / "corpus.txt"
    fake.write_text("not shakespeare")
    monkeypatch.setattr(chardata, "TINY_SHAKESPEARE_SHA256", file_digest(fake))
    fake.rename(tmp_path / "tinyshakespeare.txt")
    assert chardata.tiny_shakespeare_path().read_text() == "not shakespeare"
