"""GPU check of the training and feature paths (AMP, channels_last, non_blocking, BN policy).

Run on a CUDA machine:  python -m benchmarks.gpu_check [--data DIR]
DIR holds ``tuxpaint-128.pt`` (written by ``--export DIR`` on any machine that has the dataset),
so the check needs no Debian packages on the GPU machine. Prints one line per check.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def export(folder: Path) -> None:
    from helpers import data

    folder.mkdir(parents=True, exist_ok=True)
    tux = data.load_dataset("tuxpaint")
    small = F.interpolate(tux.images.float(), size=(128, 128), mode="area").round().to(torch.uint8)
    torch.save(
        {"images": small, "labels": tux.labels, "classes": tux.classes}, folder / "tuxpaint-128.pt"
    )
    print("wrote", folder / "tuxpaint-128.pt")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def tutorial_epoch(model, images, labels, size, mean, std, device):
    """A plain loop: batch 4, fp32, NCHW, loss.item() every step (the usual tutorial)."""
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    model.train()
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    total = 0.0
    for start in range(0, len(images), 4):
        x = images[start : start + 4].to(device).float().div(255)
        x = (F.interpolate(x, size=(size, size), mode="bilinear", antialias=True) - m) / s
        loss = F.cross_entropy(model(x), labels[start : start + 4].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("gpu_data"))
    parser.add_argument("--export", type=Path)
    parser.add_argument(
        "--repeat", type=int, default=12, help="copies of the 179 photos in the throughput set"
    )
    parser.add_argument("--tutorial-images", type=int, default=800)
    args = parser.parse_args()
    if args.export:
        return export(args.export)

    from helpers import config, data, features, models, training

    device = config.pick_device()
    print(
        f"device: {device} {torch.cuda.get_device_name(0) if device.type == 'cuda' else ''} torch "
        f"{torch.__version__}"
    )
    print("amp settings:", training.amp_settings(device))
    d = torch.load(args.data / "tuxpaint-128.pt", weights_only=True)
    tux = data.ImageSet(d["images"], d["labels"], list(d["classes"]), "tuxpaint-128")
    split = data.make_splits(tux, train=0.5, val=0.2, seed=0)
    big = data.ImageSet(
        tux.images.repeat(args.repeat, 1, 1, 1),
        tux.labels.repeat(args.repeat),
        tux.classes,
        "tux x12",
    )

    # 1. fine-tuning with fit(): AMP + channels_last + device-side augmentation
    for size in (128, 224):
        backbone = models.load_backbone("lite0")
        models.replace_head(backbone, 5, seed=0)
        prep = backbone.preprocessing(size)
        groups = models.param_groups(backbone, head_lr=3e-3, backbone_lr=3e-4)
        training.fit(
            backbone.model,
            big,
            prep,
            param_groups=groups,
            epochs=1,
            batch_size=128,
            progress=False,
            augmentation={"scale": (0.6, 1.0), "flip": True},
            device=device,
        )  # warm-up (cuDNN autotune)
        sync()
        start = time.perf_counter()
        hist = training.fit(
            backbone.model,
            big,
            prep,
            param_groups=groups,
            epochs=2,
            batch_size=128,
            progress=False,
            augmentation={"scale": (0.6, 1.0), "flip": True},
            device=device,
        )
        sync()
        ours = 2 * len(big) / (time.perf_counter() - start)
        # tutorial loop on the same images
        base = models.load_backbone("lite0")
        models.replace_head(base, 5, seed=0)
        base.model.to(device)
        tutorial_epoch(
            base.model, big.images[:40], big.labels[:40], size, base.mean, base.std, device
        )
        sync()
        start = time.perf_counter()
        tutorial_epoch(
            base.model,
            big.images[: args.tutorial_images],
            big.labels[: args.tutorial_images],
            size,
            base.mean,
            base.std,
            device,
        )
        sync()
        theirs = min(args.tutorial_images, len(big)) / (time.perf_counter() - start)
        print(
            f"fine-tune lite0 @{size}px: fit() {ours:,.0f} img/s vs tutorial loop {theirs:,.0f} "
            "img/s "
            f"→ {ours / theirs:.1f}×; loss {hist['train_loss'][0]:.3f} → "
            f"{hist['train_loss'][-1]:.3f}"
        )

    # 2. small-data fine-tune reaches a sensible accuracy on the GPU
    backbone = models.load_backbone("lite0")
    models.replace_head(backbone, 5, seed=0)
    prep = backbone.preprocessing(128)
    hist = training.fit(
        backbone.model,
        split["train"],
        prep,
        epochs=12,
        batch_size=16,
        warmup_epochs=1,
        param_groups=models.param_groups(backbone, head_lr=3e-3, backbone_lr=3e-4),
        augmentation={"scale": (0.6, 1.0), "flip": True},
        progress=False,
        device=device,
    )
    gpu_test = training.evaluate(backbone.model, split["test"], prep, device=device)
    cpu_test = training.evaluate(backbone.model, split["test"], prep, device="cpu")
    print(
        f"Tux Paint fine-tune (12 epochs, bf16 AMP): test acc {gpu_test['accuracy']:.1%} on GPU, "
        f"{cpu_test['accuracy']:.1%} re-evaluated in fp32 on CPU; loss {hist['train_loss'][0]:.2f} "
        f"→ {hist['train_loss'][-1]:.2f}"
    )

    # 3. fp16 + GradScaler path (GPUs without bf16)
    original = torch.cuda.is_bf16_supported
    torch.cuda.is_bf16_supported = lambda *a, **k: False
    try:
        backbone = models.load_backbone("lite0")
        models.replace_head(backbone, 5, seed=0)
        hist = training.fit(
            backbone.model,
            split["train"],
            prep,
            epochs=4,
            batch_size=16,
            lr=1e-3,
            progress=False,
            device=device,
        )
        print(
            f"fp16 + GradScaler path: amp {training.amp_settings(device)}, loss "
            f"{hist['train_loss'][0]:.2f} → "
            f"{hist['train_loss'][-1]:.2f}, finite: "
            f"{all(map(lambda v: v == v, hist['train_loss']))}"
        )
    finally:
        torch.cuda.is_bf16_supported = original

    # 4. frozen BN policy on the GPU: frozen weights and buffers unchanged
    backbone = models.load_backbone("lite0")
    models.replace_head(backbone, 5, seed=0)
    models.freeze_stages(backbone, trainable_stages=2)
    ref = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    training.fit(
        backbone.model,
        split["train"],
        prep,
        epochs=2,
        batch_size=16,
        bn_policy="frozen",
        progress=False,
        param_groups=models.param_groups(backbone, head_lr=1e-2, backbone_lr=1e-3),
        device=device,
    )
    after = backbone.model.state_dict()
    moved = [
        k
        for k in ref
        if not torch.equal(ref[k], after[k].cpu())
        and not k.startswith(("blocks.6", "conv_head", "classifier"))
    ]
    print(f"frozen BN policy: {len(moved)} frozen tensors moved (expect 0)")

    # 5. feature extraction: bf16 autocast vs fp32, throughput
    lite0 = models.load_backbone("lite0")
    f32 = features.compute_features(lite0, tux, image_size=224, device="cpu", batch_size=64)
    for _ in range(2):
        sync()
        start = time.perf_counter()
        fgpu = features.compute_features(lite0, big, image_size=224, device=device, batch_size=256)
        sync()
        rate = len(big) / (time.perf_counter() - start)
    cos = F.cosine_similarity(fgpu[: len(tux)], f32).min().item()
    print(
        f"feature extraction @224px: {rate:,.0f} img/s on GPU (bf16 autocast); min cosine vs CPU "
        f"fp32 {cos:.4f}"
    )


if __name__ == "__main__":
    main()
