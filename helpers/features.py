"""CNN codes: penultimate and per-stage pooled features, with ReLU on or off, cached on disk.

Features are computed once in ``eval()`` mode under ``torch.inference_mode()`` with large
batches (``channels_last`` for conv nets), then cached as a file keyed by (backbone, weights,
layer, ReLU, preprocessing, dataset content). Cache files are written atomically; an
unreadable one is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config
from .data import ImageSet, save_atomic
from .models import Backbone
from .preprocessing import Preprocessing


class _StopForward(Exception):
    """Raised inside a hook once the wanted activation is captured: the rest of the net is
    skipped."""


def stage_tap(stage: nn.Module) -> nn.Module:
    """The module whose output is the stage's output (the last element of a Sequential)."""
    return stage[-1] if isinstance(stage, nn.Sequential) and len(stage) else stage


def _pool(t: torch.Tensor, grid: int = 1) -> torch.Tensor:
    """``(N, C, H, W)`` → ``(N, C·grid²)``: average pooling to a ``grid × grid`` map, flattened;
    2-D inputs pass through.

    ``grid=1`` is global average pooling (the CNN code's pooling). A coarse grid keeps where
    things are, which matters for early stages of a small network (few channels).
    """
    if t.ndim != 4:
        return t.flatten(1)
    if grid == 1:
        return t.mean(dim=(2, 3))
    return F.adaptive_avg_pool2d(t, grid).flatten(1)


def layer_names(backbone: Backbone) -> list[str]:
    """Layers features can be taken from: each stage, then ``"penultimate"`` (the CNN code)."""
    return backbone.stage_names + ["penultimate"]


def _capture(backbone: Backbone, layer: str, relu: bool):
    """Register a hook that stores the wanted activation and stops the forward pass."""
    store: dict[str, torch.Tensor] = {}
    if layer == "penultimate":
        module = backbone.code_activation
        if relu:

            def hook(mod, inp, out):
                store["x"] = out

            handle = module.register_forward_hook(hook)
        else:

            def hook(
                mod, inp
            ):  # the input of the ReLU is the pre-ReLU code (clone: the ReLU may be in place)
                store["x"] = inp[0].clone()

            handle = module.register_forward_pre_hook(hook)
    else:
        stages = dict(backbone.stages)
        if layer not in stages:
            raise KeyError(f"unknown layer {layer!r}; {backbone.name} has {layer_names(backbone)}")
        if not relu:
            raise ValueError("relu=False is only defined for layer='penultimate'")

        def hook(mod, inp, out):
            store["x"] = out
            raise _StopForward

        handle = stage_tap(stages[layer]).register_forward_hook(hook)
    return store, handle


@torch.inference_mode()
def compute_features(
    backbone: Backbone,
    dataset: ImageSet,
    *,
    layer: str = "penultimate",
    relu: bool = True,
    image_size: int | None = None,
    batch_size: int = 128,
    device: torch.device | str | None = None,
    progress: bool = False,
    grid: int = 1,
) -> torch.Tensor:
    """Run the frozen backbone once over ``dataset``: float32 ``(N, D)`` pooled features (no cache).

    ``grid``: pool each map to ``grid × grid`` cells (``D = channels · grid²``); 1 = global pooling.
    """
    device = torch.device(device) if device is not None else config.pick_device()
    model, conv = _frozen_model(backbone, device)
    prep = Preprocessing.of(backbone, image_size or backbone.image_size)
    enabled, dtype = config.amp_settings(device)
    store, handle = _capture(backbone, layer, relu)
    chunks, starts = [], range(0, len(dataset), batch_size)
    try:
        for start in tqdm(starts, desc=f"{backbone.name}:{layer}", disable=not progress):
            x = prep(dataset.images[start : start + batch_size].to(device, non_blocking=True))
            if conv:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=enabled):
                try:
                    model(x)
                except _StopForward:
                    pass
            chunks.append(_pool(store["x"], grid).float().cpu())
    finally:
        handle.remove()
    return torch.cat(chunks)


def _frozen_model(backbone: Backbone, device: torch.device) -> tuple[nn.Module, bool]:
    """The backbone's network in eval mode on ``device``, channels-last where that is faster
    (not on MPS); and whether it is channels-last."""
    model = backbone.model.to(device).eval()
    conv = device.type != "mps"
    return (model.to(memory_format=torch.channels_last) if conv else model), conv


def dataset_fingerprint(dataset: ImageSet) -> str:
    """A short hash of the images, labels and classes (the dataset's content, not its name)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(dataset.images.contiguous().numpy().tobytes())
    h.update(dataset.labels.numpy().tobytes())
    h.update("\x00".join(dataset.classes).encode())
    return h.hexdigest()


def weights_fingerprint(model: nn.Module) -> str:
    """A short hash of every parameter and buffer: two random initialisations, or a fine-tuned
    copy, never share a key."""
    h = hashlib.blake2b(digest_size=10)
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_key(
    backbone: Backbone, dataset: ImageSet, layer: str, relu: bool, image_size: int, grid: int = 1
) -> str:
    """Cache file stem for these features: readable prefix + hash of everything that changes
    them."""
    spec = {
        "backbone": backbone.name,
        "weights": backbone.weights,
        "params": weights_fingerprint(backbone.model),
        "layer": layer,
        "relu": relu,
        "size": image_size,
        "mean": backbone.mean,
        "std": backbone.std,
        "data": dataset_fingerprint(dataset),
    }
    if grid != 1:
        spec["grid"] = grid
    digest = hashlib.blake2b(json.dumps(spec, sort_keys=True).encode(), digest_size=10).hexdigest()
    pooled = f"-grid{grid}" if grid != 1 else ""
    return (
        f"{backbone.name}-{layer}-{'relu' if relu else 'prerelu'}-{image_size}px{pooled}-{digest}"
    )


def extract_features(
    backbone: Backbone,
    dataset: ImageSet,
    *,
    cache: bool = True,
    cache_dir: Path | None = None,
    **options,
) -> torch.Tensor:
    """Pooled features float32 ``(N, D)`` of ``dataset``, computed once and cached on disk.

    ``options`` are :func:`compute_features`'s: ``layer`` (a stage name or ``"penultimate"``,
    the CNN code, ``D = backbone.feature_dim``), ``relu=False`` (the code before its final
    ReLU), ``image_size``, ``grid``, ``batch_size``, ``device``, ``progress``. The cache file
    is keyed by everything that changes the features (:func:`cache_key`); an unreadable one is
    rebuilt.
    """
    options["image_size"] = options.get("image_size") or backbone.image_size
    if not cache:
        return compute_features(backbone, dataset, **options)
    spec = (options.get("layer", "penultimate"), options.get("relu", True), options["image_size"])
    stem = cache_key(backbone, dataset, *spec, grid=options.get("grid", 1))
    path = (cache_dir or config.cache_dir("features")) / f"{stem}.pt"
    if path.exists():
        try:
            feats = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(feats, torch.Tensor) and feats.ndim == 2 and len(feats) == len(dataset):
                return feats
            warnings.warn(
                f"feature cache {path.name} does not match the dataset; rebuilding it", stacklevel=2
            )
        except Exception as err:
            warnings.warn(
                f"feature cache {path.name} is unreadable ({type(err).__name__}); rebuilding it",
                stacklevel=2,
            )
    feats = compute_features(backbone, dataset, **options)
    save_atomic(feats, path)
    return feats
