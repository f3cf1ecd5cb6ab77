"""Figures: image grids, prediction panels, filters and feature maps, error bars, heat-maps of
grid summaries, the four-scenario decision chart, training curves, evidence overlays, confusion
matrices and galleries of mistakes; panels of lines, error bars and heat-maps, 2-D maps of codes,
the LR range test and notebook 05's figure after Yosinski et al.

Every function returns the figure; those that draw into one panel take ``ax=None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .experiments import mean_ci, pivot


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
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * size, nrows * (size + 0.3)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(
                to_display(images[i]),
                interpolation="nearest" if images.shape[-1] < 64 else "antialiased",
            )
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
    """One row per image: the image, then a bar chart of its top-k classes (``probs`` ``(N,
    k)``)."""
    n, k = probs.shape
    fig, axes = plt.subplots(
        n,
        2,
        figsize=(2.6 * size, n * size * 0.8),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1.6]},
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
    image: torch.Tensor,
    evidence: torch.Tensor,
    class_index: int,
    labels: Sequence[str],
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """One class's evidence map ``(num_classes, h, w)`` upsampled over uint8 ``image`` ``(3, H,
    W)``."""
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


def filter_grid(
    weight: torch.Tensor, ncols: int = 16, title: str = "", size: float = 0.6
) -> plt.Figure:
    """First-layer filters ``(out, 3, k, k)`` as small RGB images, each min-max scaled on its
    own."""
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
    fig, axes = plt.subplots(
        len(maps), channels, figsize=(channels * size, len(maps) * size), squeeze=False
    )
    for row, (name, fmap) in zip(axes, maps.items()):
        top = fmap.flatten(1).mean(1).topk(min(channels, len(fmap))).indices
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(top):
                ax.imshow(fmap[top[j]].float().cpu().numpy(), cmap="viridis")
        row[0].set_ylabel(
            f"{name}\n{fmap.shape[-2]}×{fmap.shape[-1]}",
            fontsize=7,
            rotation=0,
            ha="right",
            va="center",
        )
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


def summary_heatmap(
    summary: Sequence[dict],
    rows: str,
    cols: str,
    ax: plt.Axes | None = None,
    title: str = "",
    relative: bool = True,
    scale: float = 100.0,
    cmap: str = "RdYlGn",
    label: str | None = None,
) -> plt.Figure:
    """A heat-map of :func:`helpers.experiments.summarise` output, each cell annotated ``mean ±
    interval``.

    ``relative=True`` colours each cell by its distance to the best mean of its row (0 = the row's
    winner), so rows with different difficulty share one colour scale. ``cmap`` and the colour-bar
    ``label`` can be changed for metrics that are not accuracies.
    """
    row_labels, col_labels, means = pivot(summary, rows, cols, "mean")
    _, _, halves = pivot(summary, rows, cols, "ci")
    means, halves = means * scale, halves * scale
    text = np.full(means.shape, "", dtype=object)
    for (i, j), mean in np.ndenumerate(means):
        if not np.isnan(mean):
            half = "" if np.isnan(halves[i, j]) else f"\n± {halves[i, j]:.1f}"
            text[i, j] = f"{mean:.1f}{half}"
    shown = means - np.nanmax(means, axis=1, keepdims=True) if relative else means
    fig, ax = (
        (ax.figure, ax)
        if ax is not None
        else plt.subplots(figsize=(1.3 * len(col_labels) + 2, 0.8 * len(row_labels) + 1.2))
    )
    im = ax.imshow(
        shown,
        cmap=cmap,
        vmin=np.nanmin(shown) if not relative else min(-10.0, np.nanmin(shown)),
        vmax=np.nanmax(shown),
    )
    for (i, j), t in np.ndenumerate(text):
        ax.text(j, i, t, ha="center", va="center", fontsize=7)
    ax.set_xticks(
        range(len(col_labels)), [str(c) for c in col_labels], rotation=30, ha="right", fontsize=8
    )
    ax.set_yticks(range(len(row_labels)), [str(r) for r in row_labels], fontsize=8)
    ax.set_title(title, fontsize=9)
    default = "points behind the row's best" if relative else "accuracy (%)"
    fig.colorbar(im, ax=ax, shrink=0.8, label=label or default)
    fig.tight_layout()
    return fig


STATE_COLOURS = {
    "holds": "#cfe8cf",
    "undecided": "#f4efc0",
    "does not hold": "#f6d6b8",
    None: "#e6e6e6",
}


def decision_chart(cells: dict[tuple[str, str], dict], title: str = "", ax=None) -> plt.Figure:
    """One world's four-scenario chart: size (rows: small, large) × similarity (columns).

    ``cells[(size, similarity)]`` = ``{"rule": str, "measured": str, "state": str | None}``
    (see :func:`helpers.strategies.chart`; the state is the rule's answer in the ledger). Green:
    the rule holds (its strategy is not worse than the best other by more than the margin);
    yellow: undecided; orange: it does not hold; grey: not measured. Text is wrapped to fit.
    """
    import textwrap

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7.5, 5.2))
    for i, size in enumerate(("small", "large")):
        for j, sim in enumerate(("similar", "different")):
            cell = cells.get((size, sim), {"rule": "", "measured": "not measured", "state": None})
            ax.add_patch(
                plt.Rectangle(
                    (j, 1 - i), 1, 1, facecolor=STATE_COLOURS[cell["state"]], edgecolor="k"
                )
            )
            state = f"the rule {cell['state']}" if cell["state"] else "no measurement"
            parts = [f"CS231n: {cell['rule']}", cell["measured"], state]
            body = "\n\n".join(textwrap.fill(p, 30) for p in parts)
            ax.text(j + 0.5, 1.5 - i, body, ha="center", va="center", fontsize=7.5)
    ax.set(xlim=(0, 2), ylim=(0, 2))
    ax.set_xticks([0.5, 1.5], ["similar to the pretraining data", "different from it"])
    ax.set_yticks([1.5, 0.5], ["small dataset", "large dataset"])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.set_title(title, fontsize=10, pad=28)
    fig.tight_layout()
    return fig


def training_curves(
    histories: Sequence[dict],
    changes: Sequence[dict] = (),
    *,
    reference_histories: Sequence[dict] = (),
    reference_changes: Sequence[dict] = (),
    title: str = "",
) -> plt.Figure:
    """Training loss and validation accuracy per epoch, and weight change per stage, seed-averaged.

    ``histories``: :func:`helpers.training.fit` histories (``train_loss`` and ``val_accuracy``
    lists, one per seed); ``changes``: :func:`helpers.models.stage_weight_change` dicts
    (``{stage: relative change}``), one per seed. The ``reference_*`` runs (e.g. the best
    setting) are drawn in grey for comparison.
    """
    if not histories:
        raise ValueError("training_curves needs at least one history")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    groups = (
        (reference_histories, reference_changes, "0.6", "reference", -0.2),
        (histories, changes, "tab:blue", "selected", 0.2),
    )
    for hists, chgs, colour, label, offset in groups:
        if not hists:
            continue
        loss = np.mean([h["train_loss"] for h in hists], axis=0)
        acc = np.mean([h["val_accuracy"] for h in hists], axis=0) * 100
        epochs = np.arange(1, len(loss) + 1)
        axes[0].plot(epochs, loss, color=colour, marker=".", label=label)
        axes[1].plot(epochs, acc, color=colour, marker=".", label=label)
        if chgs:
            stages = list(chgs[0])
            change = np.mean([[c[s] for s in stages] for c in chgs], axis=0)
            x = np.arange(len(stages)) + offset
            axes[2].bar(x, change, width=0.4, color=colour, label=label)
            axes[2].set_xticks(range(len(stages)), stages, rotation=45, fontsize=7)
    axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log")
    axes[1].set(xlabel="epoch", ylabel="validation accuracy (%)")
    axes[2].set(ylabel="relative weight change ‖w−w₀‖/‖w₀‖", yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def confusion(
    cm: np.ndarray, classes: Sequence[str], title: str = "", ax: plt.Axes | None = None
) -> plt.Figure:
    """A confusion matrix (rows: true class, columns: predicted), coloured by the share of each
    true class, annotated with the counts."""
    cm = np.asarray(cm)
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.2, 3.6))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(cm):
        ax.text(
            j,
            i,
            str(n),
            ha="center",
            va="center",
            fontsize=8,
            color="w" if share[i, j] > 0.5 else "k",
        )
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (row: share of the class)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def mistakes(images: torch.Tensor, found: Sequence[dict], classes: Sequence[str]) -> plt.Figure:
    """A gallery of mistakes (from ``metrics.confident_mistakes``): each image titled
    ``true → predicted (confidence)``."""
    if not found:
        fig, ax = plt.subplots(figsize=(3, 0.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        return fig
    titles = [
        f"{classes[m['label']]} → {classes[m['predicted']]} ({m['confidence']:.2f})" for m in found
    ]
    picked = images[[m["index"] for m in found]]
    return image_grid(picked, titles=titles, ncols=min(len(found), 6), size=1.9)


def _mean_ci(values: Sequence[float]) -> tuple[float, float]:

    mean, half = mean_ci(values)
    return mean, 0.0 if math.isnan(half) else half


def depth_policy(
    rows: Sequence[dict],
    depth: int,
    policy: str,
    stage_names: Sequence[str],
    reference_policy: str = "eval",
) -> plt.Figure:
    """Fine-tuning runs by stages trained × BatchNorm policy (notebook 03's explorer).

    ``rows``: one dict per run with ``trainable``, ``bn_policy``, ``test_acc`` and ``change``
    (stage → relative weight change). Left: test accuracy against the number of stages trained
    for ``policy`` (mean ± 95 % interval over seeds) beside ``reference_policy``, the chosen
    depth marked. Right: how far each stage moved in the chosen runs (mean over seeds), the
    frozen stages shaded.
    """
    chosen = [r for r in rows if r["trainable"] == depth and r["bn_policy"] == policy]
    if not chosen:
        raise ValueError(f"no runs with {depth} stages trained and BatchNorm policy {policy!r}")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    depths = sorted({r["trainable"] for r in rows})
    shown = [policy] if reference_policy == policy else [reference_policy, policy]
    for name in shown:
        points = [
            (
                k,
                _mean_ci(
                    [r["test_acc"] for r in rows if r["trainable"] == k and r["bn_policy"] == name]
                ),
            )
            for k in depths
            if any(r["trainable"] == k and r["bn_policy"] == name for r in rows)
        ]
        mine = name == policy
        left.errorbar(
            [k for k, _ in points],
            [m * 100 for _, (m, _) in points],
            yerr=[h * 100 for _, (_, h) in points],
            fmt="o-" if mine else "s--",
            color="tab:blue" if mine else "0.55",
            capsize=3,
            label=f"BatchNorm: {name}",
        )
    mean, half = _mean_ci([r["test_acc"] for r in chosen])
    left.plot([depth], [mean * 100], "o", ms=14, mfc="none", color="tab:red", label="chosen")
    left.set(
        xlabel="stages trained (the rest frozen)",
        ylabel="test accuracy (%)",
        title=f"{policy}: {mean * 100:.1f} ± {half * 100:.1f} % at {depth} stage(s), "
        f"n={len(chosen)}",
    )
    left.title.set_fontsize(9)
    left.set_xticks(depths)
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    moved = [float(np.mean([r["change"][s] for r in chosen])) for s in stage_names]
    frozen = len(stage_names) - depth
    right.bar(range(len(stage_names)), moved, color="tab:blue")
    if frozen > 0:
        right.axvspan(-0.5, frozen - 0.5, color="0.85", zorder=0, label="frozen stages")
        right.legend(fontsize=7)
    right.set_xticks(range(len(stage_names)), stage_names, rotation=45, ha="right", fontsize=8)
    right.set(ylabel="relative weight change", title="how far each stage moved")
    right.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def strategy_panel(
    rows: Sequence[dict],
    scenario: str,
    strategy: str,
    strategies: Sequence[str],
    rule: Sequence[str] = (),
    title: str = "",
) -> plt.Figure:
    """Every strategy's test accuracy in one scenario (notebook 04's explorer): one dot per seed,
    mean ± 95 % interval, the chosen strategy in colour, the rule's strategies marked with ★.

    ``rows``: one dict per run with ``scenario``, ``strategy``, ``seed`` and ``test_acc``.
    """
    mine = [r for r in rows if r["scenario"] == scenario]
    if not mine:
        raise ValueError(f"no runs for scenario {scenario!r}")
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i, st in enumerate(strategies):
        accs = [r["test_acc"] * 100 for r in mine if r["strategy"] == st]
        if not accs:
            continue
        color = "tab:red" if st == strategy else "0.5"
        ax.plot([i] * len(accs), accs, "o", color=color, alpha=0.5, ms=4)
        mean, half = _mean_ci([a / 100 for a in accs])
        ax.errorbar([i + 0.15], [mean * 100], yerr=[half * 100], fmt="s", color=color, capsize=4)
    labels = [("★ " if st in rule else "") + st for st in strategies]
    ax.set_xticks(range(len(strategies)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or scenario, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def _panels(n: int, width: float = 5.5, height: float = 3.3, nrows: int = 1):
    """A figure of ``n`` panels in ``nrows`` rows, each ``width`` × ``height`` inches; the axes in
    reading order (spare ones hidden)."""
    ncols = math.ceil(n / nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:n]


def errorbar_panels(
    summary: Sequence[dict],
    x: str,
    line: str,
    panel: str | None = None,
    *,
    lines: Sequence | None = None,
    title: str = "{}",
    xlabel: str = "",
    rotate: bool = False,
) -> plt.Figure:
    """:func:`errorbars` of a summary: one line per value of ``line`` (``lines``: which, in that
    order) and one panel per value of ``panel`` (``title``: its format, ``"{}"`` the value)."""
    names = list(dict.fromkeys(r[panel] for r in summary)) if panel else [None]
    fig, axes = _panels(len(names))
    for ax, name in zip(axes, names):
        mine = [r for r in summary if panel is None or r[panel] == name]
        for value in lines if lines is not None else dict.fromkeys(r[line] for r in mine):
            rows = [r for r in mine if r[line] == value]
            errorbars(rows, x, label=str(value), ax=ax, rotate=rotate)
        ax.set_title(title.format(name) if panel else title.replace("{}", ""), fontsize=10)
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def line_panels(
    panels: dict[str, dict[str, Sequence[float]]],
    x: Sequence,
    *,
    xlabel: str = "",
    ylabel: str = "",
    yscale: str = "linear",
    rotate: bool = False,
    mark: float | None = None,
) -> plt.Figure:
    """One panel per key of ``panels`` (its title), one line per entry of its dict, over ``x``;
    ``mark``: a dotted vertical line at that x."""
    fig, axes = _panels(len(panels), width=5.5 if len(panels) > 1 else 6.5)
    for ax, (title, series) in zip(axes, panels.items()):
        for (label, ys), style in zip(series.items(), ("o-", "s--", "^-", "v:", "D-.", "x-")):
            ax.plot(list(x), list(ys), style, label=label)
        if mark is not None:
            ax.axvline(mark, color="gray", ls=":")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel, yscale=yscale)
        ax.title.set_fontsize(10)
        ax.tick_params(axis="x", rotation=45 if rotate else 0)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def heatmap_panels(
    panels: dict[str, Sequence[dict]],
    rows: str,
    cols: str,
    *,
    ncols: int = 3,
    xlabel: str = "",
    ylabel: str = "",
    cmaps: dict[str, str] | None = None,
) -> plt.Figure:
    """:func:`summary_heatmap` (absolute values) of each summary in ``panels`` (key: its title),
    ``ncols`` to a row; ``cmaps``: another colour map for some panels."""
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = _panels(len(panels), width=14 / min(ncols, len(panels)), height=3.0, nrows=nrows)
    for ax, (title, summary) in zip(axes, panels.items()):
        cmap = (cmaps or {}).get(title, "RdYlGn")
        summary_heatmap(summary, rows, cols, ax=ax, title=title, relative=False, cmap=cmap)
        ax.set(xlabel=xlabel, ylabel=ylabel)
    fig.tight_layout()
    return fig


def code_maps(codes: dict[str, tuple[torch.Tensor, torch.Tensor, Sequence[str]]]) -> plt.Figure:
    """2-D maps of feature codes, PCA and t-SNE side by side, a row per dataset.

    ``codes[name] = (features, labels, class names)``; points coloured by class.
    """
    # here, not at the top: scikit-learn takes a second to import, and only this figure needs it
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    fig, axes = plt.subplots(len(codes), 2, figsize=(10, 4 * len(codes)), squeeze=False)
    for row, (name, (features, labels, classes)) in zip(axes, codes.items()):
        X, y = np.asarray(features), np.asarray(labels)
        tsne = TSNE(2, perplexity=min(30, len(X) // 4), random_state=0)
        for ax, (method, proj) in zip(row, (("PCA", PCA(2)), ("t-SNE", tsne))):
            xy = proj.fit_transform(X)
            for c, cls in enumerate(classes):
                ax.scatter(xy[y == c, 0], xy[y == c, 1], s=8, label=cls)
            ax.set_title(f"{name} codes — {method}", fontsize=9)
            ax.set(xticks=[], yticks=[])
        row[1].legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig


def lr_range(results: dict[str, dict], xlabel: str = "learning rate") -> plt.Figure:
    """The LR range test (:func:`helpers.training.lr_range_test`): loss per step and smoothed
    against the learning rate, the pick and the minimum marked, a panel per result."""
    fig, axes = _panels(len(results), height=3.2)
    for ax, (name, res) in zip(axes, results.items()):
        ax.plot(res["lr"], res["loss"], color="0.75", lw=0.8, label="loss per step")
        ax.plot(res["lr"], res["smoothed"], label="smoothed")
        pick, low = res["suggested_lr"], res["min_lr"]
        ax.axvline(pick, color="tab:green", ls="--", label=f"pick {pick:.1e}")
        ax.axvline(low, color="tab:red", ls=":", label=f"minimum {low:.1e}")
        ax.set(xscale="log", xlabel=xlabel, ylabel="loss", title=name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


TRANSFER_STYLES = {  # variant → (colour, marker, line) in the style of Yosinski et al.'s figure
    "BnB": ("tab:blue", "o", "-"),
    "BnB+": ("tab:blue", "o", "--"),
    "AnB": ("tab:red", "s", "-"),
    "AnB+": ("tab:red", "s", "--"),
    "RnB": ("tab:gray", "^", ":"),
    "BnB probe": ("tab:cyan", "v", ":"),
    "AnB probe": ("tab:orange", "D", ":"),
}


def transfer_by_layer(
    summary: Sequence[dict], variants: dict[str, Sequence[str]], titles: dict[str, str]
) -> plt.Figure:
    """Notebook 05's figure, after Yosinski et al. (2014): test accuracy against the layers
    copied (``cut``), a line per variant, the base network's mean ± 95 % band; a panel per target
    of ``variants`` (target → variants), titled by ``titles``."""
    fig, axes = _panels(len(variants), height=3.8)
    for ax, (target, names) in zip(axes, variants.items()):
        base = [r for r in summary if r["target"] == target and r["variant"] == "base"][0]
        mean, half = base["mean"] * 100, np.nan_to_num(base["ci"]) * 100
        ax.axhline(mean, color="k", ls="--", lw=1, label=f"base ({mean:.1f} %)")
        ax.axhspan(mean - half, mean + half, color="k", alpha=0.08)
        for v in names:
            pts = [r for r in summary if r["target"] == target and r["variant"] == v]
            ys, cis = (np.nan_to_num([r[k] for r in pts]) * 100 for k in ("mean", "ci"))
            colour, marker, ls = TRANSFER_STYLES.get(v, ("k", "o", "-"))
            label = v if target == "b" else v.replace("nB", "n-digits")
            ax.errorbar(
                [r["cut"] for r in pts],
                ys,
                yerr=cis,
                color=colour,
                marker=marker,
                ls=ls,
                capsize=3,
                label=label,
            )
        ax.set(
            xlabel="layers copied from the base network (n)",
            ylabel="test accuracy (%)",
            title=titles[target],
        )
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


CALL_COLOURS = {"similar": "tab:green", "borderline": "tab:olive", "different": "tab:orange"}


def distance_bars(
    distances: dict, proxies: dict[str, float] | None = None, proxy_threshold: float | None = None
) -> plt.Figure:
    """Distance to ImageNet per set (:class:`helpers.similarity.ImageNetDistance`: bars with
    their 95 % intervals, coloured by the call, the threshold dashed) and, when given, the proxy
    A-distance to reference photos beside it with its own threshold."""
    names = list(distances)
    fig, axes = _panels(2 if proxies else 1, width=6.0, height=3.4)
    ax = axes[0]
    found = [distances[n] for n in names]
    values = [d.value for d in found]
    errors = [[d.value - d.low for d in found], [d.high - d.value for d in found]]
    colours = [CALL_COLOURS[d.call] for d in found]
    ax.barh(names, values, xerr=errors, color=colours, capsize=3)
    threshold = next(iter(distances.values())).threshold
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"similar below {threshold}")
    ax.set(xscale="log", xlabel="distance to ImageNet (BatchNorm statistics)")
    ax.invert_yaxis()
    ax.legend(fontsize=7)
    ax.set_title("from the network's memory of ImageNet", fontsize=9)
    if proxies:
        ax = axes[1]
        ax.barh(names, [proxies[n] for n in names], color="0.6")
        if proxy_threshold is not None:
            ax.axvline(proxy_threshold, color="k", ls="--", lw=1, label=f"below {proxy_threshold}")
            ax.legend(fontsize=7)
        ax.set(xlabel="proxy A-distance to Tux Paint's photos", xlim=(0, 2))
        ax.invert_yaxis()
        ax.set_yticklabels([])
        ax.set_title("how easily told from one small photo set", fontsize=9)
    fig.tight_layout()
    return fig
