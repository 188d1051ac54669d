"""Chapter 6's library: BM25, exact search and recall, the faiss wrapper, kNN-LM and retrieval in context.

Every test makes its own small data (random vectors, a few sentences, a tiny GPT)."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from rank_bm25 import BM25Okapi

from course_lib import faiss_index
from course_lib.bm25 import BM25, words
from course_lib.chardata import CharTokenizer
from course_lib.faiss_index import ExactIndex, build_index
from course_lib.gpt import GPT, GPTConfig
from course_lib.knn_search import exact_search, recall_at_k
from course_lib.knnlm import (KNNLM, Datastore, build_datastore, encode_positions, hidden_and_logits,
                              interpolate, interpolated_nll, knn_distribution, knn_target_prob, tune, windows)
from course_lib.ralm import PassageRetriever, continuation_nll, evaluate_in_context, in_context_input

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread for torch and faiss: their thread pools only wait for each other on a shared CPU."""
    import faiss
    before, before_faiss = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    yield
    torch.set_num_threads(before)
    faiss.omp_set_num_threads(before_faiss)


SENTENCES = ["The cat sat on the mat.", "The dog sat by the door, and the dog slept.",
             "A cat and a dog: a cat, a dog, a cat!", "the the the", "", "Doors open; cats leave.",
             "Nothing here at all", "What, the dog again? The dog!"]


# ---- BM25 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k1, b", [(1.5, 0.75), (1.2, 0.0), (2.0, 1.0)])
def test_bm25_scores_equal_rank_bm25_okapi(k1, b):
    docs = [words(s) for s in SENTENCES if s]          # rank_bm25 divides by zero on an empty document when b=1
    ours, theirs = BM25(docs, k1=k1, b=b), BM25Okapi(docs, k1=k1, b=b)
    assert ours.idf == pytest.approx(theirs.idf, rel=1e-12)          # 'the' has a negative idf: both floor it
    for query in (["the", "cat", "cat", "dog"], ["door", "zebra"], words("what a cat"), []):
        np.testing.assert_allclose(ours.scores(query), theirs.get_scores(query), rtol=1e-12, atol=1e-12)


def test_bm25_idf_counts_documents_and_keeps_negatives_without_floor():
    docs = [["a", "a", "a", "b"], ["b"], ["b", "c"], ["d"]]
    idf = BM25(docs, epsilon=None).idf
    assert idf["a"] == pytest.approx(math.log(3.5 / 1.5))           # in 1 document, 3 times
    assert idf["b"] == pytest.approx(math.log(1.5 / 3.5))           # in 3 of 4: negative
    floored = BM25(docs).idf
    assert floored["b"] == pytest.approx(0.25 * np.mean(list(idf.values())))


def test_bm25_top_is_best_first_with_ties_to_the_lower_id():
    docs = [["x"], ["y", "z"], ["y", "z"], ["z"], ["w"], ["v"]]
    scores, ids = BM25(docs).top(["y"], k=3)
    assert ids.tolist()[:2] == [1, 2] and scores[0] == scores[1] > scores[2] == 0
    assert BM25(docs).top(["y"], k=99)[1].shape == (6,)


def test_bm25_bad_input_says_what_to_do():
    with pytest.raises(ValueError, match="at least one document"):
        BM25([])
    with pytest.raises(TypeError, match="lists of tokens"):
        BM25(["a sentence"])
    with pytest.raises(TypeError, match="list of tokens"):
        BM25([["a"]]).scores("a")
    with pytest.raises(ValueError, match="k must be"):
        BM25([["a"]]).top(["a"], k=0)


