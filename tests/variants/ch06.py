"""Variants of the ch06 answers: other correct implementations pass every test, classic mistakes fail.

RIGHT[answer] are correct answers written differently; WRONG[answer] plausible mistakes that a
graded test at or after the part must fail; HEADLINE[answer] names the part's headline mistake
(a label in WRONG) and words its VISIBLE test's failure message must contain.
"""

# ---- Part 1: BM25 ---------------------------------------------------------------------------------
_BM25 = '''
def bm25_idf(documents):
    N = {N}
    doc_freq = {doc_freq}
    return {{word: {idf} for word, n in doc_freq.items()}}


def bm25_scores(query, documents, k1=1.5, b=0.75):
    idf = bm25_idf(documents)
    lengths = np.array([{length} for doc in documents], dtype=float)
    avgdl = lengths.mean()
    counts = [Counter(doc) for doc in documents]
    scores = np.zeros(len(documents))
    for word in {query}:
        if word not in idf:
            continue
        f = np.array([c[word] for c in counts], dtype=float)
        scores += idf[word] * {term}
    return scores
'''


def _bm25(N="len(documents)", doc_freq="Counter(word for doc in documents for word in set(doc))",
          idf="math.log((N - n + 0.5) / (n + 0.5))", length="len(doc)", query="query",
          term="f * (k1 + 1) / (f + k1 * (1 - b + b * lengths / avgdl))"):
    return _BM25.format(N=N, doc_freq=doc_freq, idf=idf, length=length, query=query, term=term)


_BM25_LOOPS = '''
def bm25_idf(documents):
    """Plain Python: for each word, count the documents it is in."""
    vocabulary = sorted({w for d in documents for w in d})
    out = {}
    for w in vocabulary:
        n = sum(1 for d in documents if w in d)
        out[w] = math.log(len(documents) - n + 0.5) - math.log(n + 0.5)
    return out


def bm25_scores(query, documents, k1=1.5, b=0.75):
    idf = bm25_idf(documents)
    avgdl = sum(len(d) for d in documents) / len(documents)
    result = []
    for d in documents:
        s = 0.0
        for q in query:
            f = d.count(q)
            if f:
                s += idf[q] * f * (k1 + 1) / (f + k1 * (1 - b + b * len(d) / avgdl))
        result.append(s)
    return np.array(result)
'''

_BM25_MATRIX = '''
def bm25_idf(documents):
    """A term-document count matrix, numpy throughout."""
    vocab = sorted(set().union(*map(set, documents)))
    present = np.array([[w in set(d) for w in vocab] for d in documents], dtype=float)   # (N, W)
    n = present.sum(0)
    values = np.log((len(documents) - n + 0.5) / (n + 0.5))
    return dict(zip(vocab, values.tolist()))


def bm25_scores(query, documents, k1=1.5, b=0.75):
    idf = bm25_idf(documents)
    q = [w for w in query if w in idf]
    if not q:
        return np.zeros(len(documents))
    tf = np.array([[d.count(w) for w in q] for d in documents], dtype=float)          # (N, |q|)
    dl = np.array([len(d) for d in documents], dtype=float)[:, None]
    w = np.array([idf[x] for x in q])
    return (w * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / dl.mean()))).sum(1)
'''

# ---- Part 2: exact search -------------------------------------------------------------------------
_SEARCH = '''
def knn_search(queries, keys, k, metric="l2"):
    if queries.shape[1] != keys.shape[1]:
        raise ValueError("widths differ")
    if {k_check}:
        raise ValueError("bad k")
    if metric == "cosine":
        sim = {cosine}
        return torch.topk(sim, k, dim=1, largest={cos_largest})
    d = {l2}
    return {l2_top}
'''


def _search(k_check="not 1 <= k <= keys.shape[0]",
            cosine="F.normalize(queries, dim=1) @ F.normalize(keys, dim=1).T", cos_largest="True",
            l2="(queries ** 2).sum(1, keepdim=True) - 2 * queries @ keys.T + (keys ** 2).sum(1)",
            l2_top="torch.topk(d, k, dim=1, largest=False)"):
    return _SEARCH.format(k_check=k_check, cosine=cosine, cos_largest=cos_largest, l2=l2, l2_top=l2_top)


