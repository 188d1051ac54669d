"""kNN-LM on chapter 5's GPT: tuned on the validation split, measured once on the test split.

The model (benchmarks/ch06_train_gpt.py), its datastore over the whole training split (1,003,853
entries: the read-out's input after each character, and the character that followed), a faiss
IVF-Flat index over it (1,024 cells, 16 probed), and the 64 nearest neighbours of every position of
the held-out text, found once. Then:

- tuning (validation split only): a grid over lambda, k and the temperature tau;
- measurement (test split, read once at the tuned setting): the test loss of the model alone and of
  the kNN-LM on each of five disjoint consecutive parts of the test split (the spread; the model is
  one), course_lib.protocol.compare for the verdict;
- where it helps: the loss per kind of character (inside speaker names seen in the training text,
  names never seen there, first letters of words, other letters, spaces and punctuation) and per
  speaker name;
- cost: characters generated per CPU-second with and without the lookup (faiss and exact search),
  side by side, alternating, one thread; and samples from the same seed.

    nice -n 5 .venv/bin/python benchmarks/ch06_knnlm.py [--data PATH] [--generation-only]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from ch06_train_gpt import MODEL_SEED, corpus, datastore, load_model
from course_lib.faiss_index import ExactIndex, build_index
from course_lib.knnlm import KNNLM, encode_positions, interpolated_nll, knn_target_prob, tune
from course_lib.protocol import compare, summarize

RESULTS = Path(__file__).parent / "results" / "ch06_knnlm.json"
K_MAX, NLIST, NPROBE, STRIDE = 64, int(os.environ.get("CH06_NLIST", 1024)), 16, 32   # CH06_NLIST: smoke runs
LAMBDAS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7]
KS = [1, 2, 4, 8, 16, 32, 64]
PARTS = 5
NAME_LINE = re.compile(r"^([A-Z][A-Z' ]*[A-Z]):$", re.M)


def neighbours(seed, tok, text, spans, split_names):
    """For each split: (lm log-prob of each target (n,), distances (n, K_MAX), their values (n, K_MAX), targets)."""
    store = datastore(seed, tok, text, spans)
    t0 = time.process_time()
    index = build_index(np.ascontiguousarray(store.keys), "ivf", nlist=NLIST, nprobe=NPROBE, train_size=40 * NLIST)
    build = time.process_time() - t0
    model = load_model(seed)
    out = {}
    for name in split_names:
        start, end = spans[name]
        hidden, logp, targets = encode_positions(model, tok.encode(text[start:end]), stride=STRIDE)
        t0 = time.process_time()
        d, i = index.search(hidden.numpy(), K_MAX)
        out[name] = {"lm_logp": logp.numpy().astype(np.float64), "d": d, "v": store.values[i].astype(np.uint8),
                     "y": targets.numpy(), "search_cpu_seconds": time.process_time() - t0}
    return out, index, store, build


def char_classes(text: str, spans: dict, train_names: set[str]) -> np.ndarray:
    """A class for every character of the held-out text (0 .. spans['validation'][0] stay 'training')."""
    cls = np.full(len(text), "training", dtype=object)
    start = spans["validation"][0]
    for j in range(start, len(text)):
        ch = text[j]
        if not ch.isalpha():
            cls[j] = "spaces and punctuation"
        elif not text[j - 1].isalpha():
            cls[j] = "first letters of words"
        else:
            cls[j] = "other letters"
    for m in NAME_LINE.finditer(text, start):
        kind = "names seen in training" if m.group(1) in train_names else "names not in training"
        cls[m.start(1) + 1:m.end(1)] = kind          # the name's letters after its first
    return cls


def speaker_names(text: str, spans: dict) -> np.ndarray:
    """The speaker name each held-out character belongs to ('' outside names), as char_classes counts them."""
    who = np.full(len(text), "", dtype=object)
    for m in NAME_LINE.finditer(text, spans["validation"][0]):
        who[m.start(1) + 1:m.end(1)] = m.group(1)
    return who


def loss_by_kind(nll_model, nll_other, classes, who, train_names):
    """Mean loss of both sides per class of character and per speaker name."""
    by_class = {c: {"n": int((classes == c).sum()), "model": float(nll_model[classes == c].mean()),
                    "other": float(nll_other[classes == c].mean())} for c in sorted(set(classes))}
    by_name = {nm: {"chars": int((who == nm).sum()), "model": float(nll_model[who == nm].mean()),
                    "other": float(nll_other[who == nm].mean()), "in_training": nm in train_names}
               for nm in sorted(set(who) - {""})}
    return by_class, by_name


def generation_speed(model, store, index, setting, tok, rounds=3, tokens=40):
    """CPU-seconds per generated character: the model alone, with faiss IVF, with exact search; alternating."""
    lam, k, tau = setting["lam"], setting["k"], setting["tau"]
    variants = {"model alone": KNNLM(model, index, store.values, k, tau, 0.0),
                "kNN-LM, faiss IVF": KNNLM(model, index, store.values, k, tau, lam),
                "kNN-LM, exact search": KNNLM(model, ExactIndex(store.keys), store.values, k, tau, lam)}
    start = torch.tensor([tok.encode("\n\nPETRUCHIO:\n")])
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, knn in variants.items():
            t0 = time.process_time()
            knn.generate(start, tokens, generator=torch.Generator().manual_seed(0))
            times[name].append((time.process_time() - t0) / tokens)
    return {name: {"cpu_ms_per_token": 1000 * float(np.median(t)), "rounds_ms": [1000 * x for x in t]}
            for name, t in times.items()}, variants


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    p.add_argument("--generation-only", action="store_true",
                   help="measure only the cost per generated character again, into the existing results")
    args = p.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    tok, text, spans = corpus(args.data)
    if args.generation_only:
        result = json.loads(RESULTS.read_text())
        store = datastore(MODEL_SEED, tok, text, spans)
        index = build_index(np.ascontiguousarray(store.keys), "ivf", nlist=NLIST, nprobe=NPROBE,
                            train_size=40 * NLIST)
        result["generation"], _ = generation_speed(load_model(MODEL_SEED), store, index, result["setting"], tok)
        RESULTS.write_text(json.dumps(result, indent=1, default=float))
        print(result["generation"])
        return
    train_names = set(NAME_LINE.findall(text, *spans["train"]))
    classes, who = char_classes(text, spans, train_names), speaker_names(text, spans)

    found, index, store, build = neighbours(MODEL_SEED, tok, text, spans, ["validation", "test"])
    val = found["validation"]
    d1 = float(np.median(val["d"][:, 0]))
    taus = [round(d1 * f, 4) for f in (0.25, 0.5, 1, 2, 4, 8)]
    grid = tune(val["lm_logp"], val["d"], val["v"], val["y"], LAMBDAS, KS, taus)
    loss, lam, k, tau = grid[0]
    setting = {"lam": lam, "k": k, "tau": tau, "val_loss": loss, "val_loss_model_alone": float(-val["lm_logp"].mean()),
               "median_nearest_distance": d1}
    curves = {str(kk): [next(r[0] for r in grid if r[1] == la and r[2] == kk and r[3] == tau) for la in LAMBDAS]
              for kk in KS}
    print(f"tuned on validation: lam {lam}, k {k}, tau {tau}: {loss:.4f} (model alone "
          f"{setting['val_loss_model_alone']:.4f})", flush=True)

    t = found["test"]                                      # read once, at the setting chosen above
    pk = knn_target_prob(t["d"], t["v"], t["y"], k, tau)
    nll_knn, nll_lm = interpolated_nll(t["lm_logp"], pk, lam), -t["lm_logp"]
    start, end = spans["test"]
    by_class, by_name = loss_by_kind(nll_lm, nll_knn, classes[start + 1:end], who[start + 1:end], train_names)
    parts = np.array_split(np.arange(len(nll_lm)), PARTS)
    per_part = [{"model": float(nll_lm[i].mean()), "knn": float(nll_knn[i].mean())} for i in parts]
    diff = compare([r["knn"] for r in per_part], [r["model"] for r in per_part])
    print(diff.sentence("the kNN-LM", "the model alone", "test loss", " nats"), flush=True)

    model = load_model(MODEL_SEED)
    speed, variants = generation_speed(model, store, index, setting, tok)
    prompt = torch.tensor([tok.encode("\n\nPETRUCHIO:\n")])
    samples = {name: tok.decode(variants[name].generate(prompt, 240, generator=torch.Generator().manual_seed(1))[0].tolist())
               for name in ("model alone", "kNN-LM, faiss IVF")}
    RESULTS.write_text(json.dumps({
        "what": "kNN-LM (Khandelwal et al. 2020) on chapter 5's CPU GPT: tuned on validation, test read once",
        "machine": f"{platform.processor() or platform.machine()}, shared 2-core VM, torch {torch.__version__}, "
                   f"faiss {faiss.__version__}",
        "model_seed": MODEL_SEED, "splits": {k_: {"chars": e - s, "from": s} for k_, (s, e) in spans.items()},
        "datastore": {"entries": len(store), "key": "input of lm_head (after ln_f)", "stride": STRIDE,
                      "index": f"faiss IVF-Flat, {NLIST} cells, nprobe {NPROBE}", "k_max": K_MAX,
                      "index_build_cpu_seconds": build},
        "grid": {"lambdas": LAMBDAS, "ks": KS, "taus": taus}, "setting": setting, "val_curves_at_tau": curves,
        "test": {"loss_model": float(nll_lm.mean()), "loss_knn": float(nll_knn.mean()), "positions": len(nll_lm),
                 "target_among_k_neighbours": float((t["v"][:, :k] == t["y"][:, None]).any(1).mean()),
                 "search_cpu_seconds": t["search_cpu_seconds"], "by_class": by_class, "by_name": by_name},
        "spread": {"over": f"{PARTS} disjoint consecutive parts of the test split", "parts": per_part,
                   "knn_minus_model": diff.diff, "low": diff.low, "high": diff.high, "word": diff.word,
                   "paired_difference": vars(summarize([r["knn"] - r["model"] for r in per_part]))},
        "generation": speed, "samples": samples, "train_names": sorted(train_names),
    }, indent=1, default=float))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
