"""Side-by-side benchmarks: the course's helpers vs a tutorial-style baseline, same machine, same
run.

    python -m benchmarks.run [--quick] [--only 1 2 ...] [--photos DIR]

1. fixed-feature-extractor regime (image folder + PIL per sample, batch 4, frozen backbone re-run
   every epoch for the train and the validation phase, as the tutorial's ``train_model`` does, vs
   features extracted once and cached), 10 epochs, times and held-out accuracies;
2. fine-tuning throughput, ``helpers.training.fit`` vs a tutorial loop, Lite0 and ResNet-18
   (random weights: throughput does not depend on the values) at 64, 128 and 224 px;
3. input pipeline alone: uint8 tensor cache + batched crop/flip/normalise vs PIL image folder;
4. linear probes: full-batch L-BFGS in torch vs scikit-learn's ``LogisticRegression(lbfgs)`` and
   ``LinearSVC`` (liblinear's dual), same C, same objective;
5. feature-extraction efficiency: achieved FLOP/s over the fp32 matmul rate, and bf16 vs fp32 on
   CPU;
6. a frozen prefix computed once vs the full path in ``training.fit`` (notebook 05's AnB row);
7. the shipped classifier (notebook 08): PyTorch fp32 vs onnxruntime fp32 vs onnxruntime int8 —
   images per second, file size, and int8's accuracy against fp32 over seeds on fixed test
   images, with the course's verdict.

Prints one Markdown table (ours, baseline, ratio) per measurement. The photos come from the
Tux Paint dataset, written once as PNG files into an image folder (``--photos``; made if missing).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from helpers import config, data, features, models, preprocessing, probes, training
from helpers.fcconv import count_macs


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def table(title: str, rows: list[tuple]) -> None:
    print(f"\n### {title}\n")
    print("| case | ours | baseline | ratio |")
    print("| --- | --- | --- | --- |")
    for case, ours, base, ratio in rows:
        print(f"| {case} | {ours} | {base} | **{ratio}** |", flush=True)


def photo_folder(root: Path) -> Path:
    """Tux Paint photos as PNG files, one subfolder per class (the tutorial's input format)."""
    if not root.is_dir() or not any(root.iterdir()):
        tux = data.load_dataset("tuxpaint")
        from PIL import Image

        for i, (image, label) in enumerate(zip(tux.images, tux.labels.tolist())):
            folder = root / tux.classes[label].replace(" & ", "_and_")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
    return root


def tutorial_folder_loader(
    root: Path, size: int, train: bool, batch_size: int = 4, workers: int | None = None
):
    """torchvision ImageFolder + per-sample PIL transforms, as in the PyTorch transfer-learning
    tutorial."""
    from torchvision import datasets, transforms

    norm = transforms.Normalize((0.5,) * 3, (0.5,) * 3)
    tf = (
        transforms.Compose(
            [
                transforms.RandomResizedCrop(size),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                norm,
            ]
        )
        if train
        else transforms.Compose(
            [transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(), norm]
        )
    )
    ds = datasets.ImageFolder(str(root), tf)
    if (
        workers is None
    ):  # the tutorial uses 4 workers; on a 2-core machine that only adds contention
        workers = 4 if torch.cuda.is_available() else 0
    return ds, torch.utils.data.DataLoader(
        ds, batch_size=batch_size, shuffle=train, num_workers=workers
    )


# ----------------------------------------------------------------------------- 1. fixed features


def bench_fixed_features(root: Path, device: torch.device, size: int, epochs: int) -> None:
    from torchvision import datasets

    full = datasets.ImageFolder(str(root))
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(full), generator=generator)
    n_train = len(full) // 2
    train_idx, test_idx = order[:n_train].tolist(), order[n_train:].tolist()

    def baseline():
        ds, _ = tutorial_folder_loader(root, size, train=False)
        workers = 4 if device.type == "cuda" else 0
        train_loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(ds, train_idx), batch_size=4, shuffle=True, num_workers=workers
        )
        test_loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(ds, test_idx), batch_size=4, num_workers=workers
        )
        net = models.load_backbone("lite0").model
        for p in net.parameters():
            p.requires_grad = False
        net.classifier = nn.Linear(1280, len(ds.classes))
        net.to(device)
        opt = torch.optim.SGD(net.classifier.parameters(), lr=1e-3, momentum=0.9)
        for _ in range(
            epochs
        ):  # the tutorial's train_model: a train phase and a validation phase every epoch
            net.train()
            for x, y in train_loader:
                loss = F.cross_entropy(net(x.to(device)), y.to(device))
                opt.zero_grad()
                loss.backward()
                opt.step()
            net.eval()
            correct = 0
            with torch.no_grad():
                for x, y in test_loader:
                    correct += (net(x.to(device)).argmax(1).cpu() == y).sum().item()
        return correct / len(test_idx)

    def ours():
        images = data.load_image_folder(root, image_size=256)  # decoded once
        backbone = models.load_backbone("lite0")
        feats = features.compute_features(
            backbone, images, image_size=size, device=device, batch_size=128
        )
        f_train, f_test = feats[train_idx].to(device), feats[test_idx].to(device)
        y_train, y_test = images.labels[train_idx].to(device), images.labels[test_idx].to(device)
        head = nn.Linear(1280, len(images.classes)).to(device)
        opt = torch.optim.SGD(head.parameters(), lr=1e-3, momentum=0.9)
        for _ in range(epochs):  # same protocol: train phase, then a validation pass, every epoch
            perm = torch.randperm(len(train_idx), device=device)
            for start in range(
                0, len(perm), 4
            ):  # same head, same batch size and steps as the baseline
                idx = perm[start : start + 4]
                loss = F.cross_entropy(head(f_train[idx]), y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                accuracy = (head(f_test).argmax(1) == y_test).float().mean().item()
        return accuracy

    if (
        device.type == "cuda"
    ):  # one untimed epoch each: one-time kernel selection/compilation per input shape
        epochs, warm = 1, epochs
        baseline(), ours()
        epochs = warm
    torch.manual_seed(0)
    t_base, acc_base = timed(baseline, device)
    torch.manual_seed(0)
    t_ours, acc_ours = timed(ours, device)
    table(
        f"1. Fixed feature extractor: Lite0, {len(full)} Tux Paint photos, {size} px, {epochs} "
        "epochs",
        [
            ("wall time", f"{t_ours:.1f} s", f"{t_base:.1f} s", f"{t_base / t_ours:.1f}×"),
            ("test accuracy", f"{acc_ours:.1%}", f"{acc_base:.1%}", "–"),
        ],
    )


# ------------------------------------------------------------------------ 2. fine-tuning throughput


def tutorial_train_images(
    root: Path, backbone: models.Backbone, size: int, n_images: int, device
) -> float:
    """img/s of a tutorial loop: ImageFolder + PIL RandomResizedCrop, batch 4, fp32 NCHW,
    loss.item() per step."""
    ds, loader = tutorial_folder_loader(root, size, train=True)
    model = backbone.model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    seen, running = 0, 0.0
    sync(device)
    start = time.perf_counter()
    while seen < n_images:
        for x, y in loader:
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()
            seen += len(y)
            if seen >= n_images:
                break
    sync(device)
    return seen / (time.perf_counter() - start)


def ours_train_images(
    images: data.ImageSet,
    backbone: models.Backbone,
    size: int,
    epochs: int,
    device,
    batch_size: int,
) -> float:
    prep = backbone.preprocessing(size)
    aug = {"scale": (0.08, 1.0), "flip": True}
    training.fit(
        backbone.model,
        images,  # warm-up over the same batches (shapes) as the timed run
        prep,
        epochs=1,
        batch_size=batch_size,
        augmentation=aug,
        progress=False,
        device=device,
    )  # warm-up
    seconds, _ = timed(
        lambda: training.fit(
            backbone.model,
            images,
            prep,
            epochs=epochs,
            batch_size=batch_size,
            augmentation=aug,
            progress=False,
            device=device,
        ),
        device,
    )
    return epochs * len(images) / seconds


def bench_finetune(root: Path, device: torch.device, sizes, n_base: int, quick: bool) -> None:
    images = data.load_image_folder(root, image_size=256)
    rows = []
    for name in ("lite0", "resnet18"):
        for size in sizes:
            torch.manual_seed(0)
            base = tutorial_train_images(
                root, models.load_backbone(name, weights=None), size, n_base, device
            )
            # CPUs: small batches stay in cache (16 at 224 px is ~30 % faster per image than 64
            # here)
            batch = (16 if size >= 200 else 32) if device.type == "cpu" else 128
            reps = 1 if device.type == "cpu" else 8
            big = data.ImageSet(
                images.images.repeat(reps, 1, 1, 1), images.labels.repeat(reps), images.classes
            )
            if device.type == "cpu":
                big = big.subset(range(min(len(big), max(n_base, 64) * (2 if size < 200 else 1))))
            ours = ours_train_images(
                big,
                models.load_backbone(name, weights=None),
                size,
                1 if quick else 2,
                device,
                batch,
            )
            rows.append(
                (
                    f"{name} @ {size} px",
                    f"{ours:,.1f} img/s",
                    f"{base:,.1f} img/s",
                    f"{ours / base:.1f}×",
                )
            )
    table(f"2. Fine-tuning throughput (all layers trained; {device})", rows)


# ----------------------------------------------------------------------------- 3. input pipeline


def bench_pipeline(root: Path, size: int, n_images: int) -> None:
    _, loader = tutorial_folder_loader(
        root, size, train=True, batch_size=64, workers=0
    )  # same cores as ours
    seen = 0
    start = time.perf_counter()
    while seen < n_images:
        for x, _ in loader:
            seen += len(x)
            if seen >= n_images:
                break
    base = seen / (time.perf_counter() - start)

    images = data.load_image_folder(root, image_size=256)  # decoded once (cached in a real run)
    prep = preprocessing.Preprocessing(size, (0.5,) * 3, (0.5,) * 3)
    seen = 0
    start = time.perf_counter()
    while seen < n_images:
        for s in range(0, len(images), 64):
            x = prep.augmented(images.images[s : s + 64], scale=(0.08, 1.0), flip=True)
            seen += len(x)
    ours = seen / (time.perf_counter() - start)
    table(
        f"3. Input pipeline alone (random crop + flip + normalise to {size} px, CPU, "
        f"{torch.get_num_threads()} threads)",
        [
            ("images/s", f"{ours:,.0f}", f"{base:,.0f}", f"{ours / base:.1f}×"),
        ],
    )


# ----------------------------------------------------------------------------- 4. linear head


def bench_linear_head(C: float = 0.1, n: int = 5000) -> None:
    """02's probes: the torch solvers against scikit-learn's on the same standardised codes and
    the same ``C`` — logistic regression (L-BFGS in torch vs ``LogisticRegression(lbfgs)``) and
    the linear SVM (L-BFGS on the squared hinge vs liblinear's dual ``LinearSVC``). Same objective
    printed for both: a faster solver counts only if it reaches the same minimum."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    mnist = data.subset_per_class(data.load_dataset("mnist5k"), n // 10, seed=0)
    feats = features.extract_features(models.load_backbone("lite0"), mnist, image_size=64)
    X = StandardScaler().fit_transform(feats.numpy()).astype(np.float64)
    y = mnist.labels.numpy()

    def logistic_objective(m):
        z = X @ m.coef_.T + m.intercept_
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -C * logp[np.arange(len(X)), y].sum() + 0.5 * (m.coef_**2).sum()

    def svm_objective(m):
        t = np.where(y[:, None] == np.arange(m.coef_.shape[0]), 1.0, -1.0)
        hinge = np.maximum(0, 1 - t * (X @ m.coef_.T + m.intercept_))
        return 0.5 * ((m.coef_**2).sum() + (m.intercept_**2).sum()) + C * (hinge**2).sum()

    cpu = torch.device("cpu")
    pairs = {
        "logistic": (
            lambda: probes.TorchLogistic(C=C).fit(X, y),
            lambda: LogisticRegression(C=C, max_iter=5000).fit(X, y),
            logistic_objective,
        ),
        "linear SVM": (
            lambda: probes.NewtonSVM(C=C).fit(X, y),
            lambda: LinearSVC(C=C, dual=True, max_iter=2000).fit(X, y),
            svm_objective,
        ),
    }
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, (mine, theirs, objective) in pairs.items():
            t_ours, ours = timed(mine, cpu)
            t_sk, sk = timed(theirs, cpu)
            agree = (ours.predict(X) == sk.predict(X)).mean()
            rows += [
                (f"{name}: fit time", f"{t_ours:.2f} s", f"{t_sk:.2f} s", f"{t_sk / t_ours:.1f}×"),
                (
                    f"{name}: objective (lower is better); same prediction on {agree:.1%}",
                    f"{objective(ours):.3f}",
                    f"{objective(sk):.3f}",
                    "–",
                ),
            ]
    table(
        f"4. Linear probes: {X.shape[0]} × {X.shape[1]} Lite0 codes, 10 classes, C = {C}, CPU", rows
    )


# ----------------------------------------------------------------------------- 5. efficiency


def matmul_rate(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    seconds, _ = timed(lambda: [torch.mm(a, b) for _ in range(repeats)], device)
    return 2 * n**3 * repeats / seconds


def bench_efficiency(device: torch.device, n_images: int) -> None:
    images = data.ImageSet(
        torch.randint(0, 256, (n_images, 3, 224, 224), dtype=torch.uint8),
        torch.zeros(n_images, dtype=torch.long),
        ["x"],
    )
    rows = []
    for name in ("resnet18", "lite0"):
        backbone = models.load_backbone(name, weights=None)
        flops = 2 * count_macs(backbone.model, torch.zeros(1, 3, 224, 224))
        before = matmul_rate(device)
        features.compute_features(
            backbone, images.subset(range(64)), image_size=224, device=device, batch_size=64
        )

        def extract(backbone=backbone):
            return features.compute_features(
                backbone, images, image_size=224, device=device, batch_size=64
            )

        seconds, _ = timed(extract, device)
        after = matmul_rate(device)
        achieved = flops * n_images / seconds
        peak = (before + after) / 2
        rows.append(
            (
                f"{name} feature extraction @224",
                f"{achieved / 1e9:,.0f} GFLOP/s",
                f"matmul {peak / 1e9:,.0f} GFLOP/s",
                f"{achieved / peak:.2f}",
            )
        )
    if device.type == "cpu":
        net = (
            models.load_backbone("resnet18", weights=None)
            .model.eval()
            .to(memory_format=torch.channels_last)
        )
        x = torch.randn(16, 3, 224, 224).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            t32, _ = timed(lambda: net(x), device)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                net(x[:2])
                t16, _ = timed(lambda: net(x), device)
        rows.append(
            (
                "resnet18 forward, 16 images: fp32 vs bf16 autocast",
                f"fp32 {t32:.2f} s",
                f"bf16 {t16:.2f} s",
                f"bf16 is {t16 / t32:.1f}× slower"
                if t16 > t32
                else f"bf16 is {t32 / t16:.1f}× faster",
            )
        )
    table(f"5. Feature-extraction efficiency ({device}; ratio = achieved / matmul rate)", rows)


def bench_frozen_prefix(cuts=(4, 5), per_class: int = 100, epochs: int = 8, pairs: int = 5) -> None:
    """Notebook 05's AnB row (the lab CNN pretrained on A, the first ``cut`` stages frozen with
    their BatchNorm statistics, the rest re-initialised and trained on B with the lab recipe):
    ``training.fit`` with its frozen prefix computed once (ours) against the full path that
    re-runs the frozen stages every step (``TL_FROZEN_PREFIX=0``: what a plain loop does), the
    two alternated ``pairs`` times; the weights after both paths agree to float tolerance
    (tests/test_frozen_prefix.py)."""
    import copy
    import os

    from helpers import lab

    source = lab.pretrained("a", progress=False)
    split = lab.sample_task("b", per_class, 10, seed=0)
    rows = []
    for cut in cuts:
        times = {"1": [], "0": []}
        for pair in range(pairs + 1):  # pair 0 warms both paths up (first calls) and is dropped
            for flag in ("1", "0"):
                net = copy.deepcopy(source)
                models.replace_head(net, 5, seed=0)
                models.reset_stages(net, net.stage_names[cut:], seed=0)
                models.freeze_stages(net, trainable_stages=net.num_stages - cut)
                os.environ["TL_FROZEN_PREFIX"] = flag
                start = time.perf_counter()
                lab.fit_recipe(
                    net,
                    split["train"],
                    epochs=epochs,
                    bn_policy="eval",
                    seed=0,
                    progress=False,
                    device="cpu",
                )
                if pair:
                    times[flag].append(time.perf_counter() - start)
        os.environ.pop("TL_FROZEN_PREFIX", None)
        ratios = [b / a for a, b in zip(times["1"], times["0"])]
        each = ", ".join(f"{r:.2f}" for r in ratios)
        rows.append(
            (
                f"AnB, {cut} of 5 stages frozen, {5 * per_class} images, {epochs} epochs",
                f"{min(times['1']):.2f} s",
                f"{min(times['0']):.2f} s",
                f"{sorted(ratios)[len(ratios) // 2]:.2f}× (pairs: {each})",
            )
        )
    table("6. Frozen prefix computed once vs the full path (training.fit, lab CNN, CPU)", rows)


# ----------------------------------------------------------------------------- 7. shipping


def bench_shipping(seeds=(0, 1, 2), size: int = 128, epochs: int = 4, margin: float = 0.02) -> None:
    """Lite0 fine-tuned on Tux Paint's photos (every stage, 03's recipe) once per seed, with a
    fixed test set; each network exported to ONNX and quantized to int8 (calibrated on its own
    training images). Speed: the best of three passes over the test images, batches of 32, one
    process; int8 against fp32: a non-inferiority question with a margin of ``margin`` declared
    here, answered with the test images' noise counted (``stats.compare(correct=...)``)."""
    from helpers import classifier, stats

    photos = data.load_dataset("tuxpaint")
    pool, test = data.held_out(photos, 0.3, seed=0)
    test_x = classifier.at_size(test.images, size)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            split = data.make_splits(pool, train=None, val=0.15, test=0, seed=seed) | {"test": test}
            net = models.load_backbone("lite0")
            recipe = {**training.RECIPE_03, "epochs": epochs, "image_size": size, "seed": seed}
            training.fine_tune(net, split, trainable_stages=net.num_stages, **recipe)
            net.labels = list(photos.classes)
            saved = classifier.save_classifier(net, Path(tmp) / f"{seed}.pt", net.labels, size)
            kept = classifier.load_classifier(saved)
            fp32 = classifier.export_onnx(kept, Path(tmp) / f"{seed}.onnx")
            calibration = classifier.at_size(split["train"].images, size)
            int8 = classifier.quantize_int8(fp32, Path(tmp) / f"{seed}.int8.onnx", calibration)
            forms = {"PyTorch fp32": saved, "onnxruntime fp32": fp32, "onnxruntime int8": int8}
            for row in classifier.compare_formats(kept, forms, test_x, test.labels):
                rows.setdefault(row["form"], []).append(row)
    torch_rate = [r["images/s"] for r in rows["PyTorch fp32"]]
    median = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    lines = []
    for form in ("onnxruntime fp32", "onnxruntime int8"):
        rate = [r["images/s"] for r in rows[form]]
        ratios = [a / b for a, b in zip(rate, torch_rate)]
        lines.append(
            (
                f"{form} vs PyTorch fp32: images/s (median of {len(seeds)} networks)",
                f"{median(rate):,.0f}",
                f"{median(torch_rate):,.0f}",
                f"{median(ratios):.2f}× ({', '.join(f'{r:.2f}' for r in ratios)})",
            )
        )
    mb = {form: rows[form][0]["MB"] for form in rows}
    lines.append(
        (
            "file size, int8 vs PyTorch",
            f"{mb['onnxruntime int8']:.1f} MB",
            f"{mb['PyTorch fp32']:.1f} MB",
            f"{mb['PyTorch fp32'] / mb['onnxruntime int8']:.1f}× smaller",
        )
    )
    acc = {form: [r["accuracy"] for r in rows[form]] for form in rows}
    correct = [[r["correct"] for r in rows[form]] for form in ("onnxruntime int8", "PyTorch fp32")]
    verdict = stats.compare(
        acc["onnxruntime int8"], acc["PyTorch fp32"], margin=margin, correct=correct
    )
    agreement = [r["agreement"] for r in rows["onnxruntime int8"]]
    lines += [
        (
            "test accuracy (mean over seeds)",
            f"int8 {100 * sum(acc['onnxruntime int8']) / len(seeds):.1f} %",
            f"fp32 {100 * sum(acc['PyTorch fp32']) / len(seeds):.1f} %",
            "–",
        ),
        (
            f"int8 − fp32 accuracy, {len(seeds)} seeds × {len(test)} test images",
            str(verdict),
            f"not worse by {100 * margin:.0f} points: {stats.answer(verdict, 'not worse')}",
            "–",
        ),
        ("int8: top class as fp32's", ", ".join(f"{a:.0%}" for a in agreement), "", "–"),
    ]
    table(
        f"7. Shipping: Lite0 fine-tuned on Tux Paint, {size} px, CPU, {len(test)} test images",
        lines,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run, not a measurement"
    )
    parser.add_argument("--only", nargs="+", type=int, default=[1, 2, 3, 4, 5, 6, 7])
    parser.add_argument("--photos", type=Path, default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    device = config.pick_device(args.device)
    print(
        f"## Benchmarks — {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        "threads, "
        f"device {device}{' ' + torch.cuda.get_device_name(0) if device.type == 'cuda' else ''}, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = photo_folder(args.photos or Path(tmp) / "photos")
        if 1 in args.only:
            bench_fixed_features(
                root, device, size=112 if args.quick else 224, epochs=2 if args.quick else 10
            )
        if 2 in args.only:
            sizes = (64,) if args.quick else (64, 128, 224)
            bench_finetune(root, device, sizes, n_base=16 if args.quick else 96, quick=args.quick)
        if 3 in args.only:
            bench_pipeline(root, size=224, n_images=64 if args.quick else 512)
        if 4 in args.only:
            bench_linear_head()
        if 5 in args.only:
            bench_efficiency(
                device, n_images=16 if args.quick else (64 if device.type == "cpu" else 2048)
            )
        if 6 in args.only:
            bench_frozen_prefix(per_class=20 if args.quick else 100, epochs=2 if args.quick else 8)
        if 7 in args.only:
            bench_shipping(seeds=(0, 1) if args.quick else (0, 1, 2), epochs=1 if args.quick else 4)


if __name__ == "__main__":
    main()
