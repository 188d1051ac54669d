"""The course's CIFAR-10 trainer against a CPU port of airbench94: both tuned alike on validation, then fresh seeds.

airbench94 (Keller Jordan, github.com/KellerJordan/cifar10-airbench, legacy/airbench94.py) reaches
94% in 3.83 s on an A100, but calls .half().cuda(), CUDA events and torchvision, so it cannot run
here as published. `Airbench94Port` below rebuilds its network and training for a CPU in float32:
a frozen 2x2 whitening convolution (24 filters from the uncentred patch covariance of 5,000 training
images) whose bias trains for the first 3 epochs and is then frozen; three conv groups of widths
64/256/256 (conv, max-pool, BatchNorm with frozen weight, eps 1e-12 and momentum 0.6 in
airbench's convention, GELU, conv, BatchNorm, GELU) whose convolutions start as identities on
their first channels; a 3x3 max-pool and a linear head scaled by 1/9; Nesterov SGD with momentum
0.85, learning rate 11.5 and weight decay 0.0153 per 1024 examples, 64 times the rate for the
BatchNorm biases, a summed label-smoothed (0.2) loss, a triangular schedule (0.2 -> 1 at 23% ->
0.07); lookahead every 5 steps (the weights pulled towards a running average of themselves, with a
decay 0.95^5 (step/total)^3, and set to that average at the end); a random flip drawn once and
then every image flipped on odd epochs, with a random 2-pixel translation each epoch.

The protocol (CONTRIBUTING.md): the training split is 4,068 images of the 5,085-image subset, the
validation split the other 1,017 (benchmarks/ch03_shared). Each side tunes its learning rate
on validation with the same budget (three runs, one seed, factors 1/2, 1 and 2 of its own default);
then each runs --seeds fresh seeds at its chosen rate for the same steps of the same batch size, and
reads the test split once, with the same test-time augmentation at three levels (none, mirror,
mirror + 1-pixel shifts: course_lib.cifar_trainer.tta_logits). Speed: CPU-seconds of training
steps (each step's batch preparation included), the first 3 steps of each run left out, the two
sides alternating run by run in one process with one thread, both in channels_last memory.
Derived, not measured: GPU seconds per 50,000-image epoch at a stated MFU, from the FLOPs alone.

    nice -n 5 .venv/bin/python benchmarks/ch03_trainer_vs_airbench.py --data ../shared/data/cifar10-subset

Writes benchmarks/results/ch03_trainer_vs_airbench.json (read by book/ch03/index.md).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import ch03_shared
from course_lib.cifar_trainer import FULL_RECIPE, CifarNet, identity_conv, train, tta_logits, whitening_filters
from course_lib.loader import DeviceLoader
from course_lib.protocol import compare, compare_ratio, summarize

RESULTS = Path(__file__).parent / "results" / "ch03_trainer_vs_airbench.json"
# Dense peak throughput in the precision each GPU trains in (vendor data sheets): T4 fp16 tensor
# cores, A100 and H100 SXM bf16 tensor cores.
GPU_PEAK_FLOPS = {"T4 (fp16)": 65e12, "A100 (bf16)": 312e12, "H100 SXM (bf16)": 989e12}
MFU = 0.30                           # airbench94's 0.36 PFLOPs in 3.83 s on an A100 is about 30% MFU
AIRBENCH_PUBLISHED = {"pflops": 0.36, "a100_seconds": 3.83, "accuracy": 0.9401}
TIMING_WARMUP_STEPS = 3              # the first steps of a run allocate memory: left out of its speed
TTA_LEVELS = (0, 1, 2)
COURSE, PORT = "course CifarNet", "airbench94 port"
# ---- the port -------------------------------------------------------------------------------------

def _frozen_scale_bn(c):
    bn = nn.BatchNorm2d(c, eps=1e-12, momentum=1 - 0.6)
    bn.weight.requires_grad_(False)
    return bn


class _Group(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1, self.pool, self.norm1 = identity_conv(c_in, c_out), nn.MaxPool2d(2), _frozen_scale_bn(c_out)
        self.conv2, self.norm2 = identity_conv(c_out, c_out), _frozen_scale_bn(c_out)

    def forward(self, x):
        x = F.gelu(self.norm1(self.pool(self.conv1(x))))
        return F.gelu(self.norm2(self.conv2(x)))


class Airbench94Port(nn.Module):
    def __init__(self):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        with torch.no_grad():
            self.whiten.bias.zero_()
        self.groups = nn.Sequential(_Group(24, 64), _Group(64, 256), _Group(256, 256))
        self.head = nn.Linear(256, 10, bias=False)

    def forward(self, x):                               # (B, 3, 32, 32)
        x = self.groups(F.gelu(self.whiten(x)))         # (B, 256, 3, 3)
        x = F.max_pool2d(x, 3).flatten(1)               # (B, 256)
        return self.head(x) / 9


def _triangle(total, start=0.2, end=0.07, peak=0.23):
    top = int(peak * total)
    return [start + (1 - start) * s / top if s < top else 1 + (end - 1) * (s - top) / max(1, total - top)
            for s in range(total + 1)]


def train_airbench_port(images, labels, steps, batch_size=1024, lr_factor=1.0, seed=0):
    """airbench94's training on the CPU, float32, from normalised images; returns (model, per-step CPU-s)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = Airbench94Port()
    with torch.no_grad():
        model.whiten.weight.copy_(whitening_filters(images[:5000], 2, center=False))
    model = model.to(memory_format=torch.channels_last)                       # as airbench, and as the course
    momentum = 0.85
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr, wd = lr_factor * 11.5 / kilostep, 0.0153 * batch_size / kilostep
    lr_bias = lr * 64.0
    norm_biases = [p for n, p in model.named_parameters() if "norm" in n and p.requires_grad]
    others = [p for n, p in model.named_parameters() if "norm" not in n and p.requires_grad]
    opt = torch.optim.SGD([dict(params=norm_biases, lr=lr_bias, weight_decay=wd / lr_bias),
                           dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=momentum, nesterov=True)
    base_lrs = [lr_bias, lr]
    schedule = _triangle(steps)
    alpha = [0.95 ** 5 * (s / steps) ** 3 for s in range(steps + 1)]          # lookahead decay per step
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.2, reduction="none")
    per_epoch = len(labels) // batch_size
    flipped = torch.where((torch.rand(len(images), generator=g) < 0.5)[:, None, None, None], images.flip(-1), images)
    padded = F.pad(flipped, (2, 2, 2, 2), mode="reflect")
    lookahead = {k: v.clone() for k, v in model.state_dict().items()}
    step_cpu, step, epoch = [], 0, 0
    while step < steps:
        c0 = time.process_time()                                                # this epoch's data: in its first step
        model.whiten.bias.requires_grad_(epoch < 3)                             # the whitening bias trains 3 epochs
        shifts = torch.randint(0, 5, (len(images), 2), generator=g)
        rows = (shifts[:, :1] + torch.arange(32))[:, None, :, None]
        cols = (shifts[:, 1:] + torch.arange(32))[:, None, None, :]
        epoch_images = padded[torch.arange(len(images))[:, None, None, None], torch.arange(3)[None, :, None, None],
                              rows, cols]
        if epoch % 2 == 1:
            epoch_images = epoch_images.flip(-1)       # every other epoch, every image flipped together
        order = torch.randperm(len(images), generator=g)
        for k in range(per_epoch):
            if k:
                c0 = time.process_time()
            idx = order[k * batch_size:(k + 1) * batch_size]
            for group, base in zip(opt.param_groups, base_lrs):
                group["lr"] = base * schedule[step]
            x = epoch_images[idx].contiguous(memory_format=torch.channels_last)
            loss = loss_fn(model(x), labels[idx]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            # lookahead, as airbench94: every 5 steps, and at the end the weights become the average
            for decay in ([alpha[step]] if step % 5 == 0 else []) + ([1.0] if step == steps else []):
                with torch.no_grad():
                    for e, p in zip(lookahead.values(), model.state_dict().values()):
                        if p.dtype.is_floating_point:
                            e.lerp_(p, 1 - decay)
                            p.copy_(e)
            step_cpu.append(time.process_time() - c0)
            if step >= steps:
                break
        epoch += 1
    return model, step_cpu


# ---- measurements -----------------------------------------------------------------------------------

def flops_per_image(model, batch=16):
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    model.train()
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


@torch.no_grad()
def accuracies(model, images, labels):
    """Accuracy at each TTA level, eval mode, in batches of 500."""
    model.eval()
    out = {}
    for level in TTA_LEVELS:
        logits = torch.cat([tta_logits(model, x.contiguous(memory_format=torch.channels_last), level)
                            for x in images.split(500)])
        out[level] = (logits.argmax(1) == labels).double().mean().item()
    return out


def one_run(data, cache, args, *, side, lr, seed, on_test):
    """One training run of one side (or its cached result): accuracies and per-step CPU-seconds."""
    key = f"{side}/lr={lr:.6g}/seed={seed}/steps={args.steps}/B={args.batch_size}/test={on_test}"
    if (run := cache.get(key)) is not None:
        return run
    eval_x, eval_y = (data.test_x, data.test_y) if on_test else (data.val_x, data.val_y)
    c0, started = time.process_time(), time.time()
    if side == COURSE:
        r = train(data.train_x, data.train_y, eval_x, eval_y, steps=args.steps, batch_size=args.batch_size, lr=lr,
                  widths=FULL_RECIPE["widths"], tta=0, seed=seed, whitening=data.whitening, device="cpu",
                  progress=False)
        model, step_cpu = r.model, r.step_cpu_seconds
    else:
        images = DeviceLoader(data.train_x, data.train_y, 1, device="cpu").images
        model, step_cpu = train_airbench_port(images, data.train_y, args.steps, args.batch_size, lr_factor=lr, seed=seed)
    train_cpu = time.process_time() - c0
    acc = accuracies(model, DeviceLoader(eval_x, eval_y, 1, device="cpu").images, eval_y)
    timed = step_cpu[TIMING_WARMUP_STEPS:]
    run = {"key": key, "side": side, "lr" if side == COURSE else "lr_factor_of_airbench": lr, "seed": seed,
           "steps": args.steps, "batch_size": args.batch_size, "evaluated_on": "test" if on_test else "validation",
           "accuracy_by_tta_level": {str(k): v for k, v in acc.items()},
           "step_cpu_seconds": [round(t, 4) for t in step_cpu],
           "timed_steps": len(timed), "images_per_cpu_second": len(timed) * args.batch_size / sum(timed),
           "cpu_seconds_steps": round(sum(step_cpu), 2), "cpu_seconds_setup": round(train_cpu - sum(step_cpu), 2),
           "cpu_seconds": round(time.process_time() - c0, 2), "wall_clock": [started, time.time()]}
    print(f"{side:16s} lr={lr:.4g} seed={seed} {'test' if on_test else 'validation'}: "
          + ", ".join(f"TTA {k} {v:.1%}" for k, v in acc.items())
          + f"; {run['images_per_cpu_second']:.0f} images/CPU-s over steps {TIMING_WARMUP_STEPS + 1}-{args.steps}; "
          f"{run['cpu_seconds']} CPU-s", flush=True)
    return cache.put(run)


def order(runs) -> str:
    """How the two sides' runs met the machine's load: one after the other, or at the same time."""
    course = [r["wall_clock"] for r in runs if r["side"] == COURSE and "wall_clock" in r]
    port = [r["wall_clock"] for r in runs if r["side"] == PORT and "wall_clock" in r]
    overlapping = sum(1 for a in course for b in port if a[0] < b[1] and b[0] < a[1])
    return (f"{len(runs)} runs; {overlapping} pairs of a course run and a port run overlapped in time (two processes, "
            f"one per side, sharing the machine's load); the others ran at different times, under whatever load the "
            f"shared machine had then")


def write_validation_only(data, cache, args, grids, flops, c0):
    """The results of the tuning runs that finished (validation, seed --tune-seed), without test runs.

    Speed does not depend on the learning rate, so every finished run of a side times its steps;
    accuracy has one seed per rate, so it gets no verdict."""
    keys = {side: [f"{side}/lr={lr:.6g}/seed={args.tune_seed}/steps={args.steps}/B={args.batch_size}/test=False"
                   for lr in grid] for side, grid in grids.items()}
    runs = {side: [cache.get(k) for k in ks if cache.get(k) is not None] for side, ks in keys.items()}
    speed = {side: [r["images_per_cpu_second"] for r in rs] for side, rs in runs.items()}
    ratio = compare_ratio(speed[COURSE], speed[PORT], min_seeds=2)
    print(f"speed: course / port = {ratio.ratio:.2f} (95% {ratio.low:.2f}-{ratio.high:.2f}), {ratio.word}; "
          f"runs: {len(speed[COURSE])} and {len(speed[PORT])}")
    all_runs = [r for rs in runs.values() for r in rs]
    tried = {side: len(rs) for side, rs in runs.items()}
    best = {side: max(rs, key=lambda r: r["accuracy_by_tta_level"]["0"]) for side, rs in runs.items()}
    chosen = {COURSE: best[COURSE]["lr"], PORT: best[PORT]["lr_factor_of_airbench"]}
    out = {"what": "course trainer vs a CPU port of airbench94 at equal steps: the validation runs of the tuning "
                   "grid only (one seed per learning rate); the fresh-seed test runs were not run",
           "status": "validation only",
           "not_run": {"what": f"{len(args.seeds)} fresh seeds per side at the chosen rates, read on test",
                       "estimated_cpu_seconds": round(len(args.seeds) * sum(
                           sum(r["cpu_seconds"] for r in rs) / len(rs) for rs in runs.values() if rs))},
           "data": data.record(), **ch03_shared.machine(),
           "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "networks": {COURSE: {"widths": list(FULL_RECIPE["widths"])}, PORT: {"widths": [64, 256, 256]}},
           "tuning": {"on": "validation", "seed": args.tune_seed, "budget_runs_per_side": len(args.course_lrs),
                      "finished_runs_per_side": tried,
                      "what": {COURSE: "learning rate", PORT: "factor of airbench's learning rate (11.5 per 1024)"},
                      "grid": {side: {str(r["lr" if side == COURSE else "lr_factor_of_airbench"]):
                                      r["accuracy_by_tta_level"] for r in rs} for side, rs in runs.items()},
                      "chosen": chosen, "metric": "validation accuracy without TTA"},
           "airbench_features_exercised": {
               "lookahead": [s for s in range(5, args.steps + 1, 5)] + [args.steps],
               "whitening_bias_frozen_from_step": 3 * (len(data.train_y) // args.batch_size)
               if args.steps > 3 * (len(data.train_y) // args.batch_size) else None},
           "equal_work": {"steps": args.steps, "batch_size": args.batch_size, "images": args.steps * args.batch_size,
                          "tta": "the same function and levels for both (0 none, 1 mirror, 2 mirror + 1-pixel shifts)",
                          "differs": "the course takes a random crop (reflect-pad 4) and a random flip per batch, airbench "
                                     "a flip drawn once per image then alternated every epoch, "
                                     "and a random 2-pixel translation per epoch"},
           "timing": {"what": "CPU-seconds of training steps, each step's batch preparation included",
                      "excluded_warmup_steps": TIMING_WARMUP_STEPS, "order": order(all_runs)},
           "gflop_per_image_fwd_bwd": {k: round(v / 1e9, 4) for k, v in flops.items()},
           "images_per_cpu_second_values": speed,
           "ms_per_step_values": {side: [1000 * args.batch_size / v for v in vs] for side, vs in speed.items()},
           "speed_ratio_course_over_port": {"ratio": ratio.ratio, "ci95": [ratio.low, ratio.high], "word": ratio.word,
                                            "runs": tried},
           "mfu_assumed": MFU, "gpu_peak_flops": GPU_PEAK_FLOPS,
           "gpu_seconds_per_50k_epoch_at_mfu": {name: {g: round(f * 50_000 / (peak * MFU), 3)
                                                       for g, peak in GPU_PEAK_FLOPS.items()}
                                                for name, f in flops.items()},
           "airbench94_published": AIRBENCH_PUBLISHED,
           "airbench94_published_pflops_seconds_at_mfu": {g: round(AIRBENCH_PUBLISHED["pflops"] * 1e15 / (peak * MFU), 2)
                                                          for g, peak in GPU_PEAK_FLOPS.items()},
           "runs": all_runs,
           "cpu_seconds": {"tuning": round(sum(r["cpu_seconds"] for r in all_runs), 1), "measurement": 0.0,
                           "this_invocation": round(time.process_time() - c0, 1)}}
    RESULTS.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print("wrote", RESULTS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.npz and test.npz (images, labels)")
    ap.add_argument("--steps", type=int, default=14,
                    help="2 epochs of 7 batches: lookahead acts (steps 5, 10, end), the bias freeze (after 3) does not")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--course-lrs", type=float, nargs="+", default=[0.2, 0.4, 0.8], help="the course's tuning grid")
    ap.add_argument("--port-lr-factors", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                    help="the port's tuning grid: factors of airbench's learning rate")
    ap.add_argument("--tune-seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "ch03_trainer_vs_airbench.runs.jsonl")
    ap.add_argument("--read-cache", type=Path, nargs="*", default=[], help="more caches to reuse runs from")
    ap.add_argument("--side", choices=["both", "course", "port"], default="both",
                    help="run one side only (two processes at once); a last run with both writes the results")
    ap.add_argument("--validation-only", action="store_true",
                    help="write the results from the cached tuning runs alone (no test runs): the validation "
                         "accuracy of each rate tried and the speed of every run, with no verdict on test accuracy")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.tune_seed in args.seeds:
        raise SystemExit("the measured seeds must be fresh: --seeds may not hold --tune-seed")
    if len(args.course_lrs) != len(args.port_lr_factors):
        raise SystemExit("both sides get the same tuning budget: give as many course lrs as port factors")
    data = ch03_shared.load(args.data)
    cache = ch03_shared.RunCache(args.cache, also=args.read_cache)
    c0 = time.process_time()

    grids = {COURSE: args.course_lrs, PORT: args.port_lr_factors}
    if args.side != "both":                                             # one side's runs, into the cache
        side = {"course": COURSE, "port": PORT}[args.side]
        runs = [one_run(data, cache, args, side=side, lr=lr, seed=args.tune_seed, on_test=False) for lr in grids[side]]
        best = max(runs, key=lambda r: r["accuracy_by_tta_level"]["0"])
        lr = best["lr"] if side == COURSE else best["lr_factor_of_airbench"]
        for seed in args.seeds:
            one_run(data, cache, args, side=side, lr=lr, seed=seed, on_test=True)
        print(f"{side}: all runs cached in {args.cache}; run again with --side both to write the results")
        return
    flops = {COURSE: flops_per_image(CifarNet(FULL_RECIPE["widths"])), PORT: flops_per_image(Airbench94Port())}
    if args.validation_only:
        return write_validation_only(data, cache, args, grids, flops, c0)
    tuning = {side: [] for side in grids}
    for i in range(len(args.course_lrs)):                                  # alternate the sides
        for side in grids:
            tuning[side].append(one_run(data, cache, args, side=side, lr=grids[side][i], seed=args.tune_seed,
                                        on_test=False))
    chosen = {side: max(runs, key=lambda r: r["accuracy_by_tta_level"]["0"]) for side, runs in tuning.items()}
    chosen_lr = {COURSE: chosen[COURSE]["lr"], PORT: chosen[PORT]["lr_factor_of_airbench"]}
    print("chosen on validation:", chosen_lr)
    measured = {side: [] for side in grids}
    for i, seed in enumerate(args.seeds):                                 # alternate, and swap who goes first
        for side in (list(grids) if i % 2 == 0 else list(grids)[::-1]):
            measured[side].append(one_run(data, cache, args, side=side, lr=chosen_lr[side], seed=seed, on_test=True))

    acc = {side: {str(k): [r["accuracy_by_tta_level"][str(k)] for r in runs] for k in TTA_LEVELS}
           for side, runs in measured.items()}
    speed = {side: [r["images_per_cpu_second"] for r in runs] for side, runs in measured.items()}
    step_ms = {side: [1000 * args.batch_size / v for v in speeds] for side, speeds in speed.items()}
    accuracy_verdicts = {}
    for k in TTA_LEVELS:
        d = compare(acc[COURSE][str(k)], acc[PORT][str(k)])
        accuracy_verdicts[str(k)] = {"diff": d.diff, "ci95": [d.low, d.high], "word": d.word}
        print(f"TTA level {k}: " + d.sentence(COURSE, PORT, "test accuracy", " points", scale=100))
    ratio = compare_ratio(speed[COURSE], speed[PORT])
    print(f"speed: course / port = {ratio.ratio:.2f} (95% {ratio.low:.2f}-{ratio.high:.2f}), {ratio.word}")

    gpu = {name: {gpu_name: round(f * 50_000 / (peak * MFU), 3) for gpu_name, peak in GPU_PEAK_FLOPS.items()}
           for name, f in flops.items()}
    published = {gpu_name: round(AIRBENCH_PUBLISHED["pflops"] * 1e15 / (peak * MFU), 2)
                 for gpu_name, peak in GPU_PEAK_FLOPS.items()}
    all_runs = [r for runs in tuning.values() for r in runs] + [r for runs in measured.values() for r in runs]
    out = {"what": "course trainer vs a CPU port of airbench94: each tuned on validation with the same budget, "
                   "then fresh seeds on test; FLOPs, CPU speed of training steps, accuracy after equal steps",
           "data": data.record(), **ch03_shared.machine(),
           "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           "networks": {COURSE: {"widths": list(FULL_RECIPE["widths"])}, PORT: {"widths": [64, 256, 256]}},
           "tuning": {"on": "validation", "seed": args.tune_seed, "budget_runs_per_side": len(args.course_lrs),
                      "what": {COURSE: "learning rate", PORT: "factor of airbench's learning rate (11.5 per 1024)"},
                      "grid": {side: {str(r["lr" if side == COURSE else "lr_factor_of_airbench"]):
                                      r["accuracy_by_tta_level"]["0"] for r in runs} for side, runs in tuning.items()},
                      "chosen": chosen_lr, "metric": "validation accuracy without TTA"},
           "airbench_features_exercised": {
               "lookahead": [s for s in range(5, args.steps + 1, 5)] + [args.steps],
               "whitening_bias_frozen_from_step": 3 * (len(data.train_y) // args.batch_size)
               if args.steps > 3 * (len(data.train_y) // args.batch_size) else None},
           "equal_work": {"steps": args.steps, "batch_size": args.batch_size,
                          "images": args.steps * args.batch_size,
                          "tta": "the same function and levels for both (0 none, 1 mirror, 2 mirror + 1-pixel shifts)",
                          "differs": "the course takes a random crop (reflect-pad 4) and a random flip per batch, airbench "
                                     "a flip drawn once per image then alternated every epoch, "
                                     "and a random 2-pixel translation per epoch"},
           "timing": {"what": "CPU-seconds of training steps, each step's batch preparation included",
                      "excluded_warmup_steps": TIMING_WARMUP_STEPS, "order": order(all_runs)},
           "gflop_per_image_fwd_bwd": {k: round(v / 1e9, 4) for k, v in flops.items()},
           "images_per_cpu_second": {side: vars(summarize(v)) for side, v in speed.items()},
           "images_per_cpu_second_values": speed, "ms_per_step_values": step_ms,
           "ms_per_step": {side: vars(summarize(v)) for side, v in step_ms.items()},
           "speed_ratio_course_over_port": {"ratio": ratio.ratio, "ci95": [ratio.low, ratio.high], "word": ratio.word},
           "accuracy_per_seed": acc, "seeds": args.seeds,
           "accuracy": {side: {k: vars(summarize(v)) for k, v in levels.items()} for side, levels in acc.items()},
           "accuracy_verdicts_course_minus_port": accuracy_verdicts,
           "mfu_assumed": MFU, "gpu_peak_flops": GPU_PEAK_FLOPS,
           "gpu_seconds_per_50k_epoch_at_mfu": gpu,
           "airbench94_published": AIRBENCH_PUBLISHED,
           "airbench94_published_pflops_seconds_at_mfu": published,
           "runs": all_runs,
           "cpu_seconds": {"tuning": round(sum(r["cpu_seconds"] for runs in tuning.values() for r in runs), 1),
                           "measurement": round(sum(r["cpu_seconds"] for runs in measured.values() for r in runs), 1),
                           "this_invocation": round(time.process_time() - c0, 1)}}
    RESULTS.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
