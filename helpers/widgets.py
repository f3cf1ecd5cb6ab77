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


def lr_explorer(rows: Sequence[dict], reference: Sequence[dict] = ()):
    """Dropdowns for backbone LR, head LR and schedule over precomputed fine-tuning ``rows``.

    Each row has ``backbone_lr``, ``head_lr``, ``schedule``, ``history``, ``change`` and ``test_acc``;
    the callback only filters rows and calls :func:`plotting.training_curves` (no training).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def options(key):
        return sorted({r[key] for r in rows}, key=lambda v: (isinstance(v, str), v))

    def show(backbone_lr, head_lr, schedule):
        chosen = [
            r for r in rows if (r["backbone_lr"], r["head_lr"], r["schedule"]) == (backbone_lr, head_lr, schedule)
        ]
        if not chosen:
            print("no precomputed run for this combination")
            return None
        mean = sum(r["test_acc"] for r in chosen) / len(chosen)
        title = f"backbone LR {backbone_lr:g}, head LR {head_lr:g}, {schedule}: test {mean * 100:.1f} % (mean of {len(chosen)} seeds)"
        fig = plotting.training_curves(chosen, reference, title=title)
        plt.show()
        return fig

    first = rows[0]
    return widgets.interact(
        show,
        backbone_lr=widgets.Dropdown(
            options=options("backbone_lr"), value=first["backbone_lr"], description="backbone LR"
        ),
        head_lr=widgets.Dropdown(options=options("head_lr"), value=first["head_lr"], description="head LR"),
        schedule=widgets.Dropdown(options=options("schedule"), value=first["schedule"], description="schedule"),
    )
