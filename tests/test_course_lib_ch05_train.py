"""Unit tests of course_lib.gpt_train (chapter 5): schedule, precision logic, resume, and DDP with
gloo on two CPU processes under torchrun. A small text the tests write themselves, tiny models."""
from __future__ import annotations

import math
import os
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib import gpt_train
from course_lib.chardata import train_val_split
from course_lib.gpt import GPTConfig
from course_lib.gpt_train import TrainConfig, lr_at, train

ROOT = Path(__file__).resolve().parents[1]
TEXT = ("O Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name;\n"
        "Or, if thou wilt not, be but sworn my love,\nAnd I'll no longer be a Capulet.\n") * 20
MODEL = dict(block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)


def data():
    tok, tr, va = train_val_split(TEXT)
    return GPTConfig(vocab_size=tok.vocab_size, **MODEL), tr, va


def quick(**kw) -> TrainConfig:
    base = dict(max_iters=6, batch_size=4, warmup_iters=2, lr_decay_iters=6, eval_interval=3, eval_iters=2,
                log_interval=1, progress=False, compile="no", learning_rate=3e-3)
    return TrainConfig(**(base | kw))


def test_lr_schedule_warmup_cosine_floor():
    cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, lr_decay_iters=110)
    lrs = [lr_at(i, cfg) for i in range(130)]
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11])), "warm-up increases"
    assert math.isclose(lr_at(10, cfg), 1e-3) and math.isclose(lr_at(60, cfg), 0.5 * (1e-3 + 1e-4))
    assert all(a >= b for a, b in zip(lrs[10:110], lrs[11:111])) and lrs[120] == 1e-4


def test_peak_table_and_mfu():
    assert gpt_train.peak_flops("cpu") is None and gpt_train.mfu(1e6, 1e3, None) is None
    assert gpt_train.GPU_PEAK_FLOPS["A100"] == 312e12
    assert math.isclose(gpt_train.mfu(6e9, 1e4, 312e12), 6e13 / 312e12)


def test_training_lowers_the_loss_and_records_curves():
    mc, tr, va = data()
    res = train(mc, quick(max_iters=20, lr_decay_iters=20, eval_interval=10, learning_rate=1e-2), tr, va,
                log=lambda s: None)
    h = res.history
    assert h["iter"] == [0, 10, 20] and len(h["loss"]) == 20
    assert abs(h["val"][0] - math.log(mc.vocab_size)) < 0.3, "loss at init is about ln(vocab)"
    assert h["val"][-1] < h["val"][0] - 0.5
    assert res.tokens_per_second > 0 and res.mfu is None and res.dtype == "float32"


def test_grad_accumulation_equals_one_big_batch():
    """4 micro-steps of batch 2 give the same update as one micro-step of batch 8 over the same windows."""
    mc, tr, va = data()
    a = train(mc, quick(max_iters=2, batch_size=2, grad_accum_steps=4), tr, va, log=lambda s: None).model
    # each step's starts are drawn as one (grad_accum_steps, batch_size) tensor from a seeded
    # generator, so (4, 2) and (1, 8) hold the same windows
    b = train(mc, quick(max_iters=2, batch_size=8, grad_accum_steps=1), tr, va, log=lambda s: None).model
    # Adam divides by sqrt(v): a gradient near 0 turns float rounding into ~1e-5 differences; a
    # real mismatch moves weights by about the learning rate (1e-3 here)
    for (k, va_), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va_, vb, rtol=0, atol=2e-5, msg=k)


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    mc, tr, va = data()
    straight = train(mc, quick(max_iters=6, out_dir=str(tmp_path / "a")), tr, va, log=lambda s: None)
    logs = []
    train(mc, quick(max_iters=3, out_dir=str(tmp_path / "b")), tr, va, log=logs.append)
    assert (tmp_path / "b" / "ckpt.pt").exists()
    resumed = train(mc, quick(max_iters=6, out_dir=str(tmp_path / "b")), tr, va, resume=True, log=logs.append)
    assert any("resuming" in s and "iteration 3" in s for s in logs)
    for (k, v1), v2 in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(v1, v2, rtol=0, atol=0, msg=k)
    assert resumed.history["loss"] == straight.history["loss"]
    with pytest.raises(ValueError, match="different model"):
        train(GPTConfig(vocab_size=mc.vocab_size, **(MODEL | {"n_embd": 16})), quick(out_dir=str(tmp_path / "b")),
              tr, va, resume=True, log=lambda s: None)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_paths_run_on_cpu(dtype):
    """The GPU code path (autocast, and a GradScaler for fp16) exercised on the CPU."""
    mc, tr, va = data()
    res = train(mc, quick(max_iters=3, dtype=dtype), tr, va, log=lambda s: None)
    assert res.dtype == dtype and all(np.isfinite(res.history["loss"]))
    assert res.model.lm_head.weight.dtype == torch.float32, "weights stay float32 under autocast"


def test_compile_failure_falls_back_to_eager(monkeypatch):
    def broken(model, *a, **k):
        raise RuntimeError("no C++ compiler found")
    monkeypatch.setattr(torch, "compile", broken)
    logs = []
    model = torch.nn.Linear(2, 2)
    out, compiled = gpt_train.maybe_compile(model, "yes", torch.device("cpu"), torch.zeros(1, 2), logs.append)
    assert out is model and not compiled and "eager" in logs[0] and "C++" in logs[0]
    assert gpt_train.maybe_compile(model, "auto", torch.device("cpu"), torch.zeros(1, 2))[1] is False


