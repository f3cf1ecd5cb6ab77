import matplotlib

matplotlib.use("Agg")

import datetime  # noqa: E402
import math  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers import experiments, plotting, widgets  # noqa: E402


def _runs():
    """Precomputed runs as notebook 06 hands them over: per setting, one entry per seed."""
    runs = {}
    for b in (0.0, 1e-3):
        runs[(b, 1e-2, "warm-up + cosine")] = {
            "histories": [
                {"train_loss": [1.0, 0.5 + seed * 0.1], "val_accuracy": [0.5, 0.75]}
                for seed in range(2)
            ],
            "changes": [{"conv1": b, "conv2": 2 * b} for _ in range(2)],
            "test_acc": [0.8 + b * 10 + seed * 0.01 for seed in range(2)],
        }
    return runs


def test_training_curves_average_the_seeds():
    selected, reference = (
        _runs()[(1e-3, 1e-2, "warm-up + cosine")],
        _runs()[(0.0, 1e-2, "warm-up + cosine")],
    )
    fig = plotting.training_curves(
        selected["histories"],
        selected["changes"],
        reference_histories=reference["histories"],
        reference_changes=reference["changes"],
    )
    loss_line = [line for line in fig.axes[0].lines if line.get_label() == "selected"][0]
    assert list(loss_line.get_ydata()) == [1.0, 0.55]
    bars = [p.get_height() for p in fig.axes[2].patches]
    assert any(math.isclose(h, 2e-3) for h in bars)
    plt.close(fig)
    with pytest.raises(ValueError):
        plotting.training_curves([])


def test_lr_explorer_draws_headless_from_precomputed_runs(monkeypatch):
    drawn = []

    def record(histories, changes, title, **reference):
        drawn.append((len(histories), title))

    monkeypatch.setattr(plotting, "training_curves", record)
    widgets.lr_explorer(_runs())
    assert drawn and drawn[0][0] == 2 and "backbone LR 0" in drawn[0][1]


def test_summary_heatmap_and_decision_chart():
    rows = [
        {"s": s, "m": m, "seed": i, "acc": a + i / 100}
        for s in ("x", "y")
        for m, a in (("p", 0.5), ("q", 0.9))
        for i in range(3)
    ]
    fig = plotting.summary_heatmap(experiments.summarise(rows, ["s", "m"], "acc"), "s", "m")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "91.0\n± 2.5" in texts and len(texts) == 4
    plt.close(fig)
    long = "fine-tune last 2 vs linear: earlier stage: +12.3 ± 4.5 points"
    chart = plotting.decision_chart(
        {("small", "similar"): {"rule": "r", "measured": long, "state": "does not hold"}}
    )
    texts = chart.axes[0].texts
    body = " ".join(t.get_text() for t in texts)
    assert "the rule does not hold" in body and "no measurement" in body
    assert all(len(line) <= 30 for t in texts for line in t.get_text().splitlines()), (
        "every line is wrapped to fit its cell"
    )
    plt.close(chart)


