"""How far a set of images is from ImageNet, read from the network's own memory of it.

Every BatchNorm layer of a pretrained network stores the mean and variance of each of its
input channels over ImageNet's training images (its *running statistics*: ImageNet's activation
statistics, frozen into the network). Images like ImageNet's make each channel's activations
come out with about those statistics; images unlike them shift the means and widen or narrow
the variances. :func:`imagenet_distance` runs a set of images through the network once, measures
each channel's mean and variance at the input of every BatchNorm layer, and compares them with
the stored ones — offline, with no ImageNet image at hand.

The statistic (chosen on the course's datasets, whose answers are known; notebook 08 shows the
measurements behind each choice):

- per channel, the symmetric Kullback–Leibler divergence between two Gaussians — the channel's
  activations on these images and ImageNet's stored ones; per layer, its median over channels
  (a few channels with near-zero ImageNet variance would otherwise dominate);
- averaged over the **deeper half** of the BatchNorm layers (``LAYERS``): the early layers
  respond to backgrounds and colour (a cut-out photo on white is far from ImageNet there, as a
  drawing is), the deeper ones to what the image shows — and there photos, drawings and
  cartoons part;
- at the resolution the statistics were estimated at (224 px for Lite0);
- bias-corrected, with a 95 % bootstrap interval over the images (a divergence measured on a
  few dozen images is biased upwards; the bootstrap measures and removes that bias, so that a
  folder of 20 images and one of 200 read on one scale). A folder counts as **similar** when
  the whole interval lies below ``SIMILAR_BELOW``, **different** when it lies above,
  **borderline** when it straddles it. ``SIMILAR_BELOW`` sits between the course's photos
  (similar) and its drawings, cartoons, digits and clothing (different);
  ``tests/test_similarity.py`` measures them again and fails if it no longer does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .data import ImageSet

# midway, on a log scale, between Tux Paint's photos (0.051, similar) and the nearest different
# set, Tux Paint's cartoon stamps (0.073): 100 images of each, bias-corrected (notebook 08 §4)
SIMILAR_BELOW = 0.061
LAYERS = (0.5, 1.0)  # the deeper half of the BatchNorm layers, as fractions of their order
BOOTSTRAP = 200


def batchnorm_layers(model: torch.nn.Module) -> list[tuple[str, torch.nn.BatchNorm2d]]:
    """The model's BatchNorm layers with running statistics, in forward order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.BatchNorm2d) and m.running_mean is not None
    ]


@torch.inference_mode()
def layer_moments(
    backbone,
    images: torch.Tensor,
    *,
    image_size: int | None = None,
    batch_size: int = 32,
    device=None,
) -> dict[str, np.ndarray]:
    """Per BatchNorm layer, the first and second moment of each input channel on each image:
    ``{layer: float64 (2, N, C)}`` for uint8 ``images`` ``(N, 3 or 1, H, W)``."""
    model, prep = backbone.model, backbone.preprocessing(image_size)
    device = torch.device(device or "cpu")
    model.to(device).eval()
    store: dict[str, list[torch.Tensor]] = {name: [] for name, _ in batchnorm_layers(model)}

    def keep(name):
        def hook(module, inputs):
            x = inputs[0].float()
            store[name].append(torch.stack([x.mean((2, 3)), x.pow(2).mean((2, 3))]).cpu())

        return hook

    handles = [m.register_forward_pre_hook(keep(n)) for n, m in batchnorm_layers(model)]
    try:
        for start in range(0, len(images), batch_size):
            model(prep(images[start : start + batch_size]).to(device))
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.cat(parts, 1).double().numpy() for name, parts in store.items()}


def layer_distances(backbone, moments: dict[str, np.ndarray], idx=None) -> dict[str, float]:
    """Per BatchNorm layer of ``moments``, the median over channels of the symmetric KL
    divergence between the images' Gaussian and ImageNet's stored one (``idx``: the images to
    use, e.g. a bootstrap resample)."""
    out = {}
    for name, bn in batchnorm_layers(backbone.model):
        if name not in moments:
            continue
        m = moments[name] if idx is None else moments[name][:, idx]
        mean = m[0].mean(0)
        var = np.maximum(m[1].mean(0) - mean**2, 0.0) + bn.eps
        ref_mean = bn.running_mean.double().cpu().numpy()
        ref_var = bn.running_var.double().cpu().numpy() + bn.eps
        shift = (mean - ref_mean) ** 2
        divergence = 0.25 * ((var + shift) / ref_var + (ref_var + shift) / var) - 0.5
        out[name] = float(np.median(divergence))
    return out


@dataclass
class ImageNetDistance:
    """:func:`imagenet_distance`'s result: the distance, its 95 % bootstrap interval, the call
    against ``threshold`` and every layer's own value (``per_layer``; ``used``: the layers
    averaged)."""

    value: float
    low: float
    high: float
    n: int
    threshold: float = SIMILAR_BELOW
    per_layer: dict[str, float] = field(default_factory=dict)
    used: list[str] = field(default_factory=list)

    @property
    def call(self) -> str:
        """similar / different / borderline (the interval straddles the threshold)."""
        if self.high < self.threshold:
            return "similar"
        if self.low >= self.threshold:
            return "different"
        return "borderline"

    def __str__(self) -> str:
        return (
            f"{self.value:.3f} (95 % interval {self.low:.3f}–{self.high:.3f}, {self.n} images;"
            f" similar below {self.threshold}) → {self.call}"
        )


def imagenet_distance(
    backbone,
    images,
    *,
    image_size: int | None = None,
    boots: int = BOOTSTRAP,
    seed: int = 0,
    device=None,
) -> ImageNetDistance:
    """How far ``images`` (an :class:`ImageSet` or uint8 ``(N, C, H, W)``) are from ImageNet:
    see the module text. ``image_size``: default, the backbone's own."""
    images = images.images if isinstance(images, ImageSet) else images
    if len(images) < 2:
        raise ValueError("imagenet_distance needs at least two images")
    moments = layer_moments(backbone, images, image_size=image_size, device=device)
    per_layer = layer_distances(backbone, moments)
    names = list(per_layer)
    used = names[int(LAYERS[0] * len(names)) : int(round(LAYERS[1] * len(names)))]
    value = float(np.mean([per_layer[n] for n in used]))
    rng = np.random.default_rng(seed)
    deeper = {n: moments[n] for n in used}
    resampled = []
    for _ in range(boots):  # the images are a sample: resample them
        found = layer_distances(backbone, deeper, rng.integers(0, len(images), len(images)))
        resampled.append(np.mean(list(found.values())))
    # a divergence measured on few images is biased upwards (a sample's own spread adds to it),
    # and a resample of them more so: the bootstrap's own bias corrects it, and the interval is
    # the basic bootstrap's, which carries the same correction
    low, high = 2 * value - np.percentile(resampled, [97.5, 2.5])
    value = 2 * value - float(np.mean(resampled))
    return ImageNetDistance(
        value, float(low), float(high), len(images), per_layer=per_layer, used=used
    )
