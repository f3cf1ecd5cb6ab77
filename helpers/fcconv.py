"""Fully-connected layers as convolutions (CS231n "ConvNets as sliding windows").

An FC layer that looks at a ``C × H × W`` volume is exactly a ``Conv2d(C, out, (H, W))`` with no
padding; the FC layers after it are ``1 × 1`` convolutions. Converted, a network trained at
224 px runs on a larger image in one pass and returns a *grid* of class scores.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import nn

# layers that act per position (or are spatially agnostic) and can stay as they are after conversion
_PASS_THROUGH = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Dropout, nn.Identity)


class NotConvertibleError(TypeError):
    """A layer of the classifier has no convolutional equivalent in this conversion."""


def linear_to_conv(
    linear: nn.Linear, in_channels: int, kernel_size: int | tuple[int, int] = 1
) -> nn.Conv2d:
    """The ``Conv2d(in_channels, out, kernel_size)`` computing exactly what ``linear`` computes on
    a flattened volume.

    ``linear.in_features`` must equal ``in_channels × kh × kw`` (PyTorch flattens ``(C, H, W)`` in
    that order,
    so the weight ``(out, C·H·W)`` reshapes to ``(out, C, H, W)``).
    """
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if linear.in_features != in_channels * kh * kw:
        raise NotConvertibleError(
            f"Linear({linear.in_features}, {linear.out_features}) cannot read a "
            f"{in_channels}×{kh}×{kw} volume "
            f"({in_channels * kh * kw} values)"
        )
    conv = nn.Conv2d(in_channels, linear.out_features, (kh, kw), bias=linear.bias is not None)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.reshape(linear.out_features, in_channels, kh, kw))
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    return conv.to(linear.weight.device, linear.weight.dtype)


def convert_classifier(layers: Sequence[nn.Module], volume: tuple[int, int, int]) -> nn.Sequential:
    """Convert a classifier (``Flatten``/``Linear``/ReLU/Dropout layers) that reads a ``(C, H, W)``
    volume.

    The first ``Linear`` becomes a ``C → out`` convolution with an ``H × W`` kernel, every later
    one a
    ``1 × 1`` convolution; ``Flatten`` disappears and per-position layers stay. Anything else (e.g.
    ``BatchNorm1d``, ``LayerNorm``, attention) raises :class:`NotConvertibleError` naming the layer.
    """
    channels, height, width = volume
    out: list[nn.Module] = []
    first = True
    for layer in layers:
        if isinstance(layer, nn.Flatten):
            continue
        if isinstance(layer, nn.Linear):
            kernel = (height, width) if first else (1, 1)
            out.append(linear_to_conv(layer, channels, kernel))
            channels, first = layer.out_features, False
        elif isinstance(layer, _PASS_THROUGH):
            out.append(layer)
        else:
            raise NotConvertibleError(
                f"cannot convert {type(layer).__name__} to a convolution: only Flatten, Linear and "
                "per-position "
                f"layers ({', '.join(t.__name__ for t in _PASS_THROUGH)}) are supported"
            )
    if first:
        raise NotConvertibleError("the classifier has no Linear layer to convert")
    return nn.Sequential(*out)


def alexnet_fully_convolutional(alexnet: nn.Module) -> nn.Sequential:
    """torchvision AlexNet → ``features`` + convolutional classifier (its ``AdaptiveAvgPool2d`` is
    dropped).

    On a 224 px input ``features`` gives ``256 × 6 × 6`` and the result equals ``alexnet(x)`` as a
    ``1 × 1`` score map; on larger inputs it gives a grid of scores (stride 32 px).
    """
    classifier = convert_classifier(list(alexnet.classifier), (256, 6, 6))
    return nn.Sequential(alexnet.features, classifier).eval()


def crops(
    images: torch.Tensor, size: int, stride: int
) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """All ``size × size`` crops at ``stride``: ``(N·rows·cols, C, size, size)`` and the (top,
    left) of each."""
    _, _, h, w = images.shape
    positions = [
        (top, left)
        for top in range(0, h - size + 1, stride)
        for left in range(0, w - size + 1, stride)
    ]
    batch = torch.stack(
        [images[:, :, top : top + size, left : left + size] for top, left in positions], dim=1
    )
    return batch.flatten(0, 1), positions


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of every Conv2d and Linear in one forward pass of ``x``."""
    total = 0

    def conv_hook(m: nn.Conv2d, inp, out):
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m: nn.Linear, inp, out):
        nonlocal total
        total += out.numel() * m.in_features

    handles = [
        m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)
    ]
    handles += [
        m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def forward_time(model: nn.Module, x: torch.Tensor, repeats: int = 3) -> float:
    """The best of ``repeats`` wall-clock times (seconds) of one forward pass of ``x`` under
    ``no_grad``: the minimum is the least disturbed by other work on the machine."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            model(x)
        times.append(time.perf_counter() - start)
    return min(times)


def class_evidence_map(backbone, x: torch.Tensor) -> torch.Tensor:
    """Class scores per position of a global-pooling net: the head applied as a ``1 × 1``
    convolution.

    ``x`` float ``(N, 3, H, W)`` → ``(N, num_classes, h, w)``. Because average pooling and a linear
    layer commute, ``map.mean((2, 3))`` equals the network's logits (up to float rounding).
    """
    store: dict[str, torch.Tensor] = {}
    handle = backbone.code_activation.register_forward_hook(
        lambda m, i, o: store.__setitem__("x", o)
    )
    try:
        with torch.no_grad():
            backbone.model(x)
    finally:
        handle.remove()
    fmap = store["x"]
    if fmap.ndim != 4:
        raise NotConvertibleError(
            f"{backbone.name}'s code is not a spatial map (shape {tuple(fmap.shape)})"
        )
    head = linear_to_conv(backbone.head, fmap.shape[1], 1)
    with torch.no_grad():
        return head(fmap)
