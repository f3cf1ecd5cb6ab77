"""ipywidgets demos: each is a pure plotting function from ``helpers.plotting`` plus a thin
``interact`` wrapper.

The wrappers draw once with their default value when created, so they also run headless
(nbval, nbconvert); tests call the pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from . import plotting


def evidence_picker(
    image: torch.Tensor, evidence: torch.Tensor, labels: Sequence[str], top: int = 10
):
    """A dropdown of the ``top`` classes (by mean evidence) that redraws
    :func:`plotting.evidence_overlay`."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    order = evidence.mean((1, 2)).topk(top).indices.tolist()
    options = [(f"{labels[i]} ({evidence[i].mean():.2f})", i) for i in order]

    def show(class_index: int):
        fig = plotting.evidence_overlay(image, evidence, class_index, labels)
        plt.show()
        return fig

    return widgets.interact(
        show, class_index=widgets.Dropdown(options=options, value=order[0], description="class")
    )


def lr_explorer(runs: Mapping[tuple, dict], reference: dict | None = None):
    """Dropdowns for backbone LR, head LR and schedule over precomputed fine-tuning runs.

    ``runs[(backbone_lr, head_lr, schedule)]`` = ``{"histories": [...], "changes": [...],
    "test_acc": [...]}`` (one entry per seed); ``reference`` is one such dict drawn in grey.
    The callback only looks runs up and calls :func:`plotting.training_curves` (no training).
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    reference = reference or {}

    def options(i):
        return sorted({key[i] for key in runs}, key=lambda v: (isinstance(v, str), v))

    def show(backbone_lr, head_lr, schedule):
        run = runs.get((backbone_lr, head_lr, schedule))
        if not run:
            print("no precomputed run for this combination")
            return None
        mean = sum(run["test_acc"]) / len(run["test_acc"])
        title = (
            f"backbone LR {backbone_lr:g}, head LR {head_lr:g}, {schedule}: "
            f"test {mean * 100:.1f} % (mean of {len(run['test_acc'])} seeds)"
        )
        fig = plotting.training_curves(
            run["histories"],
            run["changes"],
            reference_histories=reference.get("histories", ()),
            reference_changes=reference.get("changes", ()),
            title=title,
        )
        plt.show()
        return fig

    first = next(iter(runs))
    names = ("backbone LR", "head LR", "schedule")
    controls = {
        key: widgets.Dropdown(options=options(i), value=first[i], description=names[i])
        for i, key in enumerate(("backbone_lr", "head_lr", "schedule"))
    }
    return widgets.interact(show, **controls)
