"""Training a GPT: one loop for the chapter's notebook, the command line and torchrun.

Introduced in chapter 5. What the machine can do is detected, not configured:

- precision: bf16 autocast on GPUs that have it natively, fp16 + GradScaler on older ones (a T4),
  float32 on the CPU (course_lib.device decides);
- fused AdamW wherever PyTorch has it; torch.compile on a GPU, with eager mode as the fallback
  when compilation fails (the message says why);
- one process per GPU with DistributedDataParallel when started by `torchrun`; the same code runs
  on CPUs with the gloo backend (that is how the tests check it);
- cosine learning rate with linear warm-up, gradient clipping, gradient accumulation, evaluation on
  the held-out split, checkpoints that an interrupted run (a Colab session) resumes from;
- tokens per second and MFU against the device's own peak (table below).

Command line (tiny Shakespeare; `--size smoke` is nanoGPT's README CPU example, `full` its
shakespeare_char config; any field of GPTConfig or TrainConfig can be overridden):

    python -m course_lib.gpt_train --size smoke --max_iters 200 --out_dir out-ch05
    torchrun --nproc_per_node 2 -m course_lib.gpt_train --size full
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .chardata import get_batch
from .device import autocast_dtype, needs_grad_scaler, pick_device
from .gpt import GPT, GPTConfig

# Dense (no sparsity) tensor-core peaks in FLOP/s for the dtype the course trains in on each GPU
# (bf16, or fp16 where bf16 is not native), from NVIDIA's data sheets. Matched by substring of
# torch.cuda.get_device_name(), first match wins.
GPU_PEAK_FLOPS = {
    "H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "A10G": 70e12,
    "A10": 125e12, "L40S": 362e12, "L4": 121e12, "RTX 4090": 165e12, "RTX 3090": 71e12,
    "V100": 125e12, "T4": 65e12,
}


def peak_flops(device: torch.device | str | None = None) -> float | None:
    """The device's peak FLOP/s for training, or None when it is not in the table (a CPU)."""
    device = torch.device(device) if device is not None else pick_device()
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in GPU_PEAK_FLOPS.items() if key in name), None)


def mfu(flops_per_token: float, tokens_per_second: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation: the FLOP/s the model's arithmetic needs at this speed, over the peak."""
    return None if not peak else flops_per_token * tokens_per_second / peak


@dataclass
class TrainConfig:
    max_iters: int = 200
    batch_size: int = 12                 # sequences per micro-step
    grad_accum_steps: int = 1            # micro-steps per optimizer step, over all processes
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int | None = None    # end of the cosine; None means max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0               # 0 turns clipping off
    eval_interval: int = 100
    eval_iters: int = 20
    log_interval: int = 10
    seed: int = 1337
    dtype: str = "auto"                  # auto | float32 | bfloat16 | float16
    compile: str = "auto"                # auto (on a GPU) | yes | no
    out_dir: str | None = None           # checkpoints go here when set
    progress: bool = True

    def tokens_per_iter(self, block_size: int) -> int:
        return self.batch_size * self.grad_accum_steps * block_size


def lr_at(it: int, cfg: TrainConfig) -> float:
    """Linear warm-up to learning_rate, cosine decay to min_lr at lr_decay_iters, then flat."""
    decay_end = cfg.lr_decay_iters or cfg.max_iters
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    if it >= decay_end:
        return cfg.min_lr
    progress = (it - cfg.warmup_iters) / max(1, decay_end - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases and LayerNorm gains); fused kernel
    when this PyTorch has one for the device."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    fused = "fused" in inspect.signature(torch.optim.AdamW).parameters and device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2),
                             **({"fused": True} if fused else {}))


def _resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return autocast_dtype(device)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name not in dtypes:
        raise ValueError(f"dtype must be auto or one of {sorted(dtypes)}, got {name!r}")
    return dtypes[name]