DDP_SCRIPT = """
import sys, torch
from course_lib.chardata import train_val_split
from course_lib.gpt import GPTConfig
from course_lib.gpt_train import TrainConfig, train, setup_distributed
text = open(sys.argv[1]).read()
tok, tr, va = train_val_split(text)
cfg = TrainConfig(max_iters=4, batch_size=2, grad_accum_steps=2, warmup_iters=1, lr_decay_iters=4,
                  eval_interval=4, eval_iters=1, progress=False, compile="no", learning_rate=3e-3)
res = train(GPTConfig(vocab_size=tok.vocab_size, **{model}), cfg, tr, va)
info = setup_distributed()
torch.save(res.model.state_dict(), f"{{sys.argv[2]}}/rank{{info.rank}}_of_{{info.world_size}}.pt")
"""


def test_ddp_two_gloo_processes_match_each_other_and_one_process(tmp_path, monkeypatch):
    (tmp_path / "text.txt").write_text(TEXT)
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(DDP_SCRIPT.format(model=MODEL)))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env |= {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "0",
           "--rdzv_backend", "c10d", "--rdzv_endpoint", "localhost:0",
           str(script), str(tmp_path / "text.txt"), str(tmp_path)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    monkeypatch.setattr(sys, "argv", [str(script), str(tmp_path / "text.txt"), str(tmp_path)])
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    runpy.run_path(str(script))   # one process, in this one, with the same global batch
    r0, r1, one = (torch.load(tmp_path / f, weights_only=True) for f in ("rank0_of_2.pt", "rank1_of_2.pt", "rank0_of_1.pt"))
    for k in r0:
        torch.testing.assert_close(r0[k], r1[k], rtol=0, atol=0, msg=f"ranks differ in {k}")
        torch.testing.assert_close(r0[k], one[k], rtol=0, atol=2e-5, msg=f"2 processes vs 1 differ in {k}")


def test_step_cpu_seconds_cover_every_step_and_sum_to_the_total():
    mc, tr, va = data()
    res = train(mc, quick(), tr, va, log=lambda s: None)
    assert len(res.step_cpu_seconds) == 6 and all(s > 0 for s in res.step_cpu_seconds)
    assert math.isclose(sum(res.step_cpu_seconds), res.train_cpu_seconds)


def test_chapter_5s_numbers_agree_with_each_other():
    """The page prints the run's parameter count and the benchmark's FLOPs per token: one model, so
    FLOPs per token = 6 N + 12 L H Q T with the N it prints, the flop counter's shortfall is the
    LayerNorm gains' 6 FLOPs each, and the page's 2,000-step run and the benchmark's course side are
    the same run with one final loss."""
    from course_lib.gpt import GPT
    from course_lib.results import read_result
    run, bench = read_result("ch05_train_cpu.json"), read_result("ch05_gpt_vs_nanogpt_200.json")
    long = read_result("ch05_gpt_vs_nanogpt_2000.json")
    config = GPTConfig(**run["model_config"])
    model = GPT(config)
    assert model.num_params() == run["num_params"] == bench["num_params"]
    for b in (bench, long):
        assert {k: b["config"][k] for k in run["model_config"]} == run["model_config"], \
            f"the page's run and the {b['config']['iters']}-step benchmark are not the same model"
    assert long["flops_per_token"]["course"] == run["flops_per_token"]
    L, H, T = config.n_layer, config.n_head, config.block_size
    Q = config.n_embd // H
    fl = bench["flops_per_token"]
    assert fl["course"] == run["flops_per_token"] == 6 * run["num_params"] + 12 * L * H * Q * T
    assert fl["nanogpt_formula"] == fl["course"]
    gains = sum(p.numel() for n, p in model.named_parameters() if ".ln_" in n)
    assert fl["layernorm_gains"] == gains and fl["course"] - fl["torch_flop_counter"] == 6 * gains
    assert math.isclose(run["final_val_loss"], long["val_loss_final"]["course"], rel_tol=1e-6), \
        "the page's run and the benchmark's 2,000-step course run should end with the same loss"


@pytest.mark.slow
def test_gpu_check_runs_at_smoke_size_without_a_gpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = os.environ | {"CUDA_VISIBLE_DEVICES": "", "COURSE_DATA_DIR": str(tmp_path / "empty-cache"),
                        "COURSE_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "no GPU here" in proc.stdout and "SMOKE size" in proc.stdout
    result = __import__("json").loads(out.read_text())
    assert result["kind"] == "smoke" and result["peak_flops"] is None
    runs = result["ch05"]["runs"]
    assert set(runs) == {"bf16", "fp16 + GradScaler"}
    assert runs["bf16"]["dtype"] == "bfloat16" and not runs["bf16"]["grad_scaler"]
    assert runs["fp16 + GradScaler"]["dtype"] == "float16" and runs["fp16 + GradScaler"]["grad_scaler"]
    for r in runs.values():
        assert r["tokens_per_second"] > 0 and math.isfinite(r["val_loss_end"]) and r["mfu"] is None
    assert result["ch03"]["images_per_second"] > 0 and result["ch03"]["data"] == "synthetic (smoke)"
