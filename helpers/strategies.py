"""The five transfer strategies of notebook 04, with one recipe and one selection budget.

Notebook 04 measures them in the four scenarios and :mod:`helpers.advisor` recommends one from
that measurement and runs it on a student's folder; both call :func:`run_strategy`, so what the
advisor verifies is what 04 measured.

**One selection budget.** Every choice *inside* a strategy (which layer, which ``C``) is made on
data its reported validation score never sees: on one class-balanced half of the validation set
when that has at least ``HALVES_FROM`` images (:func:`halves`), the score then measured on the
other half; with fewer (five images per class), by cross-validation on the training images, so
that the whole validation set scores every strategy and one image is not ten points. A strategy
that tried sixteen combinations and reported its best score would otherwise beat one that
reports a single number, for no reason but its extra tries. The trained strategies make no
choice: their recipe is fixed.
"""

from __future__ import annotations

import copy

import torch

from . import data, experiments, models, probes, stats, training
from .data import ImageSet
from .models import Backbone

BN_FROZEN = "fine-tune all, BN frozen"
STRATEGIES = (
    "linear: top",
    "linear: earlier stage",
    "fine-tune last 2",
    "fine-tune all",
    BN_FROZEN,
    "scratch",
)
TRAINS = {
    "linear: top": "a logistic regression on the top features (the code); the backbone is fixed",
    "linear: earlier stage": "a logistic regression on an earlier stage's features, the stage "
    "chosen on validation; the backbone is fixed",
    "fine-tune last 2": "the new head and the last two stages, from the pretrained weights",
    "fine-tune all": "the new head and every stage, from the pretrained weights",
    BN_FROZEN: "the same, but every BatchNorm layer keeps its pretrained statistics and affine "
    "parameters (bn_policy='frozen'): fine-tuning without re-estimating BatchNorm on the target",
    "scratch": "every stage and the head, from random weights, at the head's learning rate",
}
# CS231n's rules of thumb, in the note's words, and the strategies each recommends; training
# from scratch is a comparator the notebook reports, not part of a rule (the note: "it is very
# often still beneficial to initialize with weights from a pretrained model")
RULES = {
    "small-similar": ("linear classifier on top features", ("linear: top",)),
    "small-different": ("linear classifier on earlier features", ("linear: earlier stage",)),
    "large-similar": ("fine-tune", ("fine-tune all", "fine-tune last 2", BN_FROZEN)),
    "large-different": ("fine-tune", ("fine-tune all", "fine-tune last 2", BN_FROZEN)),
}
HALVES_FROM = 100  # validation images from which choices are made on one half of them
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
    select: str = "val",
) -> dict:
    """A logistic regression on each candidate layer, the layer and ``C`` chosen on
    ``split["val"]`` (``select="cv"``: by cross-validation on ``split["train"]``); its accuracy
    on ``split["report"]``, which no choice saw, is its validation score."""
    best, stage_val = None, {}
    for layer, grid in candidates(backbone, strategy):
        probe = probes.probe_backbone(
            backbone,
            split,
            layer=layer,
            image_size=image_size,
            grid=grid,
            kind="logistic_torch",
            Cs=Cs,
            seed=seed,
            device=device,
            select=select,
            scaler=None if small else "standard",  # z-scoring from 5–10 images per class hurts
        )
        stage_val[_layer_name(layer, grid)] = probe.val_accuracy
        if best is None or probe.val_accuracy > best[0].val_accuracy:
            best = (probe, _layer_name(layer, grid))
    probe, name = best
    return {
        "val_acc": probe.scores["report"],
        "test_acc": probe.test_accuracy,
        "train_acc": probe.train_accuracy,
        "test_correct": stats.bits(probe.test_correct),
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
    bn_policy = "frozen" if strategy == BN_FROZEN else bn_policy
    run = training.fine_tune(
        backbone,
        split,
        trainable_stages=k,
        head_lr=head_lr,
        backbone_lr=head_lr if strategy == "scratch" else backbone_lr,
        epochs=epochs,
        batch_size=batch_size,
        warmup_epochs=warmup_epochs,
        bn_policy=bn_policy,
        augmentation=augmentation,
        image_size=image_size,
        seed=seed,
        device=device,
    )
    prep = backbone.preprocessing(image_size)

    def accuracy(part: ImageSet) -> float:
        return training.evaluate(backbone.model, part, prep, device=device)["accuracy"]

    return {
        "val_acc": accuracy(split["report"]),
        "test_acc": run["test_acc"],
        "train_acc": accuracy(split["train"]),
        "test_correct": run["test_correct"],
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
    design: str = "fixed",
    **recipe,
) -> dict:
    """One strategy on one split, with the equal selection budget (see the module text).

    ``source``: the pretrained backbone (used as it is by the linear strategies, copied by the
    trained ones; ``scratch`` builds the same architecture with random weights). ``split``: train,
    val and test. ``design``: how the test set relates across seeds — ``"fixed"`` (the same
    images for every seed), ``"resplit"`` (every seed re-splits one pool) or ``"draw"``
    (independent draws from a large pool) — recorded for the verdicts. ``recipe``: overrides
    of :data:`RECIPE`. Returns ``val_acc`` (on data no choice saw), ``test_acc``, ``train_acc``,
    ``test_correct``, the design and, for the linear strategies, the chosen ``layer`` and every
    candidate's ``stage_val``.
    """
    if strategy not in STRATEGIES:
        raise KeyError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    recipe = {**RECIPE, **recipe}
    split, select = _budget(split, seed)
    run = dict(seed=seed, image_size=image_size, device=device)
    if strategy.startswith("linear"):
        out = linear(source, split, strategy, small=small, Cs=recipe["Cs"], select=select, **run)
    else:
        torch.manual_seed(seed)
        backbone, _ = _fresh(strategy, source), recipe.pop("Cs")
        out = trained(
            backbone, split, strategy, epochs=epochs, batch_size=batch_size, **run, **recipe
        )
    return {**out, **_design(design, split)}


def _budget(split: dict[str, ImageSet], seed: int) -> tuple[dict[str, ImageSet], str]:
    """The equal selection budget: choices on one validation half and the score on the other
    (from ``HALVES_FROM`` validation images on), else choices by cross-validation on the training
    images and the score on all of val. Returns the split with its ``report`` set, and how the
    strategies choose (``"val"`` or ``"cv"``)."""
    if len(split["val"]) >= HALVES_FROM:
        choose, report = halves(split["val"], seed)
        return {**split, "val": choose, "report": report}, "val"
    return {**split, "report": split["val"]}, "cv"


def _design(design: str, split: dict[str, ImageSet]) -> dict:
    if design not in ("fixed", "resplit", "draw"):
        raise ValueError(f"design must be 'fixed', 'resplit' or 'draw', got {design!r}")
    if design == "resplit":  # Nadeau & Bengio's test/train ratio
        return {"design": design, "resplit": len(split["test"]) / len(split["train"])}
    return {"design": design}


def _fresh(strategy: str, source: Backbone) -> Backbone:
    """The network a trained strategy starts from: a copy of the pretrained one, or the same
    architecture with random weights for ``scratch``."""
    if strategy == "scratch":
        return models.load_backbone(source.name, weights=None)
    return copy.deepcopy(source)


def rule_verdict(rows: dict[str, list[dict]], rule, **options) -> dict:
    """A rule of thumb ("use strategy X here") tested as the recommendation it is: the rule's
    best strategy and the best strategy outside it, each chosen by mean validation accuracy
    (:func:`helpers.experiments.choose`), compared paired on test (:func:`compare_rows`, with the
    rows' design). The rule holds when its choice is not worse than the best other by more than
    the margin (``expect="not worse"``, :mod:`helpers.stats`). ``rows``: per strategy, one row
    per seed. Returns ``rule_best``, ``other_best`` and the ``verdict``; ``options``:
    :func:`helpers.stats.compare`'s (``margin``, ``scale``).
    """
    rule = [s for s in rule if s in rows]
    others = [s for s in rows if s not in rule]
    if not rule or not others:
        raise ValueError(f"need strategies inside and outside the rule; got {list(rows)}")
    flat = [{**r, "strategy": s} for s, rs in rows.items() for r in rs]
    best = {
        side: experiments.choose([r for r in flat if r["strategy"] in names], "strategy")
        for side, names in (("rule", rule), ("other", others))
    }
    verdict = experiments.compare_rows(rows[best["rule"]], rows[best["other"]], **options)
    return {"rule_best": best["rule"], "other_best": best["other"], "verdict": verdict}


def rule_verdicts(rows: list[dict], scenarios, **options) -> dict[str, dict]:
    """Per scenario: CS231n's rule tested against the best other strategy (:func:`rule_verdict`)
    and the best pretrained strategy (by validation) against scratch, a comparator outside the
    rules. Returns per scenario ``rule`` (its text), ``rule_best``, ``other_best``, ``verdict``,
    ``pretrained``, ``vs_scratch`` (``None`` when it is the rule's own comparison), ``test``
    (test accuracies per strategy, seed order) and ``text`` (the lines to print).
    ``options``: :func:`helpers.stats.compare`'s (``margin``, ``scale``).
    """
    fmt, out = experiments.fmt_ci, {}
    for scenario in scenarios:
        mine = {st: experiments.select(rows, scenario=scenario, strategy=st) for st in STRATEGIES}
        mine = {st: r for st, r in mine.items() if r}
        rule, recommended = RULES[scenario]
        v = rule_verdict(mine, recommended, **options)
        best, other = v["rule_best"], v["other_best"]
        flat = [r for st, rs in mine.items() if st != "scratch" for r in rs]
        pretrained = experiments.choose(flat, "strategy")
        same = {pretrained, "scratch"} == {best, other}
        vs_scratch = (
            None if same else experiments.compare_rows(mine[pretrained], mine["scratch"], **options)
        )
        test = {st: [x["test_acc"] for x in r] for st, r in mine.items()}
        versus = f"{best} {fmt(test[best])} % vs {other} {fmt(test[other])} %"
        alone = stats.answer(v["verdict"], "not worse")
        text = (
            f"{scenario}: CS231n says: {rule}. The rule's best (by validation) vs the best other: "
            f"{versus} → {v['verdict']}; not worse by more than the margin: {alone} before Holm"
        )
        if vs_scratch is not None:
            text += f"\n    best pretrained strategy ({pretrained}) vs from scratch: {vs_scratch}"
        out[scenario] = {
            "rule": rule,
            **v,
            "pretrained": pretrained,
            "vs_scratch": vs_scratch,
            "test": test,
            "versus": versus,
            "text": text,
        }
    return out


def chart(verdicts: dict[str, dict], answers: dict[str, str]) -> dict:
    """One world's decision chart from :func:`rule_verdicts`: per (size, similarity) the rule,
    the rule's best strategy against the best other one with the paired difference and its
    interval, and the rule's answer from the ledger (``answers``: per scenario, after Holm)."""
    cells = {}
    for scenario, (rule, _) in RULES.items():
        size, similarity = scenario.split("-")
        if scenario not in verdicts:
            cells[(size, similarity)] = {"rule": rule, "measured": "not measured", "state": None}
            continue
        v = verdicts[scenario]
        measured = f"{v['rule_best']} vs {v['other_best']}: {v['verdict'].interval_text()}"
        cells[(size, similarity)] = {"rule": rule, "measured": measured, "state": answers[scenario]}
    return cells
