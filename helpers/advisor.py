"""Which regime for *my* images? A measured answer.

:func:`advise` measures a student's image folder (or an :class:`~helpers.data.ImageSet`) the way
the course measures its own datasets, places it in one of CS231n's four scenarios, recommends the
strategy that did best there in the course's own reference run of notebook 04 (chosen on
validation, as 04 does), then runs that strategy and one alternative on the student's data, with
seeds, and reports both with a paired 95 % interval. The strategies are
:func:`helpers.strategies.run_strategy`'s — the code and recipe notebook 04 measured.

What it measures:

- **size**: images per class, the imbalance (largest class / smallest), and the training images
  per class a split leaves; "large" from ``LARGE_TRAIN_PER_CLASS`` on (the smallest large set
  notebook 04 measured), "small" below;
- **similarity to the backbone's source task**, two ways: the ImageNet head's mean top-1
  confidence on these images against reference photos (Tux Paint's, or scikit-image's sample
  photos), and a per-stage linear-probe curve (C and the stage chosen on validation): a curve
  that peaks in the last third of the network says its most specific features serve the task,
  i.e. the task is similar; an earlier peak says only more generic features transfer.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import config, data, experiments, features, models, probes, strategies
from .data import ImageSet
from .strategies import RULES, STRATEGIES

LARGE_TRAIN_PER_CLASS = 100  # notebook 04's smallest "large" training set, per class
MIN_PER_CLASS = 4  # one training, one validation and one test image need at least this many
LATE_FRACTION = 2 / 3  # a probe peak from here on (of the stages) counts as "late"
CONFIDENCE_RATIO = 0.5  # top-1 confidence below this share of the reference photos': different
REFERENCE_FILE = "04_four_scenarios-lite0-cpu.jsonl"
LAB_REFERENCE_FILE = "04_four_scenarios-lab-cpu.jsonl"
CS = strategies.RECIPE["Cs"]


@dataclasses.dataclass
class Report:
    """What :func:`advise` measured and recommends; ``str(report)`` reads as a short report.

    ``recommendation`` is the strategy notebook 04 measured best for the scenario; ``choice``
    is what to use after the runs on this data (the alternative where it was clearly better).
    """

    dataset: str
    counts: dict[str, int]
    imbalance: float
    seeds: list[int]
    train_per_class: int | None = None
    confidence: float | None = None
    reference_confidence: float | None = None
    reference_name: str = ""
    curve: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    peak_stage: str | None = None
    scenario: str | None = None
    recommendation: str | None = None
    alternative: str | None = None
    reasons: list[str] = dataclasses.field(default_factory=list)
    chart_source: str = ""
    runs: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    verdict: experiments.Verdict | None = None
    not_measured: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    figure: object = dataclasses.field(default=None, repr=False)

    @property
    def choice(self) -> str | None:
        """The strategy to use: the recommendation, unless the runs on this data found the
        alternative clearly better."""
        if self.verdict is not None and self.verdict.word == "worse":
            return self.alternative
        return self.recommendation

    @property
    def advice(self) -> str:
        """One sentence: what to use, and whether the measurement on this data backs the chart."""
        if self.verdict is None:
            return "no runs on this data: collect more images before choosing"
        if self.verdict.word == "better":
            return f"use {self.recommendation}: it also won on your data"
        if self.verdict.word == "worse":
            return (
                f"use {self.alternative}: on your data it beat the chart's recommendation, "
                "whose measurement came from other datasets"
            )
        return (
            f"either: on your data {self.recommendation} and {self.alternative} are not clearly "
            f"different ({len(self.seeds)} seeds); the chart's {self.recommendation} is the default"
        )

    def __str__(self) -> str:
        fmt = experiments.fmt_ci
        lines = [f"Advice for {self.dataset} ({len(self.counts)} classes)"]
        sizes = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        lines.append(f"- images per class: {sizes} (largest / smallest {self.imbalance:.1f})")
        if self.confidence is not None:
            lines.append(
                f"- ImageNet head, mean top-1 confidence: {self.confidence:.2f} here vs "
                f"{self.reference_confidence:.2f} on reference photos"
            )
        if self.peak_stage:
            lines.append(f"- linear probe per stage peaks (on validation) at {self.peak_stage}")
        if self.scenario:
            lines.append(f"- scenario: {self.scenario}")
        lines += [f"  because {r}" for r in self.reasons]
        if self.recommendation:
            lines.append(f"- recommendation: {self.recommendation} ({self.chart_source})")
        for name, accs in self.runs.items():
            lines.append(f"- measured here, {name}: test accuracy {fmt(accs)} % "
                         f"({len(accs)} seeds)")  # fmt: skip
        if self.verdict is not None:
            lines.append(f"- {self.recommendation} vs {self.alternative}: {self.verdict}")
            lines.append(f"→ {self.advice}")
        lines += [f"- not measured: {n}" for n in self.not_measured]
        if self.seconds:
            lines.append(f"({self.seconds:.0f} s)")
        return "\n".join(lines)


def _confidence(backbone: models.Backbone, images: torch.Tensor, size: int, device) -> float:
    probs, _ = models.predict_topk(backbone, images, k=1, image_size=size, device=device)
    return float(probs[:, 0].mean())


def _reference_photos() -> tuple[torch.Tensor, str]:
    try:
        return data.load_dataset("tuxpaint").images, "Tux Paint photos"
    except data.DatasetNotFoundError:
        from skimage import data as skdata

        photos = [skdata.coffee(), skdata.chelsea(), skdata.astronaut(), skdata.rocket()]
        return data.images_to_tensor(photos, size=256), "scikit-image's sample photos"


def measured_chart(scenario: str) -> tuple[dict[str, float], str]:
    """Mean validation accuracy per strategy in ``scenario`` from the course's reference run of
    notebook 04 (the Lite0 world; the lab world where Lite0 was not measured), and where it
    comes from. Empty when no reference run covers the scenario."""
    for name, world in ((REFERENCE_FILE, "Lite0"), (LAB_REFERENCE_FILE, "lab world")):
        path = experiments.reference_dir() / name
        rows = [r for r in experiments.read_results(path) if r["scenario"] == scenario]
        if rows:
            val = {
                st: float(np.mean(experiments.values(rows, "val_acc", strategy=st)))
                for st in STRATEGIES
                if experiments.select(rows, strategy=st)
            }
            prov = experiments.provenance(path) or {}
            where = (
                f"best by validation in notebook 04's reference run, {world}, {scenario}, "
                f"{prov.get('date', 'undated')}, commit {prov.get('commit', '?')}"
            )
            return val, where
    return {}, ""


def _measure_confidence(report: Report, net, dataset: ImageSet, size: int, device) -> None:
    """Similarity, 1: the ImageNet head's mean top-1 confidence here and on reference photos."""
    if not net.labels:
        report.not_measured.append(f"ImageNet confidence: {net.name} has no ImageNet head")
        return
    reference, report.reference_name = _reference_photos()
    report.confidence = _confidence(net, dataset.images, size, device)
    report.reference_confidence = _confidence(net, reference, size, device)