# ---- exact search and recall ------------------------------------------------------------------------
def test_exact_search_finds_the_nearest_by_brute_force():
    g = torch.Generator().manual_seed(0)
    keys, queries = torch.randn(500, 12, generator=g), torch.randn(70, 12, generator=g)
    true = ((queries[:, None] - keys[None]) ** 2).sum(-1)
    d, i = exact_search(queries, keys, 5, batch_size=16)
    torch.testing.assert_close(d, true.sort(1).values[:, :5], rtol=1e-4, atol=1e-4)
    assert torch.equal(i, true.argsort(1)[:, :5])
    cos = F.cosine_similarity(queries[:, None], keys[None], dim=-1)
    s, j = exact_search(queries.numpy(), keys.numpy(), 3, metric="cosine")
    torch.testing.assert_close(s, cos.sort(1, descending=True).values[:, :3], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("queries, keys, k, message", [
    (np.zeros((2, 3)), np.zeros((5, 4)), 1, "3 wide but the keys are 4 wide"),
    (np.zeros((2, 4)), np.zeros((0, 4)), 1, "datastore is empty"),
    (np.zeros((2, 4)), np.zeros((5, 4)), 6, "k=6 must be between 1 and the number of keys"),
    (np.zeros(4), np.zeros((5, 4)), 1, "2-D"),
])
def test_exact_search_bad_input(queries, keys, k, message):
    with pytest.raises(ValueError, match=message):
        exact_search(queries, keys, k)
    if len(keys):
        with pytest.raises(ValueError, match=message):
            build_index(keys, "flat").search(queries, k)


def test_recall_at_k_ignores_order_and_padding():
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    assert recall_at_k(np.array([[3, 2, 1], [6, 4, 5]]), exact, 3) == 1.0
    assert recall_at_k(np.array([[1, -1, -1], [9, 9, 4]]), exact, 3) == pytest.approx(2 / 6)
    assert recall_at_k(np.array([[2, 1, 3], [4, 0, 0]]), exact, 2) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="one row per query"):
        recall_at_k(exact[:1], exact, 2)


# ---- the faiss wrapper ------------------------------------------------------------------------------
def clustered(n=4000, dim=16, centres=40, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)) * 4
    return (c[rng.integers(0, centres, n)] + rng.standard_normal((n, dim))).astype(np.float32)


def test_faiss_flat_and_full_probe_ivf_equal_exact_search():
    keys, queries = clustered(), clustered(100, seed=1)
    _, exact = exact_search(queries, keys, 10)
    flat = build_index(keys, "flat")
    assert flat.kind == "flat" and flat.ntotal == len(keys)
    assert recall_at_k(flat.search(queries, 10)[1], exact, 10) == 1.0
    ivf = build_index(keys, "ivf", nlist=32, nprobe=32)
    assert recall_at_k(ivf.search(queries, 10)[1], exact, 10) == 1.0      # every cell read: exact
    ivf.set_search_parameter("nprobe", 1)
    assert recall_at_k(ivf.search(queries, 10)[1], exact, 10) < 1.0       # one cell: misses some


def test_faiss_hnsw_and_ivfpq_recall_and_memory():
    keys, queries = clustered(), clustered(100, seed=1)
    _, exact = exact_search(queries, keys, 10)
    hnsw = build_index(keys, "hnsw", hnsw_m=16, ef_search=64)
    assert recall_at_k(hnsw.search(queries, 10)[1], exact, 10) > 0.9
    pq = build_index(keys, "ivfpq", nlist=16, nprobe=16, pq_m=4)
    flat = build_index(keys, "flat")
    assert flat.bytes_per_entry == pytest.approx(4 * 16, rel=0.01)         # float32 keys, nothing else
    assert pq.bytes_per_entry < flat.bytes_per_entry / 2                    # 4 code bytes + an 8-byte id (+ tables)
    with pytest.raises(ValueError, match="pq_m=5 must divide"):
        build_index(keys, "ivfpq", pq_m=5)
    with pytest.raises(ValueError, match="nprobe"):
        hnsw.set_search_parameter("depth", 3)
    with pytest.raises(ValueError, match="kind must be one of"):
        build_index(keys, "annoy")


def test_without_faiss_build_index_falls_back_to_exact_search_with_one_notice(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "faiss", None)                        # `import faiss` now fails
    monkeypatch.setattr(faiss_index, "_notified", False)
    keys, queries = clustered(500), clustered(20, seed=3)
    first, second = build_index(keys, "ivf"), build_index(keys, "hnsw")
    out = capsys.readouterr()
    assert isinstance(first, ExactIndex) and isinstance(second, ExactIndex)
    assert out.out.count("faiss is not installed") == 1 and "pip install faiss-cpu" in out.out
    assert out.err == ""                                                    # stdout: nbgrader zeroes stderr
    d, i = first.search(queries, 4)
    ref_d, ref_i = exact_search(queries, keys, 4)
    np.testing.assert_array_equal(i, ref_i.numpy())
    assert first.bytes_per_entry == 4 * 16


def test_empty_datastore_is_refused_clearly():
    with pytest.raises(ValueError, match="datastore is empty"):
        build_index(np.zeros((0, 8), np.float32), "ivf")


# ---- kNN-LM -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=16)).eval()


@pytest.mark.parametrize("n, T, stride", [(1, 8, 4), (8, 8, 4), (9, 8, 4), (50, 8, 3), (30, 6, 6)])
def test_windows_cover_every_position_once_with_enough_context(n, T, stride):
    spans = windows(n, T, stride)
    kept = [t for s, e, keep in spans for t in range(keep, e)]
    assert kept == list(range(n))
    assert all(e - s == min(T, n) and 0 <= s <= keep <= e for s, e, keep in spans)
    assert all(t - s >= T - stride for s, e, keep in spans[1:] for t in range(keep, e))


