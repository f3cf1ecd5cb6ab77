"""Which regime for *my* images? A measured answer.

:func:`advise` measures a student's image folder (or an :class:`~helpers.data.ImageSet`) the way
the course measures its own datasets, places it in one of CS231n's four scenarios, recommends the
strategy that did best there in the course's own reference run of notebook 04 (chosen on
validation, as 04 does), then runs that strategy and one alternative on the student's data, with
seeds, and reports both with a paired 95 % interval.

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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import config, data, experiments, features, models, probes, training
from .data import ImageSet

STRATEGIES = (
    "linear: top",
    "linear: earlier stage",
    "fine-tune last 2",
    "fine-tune all",
    "scratch",
)
LARGE_TRAIN_PER_CLASS = 100  # notebook 04's smallest "large" training set, per class
MIN_PER_CLASS = 4  # one training, one validation and one test image need at least this many
LATE_FRACTION = 2 / 3  # a probe peak from here on (of the stages) counts as "late"
CONFIDENCE_RATIO = 0.5  # top-1 confidence below this share of the reference photos': different
REFERENCE_FILE = "04_four_scenarios-lite0-cpu.jsonl"
LAB_REFERENCE_FILE = "04_four_scenarios-lab-cpu.jsonl"
# CS231n's rules, used only where the course has no measurement of a scenario
RULES = {
    "small-similar": "linear: top",
    "small-different": "linear: earlier stage",
    "large-similar": "fine-tune all",
    "large-different": "fine-tune all",
}


@dataclasses.dataclass
class Report:
    """What :func:`advise` measured and recommends; ``str(report)`` reads as a short report.

    ``recommendation`` is the strategy notebook 04 measured best for the scenario; ``choice``
    is what to use after the runs on this data (the alternative where it was clearly better).
    """

    dataset: str
    counts: dict[str, int]
    imbalance: float
    train_per_class: int | None
    confidence: float | None
    reference_confidence: float | None
    curve: dict[str, dict[str, float]]
    peak_stage: str | None
    scenario: str | None
    recommendation: str | None
    alternative: str | None
    reasons: list[str]
    chart_source: str
    runs: dict[str, list[float]]
    verdict: experiments.Verdict | None
    seeds: list[int]
    not_measured: list[str]
    seconds: float = 0.0
    figure: object = dataclasses.field(default=None, repr=False)

    @property
    def choice(self) -> str | None:
        """The strategy to use: the recommendation, unless the runs on this data found the
        alternative clearly better."""
        if self.verdict is not None and self.verdict == "worse":
            return self.alternative
        return self.recommendation

    @property
    def advice(self) -> str:
        """One sentence: what to use, and whether the measurement on this data backs the chart."""
        if self.verdict is None:
            return "no runs on this data: collect more images before choosing"
        if self.verdict == "better":
            return f"use {self.recommendation}: it also won on your data"
        if self.verdict == "worse":
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


def advise(
    source: str | Path | ImageSet,
    backbone: str = "lite0",
    *,
    seeds: Sequence[int] | None = None,
    image_size: int | None = None,
    epochs: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    plot: bool = True,
) -> Report:
    """Measure ``source`` (an image folder ``root/<class>/<images>`` or an ImageSet), recommend a
    strategy from notebook 04's measurements, run it and one alternative with seeds; see the
    module docstring. Returns a :class:`Report`."""
    import time

    from tqdm.auto import tqdm

    start = time.perf_counter()
    dataset = source if isinstance(source, ImageSet) else data.load_image_folder(source)
    seeds = list(seeds if seeds is not None else config.by_profile(
        quick=[0, 1], cpu=[0, 1, 2], gpu=[0, 1, 2, 3, 4]))  # fmt: skip
    size = image_size or config.by_profile(quick=64, cpu=96, gpu=160)
    epochs = epochs or config.by_profile(quick=2, cpu=8, gpu=20)
    device = device or config.pick_device()
    counts = dataset.counts()
    smallest = min(counts.values())
    imbalance = max(counts.values()) / max(smallest, 1)
    not_measured, reasons = [], []
    net = models.load_backbone(backbone)

    # similarity, 1: the ImageNet head's confidence here and on reference photos
    confidence = reference_confidence = None
    if net.labels:
        reference, reference_name = _reference_photos()
        confidence = _confidence(net, dataset.images, size, device)
        reference_confidence = _confidence(net, reference, size, device)
    else:
        not_measured.append(f"ImageNet confidence: {backbone} has no ImageNet head")

    report = Report(
        dataset=dataset.name, counts=counts, imbalance=imbalance, train_per_class=None,
        confidence=confidence, reference_confidence=reference_confidence, curve={},
        peak_stage=None, scenario=None, recommendation=None, alternative=None, reasons=reasons,
        chart_source="", runs={}, verdict=None, seeds=seeds, not_measured=not_measured,
    )  # fmt: skip
    if smallest < MIN_PER_CLASS:
        few = [k for k, v in counts.items() if v < MIN_PER_CLASS]
        why = (
            f"class(es) {', '.join(few)} have fewer than {MIN_PER_CLASS} images; each class needs "
            "at least one training, one validation and one test image"
        )
        not_measured += [f"the probe curve ({why})", f"the strategies ({why})"]
        report.seconds = time.perf_counter() - start
        return report

    splits = {
        seed: data.split_indices(
            dataset.labels,
            len(dataset.classes),
            train=0.5,
            val=0.2,
            seed=seed,
            class_names=dataset.classes,
        )  # fmt: skip
        for seed in seeds
    }
    train_counts = torch.bincount(dataset.labels[splits[seeds[0]]["train"]])
    report.train_per_class = int(train_counts.min())
    steps = tqdm(total=2 * len(seeds) + 1, desc="advisor", disable=not progress)

    # similarity, 2: a linear probe on every stage, C chosen on validation
    layers = features.layer_names(net)
    per_seed = {layer: [] for layer in layers}
    for layer in layers:
        f = features.extract_features(net, dataset, layer=layer, image_size=size, device=device)
        for seed, idx in splits.items():
            probe = probes.probe_splits(
                {k: f[i] for k, i in idx.items()}, {k: dataset.labels[i] for k, i in idx.items()},
                kind="logistic_torch", Cs=(0.01, 0.1, 1.0, 10.0), seed=seed,
            )  # fmt: skip
            per_seed[layer].append((probe.val_accuracy, probe.test_accuracy))
    steps.update(1)
    report.curve = {
        layer: {"val": float(np.mean([v for v, _ in vals])),
                "test": float(np.mean([t for _, t in vals]))}
        for layer, vals in per_seed.items()
    }  # fmt: skip
    peak = max(layers, key=lambda layer: report.curve[layer]["val"])
    report.peak_stage = peak
    late = layers.index(peak) >= math.ceil(LATE_FRACTION * len(layers)) - 1

    # the scenario, from the two measurements and the size
    large = report.train_per_class >= LARGE_TRAIN_PER_CLASS
    confident = confidence is None or confidence >= CONFIDENCE_RATIO * reference_confidence
    similar = late and confident
    report.scenario = f"{'large' if large else 'small'}-{'similar' if similar else 'different'}"
    reasons.append(
        f"a split leaves {report.train_per_class} training images in the smallest class "
        f"({'at least' if large else 'fewer than'} {LARGE_TRAIN_PER_CLASS}: "
        f"{'large' if large else 'small'})"
    )
    where = f"stage {layers.index(peak) + 1} of {len(layers)}"
    reasons.append(
        f"the probe peaks at {peak} ({where}, {'in' if late else 'before'} the last third: "
        f"{'the most specific' if late else 'more generic'} features serve this task best)"
    )
    if confidence is not None:
        reasons.append(
            f"the ImageNet head is {confidence / reference_confidence:.0%} as confident here as "
            f"on {reference_name} ({'at least' if confident else 'below'} "
            f"{CONFIDENCE_RATIO:.0%}: {'similar' if confident else 'different'})"
        )

    # the recommendation: the course's own measurement of that scenario
    chart, report.chart_source = measured_chart(report.scenario)
    if chart:
        ranked = sorted(chart, key=chart.get, reverse=True)
        report.recommendation = ranked[0]
        family = report.recommendation.startswith("linear")
        report.alternative = next(
            (st for st in ranked[1:] if st.startswith("linear") != family), ranked[1]
        )
    else:
        report.recommendation = RULES[report.scenario]
        report.alternative = "fine-tune all" if report.recommendation.startswith("linear") else (
            "linear: top")  # fmt: skip
        report.chart_source = "CS231n's rule: no reference run of notebook 04 is installed"

    # run both, with the same seeds and splits
    for strategy in (report.recommendation, report.alternative):
        accs = []
        for pos, (seed, idx) in enumerate(splits.items()):
            split = {k: dataset.subset(i, name=f"{dataset.name}:{k}") for k, i in idx.items()}
            # the earlier stage for "linear: earlier stage": this split's best by validation
            stage_val = {layer: per_seed[layer][pos][0] for layer in layers}
            accs.append(_run(strategy, backbone, split, stage_val, seed, size, epochs, device))
            steps.update(0.5)
        report.runs[strategy] = accs
    steps.close()
    report.verdict = experiments.compare(
        report.runs[report.recommendation], report.runs[report.alternative]
    )
    report.seconds = time.perf_counter() - start
    if plot:
        report.figure = figure(report)
    return report


def _run(strategy, backbone, split, stage_val, seed, size, epochs, device) -> float:
    """Test accuracy of one strategy on one split (04's strategies, 03's fine-tuning recipe)."""
    if strategy.startswith("linear"):
        net = models.load_backbone(backbone)
        if strategy == "linear: top":
            layer = "penultimate"
        else:  # the best stage by validation before the last third (04's "earlier stage")
            layers = list(stage_val)
            earlier = layers[: math.ceil(LATE_FRACTION * len(layers)) - 1] or layers[:1]
            layer = max(earlier, key=stage_val.get)
        feats = {
            k: features.extract_features(net, v, layer=layer, image_size=size, device=device)
            for k, v in split.items()
        }
        probe = probes.probe_splits(feats, split, kind="logistic_torch",
                                    Cs=(0.01, 0.1, 1.0, 10.0), seed=seed)  # fmt: skip
        return probe.test_accuracy
    torch.manual_seed(seed)
    scratch = strategy == "scratch"
    net = models.load_backbone(backbone, weights=None if scratch else "imagenet")
    run = training.fine_tune(
        net, split, trainable_stages=2 if strategy == "fine-tune last 2" else net.num_stages,
        head_lr=3e-3, backbone_lr=3e-3 if scratch else 3e-4, epochs=epochs, batch_size=16,
        warmup_epochs=1, bn_policy="eval", augmentation={"scale": (0.7, 1.0), "flip": True},
        image_size=size, seed=seed, device=device,
    )  # fmt: skip
    return run["test_acc"]


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
