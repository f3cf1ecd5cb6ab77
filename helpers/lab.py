"""The lab world: transfer with the similarity under our control, small enough for a CPU.

- Source task **A** = Fashion-MNIST {T-shirt/top, Trouser, Pullover, Dress, Coat} (``lab_a``).
- Similar target **B** = the other five Fashion-MNIST classes (``lab_b``).
- A second class split, ``lab_a2`` / ``lab_b2``: five random Fashion-MNIST classes against the
  other five (``helpers.data.LAB_SPLITS``), so that "similar" is not one split's accident.
- Different target = handwritten digits (``mnist5k``, 28×28 like Fashion-MNIST).

Every task has one fixed split (seed 0) into a training *pool*, a validation pool and a test
set; experiments draw their (small or large) training sets from the pool with their own seed
and always report on the same test set. The lab CNN (:class:`helpers.models.LabCNN`) is
pretrained on A and on B by the same recipe; one command writes both checkpoints::

    python -m helpers.lab pretrain        # data/lab/labcnn_a.pt and labcnn_b.pt (+ .json)
    python -m helpers.lab check           # their accuracy on their own test sets

Checkpoints are plain state dicts, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import lru_cache
from pathlib import Path

import torch

from . import config
from .data import ImageSet, load_dataset, make_splits, save_atomic
from .models import Backbone, load_backbone
from .training import evaluate, fit

TASKS = {"a": "lab_a", "b": "lab_b", "a2": "lab_a2", "b2": "lab_b2", "digits": "mnist5k"}
# images per class in the fixed (train pool, validation pool, test) split of each task
POOLS = {name: (5000, 500, 1500) for name in ("lab_a", "lab_b", "lab_a2", "lab_b2")}
POOLS["mnist5k"] = (300, 50, 150)
# the class splits of Fashion-MNIST into source and similar target (helpers.data.LAB_SPLITS)
CLASS_SPLITS = (("a", "b"), ("a2", "b2"))
SPLIT_SEED = 0
# the pretraining recipe of the committed checkpoints (the same for A and B)
RECIPE = {
    "images_per_class": 5000,
    "epochs": 8,
    "batch_size": 128,
    "lr": 3e-3,
    "weight_decay": 5e-4,
    "seed": 0,
}
COMMITTED_DIR = config.repo_root() / "data" / "lab"


def _dataset_name(task: str) -> str:
    if task in TASKS:
        return TASKS[task]
    if task in POOLS:
        return task
    raise KeyError(
        f"unknown lab task {task!r}; choose one of {', '.join(TASKS)} (or {', '.join(POOLS)})"
    )


@lru_cache(maxsize=4)
def task_splits(task: str) -> dict[str, ImageSet]:
    """The fixed ``{"pool", "val", "test"}`` split of a lab task (``"a"``, ``"b"`` or
    ``"digits"``)."""
    name = _dataset_name(task)
    train, val, test = POOLS[name]
    parts = make_splits(load_dataset(name), train=train, val=val, test=test, seed=SPLIT_SEED)
    return {"pool": parts["train"], "val": parts["val"], "test": parts["test"]}


def _take(dataset: ImageSet, per_class: int | None, seed: int, name: str) -> ImageSet:
    if per_class is None:
        return dataset
    drawn = make_splits(dataset, train=per_class, val=0, test=0, seed=seed)["train"]
    return drawn.subset(range(len(drawn)), name=name)


def sample_task(
    task: str,
    train_per_class: int,
    val_per_class: int | None = None,
    seed: int = 0,
    test_per_class: int | None = None,
) -> dict[str, ImageSet]:
    """A seeded ``{"train", "val", "test"}`` draw: ``train_per_class`` images per class from the
    pool.

    ``val_per_class`` images per class from the validation pool (``None``: all of it); the test
    set is the task's fixed test set (``test_per_class`` takes a fixed subset of it, capped at what
    the
    test set holds).
    The same seed gives the same images; different seeds give different training sets.
    """
    parts = task_splits(task)
    label = _dataset_name(task)
    if test_per_class is not None:
        test_per_class = min(test_per_class, POOLS[label][2])
    return {
        "train": _take(parts["pool"], train_per_class, seed, f"{label}:train{train_per_class}"),
        "val": _take(parts["val"], val_per_class, seed, f"{label}:val"),
        "test": _take(parts["test"], test_per_class, SPLIT_SEED, f"{label}:test"),
    }


def fit_recipe(
    backbone: Backbone,
    train_set: ImageSet,
    *,
    epochs: int = RECIPE["epochs"],
    seed: int = 0,
    bn_policy: str = "train",
    device: torch.device | str | None = None,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train the trainable parameters of ``backbone`` with the lab recipe; returns :func:`fit`'s
    history.

    AdamW at ``RECIPE["lr"]`` with ``RECIPE["weight_decay"]``, batches of ``RECIPE["batch_size"]``,
    half an epoch of warm-up, then cosine decay; no augmentation. The base networks and every
    retraining of notebook 05 use it, so they differ only in what is frozen and what is copied.
    """
    return fit(
        backbone.model,
        train_set,
        backbone.preprocessing(),
        lr=RECIPE["lr"],
        weight_decay=RECIPE["weight_decay"],
        epochs=epochs,
        batch_size=RECIPE["batch_size"],
        warmup_epochs=0.5,
        bn_policy=bn_policy,
        device=device,
        seed=seed,
        progress=progress,
    )


