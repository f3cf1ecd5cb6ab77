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


def image_grid(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int = 6,
               size: float = 1.8) -> plt.Figure:
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


def prediction_panel(images: torch.Tensor, probs: torch.Tensor, names: Sequence[Sequence[str]],
                     truth: Sequence[str] | None = None, size: float = 2.2) -> plt.Figure:
    """One row per image: the image, then a bar chart of its top-k classes (``probs`` ``(N, k)``)."""
    n, k = probs.shape
    fig, axes = plt.subplots(n, 2, figsize=(2.6 * size, n * size * 0.8), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6]})
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
