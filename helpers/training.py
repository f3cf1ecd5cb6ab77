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

from . import config, models
from .config import amp_settings
from .data import ImageSet
from .preprocessing import Preprocessing

__all__ = ["amp_settings", "evaluate", "fine_tune", "fit", "lr_range_test", "warmup_cosine"]


SCHEDULES = ("warmup_cosine", "constant")


def _constant(step: int) -> float:
    return 1.0


def warmup_cosine(total_steps: int, warmup_steps: int):
    """LR multiplier per step: linear warm-up from ~0 to 1, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _batches(
    n: int,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator | None,
    drop_last: bool = False,
):
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def _optimizer(
    groups: list[dict], name: str, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """AdamW, or SGD with momentum 0.9, over *copies* of parameter ``groups``.

    Torch's optimizers write into the group dicts they are given (``lr``, ``initial_lr``,
    betas…); copying them first leaves the caller's groups exactly as they were. A group
    without its own weight decay gets ``weight_decay``.
    """
    copies = [{"weight_decay": weight_decay, **g, "params": list(g["params"])} for g in groups]
    opt_cls = {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
    return opt_cls(copies, lr=lr, **({"momentum": 0.9} if name == "sgd" else {}))


@dataclass
class _Session:
    """What ``fit`` and ``lr_range_test`` share: device, seeded generator, optimizer, AMP, data."""

    device: torch.device
    generator: torch.Generator
    opt: torch.optim.Optimizer
    amp: bool
    dtype: torch.dtype | None
    images: torch.Tensor
    labels: torch.Tensor


def _set_up(
    model: nn.Module,
    train_set: ImageSet,
    *,
    param_groups: list[dict] | None,
    lr: float,
    optimizer: str,
    weight_decay: float,
    device: torch.device | str | None,
    seed: int,
    channels_last: bool,
) -> _Session:
    """Seed, move the model and the data to the device, and build the optimizer (groups copied)."""
    device = torch.device(device) if device is not None else config.pick_device()
    generator = config.seed_everything(seed)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = param_groups or [{"params": trainable, "lr": lr}]
    opt = _optimizer(groups, optimizer, lr, weight_decay)
    amp, dtype = amp_settings(device)
    images, labels = _on_device(train_set, device)
    return _Session(device, generator, opt, amp, dtype, images, labels)


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
    """Mean cross-entropy ``loss`` and ``accuracy`` of ``model`` on ``dataset`` (model left in eval
    mode)."""
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
    schedule: str = "warmup_cosine",
) -> dict[str, list[float]]:
    """Train ``model`` on ``train_set``; return the history
    ``{"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}`` per epoch.

    ``param_groups`` (see :func:`helpers.models.param_groups`) sets per-group LRs; otherwise all
    trainable parameters use ``lr``; the groups are copied, never changed. LRs follow a warm-up +
    cosine schedule stepped per batch (``schedule="constant"`` keeps them fixed).
    ``augmentation``: keyword arguments of :func:`augment` (``None``: no augmentation).
    ``bn_policy``: see :func:`helpers.models.apply_bn_policy`.
    """
    from tqdm.auto import tqdm

    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")
    run = _set_up(
        model,
        train_set,
        param_groups=param_groups,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        device=device,
        seed=seed,
        channels_last=channels_last,
    )
    device, generator, opt = run.device, run.generator, run.opt
    enabled, dtype, images, labels = run.amp, run.dtype, run.images, run.labels
    steps_per_epoch = math.ceil(len(train_set) / batch_size)
    if schedule == "warmup_cosine":
        factor = warmup_cosine(epochs * steps_per_epoch, int(warmup_epochs * steps_per_epoch))
    else:
        factor = _constant
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    scaler = torch.amp.GradScaler(device.type, enabled=enabled and dtype == torch.float16)
    history: dict[str, list[float]] = {
        k: [] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")
    }
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for _ in bar:
        start = time.perf_counter()
        model.train()
        models.apply_bn_policy(model, bn_policy)
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
            scheduler.step()
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
    """Leslie Smith's LR range test: raise the LR geometrically every step, record the training
    loss.

    The LR goes from ``start_lr`` to ``end_lr`` over ``steps`` mini-batches (cycling through
    ``train_set``). With ``param_groups`` every group's LR is scaled by the same factor, so their
    ratios stay fixed and ``lr`` reports the *last* group's (the head's) LR. The test stops early
    once
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
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    run = _set_up(
        model,
        train_set,
        param_groups=param_groups,
        lr=start_lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        device=device,
        seed=seed,
        channels_last=False,
    )
    device, generator, opt = run.device, run.generator, run.opt
    enabled, dtype, images, labels = run.amp, run.dtype, run.images, run.labels
    top = opt.param_groups[-1]["lr"]
    ratios = [g["lr"] / top for g in opt.param_groups]
    for g, r in zip(opt.param_groups, ratios):
        g["lr"] = start_lr * r
    growth = (end_lr / start_lr) ** (1 / (steps - 1))
    lrs, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    batches = iter(())
    try:
        model.train()
        models.apply_bn_policy(model, bn_policy)
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


def fine_tune(
    backbone,
    split: dict[str, ImageSet],
    *,
    trainable_stages: int,
    head_lr: float,
    backbone_lr: float,
    stage_lrs: dict[str, float] | None = None,
    epochs: int,
    batch_size: int,
    warmup_epochs: float = 1.0,
    bn_policy: str = "eval",
    augmentation: dict | None = None,
    image_size: int | None = None,
    new_head: bool = True,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> dict:
    """Notebook 03's recipe in one call: new head, freeze, per-group LRs, :func:`fit`, score.

    1. ``backbone`` arrives with its weights (pretrained, or random for a scratch baseline);
    2. a fresh head for ``split["train"]``'s classes (``new_head=False`` keeps the current one);
    3. all but the last ``trainable_stages`` stages frozen;
    4. parameter groups: the head at ``head_lr``, the stages at ``backbone_lr`` (or
       ``stage_lrs``).
    Trains on ``split["train"]`` with ``split["val"]`` scored after every epoch, then scores
    ``split["test"]`` once. Returns ``val_acc`` (last epoch), ``test_acc``, ``train_acc``,
    the ``history``, the per-stage weight ``change`` and the names of ``stages_trained``.
    """
    start = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    if new_head:
        models.replace_head(backbone, len(split["train"].classes), seed=seed)
    trained = models.freeze_stages(backbone, trainable_stages=trainable_stages)
    groups = models.param_groups(
        backbone, head_lr=head_lr, backbone_lr=backbone_lr, stage_lrs=stage_lrs
    )
    prep = backbone.preprocessing(image_size)
    history = fit(
        backbone.model,
        split["train"],
        prep,
        param_groups=groups,
        epochs=epochs,
        batch_size=batch_size,
        warmup_epochs=warmup_epochs,
        bn_policy=bn_policy,
        augmentation=augmentation,
        val_set=split.get("val"),
        seed=seed,
        progress=progress,
        device=device,
    )
    test = evaluate(backbone.model, split["test"], prep, device=device)
    return {
        "val_acc": history["val_accuracy"][-1] if history["val_accuracy"] else None,
        "test_acc": test["accuracy"],
        "train_acc": history["train_accuracy"][-1],
        "history": history,
        "change": models.stage_weight_change(backbone, start),
        "stages_trained": trained,
    }
