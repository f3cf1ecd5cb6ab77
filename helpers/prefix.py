"""A frozen prefix computed once: the leading stages of a network that compute the same output
for an image in every epoch, run once before training instead of in every epoch.

:func:`cache` finds those stages (every parameter frozen, BatchNorm in eval mode under the BN
policy, no active dropout, no augmentation before them), stores their outputs for the training
and validation images, and checks that the network fed from the store gives its own logits;
``training.fit`` then trains with the stored outputs swapped in (:class:`CachedPrefix`). The
result is the same training, along the same float path up to the order of a few sums
(``tests/test_frozen_prefix.py``); where it would not be exact or would not fit in
``LIMIT_GIB``, ``cache`` returns ``None`` and the full path runs. ``TL_FROZEN_PREFIX=0`` turns it
off.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from . import models

LIMIT_GIB = 1.0  # activations kept for a frozen prefix, at most (else the full path runs)


class _Feeder(nn.Module):
    """Stands in for the first frozen module: returns the stored activations of the batch."""

    def __init__(self):
        super().__init__()
        self.rows: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rows


class _Stop(Exception):
    pass


def frozen_paths(model: nn.Module, augmentation, bn_policy: str) -> list[str]:
    """The module paths of the leading stages that compute the same output for an image in
    every epoch (see the module text); empty when there are none."""
    stages = getattr(model, "stage_paths", None)
    if not stages or augmentation is not None or os.environ.get("TL_FROZEN_PREFIX") == "0":
        return []
    model.train()
    models.apply_bn_policy(model, bn_policy)
    paths = []
    for stage in stages:
        modules = [models.get_module(model, path) for path in stage]
        inner = [m for top in modules for m in top.modules()]
        trainable = any(p.requires_grad for m in modules for p in m.parameters())
        if trainable or any(_varies(m) for m in inner):
            break
        paths += stage
    return paths


def _varies(m: nn.Module) -> bool:
    """A module whose output changes from epoch to epoch in training mode."""
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return m.training
    name = type(m).__name__
    rate = getattr(m, "p", getattr(m, "drop_prob", 0.0)) if "Drop" in name else 0.0
    return m.training and bool(rate)


@torch.no_grad()
def outputs(model, last: str, images, prep, *, device, dtype, amp, batch_size: int):
    """The output of the module at ``last`` for every image, one forward pass cut short."""
    store = {}

    def hook(module, inputs, output):
        store["x"] = output
        raise _Stop

    handle = models.get_module(model, last).register_forward_hook(hook)
    chunks = []
    try:
        for idx in torch.arange(len(images), device=images.device).split(batch_size):
            x = prep(images[idx]).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=amp):
                try:
                    model(x)
                except _Stop:
                    pass
            chunks.append(store["x"])
    finally:
        handle.remove()
    return torch.cat(chunks)


class CachedPrefix:
    """Frozen leading stages computed once: their outputs for the training (and validation)
    images, and the network with those stages swapped for a feeder while it trains
    (``with cached:``)."""

    def __init__(self, model, paths, acts, val, *, device, dtype, amp):
        self.model, self.paths, self.acts, self.val = model, paths, acts, val
        self.device, self.dtype, self.amp = device, dtype, amp
        self.feeder = _Feeder()
        self.saved = {p: models.get_module(model, p) for p in paths}

    def __enter__(self):
        for i, path in enumerate(self.paths):
            models.set_module(self.model, path, self.feeder if i == 0 else nn.Identity())
        return self

    def __exit__(self, *exc):
        for path, module in self.saved.items():
            models.set_module(self.model, path, module)

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """The stand-in input of a training batch (its stored activations go to the feeder)."""
        self.feeder.rows = self.acts[idx]
        return torch.empty(len(idx), 0, device=self.acts.device)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss and accuracy on the validation images, read from the store."""
        self.model.eval()
        acts, labels = self.val
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for idx in torch.arange(len(labels), device=self.device).split(256):
            self.feeder.rows = acts[idx]
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.amp):
                logits = self.model(torch.empty(len(idx), 0, device=self.device))
            loss_sum += F.cross_entropy(logits.float(), labels[idx], reduction="sum")
            correct += (logits.argmax(1) == labels[idx]).sum()
        n = max(len(labels), 1)
        return {"loss": loss_sum.item() / n, "accuracy": correct.item() / n}


def cache(
    model, images, val, prep, *, device, dtype, amp, augmentation, bn_policy: str, batch_size: int
) -> CachedPrefix | None:
    """The frozen prefix of ``model`` computed once for ``images`` (on ``device``) and ``val``
    (``(images, labels)`` or ``None``); ``None`` where it would not be exact, would not fit in
    ``LIMIT_GIB``, or its outputs do not give the network's own logits."""
    paths = frozen_paths(model, augmentation, bn_policy)
    if not paths:
        return None
    run = dict(device=device, dtype=dtype, amp=amp)
    sample = outputs(model, paths[-1], images[:2], prep, batch_size=2, **run)
    count = len(images) + (len(val[0]) if val is not None else 0)
    if sample[0].numel() * sample.element_size() * count > LIMIT_GIB * 2**30:
        return None
    acts = outputs(model, paths[-1], images, prep, batch_size=batch_size, **run)
    if val is not None:
        val = (outputs(model, paths[-1], val[0], prep, batch_size=256, **run), val[1])
    cached = CachedPrefix(model, paths, acts, val, **run)
    return cached if _agrees(model, cached, images, prep) else None


@torch.no_grad()
def _agrees(model, cached: CachedPrefix, images, prep) -> bool:
    """Whether the network with its prefix read from the cache gives its own logits on a few
    training images (eval mode: nothing changes, no random number is drawn)."""
    model.eval()
    idx = torch.arange(min(8, len(images)), device=images.device)
    x = prep(images[idx]).contiguous(memory_format=torch.channels_last)
    with torch.autocast(cached.device.type, dtype=cached.dtype, enabled=cached.amp):
        full = model(x).float()
        with cached:
            fed = model(cached.batch(idx)).float()
    return fed.shape == full.shape and torch.allclose(fed, full, rtol=1e-3, atol=1e-4)