_SEARCH_SORT = '''
def knn_search(queries, keys, k, metric="l2"):
    """einsum, a full sort, and norms written out."""
    n, C = queries.shape
    if keys.shape[-1] != C:
        raise ValueError(f"queries are {C} wide, keys {keys.shape[-1]}")
    if k < 1 or k > len(keys):
        raise ValueError("k must be in 1..N")
    if metric == "cosine":
        q = queries / queries.norm(dim=-1, keepdim=True)
        x = keys / keys.norm(dim=-1, keepdim=True)
        s, i = torch.einsum("qc,nc->qn", q, x).sort(dim=1, descending=True)
        return s[:, :k], i[:, :k]
    dot = torch.einsum("qc,nc->qn", queries, keys)
    d = torch.einsum("qc,qc->q", queries, queries)[:, None] + torch.einsum("nc,nc->n", keys, keys)[None, :] - 2 * dot
    s, i = d.sort(dim=1)
    return s[:, :k], i[:, :k]
'''

_SEARCH_NEG = '''
def knn_search(queries, keys, k, metric="l2"):
    """float64 inside, the nearest as the top-k of minus the distance, addmm for the product."""
    if queries.size(1) != keys.size(1) or not (0 < k <= keys.size(0)):
        raise ValueError("bad input: widths must match and 1 <= k <= N")
    q, x = queries.double(), keys.double()
    if metric == "cosine":
        q = q / torch.sqrt((q * q).sum(1, keepdim=True))
        x = x / torch.sqrt((x * x).sum(1, keepdim=True))
        v, i = (q @ x.t()).topk(k, dim=1)
        return v.float(), i
    d = torch.addmm((x * x).sum(1).expand(q.size(0), -1), q, x.t(), alpha=-2) + (q * q).sum(1, keepdim=True)
    v, i = (-d).topk(k, dim=1)
    return (-v).float(), i
'''

# ---- Part 3: datastore ----------------------------------------------------------------------------
_STORE = '''
def build_datastore(model, ids, block_size):
    keys, values = [], []
    n_inputs = {n_inputs}
    for start in range(0, n_inputs, {step}):
        end = min(start + {width}, n_inputs)
        hidden, logits = hidden_and_logits(model, {window}.view(1, -1))
        keys.append({key})
        values.append({value})
    return torch.cat(keys), torch.cat(values)
'''


def _store(n_inputs="len(ids) - 1", step="block_size", width="block_size", window="ids[start:end]",
           key="hidden[0]", value="ids[start + 1:end + 1]"):
    return _STORE.format(n_inputs=n_inputs, step=step, width=width, window=window, key=key, value=value)


_STORE_PER_POSITION = '''
def build_datastore(model, ids, block_size):
    """One position at a time: the window is the block that position falls in, up to the position."""
    keys = []
    for t in range(len(ids) - 1):
        start = (t // block_size) * block_size
        hidden, _ = hidden_and_logits(model, ids[start:t + 1][None])
        keys.append(hidden[0, -1])
    return torch.stack(keys), ids[1:].clone()
'''

_STORE_PREALLOC = '''
def build_datastore(model, ids, block_size):
    """Preallocated, filled window by window; values in one slice."""
    n = ids.numel() - 1
    keys = torch.empty(n, model.config.n_embd)
    with torch.no_grad():
        for s in range(0, n, block_size):
            e = min(n, s + block_size)
            keys[s:e] = hidden_and_logits(model, ids[None, s:e])[0].squeeze(0)
    return keys, ids[1:].to(torch.int64)
'''

# ---- Part 4: kNN distribution ---------------------------------------------------------------------
_PROBS = '''
def knn_probs(distances, values, vocab_size, temperature=1.0):
    weights = {weights}
    probs = torch.zeros(distances.shape[0], vocab_size, dtype=weights.dtype)
    {scatter}
'''


def _probs(weights="torch.softmax(-distances / temperature, dim=1)",
           scatter="return probs.scatter_add(1, values, weights)"):
    return _PROBS.format(weights=weights, scatter=scatter)