def _too_small(report: Report) -> bool:
    """Fewer than ``MIN_PER_CLASS`` images in a class: say which, and measure nothing more."""
    few = [k for k, v in report.counts.items() if v < MIN_PER_CLASS]
    if few:
        why = (
            f"class(es) {', '.join(few)} have fewer than {MIN_PER_CLASS} images; each class needs "
            "at least one training, one validation and one test image"
        )
        report.not_measured += [f"the probe curve ({why})", f"the strategies ({why})"]
    return bool(few)


def _measure_curve(report: Report, net, dataset: ImageSet, splits: dict, size: int, device):
    """Similarity, 2: a linear probe on every stage per split, C chosen on validation."""
    layers = features.layer_names(net)
    for layer in layers:
        f = features.extract_features(net, dataset, layer=layer, image_size=size, device=device)
        scores = []
        for seed, idx in splits.items():
            probe = probes.probe_splits(
                {k: f[i] for k, i in idx.items()}, {k: dataset.labels[i] for k, i in idx.items()},
                kind="logistic_torch", Cs=CS, seed=seed,
            )  # fmt: skip
            scores.append((probe.val_accuracy, probe.test_accuracy))
        val, test = np.mean(scores, axis=0)
        report.curve[layer] = {"val": float(val), "test": float(test)}
    report.peak_stage = max(layers, key=lambda layer: report.curve[layer]["val"])


def _place(report: Report) -> None:
    """The scenario, from the size and the two similarity measurements, with its reasons."""
    layers = list(report.curve)
    peak = layers.index(report.peak_stage)
    late = peak >= math.ceil(LATE_FRACTION * len(layers)) - 1
    large = report.train_per_class >= LARGE_TRAIN_PER_CLASS
    ratio = None if report.confidence is None else report.confidence / report.reference_confidence
    confident = ratio is None or ratio >= CONFIDENCE_RATIO
    size, similarity = (
        ("large" if large else "small"),
        ("similar" if late and confident else "different"),
    )
    report.scenario = f"{size}-{similarity}"
    report.reasons.append(
        f"a split leaves {report.train_per_class} training images in the smallest class "
        f"({'at least' if large else 'fewer than'} {LARGE_TRAIN_PER_CLASS}: {size})"
    )
    report.reasons.append(
        f"the probe peaks at {report.peak_stage} (stage {peak + 1} of {len(layers)}, "
        f"{'in' if late else 'before'} the last third: "
        f"{'the most specific' if late else 'more generic'} features serve this task best)"
    )
    if ratio is not None:
        report.reasons.append(
            f"the ImageNet head is {ratio:.0%} as confident here as on {report.reference_name} "
            f"({'at least' if confident else 'below'} {CONFIDENCE_RATIO:.0%}: "
            f"{'similar' if confident else 'different'})"
        )