def maybe_compile(model: torch.nn.Module, setting: str, device: torch.device, example: torch.Tensor, log=print):
    """torch.compile the model where it works; eager mode (with the reason) where it does not.
    "auto" compiles on a GPU only: on a CPU compilation costs more than a smoke run takes."""
    if setting not in ("auto", "yes", "no"):
        raise ValueError(f"compile must be auto, yes or no, got {setting!r}")
    if setting == "no" or (setting == "auto" and device.type != "cuda"):
        return model, False
    try:
        compiled = torch.compile(model)
        with torch.no_grad():
            compiled(example)  # compilation happens on the first call: fail here, not mid-training
        return compiled, True
    except Exception as exc:  # no C++ compiler / Triton, an unsupported GPU, ...
        log(f"torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            f"training in eager mode instead (same results, slower)")
        return model, False


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def master(self) -> bool:
        return self.rank == 0


def setup_distributed() -> DistInfo:
    """Join the process group when started by torchrun (RANK in the environment): NCCL on GPUs,
    gloo on CPUs. A plain `python` start is one process."""
    if "RANK" not in os.environ:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"]))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


@torch.no_grad()
def estimate_loss(model, data, block_size: int, batch_size: int, eval_iters: int, device, ctx, seed: int = 0) -> float:
    """Mean loss over `eval_iters` batches. The windows are the same at every evaluation (a fixed
    seed), so successive points of a curve differ because the model changed, not the sample."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(eval_iters):
        x, y = get_batch(data, block_size, batch_size, generator=g)
        with ctx:
            _, loss = model(x.to(device), y.to(device))
        losses.append(loss.item())
    model.train(was_training)
    return float(np.mean(losses))


class _Progress:
    """A one-line text progress bar (works in a terminal and in Jupyter, no extra package)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled

    def update(self, it: int, text: str) -> None:
        if self.enabled:
            done = int(20 * it / max(1, self.total))
            sys.stdout.write(f"\r[{'#' * done}{'.' * (20 - done)}] {it}/{self.total} {text}   ")
            sys.stdout.flush()

    def newline(self) -> None:
        if self.enabled:
            sys.stdout.write("\n")


@dataclass
class TrainResult:
    model: GPT
    history: dict = field(default_factory=dict)  # "iter"/"train"/"val" at evaluations; "step"/"loss"/"lr" per log
    tokens_per_second: float = float("nan")
    mfu: float | None = None
    compiled: bool = False
    dtype: str = "float32"
    iters_done: int = 0
    train_cpu_seconds: float = 0.0   # process CPU time of the training steps (evaluation excluded)
    train_tokens: int = 0            # tokens this process trained on in this call
    step_cpu_seconds: list = field(default_factory=list)  # per step, so a benchmark can drop warm-up


def _checkpoint_path(out_dir: str) -> Path:
    return Path(out_dir) / "ckpt.pt"


def train(model_config: GPTConfig, cfg: TrainConfig, train_data, val_data, *, resume: bool = False,
          device: torch.device | str | None = None, log=print) -> TrainResult:
    """Train a GPT on token arrays `train_data` / `val_data` (numpy); return the raw model and curves.

    With `resume=True` and a checkpoint in cfg.out_dir the run continues where it stopped, with
    the same weights, optimizer state, random state and history (an uninterrupted run and an
    interrupted-and-resumed one end with identical weights).
    """
    info = setup_distributed()
    if device is None:
        device = torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else pick_device()
    device = torch.device(device)
    if cfg.grad_accum_steps % info.world_size:
        raise ValueError(f"grad_accum_steps={cfg.grad_accum_steps} must be a multiple of the number of "
                         f"processes ({info.world_size}): each process does an equal share of the micro-steps")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls on tensor cores where autocast is off
        torch.backends.cudnn.allow_tf32 = True
    dtype = _resolve_dtype(cfg.dtype, device)
    ctx = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()
    scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(dtype))

    torch.manual_seed(cfg.seed)
    model = GPT(dataclasses.replace(model_config)).to(device)
    optimizer = make_optimizer(model, cfg, device)
    history = {"iter": [], "train": [], "val": [], "step": [], "loss": [], "lr": []}
    start_iter = 0
    ckpt = _checkpoint_path(cfg.out_dir) if cfg.out_dir else None
    if resume and ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state["model_config"] != asdict(model_config):
            raise ValueError(f"the checkpoint {ckpt} is of a different model ({state['model_config']}); "
                             f"use another out_dir or the same model config")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])
        start_iter, history = state["iter"], state["history"]
        if info.master:
            log(f"resuming from {ckpt} at iteration {start_iter}")

    raw_model = model
    model, compiled = maybe_compile(model, cfg.compile, device,
                                    torch.zeros(1, model_config.block_size, dtype=torch.long, device=device), log)
    if info.world_size > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[info.local_rank] if device.type == "cuda" else None)
    model.train()

    flops_per_token = raw_model.flops_per_token()
    peak = peak_flops(device)
    local_steps = range(info.rank, cfg.grad_accum_steps, info.world_size)  # this process's micro-steps
    bar = _Progress(cfg.max_iters, cfg.progress and info.master)
    bs, T = cfg.batch_size, model_config.block_size

    def evaluate(it):
        tr = estimate_loss(model, train_data, T, bs, cfg.eval_iters, device, ctx, seed=cfg.seed)
        va = estimate_loss(model, val_data, T, bs, cfg.eval_iters, device, ctx, seed=cfg.seed + 1)
        history["iter"].append(it)
        history["train"].append(tr)
        history["val"].append(va)
        bar.update(it, f"train {tr:.4f} val {va:.4f}")
        bar.newline()

    def save(it):
        if ckpt is None or not info.master:
            return
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        state = {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                 "rng": torch.get_rng_state(), "iter": it, "history": history,
                 "model_config": asdict(model_config), "train_config": asdict(cfg)}
        torch.save(state, str(ckpt) + ".tmp")
        os.replace(str(ckpt) + ".tmp", ckpt)   # an interrupted save never leaves a broken checkpoint

    t0, tokens, tok_rates = time.perf_counter(), 0, []
    cpu_seconds, trained_tokens, step_cpu = 0.0, 0, []
    for it in range(start_iter, cfg.max_iters):
        if it % cfg.eval_interval == 0 and (not history["iter"] or history["iter"][-1] != it):
            evaluate(it)
            t0, tokens = time.perf_counter(), 0   # do not count evaluation time as training time
        cpu0 = time.process_time()
        lr = lr_at(it, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # every process draws the same global batch for this step and takes its own micro-steps:
        # so the result does not depend on the number of processes, and a resumed run sees the
        # batches it would have seen
        starts = torch.randint(len(train_data) - T, (cfg.grad_accum_steps, bs),
                               generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + it))
        step_loss = 0.0
        for n, micro in enumerate(local_steps):
            x, y = get_batch(train_data, T, bs, starts=starts[micro])
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            last = n == len(local_steps) - 1
            sync = model.no_sync() if info.world_size > 1 and not last else contextlib.nullcontext()
            with sync, ctx:
                _, loss = model(x, y)
                loss = loss / len(local_steps)   # DDP then averages over the processes
            scaler.scale(loss).backward()
            step_loss += loss.item()
        if cfg.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        step_cpu.append(time.process_time() - cpu0)
        cpu_seconds += step_cpu[-1]
        tokens += cfg.tokens_per_iter(T)
        trained_tokens += cfg.tokens_per_iter(T) // info.world_size
        if (it + 1) % cfg.log_interval == 0 or it + 1 == cfg.max_iters:
            if device.type == "cuda":
                torch.cuda.synchronize()
            rate = tokens / max(time.perf_counter() - t0, 1e-9)
            tok_rates.append(rate)
            history["step"].append(it + 1)
            history["loss"].append(step_loss)
            history["lr"].append(lr)
            util = mfu(flops_per_token, rate, peak)
            bar.update(it + 1, f"loss {step_loss:.4f} lr {lr:.2e} {rate:,.0f} tok/s"
                       + (f" MFU {util:.1%}" if util is not None else ""))
            t0, tokens = time.perf_counter(), 0
        if ckpt is not None and ((it + 1) % cfg.eval_interval == 0 or it + 1 == cfg.max_iters):
            save(it + 1)
    if cfg.max_iters > start_iter or not history["iter"]:
        evaluate(cfg.max_iters)
        save(cfg.max_iters)
    rate = float(np.median(tok_rates[1:] or tok_rates)) if tok_rates else float("nan")  # skip the warm-up interval
    return TrainResult(model=raw_model, history=history, tokens_per_second=rate, mfu=mfu(flops_per_token, rate, peak),
                       compiled=compiled, dtype=str(dtype).replace("torch.", ""), iters_done=cfg.max_iters,
                       train_cpu_seconds=cpu_seconds, train_tokens=trained_tokens, step_cpu_seconds=step_cpu)


