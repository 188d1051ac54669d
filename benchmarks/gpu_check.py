"""The first run on a GPU: chapter 5's GPT at full size and chapter 3's trainer, timed.

    make gpu-check                                  # = .venv/bin/python benchmarks/gpu_check.py
    make gpu-check DATA=path/to/data                # a folder laid out as below

About 3 to 5 minutes on one GPU, no network. What it runs:

- chapter 5: course_lib.gpt_train on nanoGPT's shakespeare_char model (gpt_train.SIZES["full"]:
  6 layers, 6 heads, C = 384, T = 256, batch 64) for --iters iterations of the full run's
  schedule, torch.compile'd, twice: in bf16 (where the GPU has it natively) and in fp16 with a
  GradScaler (forced, as a T4 would run it). For each: tokens per second (median of the logging
  intervals after the first, compilation excluded), MFU against this GPU's peak
  (gpt_train.GPU_PEAK_FLOPS), the loss reached on the validation split, and the wall seconds
  including compilation;
- chapter 3: course_lib.cifar_trainer.train on the CIFAR-10 subset: images per second and the
  test accuracy of a short run.

The data come from --data DIR, a folder holding tinyshakespeare/input.txt and
cifar10-subset/{train,test}.npz (the layout of the course machines' shared data folder; on a
machine without network copy it into a git-ignored folder of the checkout, such as .cache/data,
and pass that), else from course_lib's download cache. A GPU run writes
benchmarks/results/gpu_check.json, which the chapter 5 page shows when it exists.

Without a GPU it runs everything at smoke size (a tiny model, a few iterations, no compile,
synthetic data where the real data are missing), says so, writes only to --out if given, and
exits 0: the tests run it that way.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import torch

from course_lib.chardata import train_val_split
from course_lib.device import describe_environment, pick_device
from course_lib.gpt_train import SIZES, peak_flops, train

REPO = Path(__file__).resolve().parent.parent
RESULT = REPO / "benchmarks" / "results" / "gpu_check.json"
SMOKE_TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
              "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 40


def find(data_dir: str | None, *parts: str) -> Path | None:
    """A data file under --data, else in course_lib's download cache, else None."""
    from course_lib.data import cache_dir
    for root in ([Path(data_dir)] if data_dir else []) + [cache_dir()]:
        for candidate in (root.joinpath(*parts), root / parts[-1]):
            if candidate.is_file():
                return candidate
    return None


def gpt_runs(args, gpu: bool, log) -> dict:
    text_path = find(args.data, "tinyshakespeare", "input.txt") or find(args.data, "tinyshakespeare.txt")
    if text_path is None and gpu:
        raise SystemExit("gpu_check: tiny Shakespeare not found: pass --data DIR (DIR/tinyshakespeare/input.txt)")
    text = text_path.read_text(encoding="utf-8") if text_path else SMOKE_TEXT
    tok, train_data, val_data = train_val_split(text)
    model_config, base = (dataclasses.replace(c) for c in SIZES["full" if gpu else "smoke"])
    model_config.vocab_size = tok.vocab_size
    if not gpu:                                            # seconds on a CPU
        model_config = dataclasses.replace(model_config, block_size=32, n_layer=2, n_embd=64, n_head=2)
    iters = args.iters if gpu else 6
    variants = [("bf16", "bfloat16"), ("fp16 + GradScaler", "float16")]
    if gpu and torch.cuda.get_device_capability()[0] < 8:
        variants = variants[1:]                            # no native bf16 (a T4, a V100)
    out = {"model_config": dataclasses.asdict(model_config), "iters": iters,
           "data": str(text_path) if text_path else "a built-in excerpt (smoke)",
           "lr_schedule": f"the full run's: warm-up {base.warmup_iters}, cosine to {base.lr_decay_iters}",
           "runs": {}}
    for name, dtype in variants:
        cfg = dataclasses.replace(base, max_iters=iters, eval_interval=iters, eval_iters=20 if gpu else 2,
                                  batch_size=base.batch_size if gpu else 4,
                                  log_interval=10 if gpu else 2, dtype=dtype, compile="yes" if gpu else "no",
                                  progress=False, out_dir=None)
        wall = time.perf_counter()
        res = train(model_config, cfg, train_data, val_data, log=log)
        wall = time.perf_counter() - wall
        run = {"dtype": res.dtype, "compiled": res.compiled, "grad_scaler": dtype == "float16",
               "tokens_per_second": res.tokens_per_second, "mfu": res.mfu,
               "val_loss_start": res.history["val"][0], "val_loss_end": res.history["val"][-1],
               "train_loss_end": res.history["loss"][-1] if res.history["loss"] else None,
               "wall_seconds_with_compile": wall}
        out["runs"][name] = run
        mfu = f", MFU {run['mfu']:.1%}" if run["mfu"] is not None else ""
        log(f"ch05 {name}: {run['tokens_per_second']:,.0f} tokens/s{mfu}, val loss "
            f"{run['val_loss_start']:.3f} -> {run['val_loss_end']:.3f} in {iters} iterations "
            f"({'compiled' if res.compiled else 'eager'}, {wall:.0f} s in all)")
    return out