def _recommend(report: Report) -> None:
    """The course's own measurement of the scenario: its best strategy, and the best of the other
    family (linear vs trained) as the alternative."""
    chart, report.chart_source = measured_chart(report.scenario)
    if not chart:
        report.recommendation = RULES[report.scenario][1][0]
        linear = report.recommendation.startswith("linear")
        report.alternative = "fine-tune all" if linear else "linear: top"
        report.chart_source = "CS231n's rule: no reference run of notebook 04 is installed"
        return
    ranked = sorted(chart, key=chart.get, reverse=True)
    report.recommendation = ranked[0]
    family = report.recommendation.startswith("linear")
    report.alternative = next(
        (st for st in ranked[1:] if st.startswith("linear") != family), ranked[1]
    )


def _run_both(report: Report, net, dataset: ImageSet, splits: dict, run: dict, steps) -> None:
    """The recommendation and the alternative, 04's strategy code on the same seeds and splits."""
    small = report.scenario.startswith("small")
    for strategy in (report.recommendation, report.alternative):
        accs = []
        for seed, idx in splits.items():
            split = {k: dataset.subset(i, name=f"{dataset.name}:{k}") for k, i in idx.items()}
            out = strategies.run_strategy(
                strategy, net, split, seed=seed, small=small,
                batch_size=16 if small else 64, **run,
            )  # fmt: skip
            accs.append(out["test_acc"])
            steps.update(0.5)
        report.runs[strategy] = accs
    report.verdict = experiments.compare(
        report.runs[report.recommendation], report.runs[report.alternative]
    )


def advise(
    source: str | Path | ImageSet,
    backbone: str = "lite0",
    *,
    seeds: Sequence[int],
    image_size: int,
    epochs: int,
    device: torch.device | str | None = None,
    progress: bool = True,
    plot: bool = True,
) -> Report:
    """Measure ``source`` (an image folder ``root/<class>/<images>`` or an ImageSet), recommend a
    strategy from notebook 04's measurements, run it and one alternative with ``seeds`` at
    ``image_size`` for ``epochs``; see the module docstring. Returns a :class:`Report`."""
    start = time.perf_counter()
    dataset = source if isinstance(source, ImageSet) else data.load_image_folder(source)
    device = device or config.pick_device()
    counts = dataset.counts()
    report = Report(
        dataset=dataset.name, counts=counts, seeds=list(seeds),
        imbalance=max(counts.values()) / max(min(counts.values()), 1),
    )  # fmt: skip
    net = models.load_backbone(backbone)
    _measure_confidence(report, net, dataset, image_size, device)
    if not _too_small(report):
        splits = _splits(dataset, report.seeds)
        train = dataset.labels[splits[report.seeds[0]]["train"]]
        report.train_per_class = int(torch.bincount(train).min())
        steps = tqdm(total=2 * len(seeds) + 1, desc="advisor", disable=not progress)
        _measure_curve(report, net, dataset, splits, image_size, device)
        steps.update(1)
        _place(report)
        _recommend(report)
        run = dict(image_size=image_size, epochs=epochs, device=device)
        _run_both(report, net, dataset, splits, run, steps)
        steps.close()
        report.figure = figure(report) if plot else None
    report.seconds = time.perf_counter() - start
    return report


def _splits(dataset: ImageSet, seeds: Sequence[int]) -> dict[int, dict[str, torch.Tensor]]:
    """Per seed, the indices of a class-balanced split: half to train, a fifth to validate."""
    labels, n = dataset.labels, len(dataset.classes)
    return {
        seed: data.split_indices(
            labels, n, train=0.5, val=0.2, seed=seed, class_names=dataset.classes
        )
        for seed in seeds
    }


def figure(report: Report):
    """Three panels: images per class, the probe curve, the two strategies per seed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
    names = list(report.counts)
    axes[0].bar(range(len(names)), list(report.counts.values()), color="tab:blue")
    axes[0].set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes[0].set_title("images per class", fontsize=9)
    if report.curve:
        layers = list(report.curve)
        for key, style in (("val", "o-"), ("test", "s--")):
            axes[1].plot(layers, [report.curve[k][key] * 100 for k in layers], style, label=key)
        axes[1].axvline(layers.index(report.peak_stage), color="tab:red", ls=":", label="peak")
        axes[1].tick_params(axis="x", rotation=45, labelsize=7)
        axes[1].set_title("linear probe per stage (%)", fontsize=9)
        axes[1].legend(fontsize=7)
    for i, accs in enumerate(report.runs.values()):
        axes[2].plot([i] * len(accs), [a * 100 for a in accs], "o", alpha=0.6)
        mean, half = experiments.mean_ci(accs)
        axes[2].errorbar([i + 0.1], [mean * 100], yerr=[0 if math.isnan(half) else half * 100],
                         fmt="s", color="k", capsize=4)  # fmt: skip
    if report.runs:
        axes[2].set_xticks(range(len(report.runs)), list(report.runs), fontsize=8)
        axes[2].set_title(f"test accuracy (%), {len(report.seeds)} seeds", fontsize=9)
    fig.suptitle(f"{report.dataset}: {report.scenario or 'not placed'} → "
                 f"{report.recommendation or 'no recommendation'}", fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig
