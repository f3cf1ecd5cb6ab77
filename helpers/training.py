"""The training loop: ``fit`` and ``evaluate`` for tensor-backed image datasets.

Written for GPUs and honest on CPUs: data and augmentation live on the device, batches move
with ``non_blocking``, conv nets run ``channels_last``, CUDA uses autocast (bf16 where the
GPU supports it, else fp16 with a gradient scaler), CPUs stay in fp32 (bf16 autocast is many
times slower on CPUs without bf16 units). The loss is summed on the device and read once per
epoch, so no step waits for the host.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import config
from .data import ImageSet
from .features import normalise, preprocess
from .models import apply_bn_policy


@dataclass
class Preprocessing:
    """How uint8 images become network inputs: resize to ``size``, ``channels``, normalise with ``mean``/``std``."""

    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3

    @classmethod
    def of(cls, backbone, size: int | None = None) -> Preprocessing:
        return cls(size or backbone.input_size, backbone.mean, backbone.std, backbone.in_channels)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return preprocess(images, self.size, self.mean, self.std, self.channels)

    def augmented(self, images: torch.Tensor, generator: torch.Generator | None = None, **augmentation) -> torch.Tensor:
        """Like ``__call__`` with :func:`augment` fused in: uint8 ``(N, C, H, W)`` → float ``(N, channels, size, size)``.

        The random crop is resampled straight from the stored images to ``size`` (one interpolation
        instead of resize-then-crop), then normalised.
        """
        k = self.channels
        x = preprocess(images, None, (0.0,) * k, (1.0,) * k, k)  # float in [0, 1], channels adapted
        return normalise(augment(x, out_size=self.size, generator=generator, **augmentation), self.mean, self.std)


def augment(
    x: torch.Tensor,
    *,
    scale: tuple[float, float] = (0.6, 1.0),
    flip: bool = True,
    generator: torch.Generator | None = None,
    out_size: int | None = None,
) -> torch.Tensor:
    """Batched random-resized-crop (square, area fraction in ``scale``) and horizontal flip, on x's device.

    ``x`` float ``(N, C, H, W)`` → ``(N, C, out_size, out_size)`` (same size when ``out_size`` is
    None). One ``grid_sample`` call for the whole batch.
    """
    n = x.shape[0]
    rand = torch.rand(n, 4, device="cpu", generator=generator).to(x.device)
    side = torch.sqrt(scale[0] + (scale[1] - scale[0]) * rand[:, 0])  # crop side as a fraction of the image
    tx = (rand[:, 1] * 2 - 1) * (1 - side)
    ty = (rand[:, 2] * 2 - 1) * (1 - side)
    mirrored = rand[:, 3] < 0.5 if flip else torch.zeros(n, dtype=torch.bool, device=x.device)
    sx = torch.where(mirrored, -side, side)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, side, ty
    shape = list(x.shape) if out_size is None else [n, x.shape[1], out_size, out_size]
    grid = F.affine_grid(theta, shape, align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def amp_settings(device: torch.device) -> tuple[bool, torch.dtype | None]:
    """``(enabled, dtype)`` for autocast: bf16 on CUDA GPUs that support it, fp16 on older ones, off elsewhere."""
    if device.type != "cuda":
        return False, None
    return True, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def warmup_cosine(total_steps: int, warmup_steps: int):
    """LR multiplier per step: linear warm-up from ~0 to 1, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _batches(n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None, drop_last: bool = False):
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def _optimizer(groups: list[dict], name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, or SGD with momentum 0.9, over parameter ``groups`` (each without its own weight decay gets ``weight_decay``)."""
    for g in groups:
        g.setdefault("weight_decay", weight_decay)
    opt_cls = {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    return opt_cls(groups, lr=lr, **({"momentum": 0.9} if name == "sgd" else {}))


def _on_device(dataset: ImageSet, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 images and labels on ``device`` (small datasets move once; pinned for CUDA)."""
    images, labels = dataset.images, dataset.labels
    if device.type == "cuda" and not images.is_pinned():
        images, labels = images.pin_memory(), labels.pin_memory()
    return images.to(device, non_blocking=True), labels.to(device, non_blocking=True)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: ImageSet,
    prep: Preprocessing,
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and ``accuracy`` of ``model`` on ``dataset`` (model left in eval mode)."""
    device = torch.device(device) if device is not None else config.pick_device()
    model.to(device).eval()
    images, labels = _on_device(dataset, device)
    enabled, dtype = amp_settings(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for idx in _batches(len(dataset), batch_size, False, None):
        idx = idx.to(device)
        x = prep(images[idx]).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=enabled):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), labels[idx], reduction="sum")
        correct += (logits.argmax(1) == labels[idx]).sum()
    n = max(len(dataset), 1)
    return {"loss": loss_sum.item() / n, "accuracy": correct.item() / n}


def fit(
    model: nn.Module,
    train_set: ImageSet,
    prep: Preprocessing,
    *,
    param_groups: list[dict] | None = None,
    lr: float = 1e-3,
    epochs: int = 5,
    batch_size: int = 64,
    optimizer: str = "adamw",
    weight_decay: float = 0.0,
    warmup_epochs: float = 0.0,
    bn_policy: str = "train",
    augmentation: dict | None = None,
    val_set: ImageSet | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    channels_last: bool = True,
    progress: bool = True,
    label_smoothing: float = 0.0,
) -> dict[str, list[float]]:
    """Train ``model`` on ``train_set``; return the history ``{"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}`` per epoch.

    ``param_groups`` (see :func:`helpers.models.param_groups`) sets per-group LRs; otherwise all
    trainable parameters use ``lr``. LRs follow a warm-up + cosine schedule stepped per batch.
    ``augmentation``: keyword arguments of :func:`augment` (``None``: no augmentation).
    ``bn_policy``: see :func:`helpers.models.apply_bn_policy`.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else config.pick_device()
    generator = config.seed_everything(seed)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    groups = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
    opt = _optimizer(groups, optimizer, lr, weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, warmup_cosine(epochs * steps_per_epoch, int(warmup_epochs * steps_per_epoch))
    )
    enabled, dtype = amp_settings(device)
    scaler = torch.amp.GradScaler(device.type, enabled=enabled and dtype == torch.float16)
    images, labels = _on_device(train_set, device)
    history: dict[str, list[float]] = {
        k: [] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
    }
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for _ in bar:
        start = time.perf_counter()
        model.train()
        apply_bn_policy(model, bn_policy)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        history["lr"].append(opt.param_groups[-1]["lr"])
        for idx in _batches(len(train_set), batch_size, True, generator):
            idx = idx.to(device, non_blocking=True)
            if augmentation is not None:
                x = prep.augmented(images[idx], generator=generator, **augmentation)
            else:
                x = prep(images[idx])
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels[idx]
            with torch.autocast(device.type, dtype=dtype, enabled=enabled):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            schedule.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
        history["train_loss"].append(loss_sum.item() / len(train_set))
        history["train_accuracy"].append(correct.item() / len(train_set))
        if val_set is not None:
            val = evaluate(model, val_set, prep, device=device)
            history["val_loss"].append(val["loss"])
            history["val_accuracy"].append(val["accuracy"])
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix(
            loss=f"{history['train_loss'][-1]:.3f}",
            val_acc=f"{history['val_accuracy'][-1]:.3f}" if val_set is not None else "-",
        )
    model.eval()
    return history


def lr_range_test(
    model: nn.Module,
    train_set: ImageSet,
    prep: Preprocessing,
    *,
    param_groups: list[dict] | None = None,
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    steps: int = 100,
    batch_size: int = 64,
    optimizer: str = "adamw",
    weight_decay: float = 0.0,
    bn_policy: str = "train",
    device: torch.device | str | None = None,
    seed: int = 0,
    smoothing: float = 0.1,
    stop_factor: float = 4.0,
) -> dict:
    """Leslie Smith's LR range test: raise the LR geometrically every step, record the training loss.

    The LR goes from ``start_lr`` to ``end_lr`` over ``steps`` mini-batches (cycling through
    ``train_set``). With ``param_groups`` every group's LR is scaled by the same factor, so their
    ratios stay fixed and ``lr`` reports the *last* group's (the head's) LR. The test stops early once
    the smoothed loss exceeds ``stop_factor`` × its minimum. The model's weights and BatchNorm
    statistics are restored afterwards. Returns ``{"lr", "loss", "smoothed"}`` (lists, one per
    step), ``"min_lr"`` (LR at the smoothed minimum), ``"steepest_lr"`` (LR of the steepest
    descent) and ``"suggested_lr"`` = ``min_lr / 10`` (the usual rule: an order of magnitude
    below where the loss is lowest, before it blows up).
    """
    if not 0 < start_lr < end_lr:
        raise ValueError("need 0 < start_lr < end_lr")
    if steps < 5:
        raise ValueError("an LR range test needs at least 5 steps")
    device = torch.device(device) if device is not None else config.pick_device()
    generator = config.seed_everything(seed)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.to(device)
    groups = param_groups or [{"params": [p for p in model.parameters() if p.requires_grad], "lr": start_lr}]
    top = groups[-1]["lr"]
    ratios = [g["lr"] / top for g in groups]
    for g, r in zip(groups, ratios):
        g["lr"] = start_lr * r
    opt = _optimizer(groups, optimizer, start_lr, weight_decay)
    growth = (end_lr / start_lr) ** (1 / (steps - 1))
    enabled, dtype = amp_settings(device)
    images, labels = _on_device(train_set, device)
    lrs, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    batches = iter(())
    try:
        model.train()
        apply_bn_policy(model, bn_policy)
        for step in range(steps):
            idx = next(batches, None)
            if idx is None:
                batches = _batches(len(train_set), batch_size, True, generator, drop_last=True)
                idx = next(batches)
            idx = idx.to(device)
            lr = start_lr * growth**step
            for g, r in zip(opt.param_groups, ratios):
                g["lr"] = lr * r
            x = prep(images[idx]).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=enabled):
                loss = F.cross_entropy(model(x).float(), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = loss.item()
            if not math.isfinite(value):
                break
            avg = smoothing * value + (1 - smoothing) * avg if step else value
            lrs.append(lr)
            losses.append(value)
            smoothed.append(avg)
            best = min(best, avg)
            if avg > stop_factor * best:
                break
    finally:
        model.load_state_dict(saved)
        model.eval()
    if len(smoothed) < 3:
        raise RuntimeError("the loss diverged within the first steps; lower start_lr")
    i_min = min(range(len(smoothed)), key=smoothed.__getitem__)
    slopes = [(smoothed[i + 1] - smoothed[i - 1]) for i in range(1, max(2, i_min))]
    i_steep = 1 + min(range(len(slopes)), key=slopes.__getitem__) if slopes else 0
    return {
        "lr": lrs,
        "loss": losses,
        "smoothed": smoothed,
        "min_lr": lrs[i_min],
        "steepest_lr": lrs[i_steep],
        "suggested_lr": lrs[i_min] / 10,
    }