_PROBS_ONEHOT = '''
def knn_probs(distances, values, vocab_size, temperature=1.0):
    """Stable exponentials by hand, one one-hot vote per neighbour."""
    z = -distances / temperature
    w = torch.exp(z - z.max(dim=1, keepdim=True).values)
    w = w / w.sum(dim=1, keepdim=True)
    out = torch.zeros(distances.shape[0], vocab_size)
    for j in range(distances.shape[1]):
        out = out + w[:, j:j + 1] * F.one_hot(values[:, j], vocab_size).float()
    return out
'''

_PROBS_INDEX_PUT = '''
def knn_probs(distances, values, vocab_size, temperature=1.0):
    """log_softmax, then index_put_ with accumulate=True (duplicates add)."""
    w = F.log_softmax(distances.neg().div(temperature), dim=-1).exp()
    rows = torch.arange(distances.size(0)).unsqueeze(1).expand_as(values)
    p = torch.zeros(distances.size(0), vocab_size, dtype=w.dtype)
    p.index_put_((rows.reshape(-1), values.reshape(-1)), w.reshape(-1), accumulate=True)
    return p
'''

# ---- Part 5: mixture and choosing lambda ----------------------------------------------------------
_MIX = '''
def mixture_loss(p_knn, p_lm, lam):
    return {loss}


def choose_lambda(splits, lambdas):
    validation = [mixture_loss(*splits[{tune_on}], lam) for lam in lambdas]
    best = {best}
    return {returned}
'''


def _mix(loss="float(-torch.log(lam * p_knn + (1 - lam) * p_lm).mean())", tune_on='"validation"',
         best="lambdas[int(np.argmin(validation))]", returned='best, mixture_loss(*splits["test"], best)'):
    return _MIX.format(loss=loss, tune_on=tune_on, best=best, returned=returned)


_MIX_LOGADDEXP = '''
def mixture_loss(p_knn, p_lm, lam):
    """In log space: log(lam a + (1 - lam) b) = logaddexp(log lam + log a, log(1 - lam) + log b)."""
    lam = torch.tensor(float(lam), dtype=torch.float64)
    a = torch.log(lam) + torch.log(p_knn.double())
    b = torch.log1p(-lam) + torch.log(p_lm.double())
    return -torch.logaddexp(a, b).mean().item()


def choose_lambda(splits, lambdas):
    best_lam, best_loss = None, float("inf")
    for lam in lambdas:
        loss = mixture_loss(*splits["validation"], lam)
        if loss < best_loss:
            best_lam, best_loss = lam, loss
    p_knn, p_lm = splits["test"]
    return best_lam, mixture_loss(p_knn, p_lm, best_lam)
'''

_MIX_NUMPY = '''
def mixture_loss(p_knn, p_lm, lam):
    """numpy, on copies."""
    a, b = np.asarray(p_knn, dtype=np.float64), np.asarray(p_lm, dtype=np.float64)
    return float(np.mean(-np.log(lam * a + (1.0 - lam) * b)))


def choose_lambda(splits, lambdas):
    val_knn, val_lm = splits["validation"]
    lam = min(lambdas, key=lambda l: mixture_loss(val_knn, val_lm, l))
    return lam, mixture_loss(*splits["test"], lam)
'''

# ---- Part 6: recall@k ------------------------------------------------------------------------------
_RECALL = '''
def recall_at_k(approx_ids, exact_ids, k):
    found = [len(set({a}.tolist()) & set({e}.tolist())) for a, e in zip(approx_ids, exact_ids)]
    return {ret}
'''


def _recall(a="a[:k]", e="e[:k]", ret="sum(found) / (k * len(found))"):
    return _RECALL.format(a=a, e=e, ret=ret)


_RECALL_BROADCAST = '''
def recall_at_k(approx_ids, exact_ids, k):
    """All pairs compared at once: (n, k, 1) == (n, 1, k)."""
    a, e = approx_ids[:, :k], exact_ids[:, :k]
    hit = (a.unsqueeze(2) == e.unsqueeze(1)).any(dim=2)      # (n, k): approx id j is a true neighbour
    return hit.float().mean().item()
'''

_RECALL_ISIN = '''
def recall_at_k(approx_ids, exact_ids, k):
    """torch.isin, one query at a time."""
    total = 0
    for row in range(exact_ids.shape[0]):
        total += int(torch.isin(exact_ids[row, :k], approx_ids[row, :k]).sum())
    return total / (exact_ids.shape[0] * k)
'''