def test_confusion_and_mistakes_figures():
    from helpers import metrics

    cm = metrics.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 0], 3)
    fig = plotting.confusion(cm, ["cat", "dog", "fish"], title="t")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [str(n) for n in cm.flatten()]
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    found = metrics.confident_mistakes(
        torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.6, 0.1, 0.3]]),
        [0, 0, 1, 2],
    )
    fig = plotting.mistakes(images, found, ["cat", "dog", "fish"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["cat → dog (0.70)", "fish → cat (0.60)"]
    assert plotting.mistakes(images, [], ["a"]).axes[0].texts[0].get_text() == "no mistakes"
    plt.close("all")


def _depth_rows():
    """Runs as notebook 03 hands them to its explorer: depth × policy × seed."""
    stages = ["a", "b", "c"]
    return stages, [
        {
            "trainable": k,
            "bn_policy": p,
            "seed": s,
            "test_acc": 0.5 + k / 10 + s / 100,
            "change": {st: (i >= 3 - k) * (k + 1.0) for i, st in enumerate(stages)},
        }
        for k in (0, 1, 3)
        for p in ("eval", "train")
        for s in range(2)
    ]


def test_depth_policy_draws_the_chosen_runs():
    stages, rows = _depth_rows()
    fig = plotting.depth_policy(rows, 1, "train", stages)
    left, right = fig.axes[:2]
    assert [bar.get_height() for bar in right.containers[0]] == [0.0, 0.0, 2.0]
    assert "60.5" in left.get_title() and "n=2" in left.get_title()
    assert {t.get_text() for t in left.get_legend().get_texts()} >= {
        "BatchNorm: eval",
        "BatchNorm: train",
    }
    plt.close(fig)
    with pytest.raises(ValueError, match="no runs with 2 stages"):
        plotting.depth_policy(rows, 2, "train", stages)


def test_depth_policy_explorer_draws_headless(monkeypatch):
    stages, rows = _depth_rows()
    drawn = []
    monkeypatch.setattr(plotting, "depth_policy", lambda *a, **k: drawn.append(a[1:3]))
    widgets.depth_policy_explorer(rows, stages)
    assert drawn == [(3, "eval")]  # all stages trained, the default policy first


def _scenario_rows():
    return [
        {"scenario": sc, "strategy": st, "seed": s, "test_acc": a + s / 100}
        for sc in ("small-similar", "large-different")
        for st, a in (("linear", 0.6), ("fine-tune", 0.8))
        for s in range(3)
    ]


def test_strategy_panel_marks_the_rule_and_the_choice():
    fig = plotting.strategy_panel(
        _scenario_rows(), "small-similar", "fine-tune", ["linear", "fine-tune"], rule=["linear"]
    )
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["★ linear", "fine-tune"]
    reds = [line for line in ax.lines if line.get_color() == "tab:red"]
    assert reds and sorted(reds[0].get_ydata()) == [80.0, 81.0, 82.0]
    plt.close(fig)
    with pytest.raises(ValueError, match="no runs for scenario 'small-different'"):
        plotting.strategy_panel(_scenario_rows(), "small-different", "linear", ["linear"])


def test_scenario_explorer_draws_headless(monkeypatch):
    drawn = []
    monkeypatch.setattr(
        plotting, "strategy_panel", lambda rows, sc, st, *a, **k: drawn.append((sc, st))
    )
    widgets.scenario_explorer(
        {"lab": _scenario_rows()},
        {"small": "few", "large": "many"},
        ["linear", "fine-tune"],
        {"small-similar": ["linear"]},
    )
    assert drawn == [("small-similar", "linear")]


def _summary():
    rows = [
        {"d": d, "k": k, "x": x, "seed": i, "acc": 0.5 + 0.1 * x + i / 100}
        for d in ("tux", "digits")
        for k in ("p", "q")
        for x in (1, 2, 3)
        for i in range(3)
    ]
    return experiments.summarise(rows, ["d", "k", "x"], "acc")


def test_errorbar_panels_draw_a_line_per_value_and_a_panel_per_value():
    fig = plotting.errorbar_panels(_summary(), "x", "k", "d", title="{}: shots")
    assert [ax.get_title() for ax in fig.axes] == ["tux: shots", "digits: shots"]
    assert [len(ax.containers) for ax in fig.axes] == [2, 2]  # one error-bar line per k
    plt.close(fig)
    one = plotting.errorbar_panels(_summary(), "x", "d", lines=["digits"], title="all")
    assert len(one.axes) == 1 and len(one.axes[0].containers) == 1
    plt.close(one)


def test_line_and_heatmap_panels_and_the_lr_range():
    fig = plotting.line_panels(
        {"a": {"u": [1, 2], "v": [2, 3]}, "b": {"u": [0, 1]}}, [1, 2], mark=1
    )
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 2]  # the lines and the mark
    plt.close(fig)
    summary = experiments.summarise(
        [{"h": h, "b": b, "seed": 0, "acc": h * b} for h in (1, 2) for b in (1, 2)],
        ["h", "b"],
        "acc",
    )
    panels = {"one": summary, "two": summary, "three": summary}
    fig = plotting.heatmap_panels(panels, "h", "b", ncols=2, cmaps={"two": "viridis"})
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in shown] == list(panels)  # the spare fourth panel is hidden
    assert shown[1].images[0].get_cmap().name == "viridis"
    plt.close(fig)
    res = {"lr": [1e-4, 1e-3, 1e-2], "loss": [2, 1, 3], "smoothed": [2, 1.5, 2.5]}
    fig = plotting.lr_range({"net": {**res, "suggested_lr": 1e-3, "min_lr": 1e-3}})
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].get_lines()) == 4
    plt.close(fig)


