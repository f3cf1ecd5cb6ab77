"""The training loop: ``fit`` and ``evaluate`` for tensor-backed image datasets.

Written for GPUs and honest on CPUs: data and augmentation live on the device, batches move
with ``non_blocking``, conv nets run ``channels_last``, CUDA uses autocast (bf16 where the
GPU supports it, else fp16 with a gradient scaler), CPUs stay in fp32 (bf16 autocast is many
times slower on CPUs without bf16 units). The loss is summed on the device and read once per
epoch, so no step waits for the host.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config, data, models, prefix
from .config import amp_settings
from .data import ImageSet
from .preprocessing import Preprocessing
from .stats import bits

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


@dataclass(frozen=True)
class Optimization:
    """How the weights move, the keywords that travel together into :func:`fit` (and, but for the
    schedule, :func:`lr_range_test`): per-group learning rates (``param_groups``, see
    :func:`helpers.models.param_groups`; otherwise every trainable parameter at ``lr``), the
    ``optimizer`` (``"adamw"`` or ``"sgd"`` with momentum 0.9), ``weight_decay``, the LR
    ``schedule`` (``"warmup_cosine"`` with ``warmup_epochs``, or ``"constant"``) and
    ``label_smoothing``. The groups are copied, never changed."""

    param_groups: list[dict] | None = None
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0
    schedule: str = "warmup_cosine"
    label_smoothing: float = 0.0

    @classmethod
    def of(cls, options: dict, caller: str = "fit") -> Optimization:
        """From keyword arguments; an unknown one is a clear ``TypeError``."""
        known = [f.name for f in fields(cls)]
        if unknown := sorted(set(options) - set(known)):
            raise TypeError(
                f"{caller}() got unknown keyword arguments {unknown}; it takes "
                f"{', '.join(known)} besides its own"
            )
        return cls(**options)


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
    optim: Optimization,
    *,
    device,
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
    groups = optim.param_groups or [{"params": trainable, "lr": optim.lr}]
    opt = _optimizer(groups, optim.optimizer, optim.lr, optim.weight_decay)
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
    per_image: bool = False,
) -> dict:
    """Mean cross-entropy ``loss`` and ``accuracy`` of ``model`` on ``dataset`` (model left in eval
    mode); with ``per_image``, also ``correct``: a bool array, one entry per image."""
    device = torch.device(device) if device is not None else config.pick_device()
    model.to(device).eval()
    images, labels = _on_device(dataset, device)
    enabled, dtype = amp_settings(device)
    loss_sum = torch.zeros((), device=device)
    hits = []
    for idx in _batches(len(dataset), batch_size, False, None):
        idx = idx.to(device)
        x = prep(images[idx]).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=enabled):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), labels[idx], reduction="sum")
        hits.append(logits.argmax(1) == labels[idx])
    n = max(len(dataset), 1)
    correct = torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool)
    out = {"loss": loss_sum.item() / n, "accuracy": correct.sum().item() / n}
    if per_image:
        out["correct"] = correct.cpu().numpy()
    return out


@dataclass(frozen=True)
class _Batches:
    """How each training batch is made: its size, augmentation, memory layout, label smoothing."""

    size: int
    augmentation: dict | None
    channels_last: bool
    label_smoothing: float


def _scheduler(opt, optim: Optimization, epochs: int, steps_per_epoch: int):
    """The LR multiplier per step: warm-up + cosine, or constant."""
    if optim.schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {optim.schedule!r}; choose one of {SCHEDULES}")
    if optim.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, _constant)
    warmup = int(optim.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(epochs * steps_per_epoch, warmup))


def _train_epoch(
    model: nn.Module,
    run: _Session,
    prep: Preprocessing,
    batches: _Batches,
    scheduler,
    scaler,
    cached=None,
) -> tuple[float, float]:
    """One pass over the shuffled training set; mean loss and accuracy (read once, at the end).
    With ``cached`` (a frozen prefix) the batch's stored activations replace its images."""
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    n = len(run.labels)
    for idx in _batches(n, batches.size, True, run.generator):
        idx = idx.to(run.device, non_blocking=True)
        if cached is not None:
            x = cached.batch(idx)
        elif batches.augmentation is not None:
            x = prep.augmented(run.images[idx], generator=run.generator, **batches.augmentation)
        else:
            x = prep(run.images[idx])
        if batches.channels_last and cached is None:
            x = x.contiguous(memory_format=torch.channels_last)
        y = run.labels[idx]
        with torch.autocast(run.device.type, dtype=run.dtype, enabled=run.amp):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=batches.label_smoothing)
        run.opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(run.opt)
        scaler.update()
        scheduler.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == y).sum()
    return loss_sum.item() / n, correct.item() / n


HISTORY = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


def _record(history: dict, loss: float, accuracy: float, val: dict, seconds: float) -> None:
    history["train_loss"].append(loss)
    history["train_accuracy"].append(accuracy)
    for key in ("loss", "accuracy") if val else ():
        history[f"val_{key}"].append(val[key])
    history["seconds"].append(seconds)


