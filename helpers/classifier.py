"""A classifier to keep: save a fine-tuned network with its class names and preprocessing in one
file, load it back, and classify new images (a folder, one file, or a tensor).

The file is a ``torch.save`` dictionary of tensors, strings and numbers only, so
:func:`load_classifier` reads it with ``weights_only=True`` (no pickled code is executed).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import data, models
from .models import Backbone

FORMAT = "transfer-learning-lab classifier 1"


class ClassifierFileError(ValueError):
    """A file that is not a classifier saved by :func:`save_classifier`, or does not fit its
    architecture."""


@dataclasses.dataclass
class Prediction:
    """The top classes of one image: ``source`` (file path or index) and ``(class, probability)``
    pairs, most probable first."""

    source: str
    top: list[tuple[str, float]]

    def __str__(self) -> str:
        best = ", ".join(f"{name} {p:.0%}" for name, p in self.top)
        return f"{self.source}: {best}"


def save_classifier(
    backbone: Backbone,
    path: str | Path,
    classes: Sequence[str] | None = None,
    image_size: int | None = None,
) -> Path:
    """Write ``backbone``'s weights, its class names and its preprocessing (input size, mean,
    std, channels) into one file; written to a temporary name first, so a failure leaves no
    half-written file. ``classes`` default to ``backbone.labels``."""
    classes = [str(c) for c in (classes if classes is not None else backbone.labels or [])]
    outputs = backbone.head.out_features
    if len(classes) != outputs:
        raise ValueError(
            f"{len(classes)} class names for a head with {outputs} outputs; pass the classes the "
            "head was trained on (e.g. the ImageSet's .classes)"
        )
    if backbone.name not in models.BACKBONES:
        raise ValueError(f"unknown architecture {backbone.name!r}: it could not be rebuilt")
    payload = {
        "format": FORMAT,
        "architecture": backbone.name,
        "classes": classes,
        "image_size": int(image_size or backbone.image_size),
        "mean": [float(v) for v in backbone.mean],
        "std": [float(v) for v in backbone.std],
        "in_channels": int(backbone.in_channels),
        "state_dict": {k: v.detach().cpu() for k, v in backbone.model.state_dict().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_classifier(path: str | Path) -> Backbone:
    """A :class:`~helpers.models.Backbone` from a file of :func:`save_classifier`: its ``labels``
    are the saved class names, its mean, std and input size the saved preprocessing."""
    path = Path(path)
    payload = _read_payload(path)
    arch, classes = payload["architecture"], list(payload["classes"])
    if arch not in models.BACKBONES:
        raise ClassifierFileError(f"{path}: unknown architecture {arch!r}")
    extra = {"num_classes": len(classes)} if arch == "labcnn" else {}
    backbone = models.load_backbone(arch, weights=None, **extra)
    if arch != "labcnn":
        models.replace_head(backbone, len(classes))
    try:
        backbone.model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as err:
        raise ClassifierFileError(
            f"{path}: the saved weights do not fit a {arch} with {len(classes)} classes: "
            f"{str(err).splitlines()[0][:200]}"
        ) from None
    backbone.model.eval()
    preprocessing = dict(mean=tuple(payload["mean"]), std=tuple(payload["std"]))
    preprocessing.update(
        image_size=int(payload["image_size"]), in_channels=int(payload["in_channels"])
    )
    return dataclasses.replace(backbone, labels=classes, weights=str(path), **preprocessing)


def _read_payload(path: Path) -> dict:
    """The dict :func:`save_classifier` wrote, loaded with ``weights_only=True``; clear errors for
    a missing file, a file of another kind and a bare state dict."""
    if not path.is_file():
        raise FileNotFoundError(f"no classifier file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails in many ways on a file of another kind
        raise ClassifierFileError(
            f"{path} is not a classifier saved by save_classifier "
            f"({type(err).__name__}: {str(err).splitlines()[0][:120]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ClassifierFileError(
            f"{path} is a PyTorch file but not a classifier saved by save_classifier "
            "(a bare state dict has no class names or preprocessing)"
        )
    return payload


def _images(source, size: int) -> tuple[torch.Tensor, list[str]]:
    """uint8 ``(N, 3, size, size)`` and a name per image, from a tensor, a file or a folder."""
    if isinstance(source, torch.Tensor):
        x = source[None] if source.ndim == 3 else source
        if x.ndim != 4:
            raise ValueError(f"expected images (N, C, H, W) or one (C, H, W), got {tuple(x.shape)}")
        return x, [str(i) for i in range(len(x))]
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if data.is_image_file(p))
        if not files:
            raise FileNotFoundError(f"no image files in {path} (looked for {data.IMAGE_SUFFIXES})")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"no image file or folder at {path}")
    images, names, bad = [], [], []
    for file in files:
        try:
            images.append(data.fit_square(data.decode_image(file), size))
            names.append(str(file.relative_to(path) if path.is_dir() else file.name))
        except data.BadImageError as err:
            bad.append(f"{file.name} ({err})")
    if not images:
        raise data.BadImageError(f"no readable image in {path}: {'; '.join(bad[:3])}")
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable file(s): {'; '.join(bad[:3])}", stacklevel=3)
    return data.images_to_tensor(images, size=size), names


def predict(
    backbone: Backbone,
    source: str | Path | torch.Tensor,
    k: int = 3,
    image_size: int | None = None,
    device: torch.device | str = "cpu",
) -> list[Prediction]:
    """Top-``k`` classes with probabilities for each image of ``source``: a folder (every image
    file in it and below), one image file, or uint8 images ``(N, C, H, W)``."""
    size = image_size or backbone.image_size
    images, names = _images(source, size)
    k = min(k, backbone.head.out_features)
    probs, labels = models.predict_topk(backbone, images, k=k, image_size=size, device=device)
    return [
        Prediction(name, [(label, float(p)) for label, p in zip(row, prob)])
        for name, row, prob in zip(names, labels, probs.tolist())
    ]


# ----------------------------------------------------------------------------- shipping it

ONNX_FORMAT = "transfer-learning-lab classifier 1, onnx"
FIT = "RGB; the longer side resized to image_size, then padded with white to a square"


class ExportError(ValueError):
    """A classifier that cannot be exported to ONNX (not a network of this course, or the
    exporter refused it)."""


class _Shipped(torch.nn.Module):
    """The network with the course's preprocessing in front and a softmax behind: uint8 images
    ``(N, 3, S, S)`` → class probabilities ``(N, classes)``."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.model = backbone.model
        mean, std = (
            torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1)
            for v in (backbone.mean, backbone.std)
        )
        self.register_buffer("shift", mean * 255)
        self.register_buffer("scale", std * 255)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.shift) / self.scale
        return torch.softmax(self.model(x), dim=1)


