"""Retrieval in context (In-Context RALM, Ram et al. 2023) with BM25 on chapter 5's GPT.

Every 16 characters of held-out text, the last `query_chars` characters become a BM25 query over
passages of the training split (course_lib.ralm.PassageRetriever: windows of P characters every P/2);
the best passage is put in front of the context and the next 16 characters are scored. Without
retrieval the same characters are scored after a full block (64 characters) of context.

- tuning (validation split of model seed 1337 only): P in {8, 16, 32}, query_chars in {16, 32, 64};
- measurement (test split, read once per model at the tuned setting): the loss with and without the
  passage for each of the model seeds 0-4, none used for tuning (benchmarks/ch06_train_gpt.py
  trains them), course_lib.protocol.compare over the seeds for the verdict; the loss per kind of
  character and per speaker name (as in ch06_knnlm.py), averaged over the seeds;
- a probe of the model, not a method: the loss when the "passage" is the 16 characters before the
  chunk followed by the chunk itself (the best any retriever could hand it), against a passage of
  the same 32 characters from a random place of the training text (the same context given up,
  nothing handed over). It says whether the model can copy from what is in front of it at all;
- samples: the same sampling seed, with and without a retrieved passage, and the passage itself.

The committed run read the test split with the models of seeds 0-4 (the default). --eval-seeds 1337
reads it with the tuned model alone, the spread then over five parts of the test split.

    nice -n 5 .venv/bin/python benchmarks/ch06_ralm.py [--data PATH] [--eval-seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ch06_knnlm import EVAL_SEEDS, NAME_LINE, char_classes, loss_by_kind, mean_over_seeds, speaker_names
from ch06_train_gpt import MODEL_SEED, corpus, load_model
from course_lib.protocol import compare, summarize
from course_lib.ralm import PassageRetriever, evaluate_in_context, in_context_input

RESULTS = Path(__file__).parent / "results" / "ch06_ralm.json"
STRIDE = 16
PASSAGES = (8, 16, 32)
LEAD = 16          # the copy probe: characters of context repeated before the answer
QUERIES = (16, 32, 64)
PARTS = 5


@torch.no_grad()
def score_after(model, ids, starts, passages, batch_size=64):
    """-log p of each chunk ids[c:c+STRIDE] with passages[j] (token ids) in front of the context of
    starts[j]: (len(starts) * STRIDE,)."""
    T = model.config.block_size
    rows = [in_context_input(doc, ids[c - T:c], ids[c:c + STRIDE], T)[0] for doc, c in zip(passages, starts)]
    nll = []
    for b in range(0, len(rows), batch_size):
        logits, _ = model(torch.tensor(rows[b:b + batch_size]))
        logp = torch.log_softmax(logits[:, -STRIDE:].float(), dim=-1)                   # (b, STRIDE, V)
        targets = torch.tensor([ids[c:c + STRIDE] for c in starts[b:b + batch_size]])
        nll.append(-logp.gather(2, targets.unsqueeze(-1)).squeeze(-1))
    return torch.cat(nll).reshape(-1).numpy()


def copy_probe(model, ids, starts, train_ids):
    """The chunk scored after the answer itself (its LEAD characters of lead-in, then the chunk), and
    after a passage of the same length from a random place of the training text (the control: the
    same context is given up, nothing is handed over)."""
    width = LEAD + STRIDE
    answer = [ids[c - LEAD:c + STRIDE] for c in starts]
    where = np.random.default_rng(0).integers(0, len(train_ids) - width, len(starts))
    control = [train_ids[w:w + width] for w in where]
    return score_after(model, ids, starts, answer), score_after(model, ids, starts, control)


def test_one(seed, setting, retriever, tok, text, spans, classes, who, train_names):
    """Model `seed` on the test split: without a passage, with the retrieved one, with the copy probe."""
    model = load_model(seed)
    s, e = spans["test"]
    base, starts, _ = evaluate_in_context(model, tok, text[s:e], None, stride=STRIDE)
    t0 = time.process_time()
    with_passage, _, found = evaluate_in_context(model, tok, text[s:e], retriever, stride=STRIDE,
                                                 query_chars=setting["query_chars"])
    cpu = time.process_time() - t0
    base, with_passage = base.numpy(), with_passage.numpy()
    probe, control = copy_probe(model, tok.encode(text[s:e]), starts, tok.encode(text[slice(*spans["train"])]))
    scored = (s + starts[:, None] + np.arange(STRIDE)).reshape(-1)        # the characters scored
    by_class, by_name = loss_by_kind(base, with_passage, classes[scored], who[scored], train_names)
    probe_class, _ = loss_by_kind(base, probe, classes[scored], who[scored], train_names)
    fifths = np.array_split(np.arange(len(base)), PARTS)
    return {"loss_model": float(base.mean()), "loss_retrieval": float(with_passage.mean()),
            "loss_copy_probe": float(probe.mean()), "loss_copy_control": float(control.mean()), "scored_chars": len(base),
            "retrieved_fraction": float(np.mean([f is not None for f in found])), "cpu_seconds_with_retrieval": cpu,
            "parts": [{"model": float(base[i].mean()), "retrieval": float(with_passage[i].mean()),
                       "copy_probe": float(probe[i].mean()), "copy_control": float(control[i].mean())} for i in fifths],
            "by_class": by_class, "by_name": by_name, "copy_probe_by_class": probe_class}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    p.add_argument("--eval-seeds", type=int, nargs="+", default=EVAL_SEEDS,
                   help=f"models whose test split is read; {MODEL_SEED} alone: the tuned model, with the spread "
                        "over parts of the test split")
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

    per_seed = {}
    for seed in args.eval_seeds:                           # the test split, read once per model
        per_seed[seed] = r = test_one(seed, setting, retrievers[P], tok, text, spans, classes, who, train_names)
        print(f"seed {seed}: test loss model {r['loss_model']:.4f}, with passage {r['loss_retrieval']:.4f}, "
              f"answer in front {r['loss_copy_probe']:.4f}, random passage {r['loss_copy_control']:.4f}", flush=True)
    runs = list(per_seed.values())
    if len(runs) > 1:                                      # the spread over models
        units, over = runs, f"{len(runs)} model seeds ({', '.join(map(str, args.eval_seeds))})" + (
            ", none used for tuning" if MODEL_SEED not in args.eval_seeds else "")
        keys = ("loss_retrieval", "loss_model", "loss_copy_probe", "loss_copy_control")
    else:                                                  # one model: the spread over parts of its test split
        units, over = runs[0]["parts"], (f"{PARTS} disjoint consecutive parts of the test split, one model "
                                         f"(seed {args.eval_seeds[0]})")
        keys = ("retrieval", "model", "copy_probe", "copy_control")
    ret, alone, answer, control = ([u[key] for u in units] for key in keys)
    diff, probe = compare(ret, alone), compare(answer, control)
    print(diff.sentence("retrieval in context", "the model alone", "test loss", " nats"))
    print(probe.sentence("the answer in front", "a random passage in front", "test loss", " nats"))

    s, e = spans["test"]
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
        "what": "In-Context RALM with BM25 over the training split on chapter 5's CPU GPT: tuned on validation "
                f"with model seed {MODEL_SEED}, the test split read once for each of the model seeds {args.eval_seeds}",
        "machine": f"{platform.processor() or platform.machine()}, shared 2-core VM, torch {torch.__version__}",
        "tuning_seed": MODEL_SEED, "eval_seeds": args.eval_seeds, "stride": STRIDE, "block_size": model.config.block_size,
        "passages": {str(k): len(r) for k, r in retrievers.items()}, "bm25_index_cpu_seconds": index_cpu,
        "grid": grid, "val_loss_no_retrieval": val_base,
        "setting": setting,
        "test": {"loss_model": diff.b.mean, "loss_retrieval": diff.a.mean, "loss_copy_probe": probe.a.mean,
                 "loss_copy_control": probe.b.mean,
                 "scored_chars": runs[0]["scored_chars"],
                 "retrieved_fraction": runs[0]["retrieved_fraction"],
                 "cpu_seconds_with_retrieval": float(np.mean([r["cpu_seconds_with_retrieval"] for r in runs])),
                 "by_class": mean_over_seeds([r["by_class"] for r in runs]),
                 "by_name": mean_over_seeds([r["by_name"] for r in runs]),
                 "copy_probe_by_class": mean_over_seeds([r["copy_probe_by_class"] for r in runs])},
        "spread": {"over": over, "units": len(units),
                   "retrieval_minus_model": diff.diff, "low": diff.low, "high": diff.high, "word": diff.word,
                   "paired_difference": vars(summarize([x - y for x, y in zip(ret, alone)])),
                   "copy_probe_paired_difference": vars(summarize([x - y for x, y in zip(answer, control)])),
                   "copy_probe_minus_control": probe.diff, "copy_probe_low": probe.low, "copy_probe_high": probe.high,
                   "copy_probe_word": probe.word},
        "per_seed": {str(s_): {k_: v for k_, v in r.items() if k_ != "by_name"} for s_, r in per_seed.items()},
        "samples": samples,
    }, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
