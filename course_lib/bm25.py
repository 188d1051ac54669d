"""BM25: ranking passages by the words they share with a query (Robertson et al.'s Okapi BM25).

Introduced in chapter 6 (retrieval in context): the retriever that picks which passage of the
training text goes in front of the model's prompt.

For a query q_1 .. q_m and a document D of |D| words, in a collection of N documents of mean
length avgdl, where n(q) documents contain the word q and f(q, D) is how often D contains it:

    idf(q)      = ln((N - n(q) + 0.5) / (n(q) + 0.5))          (Robertson and Sparck Jones)
    score(D, Q) = sum_i idf(q_i) f(q_i, D) (k1 + 1) / (f(q_i, D) + k1 (1 - b + b |D| / avgdl))

k1 (1.5) bounds how much repeating a word can add; b (0.75) discounts long documents. A word in
more than half the documents has a negative idf; as in rank_bm25's BM25Okapi, those idfs are
replaced by epsilon times the mean idf (epsilon = 0.25), so a common word never lowers a score;
epsilon=None keeps Robertson's formula as it is, negative values included.
A query word counts once per occurrence in the query, as in rank_bm25, whose scores these equal.

Scores are computed from an inverted index (for each word, the documents holding it and how
often), so a query costs time in proportion to the postings of its words, not to N.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """The lower-cased words of `text` (letters, digits, apostrophes): BM25's tokens."""
    return WORD.findall(text.lower())


class BM25:
    """An index over `documents` (each a list of tokens) that scores queries with Okapi BM25."""

    def __init__(self, documents: list[list[str]], k1: float = 1.5, b: float = 0.75,
                 epsilon: float | None = 0.25):
        if len(documents) == 0:
            raise ValueError("BM25 needs at least one document to index")
        if isinstance(documents[0], str):
            raise TypeError("documents must be lists of tokens (e.g. course_lib.bm25.words(text)), not strings")
        self.k1, self.b, self.epsilon = k1, b, epsilon
        self.n_docs = len(documents)
        self.doc_len = np.array([len(d) for d in documents], dtype=np.float64)
        self.avgdl = float(self.doc_len.mean()) or 1.0       # an all-empty collection: avoid 0/0
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(documents):
            for word, count in Counter(doc).items():
                docs, counts = postings.setdefault(word, ([], []))
                docs.append(i)
                counts.append(count)
        self.postings = {w: (np.array(d, dtype=np.int64), np.array(c, dtype=np.float64))
                         for w, (d, c) in postings.items()}
        self.idf = self._idf({w: len(d) for w, (d, _) in self.postings.items()})

    def _idf(self, doc_freq: dict[str, int]) -> dict[str, float]:
        n = self.n_docs
        idf = {w: float(np.log(n - df + 0.5) - np.log(df + 0.5)) for w, df in doc_freq.items()}
        if self.epsilon is None or not idf:
            return idf
        floor = self.epsilon * sum(idf.values()) / len(idf)
        return {w: (v if v >= 0 else floor) for w, v in idf.items()}

    def scores(self, query: list[str]) -> np.ndarray:
        """(N,) BM25 score of every document for the tokens of `query` (0 where no word is shared)."""
        if isinstance(query, str):
            raise TypeError("query must be a list of tokens (e.g. course_lib.bm25.words(text)), not a string")
        out = np.zeros(self.n_docs)
        norm = self.k1 * (1 - self.b + self.b * self.doc_len / self.avgdl)      # (N,)
        for word in query:
            if word not in self.postings:
                continue
            docs, f = self.postings[word]
            out[docs] += self.idf[word] * f * (self.k1 + 1) / (f + norm[docs])
        return out

    def top(self, query: list[str], k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k best documents, best first (ties: the lower id first)."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        s = self.scores(query)
        if k == 1:
            ids = np.array([int(np.argmax(s))])          # the first of the best: the lower id
        else:
            ids = np.lexsort((np.arange(self.n_docs), -s))[:min(k, self.n_docs)]
        return s[ids], ids