# ---- Part 7: continuation loss -------------------------------------------------------------------
_CONT = '''
def continuation_loss(model, retrieved, context, continuation):
    room = model.config.block_size - len(retrieved) - (len(continuation) - 1)
    x = {x}
    idx = torch.tensor([x])
    with torch.no_grad():
        logits, _ = model(idx, idx)
    logp = F.log_softmax(logits[0, {rows}], dim=-1)
    return {ret}
'''


def _cont(x="list(retrieved) + list(context)[-room:] + list(continuation)[:-1]", rows="-len(continuation):",
          ret="float(-logp[torch.arange(len(continuation)), torch.tensor(continuation)].mean())"):
    return _CONT.format(x=x, rows=rows, ret=ret)


_CONT_IGNORE = '''
def continuation_loss(model, retrieved, context, continuation):
    """The GPT's own loss with every target but the continuation's set to -1 (ignored)."""
    T = model.config.block_size
    keep = T - len(retrieved) - len(continuation) + 1
    seq = retrieved + context[len(context) - keep:] + continuation
    x = torch.tensor(seq[:-1]).unsqueeze(0)
    y = torch.tensor([-1] * (len(seq) - 1 - len(continuation)) + continuation).unsqueeze(0)
    with torch.no_grad():
        _, loss = model(x, y)
    return loss.item()
'''

_CONT_LOOP = '''
def continuation_loss(model, retrieved, context, continuation):
    """The cropping written as a loop, the log-probabilities gathered one token at a time."""
    ctx = list(context)
    while len(retrieved) + len(ctx) + len(continuation) - 1 > model.config.block_size:
        ctx.pop(0)
    seq = torch.tensor(retrieved + ctx + continuation)
    with torch.no_grad():
        logits, _ = model(seq[None, :-1], seq[None, 1:])
    lp = torch.log_softmax(logits[0].double(), -1)
    first = len(retrieved) + len(ctx) - 1            # the position whose output predicts continuation[0]
    return -sum(lp[first + i, tok].item() for i, tok in enumerate(continuation)) / len(continuation)
'''


RIGHT = {
    "bm25": [_BM25_LOOPS, _BM25_MATRIX],
    "knn_search": [_SEARCH_SORT, _SEARCH_NEG],
    "datastore": [_STORE_PER_POSITION, _STORE_PREALLOC],
    "knn_probs": [_PROBS_ONEHOT, _PROBS_INDEX_PUT],
    "mixture": [_MIX_LOGADDEXP, _MIX_NUMPY],
    "recall": [_RECALL_BROADCAST, _RECALL_ISIN],
    "continuation": [_CONT_IGNORE, _CONT_LOOP],
}

