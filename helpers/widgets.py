"""ipywidgets demos: each is a pure plotting function from ``helpers.plotting`` plus a thin ``interact`` wrapper.

The wrappers draw once with their default value when created, so they also run headless
(nbval, nbconvert); tests call the pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import plotting


def evidence_picker(image: torch.Tensor, evidence: torch.Tensor, labels: Sequence[str], top: int = 10):
    """A dropdown of the ``top`` classes (by mean evidence) that redraws :func:`plotting.evidence_overlay`."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    order = evidence.mean((1, 2)).topk(top).indices.tolist()
    options = [(f"{labels[i]} ({evidence[i].mean():.2f})", i) for i in order]

    def show(class_index: int):
        fig = plotting.evidence_overlay(image, evidence, class_index, labels)
        plt.show()
        return fig

    return widgets.interact(show, class_index=widgets.Dropdown(options=options, value=order[0], description="class"))