def train_base(
    task: str,
    *,
    images_per_class: int = RECIPE["images_per_class"],
    epochs: int = RECIPE["epochs"],
    seed: int = RECIPE["seed"],
    device: torch.device | str | None = None,
    progress: bool = True,
) -> tuple[Backbone, dict]:
    """Train the lab CNN from scratch on ``images_per_class`` images of every class of ``task``.

    Returns the backbone (eval mode, CPU) and a report: recipe, validation and test accuracy,
    seconds.
    """
    split = sample_task(task, images_per_class, seed=seed)
    backbone = load_backbone("labcnn", weights=None, num_classes=len(split["train"].classes))
    torch.manual_seed(seed)
    backbone.model.apply(_reset)
    prep = backbone.preprocessing()
    start = time.perf_counter()
    fit_recipe(backbone, split["train"], epochs=epochs, seed=seed, device=device, progress=progress)
    seconds = time.perf_counter() - start
    backbone.model.cpu()
    report = {
        "task": task,
        "classes": split["train"].classes,
        "images_per_class": images_per_class,
        "epochs": epochs,
        "seed": seed,
        **{k: RECIPE[k] for k in ("batch_size", "lr", "weight_decay")},
        "val_accuracy": evaluate(backbone.model, split["val"], prep, device="cpu")["accuracy"],
        "test_accuracy": evaluate(backbone.model, split["test"], prep, device="cpu")["accuracy"],
        "seconds": round(seconds, 1),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "machine": config.machine(),
        "commit": config.commit(),
    }
    return backbone, report


def _reset(module: torch.nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()


def checkpoint_path(task: str, images_per_class: int, epochs: int, seed: int) -> Path:
    """Where a lab checkpoint lives: ``data/lab/`` for the committed recipe, the cache otherwise."""
    if (images_per_class, epochs, seed) == (
        RECIPE["images_per_class"],
        RECIPE["epochs"],
        RECIPE["seed"],
    ):
        return COMMITTED_DIR / f"labcnn_{task}.pt"
    return config.cache_dir("lab") / f"labcnn_{task}-{images_per_class}pc-{epochs}ep-seed{seed}.pt"


def pretrained(
    task: str = "a",
    *,
    images_per_class: int = RECIPE["images_per_class"],
    epochs: int = RECIPE["epochs"],
    seed: int = RECIPE["seed"],
    train_if_missing: bool = True,
    force: bool = False,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> Backbone:
    """The lab CNN pretrained on ``task`` (``"a"`` or ``"b"``; ``"digits"`` too), loaded or trained
    once.

    The committed recipe (5,000 images per class, 8 epochs, seed 0) loads
    ``data/lab/labcnn_<task>.pt``;
    other recipes are trained on first use and cached. ``force=True`` retrains and overwrites.
    """
    path = checkpoint_path(task, images_per_class, epochs, seed)
    if force or not path.is_file():
        if not train_if_missing and not force:
            raise FileNotFoundError(
                f"no lab checkpoint at {path}; run `python -m helpers.lab pretrain`"
            )
        backbone, report = train_base(
            task,
            images_per_class=images_per_class,
            epochs=epochs,
            seed=seed,
            device=device,
            progress=progress,
        )
        save_atomic(backbone.model.state_dict(), path)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=1) + "\n")
        tmp.replace(path.with_suffix(".json"))
    backbone = load_backbone("labcnn", weights=str(path))
    backbone.labels = list(task_splits(task)["test"].classes)
    return backbone


def checkpoint_report(task: str) -> dict:
    """The JSON report written next to a committed checkpoint (recipe and accuracies)."""
    return json.loads((COMMITTED_DIR / f"labcnn_{task}.json").read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.lab", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser(
        "pretrain", help="train the lab CNN on A and B (writes data/lab/ for the default recipe)"
    )
    pre.add_argument("--tasks", nargs="+", default=["a", "b", "a2", "b2"], choices=list(TASKS))
    pre.add_argument("--images-per-class", type=int, default=RECIPE["images_per_class"])
    pre.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    pre.add_argument("--seed", type=int, default=RECIPE["seed"])
    sub.add_parser("check", help="test accuracy of the committed checkpoints")
    args = parser.parse_args(argv)
    if args.command == "pretrain":
        for task in args.tasks:
            pretrained(
                task,
                images_per_class=args.images_per_class,
                epochs=args.epochs,
                seed=args.seed,
                force=True,
            )
            path = checkpoint_path(task, args.images_per_class, args.epochs, args.seed)
            report = json.loads(path.with_suffix(".json").read_text())
            print(f"{path}: test accuracy {report['test_accuracy']:.4f} ({report['seconds']} s)")
    else:
        for task in ("a", "b", "a2", "b2"):
            backbone = pretrained(task, train_if_missing=False)
            test = task_splits(task)["test"]
            acc = evaluate(backbone.model, test, backbone.preprocessing(), device="cpu")["accuracy"]
            print(
                f"labcnn_{task}: test accuracy {acc:.4f} on {len(test)} images "
                f"({', '.join(test.classes)})"
            )


if __name__ == "__main__":
    main()