def fit(
    model: nn.Module,
    train_set: ImageSet,
    prep: Preprocessing,
    *,
    epochs: int = 5,
    batch_size: int = 64,
    bn_policy: str = "train",
    augmentation: dict | None = None,
    val_set: ImageSet | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    channels_last: bool = True,
    progress: bool = True,
    **optimization,
) -> dict[str, list[float]]:
    """Train ``model`` on ``train_set``; per epoch ``train_loss``, ``train_accuracy``,
    ``val_loss``, ``val_accuracy``, ``lr``, ``seconds``. ``optimization``: :class:`Optimization`'s
    keywords (the LR schedule steps per batch); ``augmentation``: :func:`augment`'s keywords
    (``None``: none); ``bn_policy``: see :func:`helpers.models.apply_bn_policy`."""
    optim = Optimization.of(optimization)
    run = _set_up(model, train_set, optim, device=device, seed=seed, channels_last=channels_last)
    scheduler = _scheduler(run.opt, optim, epochs, math.ceil(len(train_set) / batch_size))
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.amp and run.dtype == torch.float16)
    batches = _Batches(batch_size, augmentation, channels_last, optim.label_smoothing)
    history: dict[str, list[float]] = {k: [] for k in HISTORY}
    cached = prefix.cache(
        model,
        run.images,
        _on_device(val_set, run.device) if val_set is not None else None,
        prep,
        device=run.device,
        dtype=run.dtype,
        amp=run.amp,
        augmentation=batches.augmentation,
        bn_policy=bn_policy,
        batch_size=max(batch_size, 64),
    )
    with cached or contextlib.nullcontext():
        for _ in (bar := tqdm(range(epochs), desc="epochs", disable=not progress)):
            start = time.perf_counter()
            model.train()
            models.apply_bn_policy(model, bn_policy)
            history["lr"].append(run.opt.param_groups[-1]["lr"])
            loss, accuracy = _train_epoch(model, run, prep, batches, scheduler, scaler, cached)
            val = _validate(model, val_set, prep, run, cached)
            _record(history, loss, accuracy, val, time.perf_counter() - start)
            bar.set_postfix(loss=f"{loss:.3f}")
    model.eval()
    return history


def _validate(model, val_set, prep, run: _Session, cached) -> dict[str, float]:
    if val_set is None:
        return {}
    if cached is not None:
        return cached.evaluate()
    return evaluate(model, val_set, prep, device=run.device)


def _range_step(model, run: _Session, idx, prep, lr: float, ratios: list[float]) -> float:
    """One step of the range test at ``lr`` (every group at its fixed ratio); the loss."""
    idx = idx.to(run.device)
    for g, r in zip(run.opt.param_groups, ratios):
        g["lr"] = lr * r
    x = prep(run.images[idx]).contiguous(memory_format=torch.channels_last)
    with torch.autocast(run.device.type, dtype=run.dtype, enabled=run.amp):
        loss = F.cross_entropy(model(x).float(), run.labels[idx])
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    return loss.item()


def _range_summary(lrs: list[float], losses: list[float], smoothed: list[float]) -> dict:
    """Where the smoothed loss is lowest and where it falls fastest; the pick a decade below."""
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


def _sweep(model, run: _Session, prep, lrs, batch_size: int, smoothing: float, stop: float):
    """The range test's steps: ``(lr, loss, smoothed loss)`` until the smoothed loss exceeds
    ``stop`` × its minimum or the loss is no longer finite."""
    top = run.opt.param_groups[-1]["lr"]
    ratios = [g["lr"] / top for g in run.opt.param_groups]
    avg, best, batches = 0.0, math.inf, iter(())
    for step, lr in enumerate(lrs):
        idx = next(batches, None)
        if idx is None:
            batches = _batches(len(run.labels), batch_size, True, run.generator, drop_last=True)
            idx = next(batches)
        value = _range_step(model, run, idx, prep, lr, ratios)
        if not math.isfinite(value):
            return
        avg = smoothing * value + (1 - smoothing) * avg if step else value
        yield lr, value, avg
        best = min(best, avg)
        if avg > stop * best:
            return