def test_encode_positions_gives_each_position_its_window_state(tiny_gpt):
    ids = torch.randint(11, (30,), generator=torch.Generator().manual_seed(1))
    hidden, logp, targets = encode_positions(tiny_gpt, ids, stride=4)
    assert hidden.shape == (29, 16) and torch.equal(targets, ids[1:])
    for s, e, keep in windows(29, 8, 4):
        h, logits = hidden_and_logits(tiny_gpt, ids[s:e][None])
        torch.testing.assert_close(hidden[keep:e], h[0, keep - s:], rtol=1e-5, atol=1e-6)
        want = F.log_softmax(logits[0, keep - s:], -1).gather(1, ids[keep + 1:e + 1, None]).squeeze(1)
        torch.testing.assert_close(logp[keep:e], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        encode_positions(tiny_gpt, ids[:1])


def test_datastore_values_follow_their_keys_no_leakage(tiny_gpt):
    ids = torch.randint(11, (25,), generator=torch.Generator().manual_seed(2))
    store = build_datastore(tiny_gpt, ids, stride=8)
    np.testing.assert_array_equal(store.values, ids[1:].numpy())
    h, _ = hidden_and_logits(tiny_gpt, ids[None, :8])
    np.testing.assert_allclose(store.keys[:8], h[0].numpy(), rtol=1e-5, atol=1e-6)   # key t has read ids[..t]
    assert len(store) == 24 and store.bytes_per_entry == 16 * 4 + 8
    with pytest.raises(ValueError, match="one value per key"):
        Datastore(np.zeros((3, 2), np.float32), np.zeros(2, np.int64))


def test_knn_distribution_weighs_the_nearest_most_and_adds_votes():
    p = knn_distribution([[0.0, 2.0, 2.0]], [[1, 3, 3]], 4, temperature=1.0)
    w = np.exp([0.0, -2.0, -2.0]) / np.exp([0.0, -2.0, -2.0]).sum()
    np.testing.assert_allclose(p.numpy(), [[0, w[0], 0, w[1] + w[2]]], rtol=1e-12)
    far = knn_distribution([[1e4, 1e4 + 1]], [[0, 1]], 2)
    assert torch.isfinite(far).all() and far.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        knn_distribution([[1.0]], [[0]], 2, temperature=0)
    with pytest.raises(ValueError, match="must both be"):
        knn_distribution([[1.0, 2.0]], [[0]], 2)


def test_target_probabilities_and_mixture_match_the_full_distributions():
    rng = np.random.default_rng(4)
    d, v = rng.random((50, 8)) * 5, rng.integers(0, 6, (50, 8))
    y = rng.integers(0, 6, 50)
    p_knn = knn_distribution(d, v, 6, temperature=0.7)
    np.testing.assert_allclose(knn_target_prob(d, v, y, 8, 0.7), p_knn[np.arange(50), y].numpy(), rtol=1e-12)
    np.testing.assert_allclose(knn_target_prob(d, v, y, 3, 0.7),
                               knn_distribution(d[:, :3], v[:, :3], 6, 0.7)[np.arange(50), y].numpy(), rtol=1e-12)
    p_lm = torch.softmax(torch.randn(50, 6, dtype=torch.float64), -1)
    mix = interpolate(p_knn, p_lm, 0.3)
    torch.testing.assert_close(mix.sum(1), torch.ones(50, dtype=torch.float64))
    nll = interpolated_nll(p_lm[np.arange(50), y].log().numpy(), p_knn[np.arange(50), y].numpy(), 0.3)
    np.testing.assert_allclose(nll, -mix[np.arange(50), y].log().numpy(), rtol=1e-10)
    assert np.isfinite(interpolated_nll([-1.0], [0.0], 0.5)).all()          # p_kNN(y) = 0 is fine for lam < 1
    with pytest.raises(ValueError, match="lam must be in"):
        interpolate(p_knn, p_lm, 1.5)


def test_tune_returns_the_grid_best_first():
    rng = np.random.default_rng(5)
    d, v, y = rng.random((40, 4)), rng.integers(0, 3, (40, 4)), rng.integers(0, 3, 40)
    rows = tune(np.log(np.full(40, 1 / 3)), d, v, y, lambdas=[0.0, 0.5], ks=[2, 4], temperatures=[0.5, 1.0])
    assert len(rows) == 8 and rows == sorted(rows)
    loss, lam, k, tau = rows[-1 if rows[0][1] else 0]
    assert loss == pytest.approx(float(interpolated_nll(np.log(np.full(40, 1 / 3)),
                                                        knn_target_prob(d, v, y, k, tau), lam).mean()))


def test_knnlm_recalls_a_text_it_has_stored(tiny_gpt):
    ids = torch.randint(11, (40,), generator=torch.Generator().manual_seed(6))
    store = build_datastore(tiny_gpt, ids, stride=8)
    knn = KNNLM(tiny_gpt, ExactIndex(store.keys), store.values, k=4, temperature=1e-3, lam=1.0)
    p = knn.next_token_probs(ids[None, :8])          # the context of stored position 7, exactly
    assert float(p[0, ids[8]]) > 0.99
    lm_only = KNNLM(tiny_gpt, ExactIndex(store.keys), store.values, k=4, temperature=1.0, lam=0.0)
    torch.testing.assert_close(lm_only.next_token_probs(ids[None, :8]).float(),
                               torch.softmax(tiny_gpt(ids[None, :8])[0][:, -1], -1), rtol=1e-5, atol=1e-6)
    out = knn.generate(ids[None, :3], 5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 8) and torch.equal(out[0, :3], ids[:3])


# ---- retrieval in context -----------------------------------------------------------------------------
TEXT = ("PETRUCHIO:\nCome, come, you wasp; i' faith, you are too angry.\n\nKATHARINA:\nIf I be waspish, best "
        "beware my sting.\n\nPETRUCHIO:\nMy remedy is then, to pluck it out.\n\nBAPTISTA:\nNow, Signior "
        "Petruchio, how speed you with my daughter?\n")


def test_in_context_input_keeps_the_passage_and_crops_the_oldest_context():
    x, n = in_context_input([7, 7], [1, 2, 3, 4, 5], [8, 9], block_size=6)
    assert x == [7, 7, 3, 4, 5, 8] and n == 2
    with pytest.raises(ValueError, match="no room for context"):
        in_context_input([7] * 5, [1], [8, 9], block_size=6)
    with pytest.raises(ValueError, match="continuation is empty"):
        in_context_input([], [1], [], block_size=6)
    with pytest.raises(ValueError, match="context is empty"):
        in_context_input([7], [], [8], block_size=6)


def test_continuation_nll_scores_only_the_continuation(tiny_gpt):
    retrieved, context, cont = [1, 2], [3, 4, 5], [6, 7]
    got = continuation_nll(tiny_gpt, retrieved, context, cont)
    x = torch.tensor([[1, 2, 3, 4, 5, 6]])
    logp = F.log_softmax(tiny_gpt(x, x)[0][0], -1)
    torch.testing.assert_close(got, -torch.stack([logp[4, 6], logp[5, 7]]), rtol=1e-5, atol=1e-6)


def test_passage_retriever_finds_the_passage_with_the_rare_words():
    r = PassageRetriever(TEXT, length=40, stride=20)
    passage, score = r.retrieve("you wasp, beware my sting")
    assert "sting" in passage and score > 0
    assert r.retrieve("zebra crossing") == (None, 0.0)
    assert r.retrieve("!!") == (None, 0.0)
    with pytest.raises(ValueError, match="need a text at least"):
        PassageRetriever("short", length=40)


def test_evaluate_in_context_scores_every_chunk_and_without_retrieval_equals_full_context():
    tok = CharTokenizer(TEXT)
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16)).eval()
    text = TEXT[100:]
    nll, starts, passages = evaluate_in_context(model, tok, text, None, stride=8)
    assert len(nll) == 8 * len(starts) and passages == [None] * len(starts)
    ids = tok.encode(text)
    c = int(starts[2])
    torch.testing.assert_close(nll[16:24], continuation_nll(model, [], ids[:c], ids[c:c + 8]), rtol=1e-5, atol=1e-6)
    retriever = PassageRetriever(TEXT[:100], length=16, stride=8)
    nll_r, _, passages_r = evaluate_in_context(model, tok, text, retriever, stride=8, query_chars=24)
    assert nll_r.shape == nll.shape and any(p is not None for p in passages_r)
    i = next(j for j, p in enumerate(passages_r) if p is not None)
    c = int(starts[i])
    torch.testing.assert_close(nll_r[8 * i:8 * i + 8], continuation_nll(model, tok.encode(passages_r[i]), ids[:c],
                                                                        ids[c:c + 8]), rtol=1e-5, atol=1e-6)