WRONG = {
    "bm25": [
        ("idf counts occurrences, not documents", _bm25(doc_freq="Counter(word for doc in documents for word in doc)")),
        ("N is the number of words, not documents", _bm25(N="sum(len(d) for d in documents)")),
        ("idf without the 0.5 smoothing", _bm25(idf="math.log((N - n) / n) if N > n else 0.0")),
        ("idf in log base 10", _bm25(idf="math.log10((N - n + 0.5) / (n + 0.5))")),
        ("idf upside down", _bm25(idf="math.log((n + 0.5) / (N - n + 0.5))")),
        ("negative idfs clipped at 0", _bm25(idf="max(0.0, math.log((N - n + 0.5) / (n + 0.5)))")),
        ("Lucene's idf, ln(1 + ...)", _bm25(idf="math.log(1 + (N - n + 0.5) / (n + 0.5))")),
        ("score without the (k1 + 1) factor", _bm25(term="f / (f + k1 * (1 - b + b * lengths / avgdl))")),
        ("length not divided by the mean length", _bm25(term="f * (k1 + 1) / (f + k1 * (1 - b + b * lengths))")),
        ("repeated query words counted once", _bm25(query="set(query)")),
        ("document length counts distinct words", _bm25(length="len(set(doc))")),
        ("k1 and b swapped in the denominator", _bm25(term="f * (k1 + 1) / (f + b * (1 - k1 + k1 * lengths / avgdl))")),
    ],
    "knn_search": [
        ("the k largest distances: the farthest keys", _search(l2_top="torch.topk(d, k, dim=1)")),
        ("cosine without normalising: a plain dot product", _search(cosine="queries @ keys.T")),
        ("cosine: the k smallest similarities", _search(cos_largest="False")),
        ("the query's squared norm left out", _search(l2="-2 * queries @ keys.T + (keys ** 2).sum(1)")),
        ("the keys' squared norms left out", _search(l2="(queries ** 2).sum(1, keepdim=True) - 2 * queries @ keys.T")),
        ("+2 q.x instead of -2 q.x", _search(l2="(queries ** 2).sum(1, keepdim=True) + 2 * queries @ keys.T + (keys ** 2).sum(1)")),
        ("square roots: L2 distances, not squared", _search(
            l2="((queries ** 2).sum(1, keepdim=True) - 2 * queries @ keys.T + (keys ** 2).sum(1)).clamp_min(0).sqrt()")),
        ("k is not checked (torch raises a RuntimeError, not a ValueError)", _search(k_check="k < 0")),
        ("torch.cdist instead of the matrix product", _search(l2="torch.cdist(queries, keys) ** 2")),
        ("cosine: only the queries normalised", _search(cosine="F.normalize(queries, dim=1) @ keys.T")),
        ("sorted over the queries, not over the keys", _search(
            l2_top="(lambda s, i: (s.T[:, :k], i.T[:, :k]))(*torch.topk(d.T, d.shape[0], dim=1, largest=False))")),
    ],
    "datastore": [
        ("values are the tokens just read: leakage", _store(value="ids[start:end]")),
        ("keys have read the token they store: leakage", _store(window="ids[start + 1:end + 1]")),
        ("the last token used as an input too", _store(n_inputs="len(ids)", value="ids[start + 1:end + 1]")),
        ("windows of block_size - 1 tokens", _store(step="block_size - 1", width="block_size - 1")),
        ("windows overlap by one token", _store(step="block_size - 1", key="hidden[0][: min(block_size - 1, end - start)]",
                                                value="ids[start + 1:start + 1 + min(block_size - 1, end - start)]")),
        ("each window's last position dropped", _store(key="hidden[0][:-1]", value="ids[start + 1:end]")),
        ("keys are the logits, not the hidden states", _store(key="logits[0]")),
        ("each key sees one token only", _store(step="1", width="1")),
        ("values stored as floats", _store(value="ids[start + 1:end + 1].float()")),
        ("windows of block_size + 1 tokens", _store(step="block_size + 1", width="block_size + 1")),
    ],
    "knn_probs": [
        ("softmax over distances without the minus sign", _probs(weights="torch.softmax(distances / temperature, dim=1)")),
        ("neighbours voting for the same token overwrite each other", _probs(
            scatter="probs[torch.arange(len(values))[:, None], values] = weights\n    return probs")),
        ("temperature multiplies instead of divides", _probs(weights="torch.softmax(-distances * temperature, dim=1)")),
        ("exp without subtracting the maximum: NaN for far neighbours", _probs(
            weights="torch.exp(-distances / temperature) / torch.exp(-distances / temperature).sum(1, keepdim=True)")),
        ("weights 1 / distance", _probs(weights="(1 / (distances + 1e-9)) / (1 / (distances + 1e-9)).sum(1, keepdim=True)")),
        ("softmax over the queries (dim 0)", _probs(weights="torch.softmax(-distances / temperature, dim=0)")),
        ("square roots of the squared distances", _probs(weights="torch.softmax(-distances.sqrt() / temperature, dim=1)")),
        ("weights not normalised", _probs(weights="torch.exp(-distances / temperature)")),
        ("a majority vote: distances ignored", _probs(weights="torch.full_like(distances, 1 / distances.shape[1])")),
        ("distances changed in place", _probs(weights="torch.softmax(distances.neg_().div_(temperature), dim=1)")),
    ],
    "mixture": [
        ("lambda tuned on the test split", _mix(tune_on='"test"')),
        ("returns the validation loss, not the test loss", _mix(returned="best, min(validation)")),
        ("argmax: the worst lambda", _mix(best="lambdas[int(np.argmax(validation))]")),
        ("log-probabilities mixed instead of probabilities",
         _mix(loss="float(-(lam * torch.log(p_knn) + (1 - lam) * torch.log(p_lm)).mean())")),
        ("lambda weighs the wrong model", _mix(loss="float(-torch.log((1 - lam) * p_knn + lam * p_lm).mean())")),
        ("sum instead of mean", _mix(loss="float(-torch.log(lam * p_knn + (1 - lam) * p_lm).sum())")),
        ("bits instead of nats", _mix(loss="float(-torch.log2(lam * p_knn + (1 - lam) * p_lm).mean())")),
        ("returns the index of lambda, not its value", _mix(best="int(np.argmin(validation))",
                                                           returned='best, mixture_loss(*splits["test"], lambdas[best])')),
        ("lambda chosen on validation and test together", _mix(
            best='lambdas[int(np.argmin([v + mixture_loss(*splits["test"], l) for v, l in zip(validation, lambdas)]))]')),
        ("test loss read at lambda = 0", _mix(returned='best, mixture_loss(*splits["test"], 0.0)')),
    ],
    "recall": [
        ("position by position: order counted", _recall(ret="sum(int((a[:k] == e[:k]).sum()) for a, e in zip(approx_ids, exact_ids)) / (k * len(found))")),
        ("every approximate column used, not the first k", _recall(a="a")),
        ("every exact column used, not the first k", _recall(e="e")),
        ("divided by the number of approximate columns", _recall(ret="sum(found) / (approx_ids.shape[1] * len(found))")),
        ("summed over queries, not averaged", _recall(ret="sum(found) / k")),
        ("rows mixed: any true neighbour of any query", _recall(
            ret="float(torch.isin(approx_ids[:, :k], exact_ids[:, :k]).float().mean())")),
        ("recall@1: only the first column", _recall(a="a[:1]", e="e[:1]", ret="sum(found) / len(found)")),
        ("a percentage, not a fraction", _recall(ret="100 * sum(found) / (k * len(found))")),
        ("integer division", _recall(ret="sum(found) // (k * len(found))")),
        ("k taken from the width of exact_ids", _recall(a="a[:e.shape[0]]", e="e")),
    ],
    "continuation": [
        ("every position scored, the passage and context too", _cont(
            rows=":", ret="float(F.cross_entropy(logits[0, :-1], idx[0, 1:]))")),
        ("off by one: each token scored at its own position", _cont(
            x="list(retrieved) + list(context)[-room + 1:] + list(continuation)",
            rows="-len(continuation):")),
        ("the input cropped from the left: the passage goes first", _cont(
            x="(list(retrieved) + list(context) + list(continuation)[:-1])[-model.config.block_size:]")),
        ("the passage left out", _cont(x="list(context)[-room:] + list(continuation)[:-1]")),
        ("the passage after the context", _cont(x="list(context)[-room:] + list(retrieved) + list(continuation)[:-1]")),
        ("the context not cropped", _cont(x="list(retrieved) + list(context) + list(continuation)[:-1]")),
        ("sum instead of mean", _cont(ret="float(-logp[torch.arange(len(continuation)), torch.tensor(continuation)].sum())")),
        ("bits instead of nats", _cont(
            ret="float(-logp[torch.arange(len(continuation)), torch.tensor(continuation)].mean() / math.log(2))")),
        ("the continuation's last token not scored", _cont(
            ret="float(-logp[torch.arange(len(continuation) - 1), torch.tensor(continuation[:-1])].mean())")),
        ("the context cropped to a fixed half block", _cont(
            x="list(retrieved) + list(context)[-(model.config.block_size // 2):] + list(continuation)[:-1]")),
    ],
}

HEADLINE = {
    "bm25": ("idf counts occurrences, not documents", "number of documents that contain"),
    "knn_search": ("the k largest distances: the farthest keys", "smallest"),
    "datastore": ("values are the tokens just read: leakage", "leakage"),
    "knn_probs": ("softmax over distances without the minus sign", "minus the distance"),
    "mixture": ("lambda tuned on the test split", "tuned on the test split"),
    "recall": ("position by position: order counted", "order does not matter"),
    "continuation": ("every position scored, the passage and context too", "only the continuation"),
}
