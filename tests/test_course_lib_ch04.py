"""course_lib.transformer against PyTorch's own modules (chapter 4's reference Transformer)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.transformer import (
    DecoderBlock, EncoderBlock, LayerNorm, MultiHeadAttention, TokenEmbedding, Transformer, causal_mask,
    padding_mask, position_dependency, scaled_dot_product_attention, sinusoidal_positions,
)


def copy_from_torch_mha(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """Load nn.MultiheadAttention's packed in_proj (q; k; v stacked) and out_proj into ours."""
    w_q, w_k, w_v = theirs.in_proj_weight.detach().chunk(3)
    b_q, b_k, b_v = theirs.in_proj_bias.detach().chunk(3)
    with torch.no_grad():
        for lin, w, b in ((ours.q_proj, w_q, b_q), (ours.k_proj, w_k, b_k), (ours.v_proj, w_v, b_v),
                          (ours.out_proj, theirs.out_proj.weight, theirs.out_proj.bias)):
            lin.weight.copy_(w)
            lin.bias.copy_(b)


def test_sinusoidal_positions_formula():
    pe = sinusoidal_positions(50, 16).double()
    t, i = 37, 5
    assert pe.shape == (50, 16)
    assert math.isclose(pe[t, 2 * i].item(), math.sin(t / 10000 ** (2 * i / 16)), rel_tol=1e-6)
    assert math.isclose(pe[t, 2 * i + 1].item(), math.cos(t / 10000 ** (2 * i / 16)), rel_tol=1e-6)
    assert torch.equal(pe[0, 1::2], torch.ones(8, dtype=torch.float64))
    with pytest.raises(ValueError, match="even d_model"):
        sinusoidal_positions(4, 7)


@pytest.mark.parametrize("mask_kind", [None, "causal", "random", "fully_masked_row"])
def test_attention_equals_torch_sdpa(mask_kind):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, n, 5, generator=g, dtype=torch.float64) for n in (7, 9, 9))
    mask = {None: None, "causal": torch.ones(7, 9, dtype=torch.bool).tril(),
            "random": torch.rand(2, 1, 7, 9, generator=g) > 0.4,
            "fully_masked_row": torch.ones(7, 9, dtype=torch.bool).index_fill(0, torch.tensor([2]), False)}[mask_kind]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-12, atol=1e-12)
    assert weights.shape == (2, 3, 7, 9)
    if mask is not None:
        assert (weights[(~mask).expand_as(weights)] == 0).all()
    if mask_kind == "fully_masked_row":
        assert (out[:, :, 2] == 0).all() and not out.isnan().any()
        q.requires_grad_(True)
        scaled_dot_product_attention(q, k, v, mask)[0].sum().backward()
        assert torch.isfinite(q.grad).all(), "a fully masked row must not send NaN gradients back"


def test_masks():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    m = padding_mask(torch.tensor([2, 4]), 4)
    assert m.shape == (2, 1, 1, 4)
    assert m[0, 0, 0].tolist() == [True, True, False, False] and m[1].all()


@pytest.mark.parametrize("with_context", [False, True])
def test_multi_head_attention_matches_torch(with_context):
    torch.manual_seed(0)
    C, H = 12, 3
    theirs = nn.MultiheadAttention(C, H, batch_first=True).double()
    ours = MultiHeadAttention(C, H).double()
    copy_from_torch_mha(ours, theirs)
    x = torch.randn(2, 5, C, dtype=torch.float64)
    ctx = torch.randn(2, 7, C, dtype=torch.float64) if with_context else x
    keep = torch.ones(5, ctx.shape[1], dtype=torch.bool).tril()
    expected, expected_w = theirs(x, ctx, ctx, attn_mask=~keep, average_attn_weights=False)  # torch: True = blocked
    got = ours(x, None if not with_context else ctx, mask=keep)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours.attention, expected_w, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)


def test_layer_norm_matches_torch():
    torch.manual_seed(0)
    ours, theirs = LayerNorm(11).double(), nn.LayerNorm(11).double()
    with torch.no_grad():
        for p in (ours.weight, ours.bias):
            p.normal_()
        theirs.weight.copy_(ours.weight)
        theirs.bias.copy_(ours.bias)
    x = torch.randn(3, 4, 11, dtype=torch.float64) * 5 + 2
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


def test_embedding_is_scaled():
    emb = TokenEmbedding(10, 16)
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(emb(ids), emb.table(ids) * 4.0)


