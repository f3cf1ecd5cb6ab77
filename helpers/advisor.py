"""Which regime for *my* images? A measured answer.

:func:`advise` measures a student's image folder (or an :class:`~helpers.data.ImageSet`) the way
the course measures its own datasets, places it in one of CS231n's four scenarios, recommends the
strategy that did best there in the course's own reference run of notebook 04 with Lite0 (chosen
on validation, as 04 does, and ranked with 04's intervals: a tie is reported as a tie), then runs
that strategy and one alternative on the student's data, with seeds, and reports both with a
paired 95 % interval. The strategies are :func:`helpers.strategies.run_strategy`'s — the code
and recipe notebook 04 measured.

What it measures:

- **size**: images per class, the imbalance (largest class / smallest), and the training images
  per class a split leaves; "large" from ``LARGE_TRAIN_PER_CLASS`` on (the smallest large set
  notebook 04 measured), "small" below;
- **similarity to ImageNet**, read from the network's own memory of it: how far the
  statistics the folder's images produce at Lite0's BatchNorm layers lie from the ImageNet
  statistics those layers store (:func:`helpers.similarity.imagenet_distance`), with a 95 %
  bootstrap interval over the images: *similar* below ``SIMILAR_BELOW``, *different* above it,
  *borderline* when the interval straddles it (the scenario then follows the point estimate,
  and the report says so). Notebook 08 checks the call on the course's own datasets, whose
  answers are known. The ImageNet head's confidence and a per-stage probe curve are measured
  too, and reported, but do not decide: neither tells the course's datasets apart.
  (:func:`domain_distance`, the proxy A-distance of Ben-David et al. (2007) to reference photos,
  answers another question — how easily a classifier tells the folder from one small set of
  photos — and is kept for notebook 08's comparison.)
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

from . import config, data, experiments, features, models, probes, similarity, strategies
from .data import ImageSet
from .strategies import RULES, STRATEGIES

LARGE_TRAIN_PER_CLASS = 100  # notebook 04's smallest "large" training set, per class
MIN_PER_CLASS = 4  # one training, one validation and one test image need at least this many
SIMILAR_BELOW = similarity.SIMILAR_BELOW  # distance to ImageNet below which a folder is similar
PROXY_SIMILAR_BELOW = 1.0  # proxy A-distance to reference photos (notebook 08's comparison)
DISTANCE_IMAGES = 200  # at most this many images for either distance
REFERENCE_FILE = "04_four_scenarios-lite0-cpu.jsonl"
MARGIN = 0.03  # notebook 04's margin: strategies within ±3 points are a tie
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
    backbone: str = "lite0"
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
    imagenet: similarity.ImageNetDistance | None = None
    chart_source: str = ""
    chart_verdict: experiments.Verdict | None = None
    runner_up: str | None = None
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
        if self.imagenet is not None:
            lines.append(f"- distance to ImageNet (BatchNorm statistics): {self.imagenet}")
        if self.scenario:
            lines.append(f"- scenario: {self.scenario}")
        lines += [f"  because {r}" for r in self.reasons]
        if self.recommendation:
            lines.append(f"- recommendation: {self.recommendation} ({self.chart_source})")
        if self.chart_verdict is not None:
            lines.append(
                f"  on the chart, {self.recommendation} vs the runner-up "
                f"{self.runner_up}: {self.chart_verdict}"
            )
        for name, accs in self.runs.items():
            lines.append(
                f"- measured here, {name}: test accuracy {fmt(accs)} % ({len(accs)} seeds)"
            )
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


def measured_chart(scenario: str) -> tuple[dict[str, float], str, list[dict]]:
    """Mean validation accuracy per strategy in ``scenario`` from the course's reference run of
    notebook 04 with Lite0, where it comes from, and the rows (for intervals). Empty when the
    reference run does not cover the scenario (large-similar needs CIFAR-10)."""
    path = experiments.reference_dir() / REFERENCE_FILE
    rows = [r for r in experiments.read_results(path) if r["scenario"] == scenario]
    if not rows:
        return {}, "", []
    val = {
        st: float(np.mean(experiments.values(rows, "val_acc", strategy=st)))
        for st in STRATEGIES
        if experiments.select(rows, strategy=st)
    }
    prov = experiments.provenance(path) or {}
    where = (
        f"notebook 04's reference run, Lite0, {scenario}, {prov.get('date', 'undated')}, "
        f"commit {str(prov.get('commit', '?'))[:10]}"
    )
    return val, where, rows


def imagenet_distance(net, dataset: ImageSet, device=None, seed: int = 0):
    """:func:`helpers.similarity.imagenet_distance` of (at most ``DISTANCE_IMAGES`` of) the
    folder's images, at the network's own resolution."""
    g = torch.Generator().manual_seed(seed)
    images = dataset.images[torch.randperm(len(dataset), generator=g)[:DISTANCE_IMAGES]]
    return similarity.imagenet_distance(net, images, seed=seed, device=device)


def domain_distance(net, images, reference, image_size: int, device=None, seed: int = 0) -> float:
    """Proxy A-distance between two sets of uint8 images, from a logistic regression on the
    backbone's codes that tells them apart (5-fold cross-validated error): 0 when it cannot, 2
    when it always can (Ben-David et al. 2007)."""
    g = torch.Generator().manual_seed(seed)
    sets = [x[torch.randperm(len(x), generator=g)[:DISTANCE_IMAGES]] for x in (images, reference)]
    sets = [_as_rgb(x, image_size) for x in sets]  # one size, three channels, for both sides
    n = min(len(x) for x in sets)
    both = ImageSet(
        torch.cat([x[:n] for x in sets]),
        torch.arange(2).repeat_interleave(n),
        ["folder", "reference"],
        name="domains",
    )
    codes = features.extract_features(net, both, image_size=image_size, device=device)
    probe = probes.fit_probe_cv(codes, both.labels, kind="logistic_torch", Cs=CS, seed=seed)
    return float(max(0.0, 2 * (1 - 2 * (1 - probe.val_accuracy))))


def _as_rgb(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images at ``size`` × ``size`` with three channels (grey repeated), for mixing sets."""
    x = images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return x.round().clamp(0, 255).to(torch.uint8)


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
                {k: f[i] for k, i in idx.items()},
                {k: dataset.labels[i] for k, i in idx.items()},
                kind="logistic_torch",
                Cs=CS,
                seed=seed,
            )
            scores.append((probe.val_accuracy, probe.test_accuracy))
        val, test = np.mean(scores, axis=0)
        report.curve[layer] = {"val": float(val), "test": float(test)}
    report.peak_stage = max(layers, key=lambda layer: report.curve[layer]["val"])


