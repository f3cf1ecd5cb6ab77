"""Which parameters to train: LoRA, BitFit, norm-only, and weight interpolation (WiSE-FT, soups).

Short, course-own versions of four answers to "which weights should fine-tuning alter?", for the
convolutional backbones of :mod:`helpers.models`:

- :func:`add_lora` — LoRA (Hu et al. 2022): every pointwise (1 × 1, ungrouped) convolution ``W``
  gets a trainable low-rank update ``(alpha / rank) · B A`` beside it, ``A`` of rank ``rank``
  and ``B`` zero at the start, so the network computes exactly what it computed before; every
  pretrained weight is frozen. The new classification head is trained in full, as in LoRA's
  own classification experiments. :func:`merge_lora` folds ``B A`` into ``W``.
- :func:`train_only` — BitFit (Zaken et al. 2022: only the bias terms; in a network whose
  convolutions have none, the BatchNorm shifts) and ``"norm"`` — only the BatchNorm affine
  parameters (Frankle et al. 2021; fastai's ``train_bn``); the head trains in both.
- :func:`interpolate` — WiSE-FT (Wortsman et al., CVPR 2022): every weight ``(1 − α) a + α b``
  between two networks of one architecture (a linear probe's and a fine-tuned one);
  :func:`soup` — a uniform model soup (Wortsman et al., ICML 2022): the mean of several.

:func:`trainable` counts what an optimizer will update; :func:`helpers.models.trainable_report`
audits it stage by stage.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .models import Backbone, get_module, set_module

TRAIN_ONLY = ("bias", "norm")


class LoRAConv(nn.Module):
    """A frozen pointwise convolution plus a trainable low-rank update (LoRA)."""

    def __init__(self, base: nn.Conv2d, rank: int, alpha: float):
        super().__init__()
        if base.kernel_size != (1, 1) or base.groups != 1:
            raise ValueError("LoRA here wraps pointwise (1 × 1, ungrouped) convolutions only")
        if rank < 1:
            raise ValueError(f"rank must be at least 1, got {rank}")
        self.base, self.rank, self.scale = base, rank, alpha / rank
        base.requires_grad_(False)
        self.lora_a = nn.Conv2d(base.in_channels, rank, 1, stride=base.stride, bias=False)
        self.lora_b = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.lora_a.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_b.weight)  # the update starts at exactly zero
        self.lora_a.to(base.weight), self.lora_b.to(base.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * self.lora_b(self.lora_a(x))

    def merged(self) -> nn.Conv2d:
        """The plain convolution with ``W + scale · B A`` as its weight."""
        conv = copy.deepcopy(self.base)
        out, into = self.base.out_channels, self.base.in_channels
        update = self.lora_b.weight.view(out, self.rank) @ self.lora_a.weight.view(self.rank, into)
        with torch.no_grad():
            conv.weight.add_(self.scale * update.view_as(conv.weight))
        return conv


def _pointwise(model: nn.Module) -> list[str]:
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1 and name
    ]


def _swap(backbone: Backbone, path: str, new: nn.Module) -> None:
    """Put ``new`` at ``path`` in the network and in any stage that holds the old module itself
    (a stage built as a new ``Sequential`` of the network's modules)."""
    old = get_module(backbone.model, path)
    set_module(backbone.model, path, new)
    for _, stage in backbone.stages:
        for child_name, child in stage.named_children():
            if child is old:
                setattr(stage, child_name, new)


def add_lora(backbone: Backbone, rank: int = 4, alpha: float | None = None) -> list[str]:
    """LoRA on every pointwise convolution of ``backbone`` (in place): each gets a rank-``rank``
    update scaled by ``alpha / rank`` (``alpha`` defaults to ``rank``: scale 1); every other
    backbone parameter is frozen, the head stays trainable. The outputs are unchanged until the
    update trains. Returns the paths of the wrapped convolutions."""
    head = backbone.head
    backbone.model.requires_grad_(False)
    wrapped = [n for n, m in backbone.model.named_modules() if isinstance(m, LoRAConv)]
    paths = [
        p for p in _pointwise(backbone.model) if not p.startswith(tuple(w + "." for w in wrapped))
    ]
    for path in paths:
        _swap(backbone, path, LoRAConv(get_module(backbone.model, path), rank, alpha or rank))
    head.requires_grad_(True)
    return paths


def merge_lora(backbone: Backbone) -> int:
    """Fold every LoRA update into its convolution (in place); returns how many were merged.
    The merged network computes what the wrapped one did, up to float rounding."""
    paths = [n for n, m in backbone.model.named_modules() if isinstance(m, LoRAConv)]
    for path in paths:
        _swap(backbone, path, get_module(backbone.model, path).merged())
    return len(paths)


def train_only(backbone: Backbone, what: str, train_head: bool = True) -> int:
    """Freeze everything but the bias terms (``"bias"``: BitFit) or the BatchNorm affine
    parameters (``"norm"``), and the head (``train_head``). Returns the trainable parameters."""
    if what not in TRAIN_ONLY:
        raise ValueError(f"train_only trains one of {TRAIN_ONLY}, got {what!r}")
    backbone.model.requires_grad_(False)
    for module in backbone.model.modules():
        if what == "norm" and isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.requires_grad_(True)
        elif what == "bias" and isinstance(getattr(module, "bias", None), nn.Parameter):
            module.bias.requires_grad_(True)
    backbone.head.requires_grad_(train_head)
    return trainable(backbone.model)[0]


def trainable(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def interpolate(
    state_a: dict[str, torch.Tensor], state_b: dict[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """WiSE-FT: every floating-point tensor ``(1 − alpha) · a + alpha · b`` (BatchNorm statistics
    included); integer buffers (BatchNorm's step counters) come from the nearer end. ``alpha`` 0
    and 1 give copies of ``state_a`` and ``state_b`` exactly."""
    if state_a.keys() != state_b.keys():
        missing = sorted(set(state_a) ^ set(state_b))[:5]
        raise KeyError(f"the two networks differ in their tensors, e.g. {missing}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = {}
    for key, a in state_a.items():
        b = state_b[key]
        if a.shape != b.shape:
            raise ValueError(f"{key}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ")
        if alpha in (0, 1) or not a.is_floating_point():
            out[key] = (a if alpha < 0.5 else b).detach().clone()
        else:
            out[key] = torch.lerp(a.detach(), b.detach().to(a.dtype), alpha)
    return out


def soup(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """A uniform model soup: the mean of every floating-point tensor over ``states`` (networks
    fine-tuned from one start); integer buffers from the first."""
    if not states:
        raise ValueError("a soup needs at least one network")
    first = states[0]
    if any(s.keys() != first.keys() for s in states):
        raise KeyError("the networks of a soup must have the same tensors")
    return {
        k: torch.stack([s[k].detach() for s in states]).mean(0)
        if v.is_floating_point()
        else v.detach().clone()
        for k, v in first.items()
    }
