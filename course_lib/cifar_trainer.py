"""A fast CIFAR-10 trainer: a small BatchNorm convnet, Nesterov SGD, GPU-first, honest on a CPU.

Introduced in chapter 3 (batch size and SGD on CIFAR-10).

    result = train(train_x, train_y, test_x, test_y, steps=400, batch_size=512)
    result.accuracy, result.images_per_second, result.curve

The recipe follows what makes Keller Jordan's airbench reach 94% in seconds, rewritten for the
course: a first 2x2 convolution that *whitens* image patches (initialised from the data's patch
covariance and frozen), conv-pool-BatchNorm-GELU blocks, a max-pooled head; Nesterov SGD with a
linear warm-up and a linear decay; label smoothing; test-time augmentation (tta_logits). The data
stays on the device (course_lib.loader) in channels_last memory (measured here: also about 1.5x
faster for these convolutions on a CPU). On a GPU it uses the autocast dtype course_lib.device
picks (bf16 where native, fp16 with a GradScaler on older cards) and torch.compile where that
works; on a CPU it runs in float32 and eagerly.
"""
from __future__ import annotations

import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from torch import nn

from .device import autocast_dtype, needs_grad_scaler, pick_device
from .loader import DeviceLoader


def whitening_filters(images: torch.Tensor, size: int = 2, eps: float = 5e-4, center: bool = True) -> torch.Tensor:
    """(2 C s², C, s, s) conv filters that whiten s x s patches of normalised `images` (N, C, H, W):
    the covariance's eigenvectors scaled by 1/sqrt(eigenvalue), each with its negative.
    center=False uses the second moment of the patches instead (airbench's choice)."""
    c = images.shape[1]
    patches = images.unfold(2, size, 1).unfold(3, size, 1)                 # (N, C, H', W', s, s)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * size * size).double()
    if center:
        patches = patches - patches.mean(0)
    cov = patches.T @ patches / len(patches)
    eigvals, eigvecs = torch.linalg.eigh(cov)                               # ascending
    filters = (eigvecs.T / torch.sqrt(eigvals + eps)[:, None]).reshape(-1, c, size, size)
    return torch.cat([filters, -filters]).float()


# The network and learning rate that chapter 3's page measures against airbench94 (the rate tuned on
# a validation split by benchmarks/ch03_trainer_vs_airbench.py) and that the exercise's GPU run
# trains: one owner for both, so that the page times the network the exercise trains.
FULL_RECIPE = {"widths": (64, 128, 256), "lr": 0.8, "batch_size": 512}

# BatchNorm's running statistics follow the last few batches closely (PyTorch's default is 0.1):
# a run of a few hundred steps ends with statistics of the weights it ends with.
BN_MOMENTUM = 0.4


def identity_conv(c_in: int, c_out: int) -> nn.Conv2d:
    """A 3x3 convolution that starts as the identity on its first min(c_in, c_out) channels (the rest
    random): an implicit residual connection, so a deep stack starts close to passing its input on."""
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    n = min(c_in, c_out)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:n, :n])
    return conv


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """conv 3x3 -> max-pool /2 -> BN -> GELU -> conv 3x3 -> BN -> GELU: (B, c_in, H, W) -> (B, c_out, H/2, W/2)."""
    return nn.Sequential(
        identity_conv(c_in, c_out), nn.MaxPool2d(2), nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM), nn.GELU(),
        identity_conv(c_out, c_out), nn.BatchNorm2d(c_out, momentum=BN_MOMENTUM), nn.GELU(),
    )


class CifarNet(nn.Module):
    def __init__(self, widths=(64, 128, 256), whiten_size: int = 2, num_classes: int = 10):
        super().__init__()
        n_whiten = 2 * 3 * whiten_size ** 2
        self.whiten = nn.Conv2d(3, n_whiten, whiten_size, padding=0)         # (B, 24, 31, 31), set by init_whitening
        self.blocks = nn.Sequential(*[conv_block(c_in, c_out)
                                      for c_in, c_out in zip((n_whiten, *widths[:-1]), widths)])
        self.head = nn.Linear(widths[-1], num_classes, bias=False)

    def init_whitening(self, images: torch.Tensor | None = None, filters: torch.Tensor | None = None) -> None:
        """Set the frozen whitening filters from `images` (or to `filters` computed before, e.g. once
        for many runs on the same data: whitening_filters(images))."""
        if (images is None) == (filters is None):
            raise ValueError("pass either images to compute the whitening from, or precomputed filters")
        with torch.no_grad():
            self.whiten.weight.copy_(filters if filters is not None else
                                     whitening_filters(images, self.whiten.kernel_size[0]))
            self.whiten.bias.zero_()
        self.whiten.weight.requires_grad_(False)                              # frozen: only its bias learns

    def forward(self, x):                                                    # x: (B, 3, 32, 32)
        x = nn.functional.gelu(self.whiten(x))                               # (B, 24, 31, 31)
        x = self.blocks(x)                                                   # (B, widths[-1], 3, 3)
        x = torch.amax(x, dim=(2, 3))                                        # (B, widths[-1])
        return self.head(x) / 8.0                                            # (B, 10) small logits at init


