"""Figures: image grids and top-k prediction panels. Every function returns the figure."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def to_display(image: torch.Tensor) -> np.ndarray:
    """uint8 ``(C, H, W)`` (C = 1 or 3) → array ``(H, W, 3)`` for ``imshow``."""
    arr = image.detach().cpu()
    if arr.shape[0] == 1:
        arr = arr.expand(3, -1, -1)
    return arr.permute(1, 2, 0).numpy()


def image_grid(
    images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 6, size: float = 1.8
) -> plt.Figure:
    """Show uint8 images ``(N, C, H, W)`` in a grid with optional titles."""
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.3)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(to_display(images[i]), interpolation="nearest" if images.shape[-1] < 64 else "antialiased")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return fig


def prediction_panel(
    images: torch.Tensor,
    probs: torch.Tensor,
    names: Sequence[Sequence[str]],
    truth: Sequence[str] | None = None,
    size: float = 2.2,
) -> plt.Figure:
    """One row per image: the image, then a bar chart of its top-k classes (``probs`` ``(N, k)``)."""
    n, k = probs.shape
    fig, axes = plt.subplots(
        n, 2, figsize=(2.6 * size, n * size * 0.8), squeeze=False, gridspec_kw={"width_ratios": [1, 1.6]}
    )
    for i in range(n):
        axes[i, 0].imshow(to_display(images[i]))
        axes[i, 0].axis("off")
        if truth is not None:
            axes[i, 0].set_title(truth[i], fontsize=9)
        bars = axes[i, 1]
        bars.barh(range(k)[::-1], probs[i].numpy(), color="tab:blue")
        bars.set_yticks(range(k)[::-1], [name[:28] for name in names[i]], fontsize=8)
        bars.set_xlim(0, 1)
        bars.tick_params(axis="x", labelsize=7)
    axes[-1, 1].set_xlabel("probability")
    fig.tight_layout()
    return fig


def evidence_overlay(
    image: torch.Tensor, evidence: torch.Tensor, class_index: int, labels: Sequence[str], ax: plt.Axes | None = None
) -> plt.Figure:
    """One class's evidence map ``(num_classes, h, w)`` upsampled over uint8 ``image`` ``(3, H, W)``."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3))
    h, w = image.shape[-2:]
    ax.imshow(to_display(image))
    heat = evidence[class_index].detach().float().cpu().numpy()
    ax.imshow(heat, cmap="magma", alpha=0.55, extent=(0, w, h, 0), interpolation="bilinear")
    ax.set_title(f"evidence for '{labels[class_index]}' (max {heat.max():.1f})", fontsize=9)
    ax.axis("off")
    return fig


def heatmap(
    values: np.ndarray | torch.Tensor,
    title: str = "",
    ax: plt.Axes | None = None,
    fmt: str = "{:.2f}",
    cmap: str = "viridis",
    xlabel: str = "",
    ylabel: str = "",
) -> plt.Figure:
    """A 2-D array as an annotated heat-map."""
    values = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4, 3.4))
    im = ax.imshow(values, cmap=cmap)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="w")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def filter_grid(weight: torch.Tensor, ncols: int = 16, title: str = "", size: float = 0.6) -> plt.Figure:
    """First-layer filters ``(out, 3, k, k)`` as small RGB images, each min-max scaled on its own."""
    w = weight.detach().float().cpu()
    lo = w.flatten(1).min(1).values.view(-1, 1, 1, 1)
    hi = w.flatten(1).max(1).values.view(-1, 1, 1, 1)
    w = (w - lo) / (hi - lo).clamp_min(1e-8)
    n = len(w)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(w[i].permute(1, 2, 0).numpy(), interpolation="nearest")
    fig.suptitle(title, fontsize=9)
    return fig


def stage_maps(maps: dict[str, torch.Tensor], channels: int = 6, size: float = 1.1) -> plt.Figure:
    """Rows of feature maps: for each stage ``(C, h, w)``, the ``channels`` most active channels."""
    fig, axes = plt.subplots(len(maps), channels, figsize=(channels * size, len(maps) * size), squeeze=False)
    for row, (name, fmap) in zip(axes, maps.items()):
        top = fmap.flatten(1).mean(1).topk(min(channels, len(fmap))).indices
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(top):
                ax.imshow(fmap[top[j]].float().cpu().numpy(), cmap="viridis")
        row[0].set_ylabel(f"{name}\n{fmap.shape[-2]}×{fmap.shape[-1]}", fontsize=7, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def errorbars(
    summary: Sequence[dict],
    x: str,
    label: str = "",
    ax: plt.Axes | None = None,
    scale: float = 100.0,
    ylabel: str = "test accuracy (%)",
    rotate: bool = False,
) -> plt.Figure:
    """Means with 95 % intervals from :func:`helpers.experiments.summarise`, one point per row."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3.2))
    xs = [str(r[x]) for r in summary]
    means = [r["mean"] * scale for r in summary]
    cis = [0 if np.isnan(r["ci"]) else r["ci"] * scale for r in summary]
    ax.errorbar(xs, means, yerr=cis, marker="o", capsize=3, label=label or None)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if rotate:
        ax.tick_params(axis="x", rotation=45)
    if label:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
