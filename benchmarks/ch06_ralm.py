"""Retrieval in context (In-Context RALM, Ram et al. 2023) with BM25 on chapter 5's GPT.

Every 16 characters of held-out text, the last `query_chars` characters become a BM25 query over
passages of the training split (course_lib.ralm.PassageRetriever: windows of P characters every P/2);
the best passage is put in front of the context and the next 16 characters are scored. Without
retrieval the same characters are scored after a full block (64 characters) of context.

- tuning (validation split only): P in {16, 32}, query_chars in {16, 32, 64};
- measurement (test split, read once at the tuned setting): the loss with and without the passage
  on each of five disjoint fifths of the test split (the spread: the model is one, see
  ch06_train_gpt.py), course_lib.protocol.compare for the verdict; the loss per kind of character
  and per speaker name (as in ch06_knnlm.py);
- samples: the same sampling seed, with and without a retrieved passage, and the passage itself.

    nice -n 5 .venv/bin/python benchmarks/ch06_ralm.py [--data PATH]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ch06_knnlm import NAME_LINE, char_classes, loss_by_kind, speaker_names
from ch06_train_gpt import MODEL_SEED, corpus, load_model
from course_lib.protocol import compare, summarize
from course_lib.ralm import PassageRetriever, evaluate_in_context

RESULTS = Path(__file__).parent / "results" / "ch06_ralm.json"
STRIDE = 16
PASSAGES = (16, 32)
QUERIES = (16, 32, 64)
PARTS = 5


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    args = p.parse_args()
    torch.set_num_threads(1)
    tok, text, spans = corpus(args.data)
    train_text = text[slice(*spans["train"])]
    train_names = set(NAME_LINE.findall(text, *spans["train"]))
    classes, who = char_classes(text, spans, train_names), speaker_names(text, spans)
    t0 = time.process_time()
    retrievers = {P: PassageRetriever(train_text, length=P, stride=P // 2) for P in PASSAGES}
    index_cpu = time.process_time() - t0
    model = load_model(MODEL_SEED)

    s, e = spans["validation"]
    base, _, _ = evaluate_in_context(model, tok, text[s:e], None, stride=STRIDE)
    val_base = float(base.mean())
    grid = {}
    for P in PASSAGES:
        for q in QUERIES:
            t0 = time.process_time()
            nll, _, found = evaluate_in_context(model, tok, text[s:e], retrievers[P], stride=STRIDE, query_chars=q)
            grid[f"{P},{q}"] = {"passage_chars": P, "query_chars": q, "val_loss": float(nll.mean()),
                                "retrieved_fraction": float(np.mean([f is not None for f in found])),
                                "cpu_seconds": time.process_time() - t0}
            print(f"P={P} q={q}: {nll.mean():.4f} (no retrieval {base.mean():.4f})", flush=True)
    setting = min(grid.values(), key=lambda r: r["val_loss"])
    P, q = setting["passage_chars"], setting["query_chars"]

    s, e = spans["test"]                                   # read once, at the setting chosen above
    base, starts, _ = evaluate_in_context(model, tok, text[s:e], None, stride=STRIDE)
    t0 = time.process_time()
    with_passage, _, found = evaluate_in_context(model, tok, text[s:e], retrievers[P], stride=STRIDE, query_chars=q)
    cpu = time.process_time() - t0
    base, with_passage = base.numpy(), with_passage.numpy()
    scored = (s + starts[:, None] + np.arange(STRIDE)).reshape(-1)        # the characters scored
    by_class, by_name = loss_by_kind(base, with_passage, classes[scored], who[scored], train_names)
    fifths = np.array_split(np.arange(len(base)), PARTS)
    per_part = [{"model": float(base[i].mean()), "retrieval": float(with_passage[i].mean())} for i in fifths]
    diff = compare([r["retrieval"] for r in per_part], [r["model"] for r in per_part])
    print(diff.sentence("retrieval in context", "the model alone", "test loss", " nats"))

    samples = []                                           # a test prompt, with and without a passage
    for anchor in ("\n\nPETRUCHIO:\n", "\n\nBAPTISTA:\n"):
        if anchor not in text[s:]:
            continue
        c = text.index(anchor, s) + len(anchor) + 40
        context = text[c - 48:c]
        passage, score = retrievers[P].retrieve(text[c - q:c])
        row = {"context": context, "passage": passage, "score": score, "truth": text[c:c + 60]}
        for name, prefix in (("without", ""), ("with", passage or "")):
            ids = torch.tensor([tok.encode(prefix + context)])
            out = model.generate(ids, 60, generator=torch.Generator().manual_seed(0))
            row[name] = tok.decode(out[0, ids.shape[1]:].tolist())
        samples.append(row)

    RESULTS.write_text(json.dumps({
        "what": "In-Context RALM with BM25 over the training split on chapter 5's CPU GPT: tuned on validation, "
                "test read once",
        "machine": f"{platform.processor() or platform.machine()}, shared 2-core VM, torch {torch.__version__}",
        "model_seed": MODEL_SEED, "stride": STRIDE, "block_size": model.config.block_size,
        "passages": {str(k): len(r) for k, r in retrievers.items()}, "bm25_index_cpu_seconds": index_cpu,
        "grid": grid, "val_loss_no_retrieval": val_base,
        "setting": setting,
        "test": {"loss_model": float(base.mean()), "loss_retrieval": float(with_passage.mean()),
                 "scored_chars": len(base), "retrieved_fraction": float(np.mean([f is not None for f in found])),
                 "cpu_seconds_with_retrieval": cpu, "by_class": by_class, "by_name": by_name},
        "spread": {"over": f"{PARTS} disjoint consecutive parts of the test split", "parts": per_part,
                   "retrieval_minus_model": diff.diff, "low": diff.low, "high": diff.high, "word": diff.word,
                   "paired_difference": vars(summarize([r["retrieval"] - r["model"] for r in per_part]))},
        "samples": samples,
    }, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