def lr_range_test(
    model: nn.Module,
    train_set: ImageSet,
    prep: Preprocessing,
    *,
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    steps: int = 100,
    batch_size: int = 64,
    bn_policy: str = "train",
    device: torch.device | str | None = None,
    seed: int = 0,
    smoothing: float = 0.1,
    stop_factor: float = 4.0,
    **optimization,
) -> dict:
    """Leslie Smith's LR range test: the LR grows geometrically from ``start_lr`` to ``end_lr``
    over ``steps`` mini-batches (``optimization``: ``param_groups``, ``optimizer``,
    ``weight_decay``, every group scaled alike); the test stops once the smoothed loss exceeds
    ``stop_factor`` × its minimum, and restores the weights and BatchNorm statistics. Returns
    per step ``lr`` (the last group's), ``loss``, ``smoothed``; ``min_lr``, ``steepest_lr`` and
    ``suggested_lr`` = ``min_lr / 10``.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError("need 0 < start_lr < end_lr")
    if steps < 5:
        raise ValueError("an LR range test needs at least 5 steps")
    optim = Optimization.of({**optimization, "lr": start_lr}, caller="lr_range_test")
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    run = _set_up(model, train_set, optim, device=device, seed=seed, channels_last=False)
    growth = (end_lr / start_lr) ** (1 / (steps - 1))
    lrs = (start_lr * growth**step for step in range(steps))
    try:
        model.train()
        models.apply_bn_policy(model, bn_policy)
        found = list(_sweep(model, run, prep, lrs, batch_size, smoothing, stop_factor))
    finally:
        model.load_state_dict(saved)
        model.eval()
    return _range_summary(*(list(x) for x in zip(*found)) if found else ([], [], []))


# notebook 03's recipe, which 08 uses too: the new head at 3e-3, the pretrained stages 10× slower,
# one warm-up epoch (04's, strategies.RECIPE, keeps them 3× slower: a recipe of its own)
RECIPE_03 = dict(head_lr=3e-3, backbone_lr=3e-4, warmup_epochs=1)


def fine_tune(
    backbone,
    split: dict[str, ImageSet],
    *,
    trainable_stages: int | Iterable[str] | None,
    head_lr: float,
    backbone_lr: float,
    stage_lrs: dict[str, float] | None = None,
    new_head: bool = True,
    train_head: bool = True,
    image_size: int | None = None,
    **fit_options,
) -> dict:
    """Notebook 03's recipe in one call: 1. ``backbone`` with its weights (pretrained, or random
    for a scratch baseline); 2. a fresh head (``new_head=False`` keeps it); 3. all but the last
    ``trainable_stages`` frozen (or all but those named; ``None`` keeps what the caller set, as
    :mod:`helpers.peft` does; ``train_head=False`` freezes the head too); 4. the head at
    ``head_lr``, the stages at ``backbone_lr`` (or ``stage_lrs``); then :func:`fit`.
    ``fit_options`` go to :func:`fit` (defaults ``warmup_epochs=1``, ``bn_policy="eval"``, no
    progress bar), with ``split["val"]`` scored each epoch; ``split["test"]`` is scored once.
    Returns ``val_acc`` (last epoch), ``test_acc``, ``train_acc``, the ``history``, the per-stage
    weight ``change`` and the names of ``stages_trained``.
    """
    fit_options = {"warmup_epochs": 1.0, "bn_policy": "eval", "progress": False, **fit_options}
    start = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    if new_head:
        models.replace_head(backbone, len(split["train"].classes), seed=fit_options.get("seed", 0))
    if trainable_stages is None:  # the caller chose what trains (helpers.peft): keep it
        trained = [n for n, st in backbone.stages if any(p.requires_grad for p in st.parameters())]
    else:
        trained = models.freeze_stages(backbone, trainable_stages, train_head=train_head)
    groups = models.param_groups(
        backbone, head_lr=head_lr, backbone_lr=backbone_lr, stage_lrs=stage_lrs
    )
    prep = backbone.preprocessing(image_size)
    history = fit(
        backbone.model,
        split["train"],
        prep,
        param_groups=groups,
        val_set=split.get("val"),
        **fit_options,
    )
    test = evaluate(
        backbone.model, split["test"], prep, device=fit_options.get("device"), per_image=True
    )
    change = models.stage_weight_change(backbone, start)
    return _result(history, test, change=change, stages_trained=trained)


def cross_validate(
    run: Callable[[dict[str, ImageSet], float], float],
    labelled: ImageSet,
    options: Sequence[float],
    *,
    folds: int = 2,
    seed: int = 0,
) -> tuple[float, dict[float, float]]:
    """Choose among ``options`` (learning rates, say) by cross-validation on the labelled images
    alone: ``run({"train", "test"}, option)`` trains on all folds but one and returns its accuracy
    on the one held out; the option with the best mean over the folds wins (ties: the first in
    ``options``). Returns ``(chosen, {option: mean held-out accuracy})``. Every option sees the
    same folds: the same selection budget for each.
    """
    parts = data.folds(labelled, folds, seed=seed)
    scores = {
        o: float(np.mean([run({"train": tr, "test": held}, o) for tr, held in parts]))
        for o in options
    }
    best = max(scores.values())
    return next(o for o in options if scores[o] >= best - 1e-12), scores


def _result(history: dict, test: dict, **extra) -> dict:
    """:func:`fine_tune`'s result: the last epoch's validation and training accuracy, the test
    accuracy and which test images were right, the history, and ``extra``."""
    return {
        "val_acc": history["val_accuracy"][-1] if history["val_accuracy"] else None,
        "test_acc": test["accuracy"],
        "test_correct": bits(test["correct"]),
        "train_acc": history["train_accuracy"][-1],
        "history": history,
        **extra,
    }
