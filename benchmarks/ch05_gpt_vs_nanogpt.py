"""The course's GPT trainer against nanoGPT's own model and training step, on one CPU thread.

Same config (nanoGPT's README CPU example: 4 layers, 4 heads, 128 wide, block 64, batch 12,
dropout 0, bias off, AdamW lr 1e-3, betas (0.9, 0.99), weight decay 0.1, warm-up 100, cosine to
--iters, clipping 1.0), same data (tiny Shakespeare, nanoGPT's 90/10 split), the same batches
(each step's windows come from a generator seeded by the step number) and the same optimizer:
fused AdamW on both sides (nanoGPT's configure_optimizers takes its fused branch when told the
device is "cuda"; on a real CPU run it would use PyTorch's default, whose step is timed apart).
One process, one thread, the two variants alternated every round (A B, then B A, ...).

nanoGPT is NOT part of this repository: its model.py (GPT, configure_optimizers, estimate_mfu)
and the get_lr function of its train.py are read at run time from a local copy (a checkout, or a
bare git directory read with `git show`), and the commit is recorded. Its training step is
re-typed below from train.py's loop (float32 on a CPU: its GradScaler is disabled and its autocast
a nullcontext). Get a copy with `git clone https://github.com/karpathy/nanoGPT`.

Reported: tokens per CPU-second over the training steps after the first WARMUP_STEPS (evaluation
excluded), per run and compared with course_lib.protocol.compare when there are >= 5 runs a side;
the final validation loss of each side (course_lib.gpt_train.final_val_loss, the same windows);
FLOPs per token (ours, nanoGPT's formula and torch.utils.flop_counter, with the gap explained);
MFU against this CPU's own measured matmul peak; and the FLOP-derived GPU times of nanoGPT's
shakespeare_char run.

    .venv/bin/python benchmarks/ch05_gpt_vs_nanogpt.py --nanogpt PATH [--iters 200] [--rounds 5]
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from course_lib.chardata import get_batch, tiny_shakespeare_path, train_val_split
from course_lib.gpt import GPT, GPTConfig
from course_lib.gpt_train import GPU_PEAK_FLOPS, TrainConfig, final_val_loss, lr_at, train
from course_lib.protocol import MIN_SEEDS, compare

RESULTS = Path(__file__).parent / "results"
DEFAULT_NANOGPT = "/work/.mirror/karpathy+nanoGPT/repo"
WARMUP_STEPS = 10      # the first steps of each run are not timed (allocator, caches)


def read_nanogpt(path: str) -> tuple[dict[str, str], str]:
    """model.py and train.py of a nanoGPT checkout or bare git directory, and its commit."""
    p = Path(path)
    if (p / "model.py").exists():
        files = {n: (p / n).read_text() for n in ("model.py", "train.py")}
        git = ["git", "-C", str(p)]
    else:
        git = ["git", "--git-dir", str(p)]
        files = {n: subprocess.run(git + ["show", f"HEAD:{n}"], capture_output=True, text=True, check=True).stdout
                 for n in ("model.py", "train.py")}
    commit = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    return files, commit


def load_module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    sys.modules[name] = module   # dataclasses look their module up here
    exec(compile(source, f"<nanoGPT {name}.py>", "exec"), module.__dict__)
    return module


def nanogpt_get_lr(train_source: str, settings: dict):
    """nanoGPT's own get_lr, taken from its train.py and bound to this run's settings."""
    tree = ast.parse(train_source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_lr")
    namespace = {"math": math, **settings}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "<nanoGPT train.py get_lr>", "exec"), namespace)
    return namespace["get_lr"]


def nanogpt_run(ng, get_lr, model_args, cfg: TrainConfig, train_data, val_data):
    """nanoGPT's model and optimizer (configure_optimizers, fused branch) and its training step as
    its train.py writes it (float32 on a CPU: its GradScaler is disabled, its autocast a
    nullcontext). Returns the model and the CPU-seconds of each step."""
    torch.manual_seed(cfg.seed)
    model = ng.GPT(ng.GPTConfig(**model_args))
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        optimizer = model.configure_optimizers(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2), "cuda")
    assert optimizer.defaults.get("fused"), "nanoGPT's configure_optimizers should take its fused branch"
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    T, bs = model_args["block_size"], cfg.batch_size
    steps = []
    model.train()
    for it in range(cfg.max_iters):
        c0 = time.process_time()   # the batch is timed too, as in the course trainer
        starts = torch.randint(len(train_data) - T, (1, bs), generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + it))
        X, Y = get_batch(train_data, T, bs, starts=starts[0])
        lr = get_lr(it)
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits, loss = model(X, Y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        steps.append(time.process_time() - c0)
    return model, steps


def cpu_matmul_peak(n: int = 512, reps: int = 30) -> float:
    """This CPU's float32 matmul FLOP per CPU-second on one thread: the peak MFU is measured against."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(3):
        c0 = time.process_time()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * n ** 3 * reps / (time.process_time() - c0))
    return best