# A finished run is reported by one number: its loss on these fixed windows of the validation
# split (the page's run and the benchmark's runs use the same ones, so their numbers compare).
FINAL_EVAL_BATCHES, FINAL_EVAL_SEED = 200, 7


def final_val_loss(model, val_data, block_size: int, batch_size: int, device="cpu") -> float:
    """The loss a finished run is reported by: FINAL_EVAL_BATCHES fixed windows of the validation split."""
    return estimate_loss(model, val_data, block_size, batch_size, FINAL_EVAL_BATCHES, device,
                         contextlib.nullcontext(), seed=FINAL_EVAL_SEED)


# ---- command line -----------------------------------------------------------------------------
SIZES = {
    # nanoGPT's README CPU example: trains in minutes on a laptop CPU (bias=False is nanoGPT's
    # train.py default, so these are its models exactly: 0.80M and 10.65M parameters)
    "smoke": (GPTConfig(block_size=64, vocab_size=65, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False),
              TrainConfig(max_iters=2000, lr_decay_iters=2000, batch_size=12, eval_interval=250, eval_iters=20)),
    # nanoGPT's config/train_shakespeare_char.py: 5.8 PFLOP of training
    "full": (GPTConfig(block_size=256, vocab_size=65, n_layer=6, n_head=6, n_embd=384, dropout=0.2, bias=False),
             TrainConfig(max_iters=5000, lr_decay_iters=5000, batch_size=64, eval_interval=250, eval_iters=200)),
}