def export_onnx(backbone: Backbone, path: str | Path, image_size: int | None = None) -> Path:
    """Write ``backbone`` as an ONNX model that takes uint8 RGB images ``(N, 3, S, S)`` and
    returns class probabilities: the preprocessing's mean and std are in the graph, and the rest
    of the contract — the input size, how an image is brought to it, the class names — in the
    file's metadata (:func:`onnx_contract` reads it). Written atomically."""
    if not isinstance(backbone, Backbone) or backbone.head is None or not backbone.labels:
        raise ExportError(
            "export_onnx takes a classifier: a Backbone with a head and class names "
            "(load_classifier returns one)"
        )
    if tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 6):
        raise ExportError(f"export_onnx needs torch 2.6 or newer (this is {torch.__version__})")
    import onnx

    size = int(image_size or backbone.image_size)
    shipped = _Shipped(backbone).cpu().eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    example = torch.zeros(2, 3, size, size, dtype=torch.uint8)  # a batch of 1 would fix N at 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                shipped,
                (example,),
                tmp,
                input_names=["images"],
                output_names=["probabilities"],
                dynamic_shapes=({0: torch.export.Dim.DYNAMIC},),
                opset_version=18,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        model = onnx.load(tmp)
        contract = {
            "format": ONNX_FORMAT,
            "architecture": backbone.name,
            "image_size": str(size),
            "classes": json.dumps(list(backbone.labels)),
            "fit": FIT,
            "mean": json.dumps(list(backbone.mean)),
            "std": json.dumps(list(backbone.std)),
        }
        for key, value in contract.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, tmp)
        tmp.replace(path)
    except Exception as err:
        raise ExportError(
            f"{backbone.name} could not be exported: {type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def onnx_contract(path: str | Path) -> dict:
    """The metadata :func:`export_onnx` wrote: ``image_size`` and ``classes`` (and ``fit``, how
    an image is brought to the size); a clear error for an ONNX file of another kind."""
    session = _session(Path(path))
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("format") != ONNX_FORMAT:
        raise ClassifierFileError(
            f"{path} is an ONNX model, but not a classifier exported by "
            "export_onnx (no class names or input size in it)"
        )
    return {
        "image_size": int(meta["image_size"]),
        "classes": json.loads(meta["classes"]),
        "fit": meta.get("fit", FIT),
        "session": session,
    }


def _session(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    import onnxruntime

    try:
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: not the graph optimiser's notes
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ClassifierFileError(
            f"{path} is not a readable ONNX model ({str(err).splitlines()[0][:120]})"
        ) from None


def onnx_probabilities(session, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Class probabilities ``(N, classes)`` from an ONNX session, for uint8 images at its size."""
    out = [
        session.run(None, {"images": images[i : i + batch_size].numpy()})[0]
        for i in range(0, len(images), batch_size)
    ]
    return torch.from_numpy(np.concatenate(out))


def parity(backbone: Backbone, path: str | Path, images: torch.Tensor) -> dict:
    """The exported model against the network it came from, on the same uint8 images: the
    share with the same top-1 class and the largest difference of a probability."""
    contract = onnx_contract(path)
    size = contract["image_size"]
    theirs = onnx_probabilities(contract["session"], images)
    prep = backbone.preprocessing(size)
    with torch.no_grad():
        mine = torch.softmax(backbone.model.cpu().eval()(prep(images)), dim=1)
    same = (mine.argmax(1) == theirs.argmax(1)).float().mean().item()
    return {
        "top1_agreement": same,
        "max_probability_gap": (mine - theirs).abs().max().item(),
        "images": len(images),
    }


def quantize_int8(path: str | Path, out: str | Path, calibration: torch.Tensor) -> Path:
    """An int8 copy of an exported model: onnxruntime's static quantization of the convolutions
    (weights per channel, activations calibrated on ``calibration``, uint8 images at the model's
    size — training images, never test ones). The first convolution, the last one, the
    classifier and every depthwise convolution stay in float, as do the preprocessing and the
    softmax: the layers that read raw pixels and that make the decision lose the most to int8,
    and so do depthwise convolutions, whose single input channel per filter leaves no sum to
    average the rounding out (Lite0 fine-tuned on Tux Paint, three seeds: 3.8–11.4 points of
    test accuracy lost with them in int8, none with them in float; ``benchmarks/RESULTS.md``).
    Written atomically; the metadata is kept."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration.split(16))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch.numpy()}

    path, out = Path(path), Path(out)
    onnx_contract(path)  # a clear error for a file that is not an exported classifier
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    prepared = out.with_name(f".{out.name}.{os.getpid()}.prepared")
    try:
        quant_pre_process(str(path), str(prepared))  # shapes inferred, graph simplified
        nodes = onnx.load(prepared).graph.node
        layers = [n.name for n in nodes if n.op_type in ("Conv", "Gemm")]
        depthwise = [
            n.name
            for n in nodes
            if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
        ]
        quantize_static(
            str(prepared),
            str(tmp),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            op_types_to_quantize=["Conv", "Gemm"],
            nodes_to_exclude=layers[:1] + layers[-2:] + depthwise,
        )
        model, source = onnx.load(tmp), onnx.load(path)
        del model.metadata_props[:]
        model.metadata_props.extend(source.metadata_props)
        onnx.save(model, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        prepared.unlink(missing_ok=True)
    return out


def at_size(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images ``(N, 3, H, W)`` resized to ``(N, 3, size, size)`` (bilinear, antialiased),
    still uint8: what an exported model takes."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(
            f"expected uint8 images (N, 3, H, W), got {images.dtype} {tuple(images.shape)}"
        )
    if images.shape[-2:] == (size, size):
        return images
    x = torch.nn.functional.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return x.round().clamp(0, 255).to(torch.uint8)


def _images_per_second(run, images: torch.Tensor, repeats: int) -> float:
    run(images[:2])  # warm-up: the first call builds kernels and plans
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(images)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def compare_formats(
    backbone: Backbone,
    files: dict[str, str | Path],
    images: torch.Tensor,
    labels: Sequence[int],
    repeats: int = 3,
    batch_size: int = 32,
) -> list[dict]:
    """The classifier in each of its shipped forms, on the same uint8 test images at the model's
    size: ``files`` maps a name to a ``.pt`` (:func:`save_classifier`, run by PyTorch) or an
    ``.onnx`` (run by onnxruntime). A row per form: ``MB`` on disk, test ``accuracy``, the
    per-image ``correct`` list, ``agreement`` (share of images with the same top class as the
    PyTorch network) and ``images/s`` (the best of ``repeats`` passes, one thread pool, on the
    CPU)."""
    prep = backbone.preprocessing(images.shape[-1])

    def on_torch(model):
        model = model.cpu().eval()

        def run(x):
            with torch.no_grad():
                return torch.cat([model(prep(b)).softmax(1) for b in x.split(batch_size)])

        return run

    reference = on_torch(backbone.model)(images).argmax(1)
    truth = torch.as_tensor(np.asarray(labels))
    rows = []
    for name, file in files.items():
        file = Path(file)
        if file.suffix == ".onnx":
            session = onnx_contract(file)["session"]
            run = lambda x, s=session: onnx_probabilities(s, x, batch_size)  # noqa: E731
        else:
            run = on_torch(load_classifier(file).model)
        top = run(images).argmax(1)
        correct = (top == truth).int().tolist()
        rows.append(
            {
                "form": name,
                "MB": file.stat().st_size / 1e6,
                "accuracy": sum(correct) / len(correct),
                "correct": correct,
                "agreement": (top == reference).float().mean().item(),
                "images/s": _images_per_second(run, images, repeats),
            }
        )
    return rows


def predict_onnx(
    path: str | Path, source: str | Path | torch.Tensor, k: int = 3
) -> list[Prediction]:
    """:func:`predict` with an exported model (:func:`export_onnx`), through onnxruntime."""
    return _predict_contract(onnx_contract(path), source, k)


def _predict_contract(
    contract: dict, source: str | Path | torch.Tensor, k: int
) -> list[Prediction]:
    """The top ``k`` classes of every image of ``source``, from a loaded :func:`onnx_contract`."""
    images, names = _images(source, contract["image_size"])
    probs = onnx_probabilities(contract["session"], images)
    top = probs.topk(min(k, probs.shape[1]), dim=1)
    classes = contract["classes"]
    return [
        Prediction(name, [(classes[i], float(p)) for p, i in zip(ps.tolist(), ids.tolist())])
        for name, ps, ids in zip(names, top.values, top.indices)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.classifier predict MODEL PATH… [-k 3]``: the top classes of every
    image (a file, or every image in a folder), from a saved classifier (``.pt``) or an exported
    one (``.onnx``). Bad input gives one line on stderr and exit code 1, not a traceback."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m helpers.classifier")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("predict", help="top-k classes of images")
    run.add_argument("model", type=Path, help="a .pt from save_classifier or an .onnx export")
    run.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    run.add_argument("-k", type=int, default=3, help="classes per image (default 3)")
    args = parser.parse_args(argv)
    try:
        onnx = args.model.suffix == ".onnx"  # the model is loaded once, for every path
        kept = onnx_contract(args.model) if onnx else load_classifier(args.model)
        for path in args.paths:
            if onnx:
                found = _predict_contract(kept, path, args.k)
            else:
                found = predict(kept, path, args.k)
            for prediction in found:
                print(prediction if len(args.paths) == 1 else f"{path}/{prediction}")
    except (FileNotFoundError, ClassifierFileError, data.BadImageError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
