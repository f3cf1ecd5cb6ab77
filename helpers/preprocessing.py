"""How uint8 images become a backbone's input: resize, channels, mean/std, and augmentation.

The one home of preprocessing. It imports nothing else from ``helpers``, so ``models``,
``features`` and ``training`` can all use it. A backbone's input is defined by four facts
(size, mean, std, channels); :meth:`Preprocessing.of` reads them off a backbone, so
notebooks never spell them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Per-channel ``(x - mean) / std`` for float ``(N, C, H, W)`` on any device."""
    mean_t = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


def preprocess(
    images: torch.Tensor, size: int | None, mean, std, channels: int = 3
) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` → float32 ``(N, channels, size, size)``, resized and normalised.

    Resizing is bilinear with antialiasing; ``size=None`` keeps the input's height and width.
    Grayscale inputs are repeated to 3 channels when ``channels == 3``; RGB inputs are
    averaged when ``channels == 1``. Works on any device.
    """
    x = images.float().div_(255)
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 3 and channels == 1:
        x = x.mean(1, keepdim=True)
    if size is not None and x.shape[-2:] != (size, size):
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return normalise(x, mean, std)


def augment(
    x: torch.Tensor,
    *,
    scale: tuple[float, float] = (0.6, 1.0),
    flip: bool = True,
    generator: torch.Generator | None = None,
    out_size: int | None = None,
) -> torch.Tensor:
    """Batched random-resized-crop (square, area fraction in ``scale``) and horizontal flip.

    ``x`` float ``(N, C, H, W)`` → ``(N, C, out_size, out_size)`` (same size when ``out_size``
    is None), on x's device. One ``grid_sample`` call for the whole batch.
    """
    n = x.shape[0]
    rand = torch.rand(n, 4, device="cpu", generator=generator).to(x.device)
    side = torch.sqrt(scale[0] + (scale[1] - scale[0]) * rand[:, 0])  # crop side, as a fraction
    tx = (rand[:, 1] * 2 - 1) * (1 - side)
    ty = (rand[:, 2] * 2 - 1) * (1 - side)
    no_flip = torch.zeros(n, dtype=torch.bool, device=x.device)
    mirrored = rand[:, 3] < 0.5 if flip else no_flip
    sx = torch.where(mirrored, -side, side)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, side, ty
    shape = list(x.shape) if out_size is None else [n, x.shape[1], out_size, out_size]
    grid = F.affine_grid(theta, shape, align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


@dataclass
class Preprocessing:
    """Resize to ``image_size``, adapt to ``channels``, normalise with ``mean``/``std``."""

    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3

    @classmethod
    def of(cls, backbone, image_size: int | None = None) -> Preprocessing:
        """A backbone's preprocessing (its own ``image_size`` unless one is given)."""
        return cls(
            image_size=image_size or backbone.image_size,
            mean=tuple(backbone.mean),
            std=tuple(backbone.std),
            channels=backbone.in_channels,
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, C, H, W)`` → float ``(N, channels, image_size, image_size)``."""
        return preprocess(images, self.image_size, self.mean, self.std, self.channels)

    def augmented(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        **augmentation,
    ) -> torch.Tensor:
        """Like ``__call__`` with :func:`augment` fused in (uint8 in, float out).

        The random crop is resampled straight from the stored images to ``image_size`` (one
        interpolation instead of resize-then-crop), then normalised.
        """
        k = self.channels
        x = preprocess(images, None, (0.0,) * k, (1.0,) * k, k)  # [0, 1], channels adapted
        x = augment(x, out_size=self.image_size, generator=generator, **augmentation)
        return normalise(x, self.mean, self.std)