def _place(report: Report) -> None:
    """The scenario, from the size and the distance to ImageNet, with its reasons."""
    large = report.train_per_class >= LARGE_TRAIN_PER_CLASS
    d = report.imagenet
    similar = d.value < d.threshold  # a borderline interval follows its point estimate
    size, similarity = ("large" if large else "small"), ("similar" if similar else "different")
    report.scenario = f"{size}-{similarity}"
    report.reasons.append(
        f"a split leaves {report.train_per_class} training images in the smallest class "
        f"({'at least' if large else 'fewer than'} {LARGE_TRAIN_PER_CLASS}: {size})"
    )
    side = "below" if similar else "at least"
    why = f"{side} {d.threshold}: {similarity}"
    if d.call == "borderline":
        why += f"; borderline — its interval {d.low:.3f}–{d.high:.3f} straddles the threshold"
    report.reasons.append(
        f"the statistics these images produce at {report.backbone}'s BatchNorm layers lie "
        f"{d.value:.3f} from the ImageNet statistics those layers store ({why})"
    )


def _recommend(report: Report) -> None:
    """The course's own measurement of the scenario: its best strategy by validation; when the
    runner-up is not clearly worse on test (04's interval), a tie, and the runner-up is the
    alternative; otherwise the best of the other family (linear vs trained)."""
    chart, report.chart_source, rows = measured_chart(report.scenario)
    if not chart:
        report.recommendation = RULES[report.scenario][1][0]
        linear = report.recommendation.startswith("linear")
        report.alternative = "fine-tune all" if linear else "linear: top"
        report.chart_source = (
            "CS231n's rule: notebook 04's reference run does not measure "
            f"{report.scenario} with Lite0"
        )
        return
    ranked = sorted(chart, key=chart.get, reverse=True)
    report.recommendation, runner_up = ranked[0], ranked[1]
    report.runner_up = runner_up
    first, second = (experiments.select(rows, strategy=st) for st in (ranked[0], runner_up))
    report.chart_verdict = experiments.compare_rows(first, second, margin=MARGIN)
    if report.chart_verdict.word != "better":  # a tie on the chart: run both
        report.alternative = runner_up
        return
    family = report.recommendation.startswith("linear")
    report.alternative = next(
        (st for st in ranked[1:] if st.startswith("linear") != family), runner_up
    )


def _run_both(report: Report, net, dataset: ImageSet, splits: dict, run: dict, steps) -> None:
    """The recommendation and the alternative, 04's strategy code on the same seeds and splits."""
    small = report.scenario.startswith("small")
    for strategy in (report.recommendation, report.alternative):
        accs = []
        for seed, idx in splits.items():
            split = {k: dataset.subset(i, name=f"{dataset.name}:{k}") for k, i in idx.items()}
            out = strategies.run_strategy(
                strategy,
                net,
                split,
                seed=seed,
                small=small,
                batch_size=16 if small else 64,
                **run,
            )
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
        dataset=dataset.name,
        counts=counts,
        seeds=list(seeds),
        backbone=backbone,
        imbalance=max(counts.values()) / max(min(counts.values()), 1),
    )
    net = models.load_backbone(backbone)
    _measure_confidence(report, net, dataset, image_size, device)
    if not _too_small(report):
        run = dict(image_size=image_size, epochs=epochs, device=device)
        _measure_place_and_run(report, net, dataset, run, progress)
        report.figure = figure(report) if plot else None
    report.seconds = time.perf_counter() - start
    return report


def _measure_place_and_run(report: Report, net, dataset: ImageSet, run: dict, progress: bool):
    """The steps after the sizes: splits, probe curve, domain distance, the scenario, the
    recommendation, and the two strategies run on every seed's split."""
    size, device = run["image_size"], run["device"]
    splits = _splits(dataset, report.seeds)
    train = dataset.labels[splits[report.seeds[0]]["train"]]
    report.train_per_class = int(torch.bincount(train).min())
    steps = tqdm(total=2 * len(report.seeds) + 1, desc="advisor", disable=not progress)
    _measure_curve(report, net, dataset, splits, size, device)
    report.imagenet = imagenet_distance(net, dataset, device=device)
    steps.update(1)
    _place(report)
    _recommend(report)
    _run_both(report, net, dataset, splits, run, steps)
    steps.close()


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
        axes[2].errorbar(
            [i + 0.1],
            [mean * 100],
            yerr=[0 if math.isnan(half) else half * 100],
            fmt="s",
            color="k",
            capsize=4,
        )
    if report.runs:
        axes[2].set_xticks(range(len(report.runs)), list(report.runs), fontsize=8)
        axes[2].set_title(f"test accuracy (%), {len(report.seeds)} seeds", fontsize=9)
    fig.suptitle(
        f"{report.dataset}: {report.scenario or 'not placed'} → "
        f"{report.recommendation or 'no recommendation'}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
