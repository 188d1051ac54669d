"""The chapter 5 page's real run: a small character-level GPT trained on tiny Shakespeare on a CPU.

nanoGPT's README CPU example (4 layers, 4 heads, 128 wide, block 64, batch 12, dropout 0, no
biases, 2,000 iterations, cosine to 2,000: course_lib.gpt_train.SIZES["smoke"]) through
course_lib.gpt_train, one thread. The same model, seed and batches as the course side of
benchmarks/ch05_gpt_vs_nanogpt.py --iters 2000, so the two report the same final loss. Writes the
curves, the final validation loss (gpt_train.final_val_loss), samples at three temperatures and
the per-character surprisal of the N400 sentences to benchmarks/results/ch05_train_cpu.json,
which book/ch05/index.md reads.

    nice -n 5 .venv/bin/python benchmarks/ch05_train_cpu.py [--data PATH] [--max_iters N]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from course_lib.chardata import tiny_shakespeare_path, train_val_split
from course_lib.gpt import surprisal
from course_lib.gpt_train import SIZES, final_val_loss, train

RESULTS = Path(__file__).parent / "results" / "ch05_train_cpu.json"
SENTENCES = ["He locked the door using his key", "He locked the door using his elephant"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    p.add_argument("--max_iters", type=int, default=2000)
    args = p.parse_args()
    torch.set_num_threads(1)
    path = Path(args.data) if Path(args.data).exists() else tiny_shakespeare_path()
    text = path.read_text(encoding="utf-8")
    tok, train_data, val_data = train_val_split(text)
    model_config, cfg = SIZES["smoke"]
    model_config.vocab_size = tok.vocab_size
    cfg.max_iters = cfg.lr_decay_iters = args.max_iters
    cfg.eval_interval, cfg.log_interval, cfg.progress = 100, 10, False
    cpu0, wall0 = time.process_time(), time.perf_counter()
    res = train(model_config, cfg, train_data, val_data)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    model = res.model.eval()
    final = final_val_loss(model, val_data, model_config.block_size, cfg.batch_size)

    samples = {}
    for temperature in (0.5, 1.0, 1.5):
        start = torch.tensor([tok.encode("\n")])
        out = model.generate(start, 300, temperature=temperature, top_k=None,
                             generator=torch.Generator().manual_seed(0))
        samples[str(temperature)] = tok.decode(out[0, 1:].tolist())
    surprisals = {s: surprisal(model, tok.encode("\n" + s)).tolist() for s in SENTENCES}

    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({
        "what": "course_lib.gpt_train on tiny Shakespeare, CPU, one thread (nanoGPT's README CPU example)",
        "machine": f"{platform.processor() or platform.machine()}, shared 2-core VM, torch {torch.__version__}",
        "model_config": vars(model_config), "train_config": vars(cfg),
        "num_params": model.num_params(), "flops_per_token": model.flops_per_token(),
        "train_tokens": len(train_data), "val_tokens": len(val_data), "vocab": "".join(tok.chars),
        "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1),
        "tokens_per_cpu_second": round(cfg.tokens_per_iter(model_config.block_size) * cfg.max_iters / cpu),
        "history": res.history, "final_val_loss": final,
        "final_eval": "course_lib.gpt_train.final_val_loss (200 fixed batches); the curve's points are "
                      f"means over {cfg.eval_iters} fixed batches",
        "samples": samples, "sample_top_k": None,
        "surprisal_bits": {"chars": {s: list(s) for s in SENTENCES}, "values": surprisals,
                           "note": "surprisal of each character given the text before it (a newline first)"},
    }, indent=1))
    print(f"val loss {final:.4f} after {cfg.max_iters} iterations; {cpu:.0f} CPU-s; wrote {RESULTS}")


if __name__ == "__main__":
    main()
