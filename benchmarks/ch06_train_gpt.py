"""Chapter 6's language models: chapter 5's CPU GPT, trained again for six seeds.

The model and recipe are chapter 5's page run exactly (course_lib.gpt_train's "smoke" size:
nanoGPT's README CPU example, 4 layers, 4 heads, C = 128, T = 64, 2,000 steps, one thread), so
seed 1337 reproduces chapter 5's model. Seed 1337 is the *tuning* model: chapter 6 chooses its
settings (lambda, k, temperature, query length) on the validation split with it. Seeds 0-4 are
the *evaluation* models, never used for tuning: their test losses give the spread.

Checkpoints (3.2 MB each, float32 state dicts) go to .cache/ch06/ (ignored by git): the other
ch06 benchmarks read them. The configs and CPU-seconds go to benchmarks/results/ch06_train_gpt.json.

    nice -n 5 .venv/bin/python benchmarks/ch06_train_gpt.py [--data PATH] [--seeds 1337 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import torch

from course_lib.chardata import tiny_shakespeare_path, train_val_split
from course_lib.gpt_train import SIZES, train

RESULTS = Path(__file__).parent / "results" / "ch06_train_gpt.json"
CHECKPOINTS = Path(__file__).resolve().parent.parent / ".cache" / "ch06"
TUNING_SEED, EVAL_SEEDS = 1337, (0, 1, 2, 3, 4)


def checkpoint_path(seed: int) -> Path:
    return CHECKPOINTS / f"gpt_seed{seed}.pt"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    p.add_argument("--seeds", type=int, nargs="+", default=[TUNING_SEED, *EVAL_SEEDS])
    args = p.parse_args()
    torch.set_num_threads(1)
    path = Path(args.data) if Path(args.data).exists() else tiny_shakespeare_path()
    tok, train_data, val_data = train_val_split(path.read_text(encoding="utf-8"))
    runs = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else {}
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        model_config, cfg = (dataclasses.replace(c) for c in SIZES["smoke"])
        model_config.vocab_size = tok.vocab_size
        cfg.eval_interval, cfg.log_interval, cfg.progress, cfg.seed = 100, 10, False, seed
        cpu0 = time.process_time()
        res = train(model_config, cfg, train_data, val_data)
        cpu = time.process_time() - cpu0
        torch.save({"model": res.model.state_dict(), "model_config": vars(model_config), "seed": seed},
                   checkpoint_path(seed))
        runs[str(seed)] = {"cpu_seconds": round(cpu, 1), "val_loss_ch05_split": res.history["val"][-1],
                           "train_loss": res.history["train"][-1], "role": "tuning" if seed == TUNING_SEED
                           else "evaluation"}
        print(f"seed {seed}: val loss {res.history['val'][-1]:.4f}, {cpu:.0f} CPU-s -> {checkpoint_path(seed)}")
        RESULTS.write_text(json.dumps({
            "what": "chapter 5's CPU GPT (course_lib.gpt_train 'smoke' size) trained for each seed, one thread",
            "machine": f"{platform.processor() or platform.machine()}, shared 2-core VM, torch {torch.__version__}",
            "model_config": vars(model_config), "train_config": {**vars(cfg), "seed": "per run"},
            "vocab": "".join(tok.chars), "train_tokens": len(train_data), "tuning_seed": TUNING_SEED,
            "evaluation_seeds": list(EVAL_SEEDS), "runs": runs,
            "note": "val_loss_ch05_split: mean over 20 batches of chapter 5's whole 10% held-out split",
        }, indent=1))


if __name__ == "__main__":
    main()