def _parse(argv):
    from .runsize import run_size
    p = argparse.ArgumentParser(prog="python -m course_lib.gpt_train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=sorted(SIZES), default=None, help="preset (default: course_lib.runsize)")
    p.add_argument("--data", default=None, help="a text file (default: tiny Shakespeare, downloaded once)")
    p.add_argument("--resume", action="store_true", help="continue from out_dir/ckpt.pt if it exists")
    p.add_argument("--json", default=None, help="write the curves and speed here")
    for cls in (GPTConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            if f.name == "vocab_size":
                continue  # read from the data
            kind = {"int": int, "float": float, "str": str, "bool": lambda s: s.lower() in ("1", "true", "yes"),
                    "int | None": int, "str | None": str}[str(f.type)]
            p.add_argument(f"--{f.name}", type=kind, default=None)
    args = p.parse_args(argv)
    args.size = args.size or run_size()
    return args


def main(argv=None) -> TrainResult:
    from .chardata import tiny_shakespeare_path, train_val_split
    args = _parse(argv)
    model_config, cfg = (dataclasses.replace(c) for c in SIZES[args.size])
    for c in (model_config, cfg):
        for f in dataclasses.fields(c):
            if getattr(args, f.name, None) is not None:
                setattr(c, f.name, getattr(args, f.name))
    text = Path(args.data or tiny_shakespeare_path()).read_text(encoding="utf-8")
    tokenizer, train_data, val_data = train_val_split(text)
    model_config.vocab_size = tokenizer.vocab_size
    result = train(model_config, cfg, train_data, val_data, resume=args.resume)
    info = setup_distributed()
    if info.master:
        print(f"{result.iters_done} iterations, val loss {result.history['val'][-1]:.4f}, "
              f"{result.tokens_per_second:,.0f} tokens/s per process"
              + (f", MFU {result.mfu:.1%}" if result.mfu is not None else "")
              + f" ({result.dtype}, {'compiled' if result.compiled else 'eager'}, {info.world_size} process(es))")
        if args.json:
            Path(args.json).write_text(json.dumps({"history": result.history, "tokens_per_second": result.tokens_per_second,
                                                   "world_size": info.world_size, "model_config": asdict(model_config),
                                                   "train_config": asdict(cfg)}, indent=1))
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