@pytest.mark.parametrize("pre_ln", [True, False])
def test_blocks_post_and_pre_ln(pre_ln):
    """The encoder block written out by hand with torch's own pieces gives the same numbers."""
    torch.manual_seed(0)
    blk = EncoderBlock(8, 2, 16, pre_ln=pre_ln).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)

    def ln(m, z):
        return F.layer_norm(z, (8,), m.weight, m.bias, 1e-5)

    def attn(z):
        q, k, v = (blk.attn.split_heads(p(z)) for p in (blk.attn.q_proj, blk.attn.k_proj, blk.attn.v_proj))
        return blk.attn.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 5, 8))

    if pre_ln:
        h = x + attn(ln(blk.ln_1, x))
        expected = h + blk.ff(ln(blk.ln_2, h))
    else:
        h = ln(blk.ln_1, x + attn(x))
        expected = ln(blk.ln_2, h + blk.ff(h))
    torch.testing.assert_close(blk(x), expected, rtol=1e-10, atol=1e-10)


def test_decoder_self_attention_is_causal_and_cross_attention_sees_everything():
    torch.manual_seed(0)
    blk = DecoderBlock(8, 2, 16).double()
    memory = torch.randn(1, 6, 8, dtype=torch.float64)
    M = position_dependency(lambda x: blk(x, memory, self_mask=causal_mask(5)), torch.randn(1, 5, 8, dtype=torch.float64))
    assert torch.equal(M, causal_mask(5)), f"decoder self-attention should be causal:\n{M.int()}"
    M_mem = position_dependency(lambda m: blk(torch.zeros(1, 5, 8, dtype=torch.float64), m, self_mask=causal_mask(5)), memory)
    assert M_mem.shape == (5, 6) and M_mem.all(), "every target position may read every source position"


def test_dependency_check_catches_a_broken_mask_and_sees_through_layer_norm():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    post_ln = EncoderBlock(8, 2, 16, pre_ln=False).double()       # ends in a LayerNorm: outputs sum to a constant
    assert torch.equal(position_dependency(lambda z: post_ln(z, causal_mask(6)), x), causal_mask(6))
    broken = torch.ones(6, 6, dtype=torch.bool).triu()             # the transpose: attends to the future
    M = position_dependency(lambda z: post_ln(z, broken), x)
    assert M[0, 5] and not torch.equal(M, causal_mask(6))
    x_before = x.clone()
    position_dependency(lambda z: post_ln(z, None), x)
    assert torch.equal(x, x_before) and x.grad is None


def test_transformer_shapes_padding_and_causality():
    torch.manual_seed(0)
    model = Transformer(vocab_size=11, d_model=16, n_heads=2, d_ff=32, n_layers=2).double()
    src, tgt = torch.randint(0, 11, (3, 7)), torch.randint(0, 11, (3, 5))
    assert model(src, tgt).shape == (3, 5, 11)
    # padding: changing padded source tokens changes nothing
    lengths = torch.tensor([7, 4, 2])
    src2 = src.clone()
    src2[1, 4:], src2[2, 2:] = 0, 0
    torch.testing.assert_close(model(src, tgt, lengths), model(src2, tgt, lengths))
    # causality: logits at t do not change when later target tokens change
    tgt2 = tgt.clone()
    tgt2[:, 3:] = (tgt2[:, 3:] + 1) % 11
    torch.testing.assert_close(model(src, tgt)[:, :3], model(src, tgt2)[:, :3])
    assert not torch.allclose(model(src, tgt)[:, 3:], model(src, tgt2)[:, 3:])
    assert model.decoder[0].self_attn.attention.shape == (3, 2, 5, 5)
    assert model.decoder[0].cross_attn.attention.shape == (3, 2, 5, 7)


def test_assert_written_by_hand_catches_wrappers_of_the_library():
    import course_lib.transformer as reference
    from course_lib.testing import assert_written_by_hand

    x = torch.randn(2, 4, 6)
    banned = dict(torch_functions=[F.scaled_dot_product_attention, F.layer_norm, F.multi_head_attention_forward],
                  modules=[reference])

    def by_hand(q):
        return torch.softmax(q @ q.transpose(-2, -1) / math.sqrt(6), dim=-1) @ q

    out = assert_written_by_hand("attention", by_hand, x, **banned)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(x, x, x))
    for name, wrapper, words in [
        ("sdpa", lambda q: F.scaled_dot_product_attention(q, q, q), "scaled_dot_product_attention"),
        ("nn.LayerNorm", lambda q: nn.LayerNorm(6)(q), "layer_norm"),
        ("nn.MultiheadAttention", lambda q: nn.MultiheadAttention(6, 2, batch_first=True)(q, q, q)[0],
         "multi_head_attention_forward"),
        ("course_lib", lambda q: reference.scaled_dot_product_attention(q, q, q)[0], "course_lib.transformer"),
    ]:
        def swallowed(q, wrapper=wrapper):     # a try/except in the student's code hides nothing
            try:
                return wrapper(q)
            except AssertionError:
                return by_hand(q)
        with pytest.raises(AssertionError, match=words):
            assert_written_by_hand(name, swallowed, x, **banned)
