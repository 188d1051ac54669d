"""The course's CIFAR-10 trainer against a CPU port of airbench94, same data, same steps, one thread.

airbench94 (Keller Jordan, github.com/KellerJordan/cifar10-airbench) reaches 94% in 3.83 s on an
A100, but calls .half().cuda(), CUDA events and torchvision, so it cannot run here as published.
`Airbench94Port` below rebuilds its network and schedule for a CPU in float32: a frozen 2x2
whitening convolution (24 filters) with a bias trained for the first 3 epochs, three conv groups
of widths 64/256/256 (conv, max-pool, BatchNorm with frozen weight, eps 1e-12 and momentum 0.6 in
airbench's convention, GELU, conv, BatchNorm, GELU) whose convolutions start as identities on
their first channels, a 3x3 max-pool, a linear head scaled by 1/9; Nesterov SGD with momentum
0.85, learning rate 11.5 and weight decay 0.0153 per 1024 examples, a 64x learning rate for the
BatchNorm biases, a summed label-smoothed (0.2) loss, a triangular schedule (0.2 -> 1 at 23% ->
0.07), lookahead averaging every 5 steps from epoch 3, every-other-epoch flipping with a random
2-pixel translation, and test-time augmentation with flips and 1-pixel translations.

Measured, in one process with one thread:
- FLOPs per image, forward + backward (torch.utils.flop_counter), for each network;
- images per CPU-second of training steps, the two trainers alternating in rounds;
- test accuracy after the same number of steps at the same batch size, the mean over --seeds seeds.
And derived: GPU seconds per 50,000-image epoch at a stated MFU, from the FLOPs alone.

    nice -n 5 .venv/bin/python benchmarks/ch03_trainer_vs_airbench.py --data ../shared/data/cifar10-subset

Writes benchmarks/results/ch03_trainer_vs_airbench.json (read by book/ch03/index.md).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib import cifar10
from course_lib.cifar_trainer import CifarNet, identity_conv, train, whitening_filters
from course_lib.loader import DeviceLoader

RESULTS = Path(__file__).parent / "results" / "ch03_trainer_vs_airbench.json"
# Dense peak throughput in the precision each GPU trains in (vendor data sheets): T4 fp16 tensor
# cores, A100 and H100 SXM bf16 tensor cores.
GPU_PEAK_FLOPS = {"T4 (fp16)": 65e12, "A100 (bf16)": 312e12, "H100 SXM (bf16)": 989e12}
MFU = 0.30                           # airbench94's 0.36 PFLOPs in 3.83 s on an A100 is about 30% MFU
AIRBENCH_PUBLISHED = {"pflops": 0.36, "a100_seconds": 3.83, "accuracy": 0.9401}


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


def train_airbench_port(images, labels, test_images, test_labels, steps, batch_size=1024, seed=0, on_step=None):
    """airbench94's training on the CPU, float32; returns (model, test accuracy with TTA)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = Airbench94Port()
    with torch.no_grad():
        model.whiten.weight.copy_(whitening_filters(images[:5000], 2))
    momentum = 0.85
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr, wd = 11.5 / kilostep, 0.0153 * batch_size / kilostep
    lr_bias = lr * 64.0
    norm_biases = [p for n, p in model.named_parameters() if "norm" in n and p.requires_grad]
    others = [p for n, p in model.named_parameters() if "norm" not in n and p.requires_grad]
    opt = torch.optim.SGD([dict(params=norm_biases, lr=lr_bias, weight_decay=wd / lr_bias),
                           dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=momentum, nesterov=True)
    base_lrs = [lr_bias, lr]
    schedule = _triangle(steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.2, reduction="none")
    per_epoch = len(labels) // batch_size
    epochs = math.ceil(steps / per_epoch)
    flipped = torch.where((torch.rand(len(images), generator=g) < 0.5)[:, None, None, None], images.flip(-1), images)
    padded = F.pad(flipped, (2, 2, 2, 2), mode="reflect")
    ema, step = None, 0
    for epoch in range(epochs):
        model.whiten.bias.requires_grad_(epoch < 3)
        shifts = torch.randint(0, 5, (len(images), 2), generator=g)
        rows = (shifts[:, :1] + torch.arange(32))[:, None, :, None]
        cols = (shifts[:, 1:] + torch.arange(32))[:, None, None, :]
        epoch_images = padded[torch.arange(len(images))[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
        if epoch % 2 == 1:
            epoch_images = epoch_images.flip(-1)       # every other epoch, every image flipped together
        order = torch.randperm(len(images), generator=g)
        for k in range(per_epoch):
            idx = order[k * batch_size:(k + 1) * batch_size]
            for group, base in zip(opt.param_groups, base_lrs):
                group["lr"] = base * schedule[step]
            c0 = time.process_time()
            loss = loss_fn(model(epoch_images[idx]), labels[idx]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if on_step:
                on_step(time.process_time() - c0, len(idx))
            step += 1
            if epoch >= 3 and step % 5 == 0:
                if ema is None:
                    ema = {k: v.clone() for k, v in model.state_dict().items()}
                else:
                    rho = 0.95 ** 5 * (step / steps) ** 3
                    for e, p in zip(ema.values(), model.state_dict().values()):
                        if p.dtype.is_floating_point:
                            e.lerp_(p, 1 - rho)
                            p.copy_(e)
            if step >= steps:
                break
        if ema is not None:
            for e, p in zip(ema.values(), model.state_dict().values()):
                if p.dtype.is_floating_point:
                    p.copy_(e)
        if step >= steps:
            break
    model.eval()
    with torch.no_grad():
        def mirror(x):
            return 0.5 * model(x) + 0.5 * model(x.flip(-1))
        logits = []
        for x in test_images.split(500):
            p = F.pad(x, (1, 1, 1, 1), mode="reflect")
            logits.append(0.5 * mirror(x) + 0.25 * mirror(p[:, :, 0:32, 0:32]) + 0.25 * mirror(p[:, :, 2:34, 2:34]))
        acc = (torch.cat(logits).argmax(1) == test_labels).double().mean().item()
    return model, acc


# ---- measurements -----------------------------------------------------------------------------------

def flops_per_image(model, batch=16):
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    model.train()
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


def throughput(make_models, images, labels, batch_size, rounds, steps_per_round):
    """Images per CPU-second of training steps, the variants alternating round by round."""
    models = {name: make() for name, make in make_models.items()}
    opts = {name: torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=1e-3, momentum=0.9, nesterov=True)
            for name, m in models.items()}
    cpu = dict.fromkeys(models, 0.0)
    seen = dict.fromkeys(models, 0)
    g = torch.Generator().manual_seed(0)
    for _ in range(rounds):
        for name, model in models.items():
            for _ in range(steps_per_round):
                idx = torch.randint(0, len(labels), (batch_size,), generator=g)
                c0 = time.process_time()
                loss = F.cross_entropy(model(images[idx]), labels[idx], label_smoothing=0.2)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
                cpu[name] += time.process_time() - c0
                seen[name] += batch_size
    return {name: seen[name] / cpu[name] for name in models}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder with train.npz and test.npz (images, labels)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--course-lr", type=float, default=0.8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps-per-round", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3, help="accuracy is the mean over this many seeds")
    args = ap.parse_args()
    torch.set_num_threads(1)

    train_x, train_y = cifar10.load_npz(Path(args.data) / "train.npz")
    test_x, test_y = cifar10.load_npz(Path(args.data) / "test.npz")
    norm = DeviceLoader(train_x, train_y, 1, device="cpu")
    images, test_images = norm.images, DeviceLoader(test_x, test_y, 1, device="cpu").images

    flops = {"course CifarNet": flops_per_image(CifarNet()), "airbench94 port": flops_per_image(Airbench94Port())}
    speed = throughput({"course CifarNet": CifarNet, "airbench94 port": Airbench94Port}, images, train_y,
                       args.batch_size, args.rounds, args.steps_per_round)
    for name in flops:
        print(f"{name:16s}: {flops[name] / 1e9:.3f} GFLOP per image (fwd+bwd), {speed[name]:.0f} images per CPU-second")

    # One seed's accuracy on 1,017 test images moves by a few points: compare the mean over seeds.
    accuracy = {"course CifarNet": [], "airbench94 port": []}
    cpu = {"course CifarNet": [], "airbench94 port": []}
    for seed in range(args.seeds):
        c0 = time.process_time()
        ours = train(train_x, train_y, test_x, test_y, steps=args.steps, batch_size=args.batch_size, lr=args.course_lr,
                     device="cpu", progress=False, seed=seed)
        cpu["course CifarNet"].append(time.process_time() - c0)
        c0 = time.process_time()
        _, port_acc = train_airbench_port(images, train_y, test_images, test_y, args.steps, args.batch_size, seed=seed)
        cpu["airbench94 port"].append(time.process_time() - c0)
        accuracy["course CifarNet"].append(ours.accuracy)
        accuracy["airbench94 port"].append(port_acc)
        print(f"seed {seed}, after {args.steps} steps of {args.batch_size}: course {ours.accuracy:.1%}, "
              f"airbench94 port {port_acc:.1%}, both with test-time augmentation")
    mean = {k: sum(v) / len(v) for k, v in accuracy.items()}
    print(f"mean over {args.seeds} seeds: " + ", ".join(f"{k} {v:.1%}" for k, v in mean.items()))

    gpu = {name: {gpu_name: round(f * 50_000 / (peak * MFU), 3) for gpu_name, peak in GPU_PEAK_FLOPS.items()}
           for name, f in flops.items()}
    published = {gpu_name: round(AIRBENCH_PUBLISHED["pflops"] * 1e15 / (peak * MFU), 2)
                 for gpu_name, peak in GPU_PEAK_FLOPS.items()}
    out = {"what": "course trainer vs a CPU port of airbench94: FLOPs, CPU throughput, accuracy after equal steps",
           "data": f"{len(train_y)}-image CIFAR-10 subset (train), {len(test_y)} test images",
           "device": f"CPU, 1 thread ({platform.machine()})", "torch": torch.__version__, "args": vars(args),
           "gflop_per_image_fwd_bwd": {k: round(v / 1e9, 4) for k, v in flops.items()},
           "images_per_cpu_second": {k: round(v, 1) for k, v in speed.items()},
           "speed_ratio_course_over_port": round(speed["course CifarNet"] / speed["airbench94 port"], 2),
           "accuracy_after_equal_steps": mean, "accuracy_per_seed": accuracy,
           "training_cpu_seconds": {k: round(sum(v) / len(v), 1) for k, v in cpu.items()},
           "mfu_assumed": MFU, "gpu_peak_flops": GPU_PEAK_FLOPS,
           "gpu_seconds_per_50k_epoch_at_mfu": gpu,
           "airbench94_published": AIRBENCH_PUBLISHED,
           "airbench94_published_pflops_seconds_at_mfu": published}
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", RESULTS)


if __name__ == "__main__":
    main()