def test_code_maps_and_the_transfer_figure():
    torch.manual_seed(0)
    X, y = torch.randn(40, 5), torch.arange(40) % 2
    fig = plotting.code_maps({"tux": (X, y, ["a", "b"])})
    assert [ax.get_title() for ax in fig.axes] == ["tux codes — PCA", "tux codes — t-SNE"]
    plt.close(fig)
    rows = [
        {"target": "b", "variant": v, "cut": n, "seed": i, "test_acc": 0.6 + n / 20 + i / 100}
        for v, cuts in (("base", [0]), ("AnB", [1, 2]), ("BnB", [1, 2]))
        for n in cuts
        for i in range(2)
    ]
    summary = experiments.summarise(rows, ["target", "variant", "cut"], "test_acc")
    fig = plotting.transfer_by_layer(summary, {"b": ["AnB", "BnB"]}, {"b": "target b"})
    ax = fig.axes[0]
    assert ax.get_title() == "target b" and len(ax.containers) == 2
    assert ax.get_legend_handles_labels()[1][0].startswith("base (")
    plt.close(fig)


def test_lr_runs_group_rows_per_setting_in_seed_order():
    rows = [
        {
            "backbone_lr": b,
            "head_lr": 1e-2,
            "schedule": "s",
            "seed": seed,
            "test_acc": b + seed,
            "history": {"train_loss": [seed]},
            "change": {"conv1": b},
        }
        for b in (0.0, 1e-3)
        for seed in (0, 1)
    ]
    runs = widgets.lr_runs(rows)
    assert list(runs) == [(0.0, 1e-2, "s"), (1e-3, 1e-2, "s")]
    assert runs[(1e-3, 1e-2, "s")]["test_acc"] == [1e-3, 1 + 1e-3]
    assert [h["train_loss"] for h in runs[(0.0, 1e-2, "s")]["histories"]] == [[0], [1]]
    assert widgets.lr_runs(rows, keys=("backbone_lr",))[(0.0,)]["changes"] == [{"conv1": 0.0}] * 2


def test_distance_bars_draw_each_set_with_its_interval_and_the_thresholds():
    from helpers import similarity

    d = {
        name: similarity.ImageNetDistance(v, v * 0.9, v * 1.1, 50)
        for name, v in (("photos", 0.04), ("drawings", 0.1))
    }
    fig = plotting.distance_bars(d, {"photos": 1.6, "drawings": 1.9}, 1.0)
    left, right = fig.axes
    assert [t.get_text() for t in left.get_yticklabels()] == ["photos", "drawings"]
    assert len(left.patches) == 2 and len(right.patches) == 2
    assert "similar below" in left.get_legend().get_texts()[0].get_text()
    plt.close(fig)


def _png(colour) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploaded_files_become_images_and_a_bad_one_a_line():
    v8 = (
        {"name": "red.png", "content": memoryview(_png((255, 0, 0)))},
        {"name": "notes.png", "content": b"not an image"},
    )
    images, names, bad = widgets.uploaded_images(v8, size=16)
    assert images.shape == (1, 3, 16, 16) and images.dtype == torch.uint8 and names == ["red.png"]
    assert images[0, 0, 8, 8] == 255 and images[0, 0, 0, 0] == 255, "padded with white"
    assert bad == ["notes.png: not a readable image"]
    v7 = {"blue.png": {"content": _png((0, 0, 255))}}
    images, names, bad = widgets.uploaded_images(v7, size=16)
    assert names == ["blue.png"] and images[0, 2, 8, 8] == 255 and not bad


def test_the_upload_widget_draws_the_example_then_each_upload(monkeypatch, lite0):
    drawn = []
    monkeypatch.setattr(widgets, "show_predictions", lambda b, x, names, k: drawn.append(names))
    upload = widgets.try_your_images(lite0, torch.zeros(2, 3, 32, 32, dtype=torch.uint8), size=32)
    assert drawn == [["example 1", "example 2"]]
    green = _png((0, 255, 0))
    entry = {"name": "green.png", "type": "image/png", "size": len(green), "content": green}
    entry["last_modified"] = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    upload.value = (entry,)  # what the browser sends, as ipywidgets 8 holds it
    assert drawn[-1] == ["green.png"]


def test_show_predictions_names_the_top_classes(lite0):
    images = torch.full((2, 3, 64, 64), 128, dtype=torch.uint8)
    fig = widgets.show_predictions(lite0, images, ["a.png", "b.png"], k=3)
    axes = fig.axes
    assert len(axes) == 4 and axes[0].get_title() == "a.png"
    assert len(axes[1].get_yticklabels()) == 3
    plt.close(fig)