def optimizer_step_ms(model, reps: int = 50, rounds: int = 5) -> dict:
    """CPU milliseconds of one AdamW step on this model: the fused kernel (both sides of the
    benchmark), PyTorch's default on a CPU (nanoGPT's CPU path: one tensor at a time), and foreach."""
    idx = torch.randint(model.config.vocab_size, (12, model.config.block_size))
    model(idx, idx)[1].backward()
    opts = {"fused": torch.optim.AdamW(model.parameters(), lr=1e-9, fused=True),
            "default_cpu_single_tensor": torch.optim.AdamW(model.parameters(), lr=1e-9),
            "foreach": torch.optim.AdamW(model.parameters(), lr=1e-9, foreach=True)}
    best = {k: float("inf") for k in opts}
    for _ in range(rounds):
        for k, opt in opts.items():
            c0 = time.process_time()
            for _ in range(reps):
                opt.step()
            best[k] = min(best[k], (time.process_time() - c0) / reps * 1e3)
    model.zero_grad(set_to_none=True)
    return best


def counted_flops_per_token(model, vocab_size: int, T: int) -> float:
    idx = torch.randint(vocab_size, (2, T))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        _, loss = model(idx, idx)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / idx.numel()


def gpu_table(nanogpt_minutes_a100: float = 3.0) -> dict:
    """FLOP arithmetic for nanoGPT's config/train_shakespeare_char.py (no GPU was used)."""
    cfg = GPTConfig(block_size=256, vocab_size=65, n_layer=6, n_head=6, n_embd=384, dropout=0.2, bias=False)
    model = GPT(cfg)
    iters, batch, eval_interval, eval_iters = 5000, 64, 250, 200
    train_flops = model.flops_per_token() * iters * batch * cfg.block_size
    # evaluation: forward only (a third of forward + backward), train and val, at iters 0, 250, ..., 5000
    evals = iters // eval_interval + 1
    eval_flops = model.flops_per_token() / 3 * evals * 2 * eval_iters * batch * cfg.block_size
    at = 0.40
    times = {gpu: train_flops / (at * GPU_PEAK_FLOPS[gpu]) for gpu in ("H100", "A100", "T4")}
    seconds = nanogpt_minutes_a100 * 60
    return {"config": "nanoGPT config/train_shakespeare_char.py: 6 layers, 6 heads, 384 wide, block 256, batch 64, 5000 iterations",
            "num_params": model.num_params(), "flops_per_token": model.flops_per_token(),
            "train_pflop": train_flops / 1e15, "eval_pflop": eval_flops / 1e15, "mfu_assumed": at,
            "peak_tflops": {g: GPU_PEAK_FLOPS[g] / 1e12 for g in times},
            "seconds_at_40pct_mfu": times,
            "nanogpt_readme_minutes_a100": nanogpt_minutes_a100,
            "implied_a100_mfu_training_only": train_flops / seconds / GPU_PEAK_FLOPS["A100"],
            "implied_a100_mfu_with_eval": (train_flops + eval_flops) / seconds / GPU_PEAK_FLOPS["A100"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nanogpt", default=os.environ.get("NANOGPT_DIR", DEFAULT_NANOGPT))
    p.add_argument("--data", default="/work/shared/data/tinyshakespeare/input.txt")
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5, help="one run a side per round: A B, then B A, ...")
    args = p.parse_args()
    torch.set_num_threads(1)

    files, commit = read_nanogpt(args.nanogpt)
    ng = load_module("nanogpt_model", files["model.py"])
    data_path = Path(args.data) if Path(args.data).exists() else tiny_shakespeare_path()
    tok, train_data, val_data = train_val_split(data_path.read_text(encoding="utf-8"))
    model_args = dict(block_size=64, vocab_size=tok.vocab_size, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
    cfg = TrainConfig(max_iters=args.iters, lr_decay_iters=args.iters, batch_size=12, eval_interval=args.iters,
                      eval_iters=20, log_interval=10 ** 9, progress=False, compile="no", dtype="float32")
    get_lr = nanogpt_get_lr(files["train.py"], dict(learning_rate=cfg.learning_rate, warmup_iters=cfg.warmup_iters,
                                                    lr_decay_iters=args.iters, min_lr=cfg.min_lr))
    assert all(math.isclose(get_lr(i), lr_at(i, cfg)) for i in range(args.iters + 5)), "learning-rate schedules differ"

    # same seed, same initial weights?
    torch.manual_seed(cfg.seed)
    ours0 = GPT(GPTConfig(**model_args)).state_dict()
    torch.manual_seed(cfg.seed)
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        theirs0 = ng.GPT(ng.GPTConfig(**model_args)).state_dict()
    same_init = ours0.keys() == theirs0.keys() and all(torch.equal(ours0[k], theirs0[k]) for k in ours0)

    runs = {"course": [], "nanogpt": []}
    order = [name for r in range(args.rounds) for name in (("nanogpt", "course") if r % 2 == 0 else ("course", "nanogpt"))]
    models = {}
    per_step_tokens = cfg.tokens_per_iter(64)
    for name in order:
        if name == "course":
            res = train(GPTConfig(**model_args), cfg, train_data, val_data, log=lambda s: None)
            model, steps = res.model, res.step_cpu_seconds
        else:
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                model, steps = nanogpt_run(ng, get_lr, model_args, cfg, train_data, val_data)
        timed = steps[WARMUP_STEPS:]
        rate = per_step_tokens * len(timed) / sum(timed)
        runs[name].append({"cpu_seconds": sum(steps), "timed_steps": len(timed), "tokens_per_cpu_second": rate})
        models[name] = model
        print(f"{name:8s} {rate:8,.0f} tokens/CPU-s over steps {WARMUP_STEPS}..{cfg.max_iters}", flush=True)
    final = {n: final_val_loss(m, val_data, 64, 12) for n, m in models.items()}
    same_weights = max((a - b).abs().max().item() for a, b in zip(models["course"].state_dict().values(),
                                                                    models["nanogpt"].state_dict().values()))

    ours = models["course"]
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        nano_fpt = models["nanogpt"].estimate_mfu(1, 1.0) * 312e12 / 64   # its MFU formula, undone
    peak = cpu_matmul_peak()
    rate = {n: statistics.median(r["tokens_per_cpu_second"] for r in runs[n]) for n in runs}
    speed = None
    if args.rounds >= MIN_SEEDS:
        d = compare([r["tokens_per_cpu_second"] for r in runs["course"]],
                    [r["tokens_per_cpu_second"] for r in runs["nanogpt"]])
        speed = {"course_minus_nanogpt": d.diff, "low": d.low, "high": d.high, "word": d.word, "ratio": d.ratio,
                 "course": vars(d.a), "nanogpt": vars(d.b),
                 "sentence": d.sentence("the course trainer", "nanoGPT", "speed", " tokens/CPU-s")}
    ln_gains = sum(p.numel() for n, p in models["course"].named_parameters() if "ln" in n)
    out = {
        "what": "course_lib.gpt_train vs nanoGPT's model and training step, CPU, one thread, alternated every round",
        "nanogpt_commit": commit,
        "nanogpt_source": ("model.py (GPT, configure_optimizers, estimate_mfu) and train.py's get_lr read at run time "
                           "from a local copy, not in this repository; the training step re-typed from train.py's loop"),
        "machine": f"{platform.machine()}, shared 2-core VM (other jobs running), torch {torch.__version__}",
        "config": model_args | {"batch_size": 12, "iters": args.iters, "lr": cfg.learning_rate, "betas": [cfg.beta1, cfg.beta2],
                                "weight_decay": cfg.weight_decay, "warmup_iters": cfg.warmup_iters, "grad_clip": cfg.grad_clip},
        "order": order, "runs": runs, "warmup_steps_not_timed": WARMUP_STEPS,
        "tokens_per_cpu_second_median": rate, "speed_ratio_course_over_nanogpt": rate["course"] / rate["nanogpt"],
        "speed_comparison": speed,
        "val_loss_final": final, "final_eval": "course_lib.gpt_train.final_val_loss: 200 batches of 12 x 64, "
                                               "the same windows for both",
        "same_initial_weights": same_init, "max_weight_difference_after_training": same_weights,
        "optimizer": {"course": "AdamW fused=True (course_lib.gpt_train.make_optimizer)",
                      "nanogpt": "AdamW fused=True (its configure_optimizers, device_type='cuda' branch)"},
        "num_params": ours.num_params(),
        "flops_per_token": {"course": ours.flops_per_token(), "nanogpt_formula": nano_fpt,
                            "torch_flop_counter": counted_flops_per_token(ours, tok.vocab_size, 64),
                            "layernorm_gains": ln_gains, "six_times_layernorm_gains": 6 * ln_gains},
        "cpu_matmul_peak_flops_per_cpu_second": peak,
        "adamw_step_cpu_ms": optimizer_step_ms(GPT(GPTConfig(**model_args))),
        "train_step_cpu_ms_median": {n: 1e3 * cfg.tokens_per_iter(64) / rate[n] for n in rate},
        "mfu_vs_cpu_matmul_peak": {n: ours.flops_per_token() * rate[n] / peak for n in rate},
        "mfu_nanogpt_style_vs_a100": {n: ours.flops_per_token() * rate[n] / 312e12 for n in rate},
        "gpu_time_from_flops": gpu_table(),
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"ch05_gpt_vs_nanogpt_{args.iters}.json"
    path.write_text(json.dumps(out, indent=1))
    fl = out["flops_per_token"]
    print(f"\nnanoGPT commit {commit}")
    print(f"tokens per CPU-second (median): course {rate['course']:,.0f}, nanoGPT {rate['nanogpt']:,.0f}, "
          f"ratio {out['speed_ratio_course_over_nanogpt']:.2f}")
    print(f"val loss at {args.iters} iterations (200 batches): course {final['course']:.4f}, "
          f"nanoGPT {final['nanogpt']:.4f}; same initial weights: {same_init}; max weight difference after training {same_weights:.2e}")
    print(f"FLOPs/token: course {fl['course']:,}, nanoGPT formula {fl['nanogpt_formula']:,.0f}, "
          f"flop counter {fl['torch_flop_counter']:,.0f} ({fl['torch_flop_counter'] / fl['course'] - 1:+.2%})")
    print(f"AdamW step: fused {out['adamw_step_cpu_ms']['fused']:.2f} ms, "
          f"default {out['adamw_step_cpu_ms']['default_cpu_single_tensor']:.2f} ms "
          f"(a whole training step: course {out['train_step_cpu_ms_median']['course']:.1f} ms)")
    print(f"CPU matmul peak {peak / 1e9:.1f} GFLOP/CPU-s; MFU vs it: course {out['mfu_vs_cpu_matmul_peak']['course']:.1%}, "
          f"nanoGPT {out['mfu_vs_cpu_matmul_peak']['nanogpt']:.1%}")
    g = out["gpu_time_from_flops"]
    print(f"shakespeare_char: {g['train_pflop']:.2f} PFLOP of training (+{g['eval_pflop']:.2f} evaluation); at 40% MFU: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in g["seconds_at_40pct_mfu"].items())
          + f"; nanoGPT's 3 min on an A100 = {g['implied_a100_mfu_training_only']:.0%} MFU (training only), "
          f"{g['implied_a100_mfu_with_eval']:.0%} counting evaluation")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
