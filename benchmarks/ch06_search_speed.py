"""Exact search against faiss's indexes at the chapter's datastore: queries per CPU-second, recall@10, memory.

Keys: the tuning model's (seed 1337) hidden states over the whole training split of tiny
Shakespeare, 1,003,853 x 128 float32 (benchmarks/ch06_train_gpt.py makes the model; its datastore
is cached in .cache/ch06). Queries: the hidden states of 1,000 evenly spaced positions of the
validation split. One thread for torch and faiss, while searching and while building. The variants
take turns, round after round (exact and faiss's flat index search 100 queries a round, the
approximate indexes all 1,000), and the speed is the median over rounds of queries per CPU-second
(time.process_time). recall@10 is measured against exact search on the same queries.

HNSW (--hnsw M,efConstruction, e.g. --hnsw 16,40) is built once, in one `add` (see hnsw_index),
and cached in .cache/ch06 (the graph of a million keys takes a few CPU-minutes, much longer in wall
time on a busy shared core); later runs read it back. --hnsw-build-only stops after building it.

    nice -n 5 .venv/bin/python benchmarks/ch06_search_speed.py [--data PATH] [--rounds 3] [--hnsw 16,40 [--hnsw-slices 50000]]
    nice -n 5 .venv/bin/python benchmarks/ch06_search_speed.py --hnsw 16,40 --hnsw-build-only
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from ch06_train_gpt import CHECKPOINTS, MODEL_SEED, corpus, datastore, load_model
from course_lib.faiss_index import FaissIndex, build_index
from course_lib.knn_search import exact_search, recall_at_k
from course_lib.knnlm import encode_positions

RESULTS = Path(__file__).parent / "results" / "ch06_search_speed.json"
K = 10
EF_SEARCH = (16, 32, 64, 128, 256)


def hnsw_index(keys: np.ndarray, m: int, ef_construction: int, slices: int | None = None):
    """faiss IndexHNSWFlat over `keys`, built once and cached; (index, info).

    Built in one `add`: faiss shuffles the keys of one `add` before linking them. `slices` adds them
    that many at a time in the order of the text instead, as an earlier version of this benchmark
    did; its graph is measured next to the other (--hnsw-slices) because its recall stayed low."""
    how = f"_slices{slices}" if slices else ""
    path = CHECKPOINTS / f"hnsw_seed{MODEL_SEED}_M{m}_efc{ef_construction}{how}.faiss"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        info = json.loads(meta.read_text())
        return FaissIndex(faiss.read_index(str(path)), "hnsw", info["build_cpu_seconds"]), info
    index = faiss.IndexHNSWFlat(keys.shape[1], m)
    index.hnsw.efConstruction = ef_construction
    print(f"HNSW M={m} efC={ef_construction}: linking {len(keys):,} keys{how} ...", flush=True)
    t0 = time.process_time()
    step = slices or len(keys)
    for start in range(0, len(keys), step):
        index.add(keys[start:start + step])
    cpu = time.process_time() - t0
    print(f"HNSW built: {cpu:,.0f} CPU-s, {len(keys) / cpu:,.0f} keys/CPU-s", flush=True)
    faiss.write_index(index, str(path))
    info = {"build_cpu_seconds": cpu, "m": m, "ef_construction": ef_construction, "slices": slices,
            "keys_per_cpu_second": len(keys) / cpu}
    meta.write_text(json.dumps(info, indent=1))
    return FaissIndex(index, "hnsw", cpu), info


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--hnsw", help="M,efConstruction of an HNSW index to add, e.g. 16,40")
    p.add_argument("--hnsw-build-only", action="store_true")
    p.add_argument("--hnsw-slices", type=int, metavar="N",
                   help="also measure the same graph built N keys at a time in the order of the text")
    args = p.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    tok, text, spans = corpus(args.data)
    store = datastore(MODEL_SEED, tok, text, spans)
    keys = np.ascontiguousarray(store.keys, dtype=np.float32)
    hnsw = sliced = None
    if args.hnsw:
        hnsw_m, hnsw_efc = (int(v) for v in args.hnsw.split(","))
        hnsw = hnsw_index(keys, hnsw_m, hnsw_efc)
        sliced = hnsw_index(keys, hnsw_m, hnsw_efc, args.hnsw_slices) if args.hnsw_slices else None
        if args.hnsw_build_only:
            return
    start, end = spans["validation"]
    hidden, _, _ = encode_positions(load_model(MODEL_SEED), tok.encode(text[start:end]), stride=32)
    pick = np.linspace(0, len(hidden) - 1, args.queries).astype(int)
    queries = np.ascontiguousarray(hidden.numpy()[pick])
    print(f"{len(keys):,} keys of {keys.shape[1]} floats, {len(queries):,} queries", flush=True)

    t0 = time.process_time()
    _, truth = exact_search(queries, keys, K)
    truth = truth.numpy()
    print(f"exact search of all queries: {time.process_time() - t0:.0f} CPU-s", flush=True)

    builds, indexes = {}, {}
    nlist = 1024
    for kind, options in [("flat", {}), ("ivf", {"nlist": nlist, "train_size": 40 * nlist}),
                          ("ivfpq", {"nlist": nlist, "train_size": 40 * nlist, "pq_m": 16})]:
        t0 = time.process_time()
        indexes[kind] = build_index(keys, kind, **options)
        builds[kind] = time.process_time() - t0
        print(f"built {kind}: {builds[kind]:.0f} CPU-s, {indexes[kind].bytes_per_entry:.1f} bytes per entry", flush=True)
    if hnsw:
        indexes["hnsw"], builds["hnsw"] = hnsw[0], hnsw[1]["build_cpu_seconds"]
    if sliced:
        indexes["hnsw_sliced"], builds["hnsw_sliced"] = sliced[0], sliced[1]["build_cpu_seconds"]

    def exact(q):
        return exact_search(q, keys, K)[1].numpy()

    def faiss_search(kind, name=None, value=None):
        def run(q):
            if name:
                indexes[kind].set_search_parameter(name, value)
            return indexes[kind].search(q, K)[1]
        return run

    variants = {"exact (torch matmul)": (exact, 100, "exact", None),
                "faiss IndexFlatL2": (faiss_search("flat"), 100, "flat", None)}
    for nprobe in (1, 4, 16, 64):
        variants[f"IVF-Flat nprobe={nprobe}"] = (faiss_search("ivf", "nprobe", nprobe), len(queries), "ivf", nprobe)
    for ef in (EF_SEARCH if hnsw else ()):
        variants[f"HNSW efSearch={ef}"] = (faiss_search("hnsw", "ef_search", ef), len(queries), "hnsw", ef)
    for ef in ((64, 256) if sliced else ()):
        variants[f"HNSW added in slices, efSearch={ef}"] = (faiss_search("hnsw_sliced", "ef_search", ef), len(queries),
                                                          "hnsw_sliced", ef)
    for nprobe in (16, 64):
        variants[f"IVF-PQ16 nprobe={nprobe}"] = (faiss_search("ivfpq", "nprobe", nprobe), len(queries), "ivfpq", nprobe)

    rates = {name: [] for name in variants}
    found = {}
    for r in range(args.rounds):
        for name, (run, n, _, _) in variants.items():
            q = queries[:n] if n < len(queries) else queries
            t0 = time.process_time()
            ids = run(q)
            rates[name].append(len(q) / max(time.process_time() - t0, 1e-9))
            found[name] = (ids, n)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} q/s" for k, v in rates.items()), flush=True)

    out = {}
    exact_rate = float(np.median(rates["exact (torch matmul)"]))
    for name, (_, n, kind, setting) in variants.items():
        ids, n = found[name]
        rate = float(np.median(rates[name]))
        index = indexes.get(kind)
        out[name] = {"queries_per_cpu_second": rate, "rounds": rates[name], "speedup_over_exact": rate / exact_rate,
                     "recall_at_10": recall_at_k(ids, truth[:n], K), "recall_queries": n,
                     "bytes_per_entry": index.bytes_per_entry if index else keys.nbytes / len(keys),
                     "build_cpu_seconds": builds.get(kind, 0.0), "kind": kind, "setting": setting}
    RESULTS.write_text(json.dumps({
        "what": "exact search (course_lib.knn_search) vs faiss indexes over the chapter's datastore, one thread",
        "machine": f"{platform.processor() or platform.machine()}, shared 2-core VM, torch {torch.__version__}, "
                   f"faiss {faiss.__version__}",
        "keys": len(keys), "dim": int(keys.shape[1]), "queries": len(queries), "k": K, "nlist": nlist,
        "hnsw": hnsw[1] if hnsw else None, "hnsw_sliced": sliced[1] if sliced else None, "pq_m": 16, "model_seed": MODEL_SEED, "query_split": "validation",
        "results": out,
    }, indent=1))
    for name, r in out.items():
        print(f"{name:24s} {r['queries_per_cpu_second']:9,.0f} q/CPU-s  x{r['speedup_over_exact']:6.1f}  "
              f"recall@10 {r['recall_at_10']:.3f}  {r['bytes_per_entry']:6.1f} B/entry")


if __name__ == "__main__":
    main()
