"""The five transfer strategies of notebook 04, with one recipe and one selection budget.

Notebook 04 measures them in the four scenarios and :mod:`helpers.advisor` recommends one from
that measurement and runs it on a student's folder; both call :func:`run_strategy`, so what the
advisor verifies is what 04 measured.

**One selection budget.** The validation images are split in two class-balanced halves
(:func:`halves`): every choice *inside* a strategy (which layer, which ``C``) is made on the
first, and the strategy's validation accuracy — the number that ranks strategies — is measured
on the second, which none of its choices saw. A strategy that tries sixteen combinations and
reports its best validation score would otherwise beat one that reports a single number, for no
reason but its extra tries.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from . import data, experiments, models, probes, training
from .data import ImageSet
from .models import Backbone

STRATEGIES = (
    "linear: top",
    "linear: earlier stage",
    "fine-tune last 2",
    "fine-tune all",
    "scratch",
)
TRAINS = {
    "linear: top": "a logistic regression on the top features (the code); the backbone is fixed",
    "linear: earlier stage": "a logistic regression on an earlier stage's features, the stage "
    "chosen on validation; the backbone is fixed",
    "fine-tune last 2": "the new head and the last two stages, from the pretrained weights",
    "fine-tune all": "the new head and every stage, from the pretrained weights",
    "scratch": "every stage and the head, from random weights, at the head's learning rate",
}
# CS231n's rules of thumb, as notebook 04 tests them: the strategies each rule recommends
RULES = {
    "small-similar": ("linear classifier on top features", ("linear: top",)),
    "small-different": ("linear classifier on earlier features", ("linear: earlier stage",)),
    "large-similar": ("fine-tune", ("fine-tune all", "fine-tune last 2")),
    "large-different": (
        "fine-tune (or train from scratch)",
        ("fine-tune all", "fine-tune last 2", "scratch"),
    ),
}
# the one recipe: 03's fine-tuning with pretrained stages at a 3× smaller LR than the new head,
# BatchNorm of frozen stages kept (``eval``), mild random crops and no flip (digits must not be
# mirrored); every linear classifier tries the same ``Cs``
RECIPE = dict(
    head_lr=3e-3,
    backbone_lr=1e-3,
    warmup_epochs=1,
    bn_policy="eval",
    augmentation={"scale": (0.7, 1.0), "flip": False},
    Cs=(0.01, 0.1, 1.0, 10.0),
)
# the stages "linear: earlier stage" chooses from: the lab CNN's stages below the top (each
# pooled to 2 × 2: its early stages have few channels); Lite0's middle stages (the earliest are
# the most expensive to extract at full resolution)
EARLIER = {"lite0": ("block2", "block3", "block4", "block5")}
GRID = {"labcnn": 2}


def halves(val_set: ImageSet, seed: int) -> tuple[ImageSet, ImageSet]:
    """Two class-balanced halves of a validation set: one to choose on, one to report."""
    parts = data.make_splits(val_set, train=0.5, val=0, test=None, seed=seed)
    return parts["train"], parts["test"]


def candidates(backbone: Backbone, strategy: str) -> list[tuple[str, int]]:
    """The ``(layer, grid)`` features a linear strategy chooses among, on validation.

    ``linear: top`` — the code (globally pooled); for a backbone whose stages are pooled to a
    grid (the lab CNN), also its last stage pooled like the earlier ones, so that "top" and
    "earlier" features are pooled alike. ``linear: earlier stage`` — the stages below the top.
    """
    grid, names = GRID.get(backbone.name, 1), backbone.stage_names
    if strategy == "linear: top":
        return [("penultimate", 1)] + ([(names[-1], grid)] if grid > 1 else [])
    if strategy == "linear: earlier stage":
        default = names[len(names) // 4 : -1] if grid == 1 else names[:-1]
        return [(name, grid) for name in EARLIER.get(backbone.name, default)]
    raise KeyError(f"{strategy!r} is not a linear strategy; those are {STRATEGIES[:2]}")


def _layer_name(layer: str, grid: int) -> str:
    return "code" if layer == "penultimate" else layer + (f" ({grid}×{grid})" if grid > 1 else "")


def linear(
    backbone: Backbone,
    split: dict[str, ImageSet],
    strategy: str,
    *,
    small: bool,
    seed: int,
    Cs,
    image_size: int | None = None,
    device=None,
) -> dict:
    """A logistic regression on each candidate layer, chosen on ``split["val"]``; its accuracy on
    ``split["report"]`` (the half no choice saw) is its validation score."""
    best, stage_val = None, {}
    for layer, grid in candidates(backbone, strategy):
        probe = probes.probe_backbone(
            backbone, split, layer=layer, image_size=image_size, grid=grid, kind="logistic_torch",
            Cs=Cs, seed=seed, device=device,
            scaler=None if small else "standard",  # z-scoring from 5–10 images per class hurts
        )  # fmt: skip
        stage_val[_layer_name(layer, grid)] = probe.val_accuracy
        if best is None or probe.val_accuracy > best[0].val_accuracy:
            best = (probe, _layer_name(layer, grid))
    probe, name = best
    return {
        "val_acc": probe.scores["report"],
        "test_acc": probe.test_accuracy,
        "train_acc": probe.train_accuracy,
        "layer": name,
        "stage_val": stage_val,
    }


def trained(
    backbone: Backbone,
    split: dict[str, ImageSet],
    strategy: str,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    head_lr: float,
    backbone_lr: float,
    warmup_epochs: float,
    bn_policy: str,
    augmentation: dict | None,
    image_size: int | None = None,
    device=None,
) -> dict:
    """Fine-tune the last 2 stages or all of them (03's recipe, ``training.fine_tune``), or
    every stage from scratch at the head's LR; scored in eval mode without augmentation."""
    k = 2 if strategy == "fine-tune last 2" else backbone.num_stages
    run = training.fine_tune(
        backbone, split, trainable_stages=k, head_lr=head_lr,
        backbone_lr=head_lr if strategy == "scratch" else backbone_lr, epochs=epochs,
        batch_size=batch_size, warmup_epochs=warmup_epochs, bn_policy=bn_policy,
        augmentation=augmentation, image_size=image_size, seed=seed, device=device,
    )  # fmt: skip
    prep = backbone.preprocessing(image_size)

    def accuracy(part: ImageSet) -> float:
        return training.evaluate(backbone.model, part, prep, device=device)["accuracy"]

    return {
        "val_acc": accuracy(split["report"]),
        "test_acc": run["test_acc"],
        "train_acc": accuracy(split["train"]),
    }


def run_strategy(
    strategy: str,
    source: Backbone,
    split: dict[str, ImageSet],
    *,
    seed: int,
    small: bool,
    epochs: int,
    batch_size: int,
    image_size: int | None = None,
    device=None,
    **recipe,
) -> dict:
    """One strategy on one split, with the equal selection budget.

    ``source``: the pretrained backbone (used as it is by the linear strategies, copied by the
    trained ones; ``scratch`` builds the same architecture with random weights). ``split`` has
    ``train``, ``val`` and ``test``; ``val`` is halved (:func:`halves`). ``recipe``: overrides of
    :data:`RECIPE`. Returns ``val_acc`` (on the half no choice saw), ``test_acc``, ``train_acc``
    and, for the linear strategies, the chosen ``layer`` and every candidate's ``stage_val``.
    """
    if strategy not in STRATEGIES:
        raise KeyError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    recipe = {**RECIPE, **recipe}
    choose, report = halves(split["val"], seed)
    split = {**split, "val": choose, "report": report}
    run = dict(seed=seed, image_size=image_size, device=device)
    if strategy.startswith("linear"):
        return linear(source, split, strategy, small=small, Cs=recipe["Cs"], **run)
    torch.manual_seed(seed)
    backbone = _fresh(strategy, source)
    recipe.pop("Cs")
    return trained(backbone, split, strategy, epochs=epochs, batch_size=batch_size, **run, **recipe)


def _fresh(strategy: str, source: Backbone) -> Backbone:
    """The network a trained strategy starts from: a copy of the pretrained one, or the same
    architecture with random weights for ``scratch``."""
    if strategy == "scratch":
        return models.load_backbone(source.name, weights=None)
    return copy.deepcopy(source)


HOLDS = {"CONFIRMED": True, "NOT CONTRADICTED": "tie", "NOT CONFIRMED": False}


def rule_verdicts(rows: list[dict], scenarios) -> dict[str, dict]:
    """Per scenario: CS231n's rule tested against the best other strategy (both chosen on
    validation, compared paired on test), and the best pretrained strategy against scratch.

    Returns per scenario ``rule`` (its text), ``rule_best``, ``other_best``, ``state``
    (CONFIRMED / NOT CONTRADICTED / NOT CONFIRMED), ``holds``, ``verdict``, ``vs_scratch``,
    ``test`` (test accuracies per strategy, seed order) and ``text`` (the lines to print).
    """
    fmt, out = experiments.fmt_ci, {}
    for scenario in scenarios:
        val, test = ({st: experiments.values(rows, metric, scenario=scenario, strategy=st)
                      for st in STRATEGIES} for metric in ("val_acc", "test_acc"))  # fmt: skip
        rule, recommended = RULES[scenario]
        v = experiments.rule_verdict(val, test, recommended)
        best, other = v["rule_best"], v["other_best"]
        pretrained = max((st for st in val if st != "scratch"), key=lambda st: np.mean(val[st]))
        vs_scratch = experiments.compare(test[pretrained], test["scratch"])
        versus = f"{best} {fmt(test[best])} % vs {other} {fmt(test[other])} %"
        text = (
            f"{scenario}: CS231n says: {rule}. Rule's best (by validation) vs best other: "
            f"{versus} → {v['state']}: {v['verdict']}\n"
            f"    best pretrained strategy ({pretrained}) vs from scratch: {vs_scratch}"
        )
        out[scenario] = {
            "rule": rule, "rule_best": best, "other_best": other, "state": v["state"],
            "holds": HOLDS.get(v["state"]), "verdict": v["verdict"], "vs_scratch": vs_scratch,
            "test": test, "versus": versus, "text": text,
        }  # fmt: skip
    return out


def chart(worlds: dict[str, dict[str, dict]]) -> dict:
    """The decision chart's cells from :func:`rule_verdicts` of several worlds (``{"lab": …,
    "Lite0": …}``): per (size, similarity) the rule, what each world measured, and whether the
    rule holds in all of them (``False`` if one world contradicts it, ``"tie"`` if one ties)."""
    cells = {}
    for scenario, (rule, _) in RULES.items():
        lines, holds = [], []
        for world, verdicts in worlds.items():
            if scenario in verdicts:
                lines.append(f"{world}: {verdicts[scenario]['versus']}")
                holds.append(verdicts[scenario]["holds"])
            else:
                lines.append(f"{world}: not measured offline")
        state = (
            None if not holds else False if False in holds else "tie" if "tie" in holds else True
        )
        size, similarity = scenario.split("-")
        cells[(size, similarity)] = {"rule": rule, "measured": "\n".join(lines), "holds": state}
    return cells
