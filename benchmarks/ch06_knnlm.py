"""kNN-LM on chapter 5's GPT: tuned on validation with one model, measured on test with five others.

Each model (benchmarks/ch06_train_gpt.py; seed 1337 is chapter 5's run) gets its datastore over the
whole training split (1,003,853 entries: the read-out's input after each character, and the
character that followed), a faiss IVF-Flat index over it (1,024 cells, 16 probed), and the 1,024
nearest neighbours of every position of the test split (and, for the tuning model, of the
validation split), found once and cached (--prepare SEED ... does only this, so it can run as
each model finishes training). Then:

- tuning (validation split of seed 1337 only): a grid over lambda, k and the temperature tau (as a
  multiple of the median distance to the nearest key, so that it carries over to other models);
- measurement (test split, read once per model, at the tuned setting): the test loss of the model
  alone and of the kNN-LM for each of the seeds 0-4, none of which was used for tuning;
  course_lib.protocol.compare over the seeds for the interval and the verdict word;
- reported, not chosen from: the test loss over the same lambda x k grid at each model's tau, mean
  over the models (the page compares the setting chosen on validation with the grid's best on test);
- where it helps: the loss per kind of character (inside speaker names seen in the training text,
  names never seen there, first letters of words, other letters, spaces and punctuation), per
  speaker name and per fifth of the test split, averaged over the five seeds;
- cost: CPU-milliseconds per generated character with and without the lookup (faiss and exact
  search), side by side, alternating, one thread, five rounds; and samples from the same seed.

The committed run read the test split with the models of seeds 0-4 (the default). --eval-seeds 1337
reads it with the tuned model alone; the spread is then over five disjoint consecutive parts of the
test split.

    nice -n 5 .venv/bin/python benchmarks/ch06_knnlm.py --prepare 1337 0 1 2 3 4    # neighbours, cached
    nice -n 5 .venv/bin/python benchmarks/ch06_knnlm.py [--data PATH] [--eval-seeds 0 1 2 3 4] [--generation-only]
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

from ch06_train_gpt import CHECKPOINTS, MODEL_SEED, corpus, datastore, load_model
from course_lib.faiss_index import ExactIndex, build_index
from course_lib.knnlm import KNNLM, encode_positions, interpolated_nll, knn_target_prob, tune
from course_lib.protocol import compare, summarize

RESULTS = Path(__file__).parent / "results" / "ch06_knnlm.json"
NLIST, NPROBE, STRIDE = int(os.environ.get("CH06_NLIST", 1024)), 16, 32   # CH06_NLIST: smoke runs
K_MAX = 1024
LAMBDAS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
KS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
TAU_FACTORS = [0.25, 0.5, 1, 2, 4, 8]        # tau = factor x the median distance to the nearest key
EVAL_SEEDS = [0, 1, 2, 3, 4]                 # models that no choice was tuned on (--eval-seeds)
PARTS = 5
NAME_LINE = re.compile(r"^([A-Z][A-Z' ]*[A-Z]):$", re.M)


def index_for(seed, tok, text, spans):
    """(faiss IVF-Flat index over model `seed`'s datastore, the datastore, build CPU-seconds)."""
    store = datastore(seed, tok, text, spans)
    t0 = time.process_time()
    index = build_index(np.ascontiguousarray(store.keys), "ivf", nlist=NLIST, nprobe=NPROBE, train_size=40 * NLIST)
    return index, store, time.process_time() - t0


def neighbours(seed, split, tok, text, spans, k_max=K_MAX):
    """Model `seed` on one held-out split: the model's log-prob of each target (n,), the squared
    distances (n, k_max) of the nearest keys and their values (n, k_max), the targets (n,); cached in
    .cache/ch06 (a seed's model, datastore and index are made only when its cache is missing)."""
    path = CHECKPOINTS / f"neighbours_seed{seed}_{split}_k{k_max}_nlist{NLIST}.npz"
    if path.exists():
        return dict(np.load(path))
    index, store, build = index_for(seed, tok, text, spans)
    start, end = spans[split]
    hidden, logp, targets = encode_positions(load_model(seed), tok.encode(text[start:end]), stride=STRIDE)
    t0 = time.process_time()
    d, i = index.search(hidden.numpy(), k_max)
    out = {"lm_logp": logp.numpy().astype(np.float64), "d": d.astype(np.float32),
           "v": store.values[i].astype(np.uint8), "y": targets.numpy().astype(np.uint8),
           "search_cpu_seconds": np.float64(time.process_time() - t0), "index_build_cpu_seconds": np.float64(build)}
    np.savez(path, **out)
    return out


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


def evaluate(seed, setting, tok, text, spans, classes, who, train_names):
    """Model `seed` on the test split at the tuned setting (tau scaled by this model's own median
    nearest distance on validation): losses, their parts, and where they differ."""
    d1 = float(np.median(neighbours(seed, "validation", tok, text, spans)["d"][:, 0]))
    t = neighbours(seed, "test", tok, text, spans)
    lam, k, tau = setting["lam"], setting["k"], setting["tau_factor"] * d1
    nll_knn = interpolated_nll(t["lm_logp"], knn_target_prob(t["d"], t["v"], t["y"], k, tau), lam)
    nll_lm = -t["lm_logp"]
    start, end = spans["test"]
    by_class, by_name = loss_by_kind(nll_lm, nll_knn, classes[start + 1:end], who[start + 1:end], train_names)
    parts = np.array_split(np.arange(len(nll_lm)), PARTS)
    # reported, never chosen from: the test loss over the lambda x k grid at this model's tau
    curves = {str(kk): [float(interpolated_nll(t["lm_logp"], pk, la).mean()) for la in LAMBDAS]
              for kk in KS for pk in [knn_target_prob(t["d"], t["v"], t["y"], kk, tau)]}
    return {"loss_model": float(nll_lm.mean()), "loss_knn": float(nll_knn.mean()), "tau": tau,
            "test_curves": curves,
            "median_nearest_distance_val": d1, "positions": len(nll_lm),
            "target_among_k_neighbours": float((t["v"][:, :k] == t["y"][:, None]).any(1).mean()),
            "search_cpu_seconds": float(t["search_cpu_seconds"]),
            "parts": [{"model": float(nll_lm[i].mean()), "knn": float(nll_knn[i].mean())} for i in parts],
            "by_class": by_class, "by_name": by_name}


def mean_over_seeds(per_seed: list[dict]) -> dict:
    """{key: {"n"/"chars": ..., "model": mean, "other": mean, "other_minus_model": [per seed]}}."""
    out = {}
    for key in per_seed[0]:
        rows = [r[key] for r in per_seed if key in r]
        out[key] = {**{f: v for f, v in rows[0].items() if f not in ("model", "other")},
                    "model": float(np.mean([r["model"] for r in rows])),
                    "other": float(np.mean([r["other"] for r in rows])),
                    "other_minus_model": [r["other"] - r["model"] for r in rows]}
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    p.add_argument("--prepare", type=int, nargs="+", metavar="SEED",
                   help="only find and cache the neighbours of these seeds' models (run as each model is trained)")
    p.add_argument("--eval-seeds", type=int, nargs="+", default=EVAL_SEEDS,
                   help=f"models whose test split is read (trained by ch06_train_gpt.py); {MODEL_SEED} alone: "
                        "the tuned model, with the spread over parts of the test split")
    p.add_argument("--generation-only", action="store_true",
                   help="measure only the cost per generated character again, into the existing results")
    args = p.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    tok, text, spans = corpus(args.data)
    if args.prepare:
        for seed in args.prepare:
            for split in ("validation", "test") if seed == MODEL_SEED else ("test",):   # only tuning reads validation
                t0 = time.process_time()
                neighbours(seed, split, tok, text, spans)
                print(f"seed {seed} {split}: {time.process_time() - t0:.0f} CPU-s", flush=True)
        return
    if args.generation_only:
        result = json.loads(RESULTS.read_text())
        index, store, _ = index_for(MODEL_SEED, tok, text, spans)
        result["generation"], _ = generation_speed(load_model(MODEL_SEED), store, index, result["setting"], tok)
        RESULTS.write_text(json.dumps(result, indent=1, default=float))
        print(result["generation"])
        return
    train_names = set(NAME_LINE.findall(text, *spans["train"]))
    classes, who = char_classes(text, spans, train_names), speaker_names(text, spans)

    val = neighbours(MODEL_SEED, "validation", tok, text, spans)      # tuning: one model, validation only
    d1 = float(np.median(val["d"][:, 0]))
    taus = [round(d1 * f, 4) for f in TAU_FACTORS]
    grid = tune(val["lm_logp"], val["d"], val["v"], val["y"], LAMBDAS, KS, taus)
    loss, lam, k, tau = grid[0]
    setting = {"lam": lam, "k": k, "tau": tau, "tau_factor": TAU_FACTORS[taus.index(tau)], "val_loss": loss,
               "val_loss_model_alone": float(-val["lm_logp"].mean()), "median_nearest_distance": d1}
    curves = {str(kk): [next(r[0] for r in grid if r[1] == la and r[2] == kk and r[3] == tau) for la in LAMBDAS]
              for kk in KS}
    best_per_k = {str(kk): min(r for r in grid if r[2] == kk)[0] for kk in KS}
    print(f"tuned on validation (seed {MODEL_SEED}): lam {lam}, k {k}, tau {tau} ({setting['tau_factor']} x median "
          f"nearest distance): {loss:.4f} (model alone {setting['val_loss_model_alone']:.4f})", flush=True)
    del val

    per_seed = {}
    for seed in args.eval_seeds:                              # the test split, read once per model, at that setting
        per_seed[seed] = evaluate(seed, setting, tok, text, spans, classes, who, train_names)
        r = per_seed[seed]
        print(f"seed {seed}: test loss model {r['loss_model']:.4f}, kNN-LM {r['loss_knn']:.4f}", flush=True)
    runs = list(per_seed.values())
    parts = [{"model": float(np.mean([r["parts"][j]["model"] for r in runs])),
              "knn": float(np.mean([r["parts"][j]["knn"] for r in runs])),
              "knn_minus_model": [r["parts"][j]["knn"] - r["parts"][j]["model"] for r in runs]} for j in range(PARTS)]
    if len(runs) > 1:                                    # the spread over models no choice was tuned on
        units, over = runs, (f"{len(runs)} model seeds ({', '.join(map(str, args.eval_seeds))}), "
                             f"none used for tuning" if MODEL_SEED not in args.eval_seeds else
                             f"{len(runs)} model seeds ({', '.join(map(str, args.eval_seeds))})")
        a, b = [r["loss_knn"] for r in runs], [r["loss_model"] for r in runs]
    else:                                                # one model: the spread over parts of its test split
        units, over = parts, f"{PARTS} disjoint consecutive parts of the test split, one model (seed {args.eval_seeds[0]})"
        a, b = [r["knn"] for r in parts], [r["model"] for r in parts]
    diff = compare(a, b)
    print(diff.sentence("the kNN-LM", "the model alone", "test loss", " nats"), flush=True)

    index, store, build = index_for(MODEL_SEED, tok, text, spans)
    model = load_model(MODEL_SEED)
    speed, variants = generation_speed(model, store, index, setting, tok, rounds=5)
    prompt = torch.tensor([tok.encode("\n\nPETRUCHIO:\n")])
    samples = {name: tok.decode(variants[name].generate(prompt, 240, generator=torch.Generator().manual_seed(1))[0].tolist())
               for name in ("model alone", "kNN-LM, faiss IVF")}
    RESULTS.write_text(json.dumps({
        "what": "kNN-LM (Khandelwal et al. 2020) on chapter 5's CPU GPT: lambda, k, tau tuned on validation with "
                f"model seed {MODEL_SEED}; the test split read once for each of the model seeds {args.eval_seeds}",
        "machine": f"{platform.processor() or platform.machine()}, shared 2-core VM, torch {torch.__version__}, "
                   f"faiss {faiss.__version__}",
        "tuning_seed": MODEL_SEED, "eval_seeds": args.eval_seeds,
        "splits": {k_: {"chars": e - s, "from": s} for k_, (s, e) in spans.items()},
        "datastore": {"entries": len(store), "key": "input of lm_head (after ln_f)", "stride": STRIDE,
                      "index": f"faiss IVF-Flat, {NLIST} cells, nprobe {NPROBE}", "k_max": K_MAX,
                      "index_build_cpu_seconds": build},
        "grid": {"lambdas": LAMBDAS, "ks": KS, "taus": taus, "tau_factors": TAU_FACTORS}, "setting": setting,
        "val_curves_at_tau": curves, "val_best_per_k": best_per_k,
        "test": {"loss_model": diff.b.mean, "loss_knn": diff.a.mean,
                 "target_among_k_neighbours": float(np.mean([r["target_among_k_neighbours"] for r in runs])),
                 "by_class": mean_over_seeds([r["by_class"] for r in runs]),
                 "by_name": mean_over_seeds([r["by_name"] for r in runs]), "parts": parts},
        "spread": {"over": over, "units": len(units),
                   "model": vars(diff.b), "knn": vars(diff.a),
                   "knn_minus_model": diff.diff, "low": diff.low, "high": diff.high, "word": diff.word,
                   "paired_difference": vars(summarize([x - y for x, y in zip(a, b)]))},
        "test_curves_after_choice": {       # reported only: every choice was made on validation
            "about": "mean over the eval models of the test loss at each lambda (grid order) and k, at each "
                     "model's tau; computed after the setting was fixed, never used to choose it",
            "curves": {kk: [float(np.mean([r["test_curves"][kk][j] for r in runs])) for j in range(len(LAMBDAS))]
                       for kk in map(str, KS)}},
        "per_seed": {str(s_): {k_: v for k_, v in r.items() if k_ not in ("by_name", "test_curves")}
                     for s_, r in per_seed.items()},
        "generation": speed, "samples": samples, "train_names": sorted(train_names),
    }, indent=1, default=float))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