def lr_schedule(step: int, total: int, peak: float, warmup: int, decay: bool = True) -> float:
    """Linear warm-up from 0 to `peak` over `warmup` steps, then linear decay to 0 at `total`
    (or constant at `peak` with decay=False, so that steps-to-target does not depend on `total`)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if not decay:
        return peak
    return peak * max(0.0, (total - step) / max(1, total - warmup))


@dataclass
class TrainResult:
    model: nn.Module
    accuracy: float                      # test accuracy at the end (with test-time augmentation `tta`)
    images_per_second: float             # training images per second of wall time
    cpu_seconds: float                   # process CPU time spent in training steps (batches included)
    curve: list = field(default_factory=list)   # (step, test accuracy without TTA) at each evaluation
    losses: list = field(default_factory=list)  # training loss per step
    step_cpu_seconds: list = field(default_factory=list)  # CPU time of each step, its batch included
    dtype: str = "float32"
    compiled: bool = False


def tta_logits(model: nn.Module, x: torch.Tensor, level: int = 0) -> torch.Tensor:
    """Logits with test-time augmentation (TTA): the prediction averaged over transformed copies of
    each image. level 0: the image alone; 1: it and its mirror image; 2: those two and both shifted
    one pixel up-left and down-right (6 views, weights 1/4, 1/4, 1/8 x 4: airbench's tta_level=2)."""
    if level not in (0, 1, 2):
        raise ValueError(f"TTA level must be 0 (none), 1 (mirror) or 2 (mirror and shifts), got {level!r}")
    if level == 0:
        return model(x)
    mirror = 0.5 * model(x) + 0.5 * model(x.flip(-1))
    if level == 1:
        return mirror
    p = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    h, w = x.shape[-2:]
    shifted = [p[..., :h, :w], p[..., 2:h + 2, 2:w + 2]]                   # up-left, down-right
    return 0.5 * mirror + 0.25 * sum(0.5 * model(s) + 0.5 * model(s.flip(-1)) for s in shifted)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DeviceLoader, tta: bool | int = False, dtype=torch.float32) -> float:
    """Accuracy over every example of `loader` (ragged last batch included), in eval mode, with
    test-time augmentation level `tta` (False/0 none, True/1 mirror, 2 mirror and shifts)."""
    was_training = model.training
    model.eval()
    correct = total = 0
    ctx = torch.autocast(loader.device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()
    with ctx:
        for x, y in loader:
            logits = tta_logits(model, x, int(tta))
            correct += (logits.argmax(1) == y).sum().item()
            total += len(y)
    model.train(was_training)
    return correct / total


def _progress(step: int, total: int, text: str, enabled: bool) -> None:
    if enabled:
        done = int(20 * step / max(1, total))
        sys.stdout.write(f"\r[{'#' * done}{'.' * (20 - done)}] {step}/{total} {text}   ")
        sys.stdout.flush()


def train(train_x, train_y, test_x, test_y, *, steps: int, batch_size: int = 512, lr: float = 0.2,
          warmup: int | None = None, momentum: float = 0.9, nesterov: bool = True, weight_decay: float = 5e-4,
          label_smoothing: float = 0.2, norm_lr_mult: float = 64.0, widths=(64, 128, 256), augment: bool = True,
          tta: bool | int = True, eval_every: int | None = None, eval_at=None, stop_at: float | None = None,
          decay: bool = True, schedule=None, seed: int = 0, whitening: torch.Tensor | None = None, on_step=None,
          device=None, compile: bool | None = None, progress: bool = True) -> TrainResult:
    """Train a CifarNet for `steps` optimizer steps; evaluate on (test_x, test_y) every `eval_every`
    steps and at each step in `eval_at`, and stop early once that accuracy reaches `stop_at` (for
    steps-to-target runs). The BatchNorm parameters and the whitening bias learn at `norm_lr_mult`
    times `lr`, without weight decay (airbench's 64: a shift per channel needs large steps to move
    while the weights settle). `whitening`: filters from whitening_filters(), to skip computing them
    again for each run on the same data. schedule(step) -> learning rate, if given, replaces the
    warm-up-and-decay schedule (lr, warmup, decay). on_step(step, model), if given, runs after each step,
    outside the timing (e.g. to measure the gradient noise at checkpoints)."""
    device = torch.device(device) if device is not None else pick_device()
    dtype = autocast_dtype(device)
    torch.manual_seed(seed)
    on_gpu = device.type == "cuda"
    train_loader = DeviceLoader(train_x, train_y, batch_size, shuffle=True, drop_last=True, augment=augment,
                                seed=seed, device=device, channels_last=True)
    test_loader = DeviceLoader(test_x, test_y, 1000, shuffle=False, device=device, channels_last=True)
    model = CifarNet(widths).to(device)
    if whitening is not None:
        model.init_whitening(filters=whitening.to(device))
    else:
        model.init_whitening(train_loader.images[:5000].float())
    model = model.to(memory_format=torch.channels_last)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)          # no weight decay on BN and biases
    opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay, "lr_mult": 1.0},
                           {"params": no_decay, "weight_decay": 0, "lr_mult": norm_lr_mult}],
                          lr=lr, momentum=momentum, nesterov=nesterov)
    warmup = warmup if warmup is not None else max(1, steps // 10)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(dtype))
    autocast = torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else nullcontext()

    forward, compiled = model, False
    if (compile if compile is not None else on_gpu) and hasattr(torch, "compile"):
        try:
            forward = torch.compile(model)
            with autocast:
                forward(train_loader.images[:2].contiguous(memory_format=torch.channels_last))  # compile now, or fall back
            compiled = True
        except Exception as exc:  # no compiler tool chain (e.g. Windows without a C compiler)
            print(f"torch.compile unavailable ({type(exc).__name__}); running eagerly", file=sys.stderr)
            forward = model

    result = TrainResult(model=model, accuracy=float("nan"), images_per_second=float("nan"), cpu_seconds=0.0,
                         dtype=str(dtype).replace("torch.", ""), compiled=compiled)
    eval_at = {int(s) for s in eval_at} if eval_at is not None else set()
    step, seen, train_time, cpu_time = 0, 0, 0.0, 0.0
    batches = iter(())
    while step < steps:
        t0, c0 = time.perf_counter(), time.process_time()
        x_y = next(batches, None)
        if x_y is None:                                             # a new epoch: reshuffle
            batches = iter(train_loader)
            x_y = next(batches)
        x, y = x_y
        for group in opt.param_groups:
            group["lr"] = group["lr_mult"] * (schedule(step) if schedule else lr_schedule(step, steps, lr, warmup, decay))
        with autocast:
            loss = loss_fn(forward(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        result.losses.append(loss.item())      # .item() syncs the GPU, so the timing below is honest
        train_time += time.perf_counter() - t0
        result.step_cpu_seconds.append(time.process_time() - c0)
        cpu_time += result.step_cpu_seconds[-1]
        step, seen = step + 1, seen + len(y)
        if on_step is not None:
            on_step(step, model)
        if (eval_every and step % eval_every == 0) or step in eval_at or (step == steps and (eval_every or eval_at)):
            result.curve.append((step, evaluate(model, test_loader, dtype=dtype)))
            if stop_at is not None and result.curve[-1][1] >= stop_at:
                steps = step                                    # reached the target: stop here
        _progress(step, steps, f"loss {loss.item():.3f} {seen / train_time:,.0f} img/s", progress)
    if progress:
        sys.stdout.write("\n")
    result.images_per_second = seen / train_time if train_time else math.nan
    result.cpu_seconds = cpu_time
    if not int(tta) and result.curve and result.curve[-1][0] == step:
        result.accuracy = result.curve[-1][1]                 # just measured, without TTA
    else:
        result.accuracy = evaluate(model, test_loader, tta=tta, dtype=dtype)
    return result
