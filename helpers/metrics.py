"""Error analysis: what a single accuracy hides.

Predictions of a classifier on a labelled set, the confusion matrix, per-class recall and
precision, balanced accuracy (the mean of the per-class recalls, so that a rare class counts as
much as a common one) and the most confident mistakes. Labels are integers ``0 … K-1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import config


@torch.inference_mode()
def predictions(
    model: torch.nn.Module,
    dataset,
    prep,
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Class probabilities ``(N, K)`` (float32, on the CPU) of ``model`` on an ``ImageSet``.

    ``prep`` turns a uint8 batch ``(B, C, H, W)`` into the model's input (e.g.
    ``backbone.preprocessing(image_size)``); the model is left in eval mode.
    """
    device = torch.device(device) if device is not None else config.pick_device()
    model.to(device).eval()
    enabled, dtype = config.amp_settings(device)
    out = []
    for start in range(0, len(dataset), batch_size):
        x = prep(dataset.images[start : start + batch_size].to(device))
        with torch.autocast(device.type, dtype=dtype, enabled=enabled):
            logits = model(x)
        out.append(F.softmax(logits.float(), dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


def confusion_matrix(
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    predicted: Sequence[int] | np.ndarray | torch.Tensor,
    num_classes: int,
) -> np.ndarray:
    """``(K, K)`` counts: row = true class, column = predicted class."""
    y, p = np.asarray(labels, dtype=int), np.asarray(predicted, dtype=int)
    if y.shape != p.shape:
        raise ValueError(f"{len(y)} labels against {len(p)} predictions")
    if len(y) and (min(y.min(), p.min()) < 0 or max(y.max(), p.max()) >= num_classes):
        raise ValueError(f"labels and predictions must lie in 0 … {num_classes - 1}")
    cm = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(cm, (y, p), 1)
    return cm


@dataclass
class ClassReport:
    """Per-class numbers of a confusion matrix, and the two summaries that disagree."""

    classes: list[str]
    support: np.ndarray  # true images per class
    recall: np.ndarray  # per-class accuracy: correct / support (NaN where support is 0)
    precision: np.ndarray  # correct / predicted as the class (NaN where never predicted)
    accuracy: float  # correct / all images: common classes weigh more
    balanced_accuracy: float  # mean recall over the classes present: every class weighs the same

    def __str__(self) -> str:
        width = max(len(c) for c in self.classes)
        lines = [f"{'class':<{width}}  images  recall  precision"]
        for c, n, r, p in zip(self.classes, self.support, self.recall, self.precision):
            lines.append(f"{c:<{width}}  {n:>6}  {r * 100:5.1f} %  {p * 100:7.1f} %")
        lines.append(
            f"accuracy {self.accuracy * 100:.1f} %, balanced accuracy "
            f"{self.balanced_accuracy * 100:.1f} %"
        )
        return "\n".join(lines)


def class_report(cm: np.ndarray, classes: Sequence[str]) -> ClassReport:
    """Support, recall, precision, accuracy and balanced accuracy of a confusion matrix."""
    cm = np.asarray(cm)
    if cm.shape != (len(classes), len(classes)):
        raise ValueError(f"a {cm.shape} confusion matrix for {len(classes)} classes")
    correct, support, predicted = np.diag(cm), cm.sum(1), cm.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, correct / support, np.nan)
        precision = np.where(predicted > 0, correct / predicted, np.nan)
    total = cm.sum()
    return ClassReport(
        classes=list(classes),
        support=support,
        recall=recall,
        precision=precision,
        accuracy=float(correct.sum() / total) if total else float("nan"),
        balanced_accuracy=float(np.nanmean(recall)) if (support > 0).any() else float("nan"),
    )


def confident_mistakes(
    probs: torch.Tensor | np.ndarray, labels: Sequence[int] | torch.Tensor, k: int = 8
) -> list[dict]:
    """The ``k`` wrong predictions made with the highest confidence, most confident first.

    Each: ``{"index", "label", "predicted", "confidence"}`` (index into the evaluated set).
    """
    probs = torch.as_tensor(np.asarray(probs))
    labels = torch.as_tensor(np.asarray(labels)).long()
    confidence, predicted = probs.max(1)
    wrong = torch.nonzero(predicted != labels).flatten()
    order = wrong[torch.argsort(confidence[wrong], descending=True)][:k]
    return [
        {
            "index": int(i),
            "label": int(labels[i]),
            "predicted": int(predicted[i]),
            "confidence": float(confidence[i]),
        }
        for i in order
    ]
