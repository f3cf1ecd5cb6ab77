"""A classifier to keep: save a fine-tuned network with its class names and preprocessing in one
file, load it back, and classify new images (a folder, one file, or a tensor).

The file is a ``torch.save`` dictionary of tensors, strings and numbers only, so
:func:`load_classifier` reads it with ``weights_only=True`` (no pickled code is executed).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from . import data, models
from .models import Backbone

FORMAT = "transfer-learning-lab classifier 1"


class ClassifierFileError(ValueError):
    """A file that is not a classifier saved by :func:`save_classifier`, or does not fit its
    architecture."""


@dataclasses.dataclass
class Prediction:
    """The top classes of one image: ``source`` (file path or index) and ``(class, probability)``
    pairs, most probable first."""

    source: str
    top: list[tuple[str, float]]

    def __str__(self) -> str:
        best = ", ".join(f"{name} {p:.0%}" for name, p in self.top)
        return f"{self.source}: {best}"


def save_classifier(
    backbone: Backbone,
    path: str | Path,
    classes: Sequence[str] | None = None,
    image_size: int | None = None,
) -> Path:
    """Write ``backbone``'s weights, its class names and its preprocessing (input size, mean,
    std, channels) into one file; written to a temporary name first, so a failure leaves no
    half-written file. ``classes`` default to ``backbone.labels``."""
    classes = [str(c) for c in (classes if classes is not None else backbone.labels or [])]
    outputs = backbone.head.out_features
    if len(classes) != outputs:
        raise ValueError(
            f"{len(classes)} class names for a head with {outputs} outputs; pass the classes the "
            "head was trained on (e.g. the ImageSet's .classes)"
        )
    if backbone.name not in models.BACKBONES:
        raise ValueError(f"unknown architecture {backbone.name!r}: it could not be rebuilt")
    payload = {
        "format": FORMAT,
        "architecture": backbone.name,
        "classes": classes,
        "image_size": int(image_size or backbone.image_size),
        "mean": [float(v) for v in backbone.mean],
        "std": [float(v) for v in backbone.std],
        "in_channels": int(backbone.in_channels),
        "state_dict": {k: v.detach().cpu() for k, v in backbone.model.state_dict().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_classifier(path: str | Path) -> Backbone:
    """A :class:`~helpers.models.Backbone` from a file of :func:`save_classifier`: its ``labels``
    are the saved class names, its mean, std and input size the saved preprocessing."""
    path = Path(path)
    payload = _read_payload(path)
    arch, classes = payload["architecture"], list(payload["classes"])
    if arch not in models.BACKBONES:
        raise ClassifierFileError(f"{path}: unknown architecture {arch!r}")
    extra = {"num_classes": len(classes)} if arch == "labcnn" else {}
    backbone = models.load_backbone(arch, weights=None, **extra)
    if arch != "labcnn":
        models.replace_head(backbone, len(classes))
    try:
        backbone.model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise ClassifierFileError(
            f"{path}: the saved weights do not fit a {arch} with {len(classes)} classes: "
            f"{str(err).splitlines()[0][:200]}"
        ) from None
    backbone.model.eval()
    preprocessing = dict(mean=tuple(payload["mean"]), std=tuple(payload["std"]))
    preprocessing.update(
        image_size=int(payload["image_size"]), in_channels=int(payload["in_channels"])
    )
    return dataclasses.replace(backbone, labels=classes, weights=str(path), **preprocessing)


def _read_payload(path: Path) -> dict:
    """The dict :func:`save_classifier` wrote, loaded with ``weights_only=True``; clear errors for
    a missing file, a file of another kind and a bare state dict."""
    if not path.is_file():
        raise FileNotFoundError(f"no classifier file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails in many ways on a file of another kind
        raise ClassifierFileError(
            f"{path} is not a classifier saved by save_classifier "
            f"({type(err).__name__}: {str(err).splitlines()[0][:120]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ClassifierFileError(
            f"{path} is a PyTorch file but not a classifier saved by save_classifier "
            "(a bare state dict has no class names or preprocessing)"
        )
    return payload


def _images(source, size: int) -> tuple[torch.Tensor, list[str]]:
    """uint8 ``(N, 3, size, size)`` and a name per image, from a tensor, a file or a folder."""
    if isinstance(source, torch.Tensor):
        x = source[None] if source.ndim == 3 else source
        if x.ndim != 4:
            raise ValueError(f"expected images (N, C, H, W) or one (C, H, W), got {tuple(x.shape)}")
        return x, [str(i) for i in range(len(x))]
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if data.is_image_file(p))
        if not files:
            raise FileNotFoundError(f"no image files in {path} (looked for {data.IMAGE_SUFFIXES})")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"no image file or folder at {path}")
    images, names, bad = [], [], []
    for file in files:
        try:
            images.append(data.fit_square(data.decode_image(file), size))
            names.append(str(file.relative_to(path) if path.is_dir() else file.name))
        except data.BadImageError as err:
            bad.append(f"{file.name} ({err})")
    if not images:
        raise data.BadImageError(f"no readable image in {path}: {'; '.join(bad[:3])}")
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable file(s): {'; '.join(bad[:3])}", stacklevel=3)
    return data.images_to_tensor(images, size=size), names


def predict(
    backbone: Backbone,
    source: str | Path | torch.Tensor,
    k: int = 3,
    image_size: int | None = None,
    device: torch.device | str = "cpu",
) -> list[Prediction]:
    """Top-``k`` classes with probabilities for each image of ``source``: a folder (every image
    file in it and below), one image file, or uint8 images ``(N, C, H, W)``."""
    size = image_size or backbone.image_size
    images, names = _images(source, size)
    k = min(k, backbone.head.out_features)
    probs, labels = models.predict_topk(backbone, images, k=k, image_size=size, device=device)
    return [
        Prediction(name, [(label, float(p)) for label, p in zip(row, prob)])
        for name, row, prob in zip(names, labels, probs.tolist())
    ]