def cifar_run(args, gpu: bool, log) -> dict:
    from course_lib import cifar10
    from course_lib.cifar_trainer import train as cifar_train
    train_path, test_path = (find(args.data, "cifar10-subset", f"{s}.npz") for s in ("train", "test"))
    if train_path and test_path:
        (x, y), (tx, ty), data = cifar10.load_npz(train_path), cifar10.load_npz(test_path), str(train_path.parent)
    elif gpu:
        raise SystemExit("gpu_check: the CIFAR-10 subset was not found: pass --data DIR (DIR/cifar10-subset/*.npz)")
    else:
        (x, y), (tx, ty), data = cifar10.synthetic(256, seed=0), cifar10.synthetic(128, seed=1), "synthetic (smoke)"
    if not gpu:
        x, y, tx, ty = x[:256], y[:256], tx[:128], ty[:128]
    steps, batch = (args.cifar_steps, 512) if gpu else (3, 64)
    res = cifar_train(x, y, tx, ty, steps=steps, batch_size=batch, progress=False,
                      widths=(64, 128, 256) if gpu else (8, 16, 16))
    out = {"data": data, "train_images": len(x), "steps": steps, "batch_size": batch,
           "images_per_second": res.images_per_second, "test_accuracy": res.accuracy,
           "dtype": res.dtype, "compiled": res.compiled}
    log(f"ch03 trainer: {res.images_per_second:,.0f} images/s, test accuracy {res.accuracy:.1%} after {steps} steps "
        f"({res.dtype}, {'compiled' if res.compiled else 'eager'})")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="folder with tinyshakespeare/ and cifar10-subset/")
    p.add_argument("--iters", type=int, default=300, help="chapter 5 iterations per precision (GPU)")
    p.add_argument("--cifar_steps", type=int, default=200, help="chapter 3 trainer steps (GPU)")
    p.add_argument("--out", default=None, help="where to write the JSON (a GPU run defaults to "
                                               "benchmarks/results/gpu_check.json)")
    args = p.parse_args(argv)
    gpu = pick_device().type == "cuda"
    lines = []

    def log(message):
        lines.append(message)
        print(message, flush=True)

    if not gpu:
        log("gpu_check: no GPU here, so everything runs at SMOKE size (a tiny model, a few iterations, "
            "no compile): this checks the code paths, not the speed.")
    started = time.perf_counter()
    env = describe_environment()
    result = {"kind": "gpu" if gpu else "smoke", "environment": env, "machine": platform.platform(),
              "peak_flops": peak_flops() if gpu else None}
    if gpu:
        log(f"gpu_check on {env.get('gpu')} (peak {result['peak_flops'] or 0:.3g} FLOP/s from the table), "
            f"torch {torch.__version__}")
    result["ch05"] = gpt_runs(args, gpu, log)
    result["ch03"] = cifar_run(args, gpu, log)
    result["wall_seconds"] = time.perf_counter() - started
    result["log"] = lines
    out = Path(args.out) if args.out else (RESULT if gpu else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        log(f"wrote {out}")
    else:
        log("nothing written (smoke size; pass --out to keep the JSON)")
    print(f"gpu_check: done in {result['wall_seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
