"""GPU check of the lab world's paths: pretraining, frozen-stage transfer, the LR range test.

Run on a CUDA machine:  python -m benchmarks.gpu_lab_check [--data DIR]
DIR holds ``lab.pt`` (written by ``--export DIR`` on a machine with Fashion-MNIST), so the GPU
machine needs no Debian packages. Prints one line per check; the CPU figures to compare with are
in data/lab/*.json (pretraining) and benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch


def export(folder: Path) -> None:
    from helpers import lab

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for task in ("a", "b"):
        parts = lab.task_splits(task)
        for key in ("pool", "test"):
            ds = parts[key]
            if (task, key) == ("b", "pool"):
                ds = ds.subset(
                    torch.arange(0, len(ds), 10)
                )  # 2,500 images: the target training set of check 2
            out[f"{task}_{key}"] = {"images": ds.images, "labels": ds.labels, "classes": ds.classes}
    torch.save(out, folder / "lab.pt")
    print("wrote", folder / "lab.pt")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("gpu_data"))
    parser.add_argument("--export", type=Path)
    args = parser.parse_args()
    if args.export:
        return export(args.export)

    from helpers import data, lab, models, training

    device = torch.device("cuda")
    print(torch.__version__, torch.cuda.get_device_name(0))
    raw = torch.load(args.data / "lab.pt", weights_only=True)
    sets = {k: data.ImageSet(v["images"], v["labels"], v["classes"], k) for k, v in raw.items()}
    recipe = lab.RECIPE

    # 1. the committed pretraining recipe on the GPU (warm-up over the same shapes first)
    def pretrain(epochs: int) -> tuple[models.Backbone, float]:
        torch.manual_seed(0)
        backbone = models.load_backbone("labcnn", weights=None)
        torch.cuda.synchronize()
        start = time.perf_counter()
        lab.fit_recipe(backbone, sets["a_pool"], epochs=epochs, device=device, progress=False)
        torch.cuda.synchronize()
        return backbone, time.perf_counter() - start

    pretrain(1)
    source, seconds = pretrain(recipe["epochs"])
    prep = source.preprocessing()
    acc = training.evaluate(source.model, sets["a_test"], prep, device=device)["accuracy"]
    n = len(sets["a_pool"]) * recipe["epochs"]
    print(
        f"pretrain A ({n:,} image-steps): {seconds:.1f} s, {n / seconds:,.0f} img/s, test accuracy "
        f"{acc:.4f} (bf16 eval)"
    )
    acc_cpu = training.evaluate(source.model.cpu(), sets["a_test"], prep, device="cpu")["accuracy"]
    print(f"  same weights evaluated in fp32 on the CPU: {acc_cpu:.4f}")

    # 2. AnB at cut 3: frozen stages and their BN statistics unchanged on the GPU
    b_train = sets["b_pool"]  # 2,500 images
    backbone = copy.deepcopy(source)
    models.replace_head(backbone, 5, seed=0)
    models.reset_stages(backbone, backbone.stage_names[3:], seed=0)
    models.freeze_stages(backbone, trainable_stages=2)
    before = {
        k: v.clone()
        for k, v in backbone.model.state_dict().items()
        if k.startswith(("stages.0.", "stages.1.", "stages.2."))
    }
    training.fit(
        backbone.model,
        b_train,
        prep,
        lr=recipe["lr"],
        epochs=4,
        batch_size=128,
        bn_policy="eval",
        device=device,
        progress=False,
    )
    after = backbone.model.state_dict()
    moved = [k for k in before if not torch.equal(before[k].cpu(), after[k].cpu())]
    acc_b = training.evaluate(backbone.model, sets["b_test"], prep, device=device)["accuracy"]
    print(
        f"AnB cut 3 (2,500 B images, 4 epochs): test {acc_b:.4f}; frozen tensors moved: "
        f"{len(moved)} of {len(before)}"
    )

    # 3. the LR range test under CUDA autocast: finite, weights restored
    backbone = copy.deepcopy(source)
    models.replace_head(backbone, 5, seed=0)
    backbone.model.to(device)
    saved = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    groups = models.param_groups(backbone, head_lr=1.0, backbone_lr=0.1)
    start = time.perf_counter()
    result = training.lr_range_test(
        backbone.model,
        b_train,
        prep,
        param_groups=groups,
        steps=200,
        batch_size=64,
        bn_policy="eval",
        device=device,
    )
    seconds = time.perf_counter() - start
    same = all(torch.equal(saved[k], v) for k, v in backbone.model.state_dict().items())
    print(
        f"LR range test: {len(result['lr'])} steps in {seconds:.1f} s, min loss at "
        f"{result['min_lr']:.2e}, "
        f"pick {result['suggested_lr']:.2e}, all losses finite: "
        f"{all(map(lambda v: v == v, result['loss']))}, "
        f"weights restored exactly: {same}"
    )


if __name__ == "__main__":
    main()
