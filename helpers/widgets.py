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


def lr_runs(
    rows: Sequence[Mapping], keys: Sequence[str] = ("backbone_lr", "head_lr", "schedule")
) -> dict[tuple, dict]:
    """Grid rows grouped for :func:`lr_explorer`: ``{(row[k] for k in keys): {"histories": [...],
    "changes": [...], "test_acc": [...]}}``, one entry per row (seed) of the setting, in order."""
    fields = {"histories": "history", "changes": "change", "test_acc": "test_acc"}
    runs: dict[tuple, dict] = {}
    for row in rows:
        run = runs.setdefault(tuple(row[k] for k in keys), {f: [] for f in fields})
        for field, name in fields.items():
            run[field].append(row[name])
    return runs


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
        grey = {f"reference_{k}": reference.get(k, ()) for k in ("histories", "changes")}
        fig = plotting.training_curves(run["histories"], run["changes"], title=title, **grey)
        plt.show()
        return fig

    first = next(iter(runs))
    names = ("backbone LR", "head LR", "schedule")
    controls = {
        key: widgets.Dropdown(options=options(i), value=first[i], description=names[i])
        for i, key in enumerate(("backbone_lr", "head_lr", "schedule"))
    }
    return widgets.interact(show, **controls)


def depth_policy_explorer(rows: Sequence[dict], stage_names: Sequence[str]):
    """A slider for the number of stages trained (ordered) and a dropdown for the BatchNorm
    policy, over notebook 03's precomputed runs; redraws :func:`plotting.depth_policy`."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    depths = sorted({r["trainable"] for r in rows})
    policies = sorted({r["bn_policy"] for r in rows}, key=lambda p: (p != "eval", p))

    def show(depth, policy):
        if not any(r["trainable"] == depth and r["bn_policy"] == policy for r in rows):
            print(f"no precomputed run with {depth} stages trained and policy {policy!r}")
            return None
        fig = plotting.depth_policy(rows, depth, policy, stage_names)
        plt.show()
        return fig

    return widgets.interact(
        show,
        depth=widgets.SelectionSlider(options=depths, value=depths[-1], description="stages"),
        policy=widgets.Dropdown(options=policies, value=policies[0], description="BatchNorm"),
    )


def scenario_explorer(
    worlds: Mapping[str, Sequence[dict]],
    sizes: Mapping[str, str],
    strategies: Sequence[str],
    rules: Mapping[str, Sequence[str]],
):
    """Notebook 04's grids: a dropdown for the world, a slider for the dataset size (ordered:
    ``sizes`` maps "small"/"large" to what they mean), a dropdown for similarity and one for
    the strategy; redraws :func:`plotting.strategy_panel` from the precomputed rows.

    ``worlds[name]`` is that world's rows; ``rules[scenario]`` the strategies the rule names.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(world, size, similarity, strategy):
        scenario = f"{size}-{similarity}"
        rows = worlds[world]
        if not any(r["scenario"] == scenario for r in rows):
            print(f"{world}: {scenario} was not measured here")
            return None
        title = f"{world}, {scenario} ({sizes[size]}): ★ = what the rule recommends"
        fig = plotting.strategy_panel(
            rows, scenario, strategy, strategies, rule=rules.get(scenario, ()), title=title
        )
        plt.show()
        return fig

    return widgets.interact(
        show,
        world=widgets.Dropdown(options=list(worlds), description="world"),
        size=widgets.SelectionSlider(
            options=list(sizes), value=next(iter(sizes)), description="data size"
        ),
        similarity=widgets.Dropdown(options=["similar", "different"], description="similarity"),
        strategy=widgets.Dropdown(options=list(strategies), description="strategy"),
    )


def uploaded_images(value, size: int) -> tuple[torch.Tensor, list[str], list[str]]:
    """The files of a ``FileUpload``'s value as uint8 images ``(N, 3, size, size)`` (padded with
    white, as :func:`helpers.classifier.predict` does), their names, and a line for each file
    that is not a readable image. Takes ipywidgets 8's value (a tuple of dicts with ``name`` and
    ``content``) and 7's (a dict of name → ``{"content": …}``)."""
    import io

    from . import data

    files = value.items() if isinstance(value, Mapping) else ((f["name"], f) for f in value)
    images, names, bad = [], [], []
    for name, entry in files:
        try:
            image = data.decode_image(io.BytesIO(bytes(entry["content"])))
        except data.BadImageError:
            bad.append(f"{name}: not a readable image")
            continue
        images.append(data.fit_square(image, size))
        names.append(name)
    tensor = data.images_to_tensor(images, size=size) if images else torch.empty(0, 3, size, size)
    return tensor, names, bad


def show_predictions(backbone, images: torch.Tensor, names: Sequence[str], k: int = 3):
    """The pure half of :func:`try_your_images`: each image beside a bar chart of its top-``k``
    classes (:func:`plotting.prediction_panel`), titled with its file name."""
    from . import models

    k = min(k, backbone.head.out_features)
    probs, classes = models.predict_topk(backbone, images, k=k, image_size=images.shape[-1])
    return plotting.prediction_panel(images, probs, classes, truth=list(names))


def try_your_images(backbone, example: torch.Tensor, k: int = 3, size: int | None = None):
    """A button to upload images (from the browser: on Colab, in JupyterLab) and, for each, the
    classifier's top-``k`` classes. Draws ``example`` (uint8 images) once when created, so it also
    runs headless; a file that is not an image gets a line, not an error."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    size = size or backbone.image_size
    upload = widgets.FileUpload(accept="image/*", multiple=True, description="your images")
    out = widgets.Output()

    def draw(images, names, bad=()):
        with out:
            out.clear_output(wait=True)
            for line in bad:
                print(line)
            if len(images):
                show_predictions(backbone, images, names, k)
                plt.show()

    def on_upload(change):
        draw(*uploaded_images(change["new"], size))

    upload.observe(on_upload, names="value")
    draw(example, [f"example {i + 1}" for i in range(len(example))])
    display(widgets.VBox([upload, out]))
    return upload
