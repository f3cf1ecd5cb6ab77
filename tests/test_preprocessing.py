"""The one home of preprocessing: resize, channels, normalisation, augmentation."""

import torch

from helpers import models, preprocessing


def test_preprocess_shapes_and_range():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 1, 2, 2)
    out = preprocessing.preprocess(x, 4, (0.5,) * 3, (0.5,) * 3, channels=3)
    assert out.shape == (1, 3, 4, 4) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    assert preprocessing.preprocess(
        torch.zeros(2, 3, 8, 8, dtype=torch.uint8), 8, (0.5,), (0.5,), channels=1
    ).shape == (
        2,
        1,
        8,
        8,
    )


def test_augment_keeps_shape_and_identity_when_trivial():
    x = torch.rand(4, 3, 16, 16)
    same = preprocessing.augment(x, scale=(1.0, 1.0), flip=False)
    assert torch.allclose(same, x, atol=1e-5)
    g = torch.Generator().manual_seed(0)
    out = preprocessing.augment(x, scale=(0.5, 0.5), flip=True, generator=g)
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_fused_augmentation_output_size_and_range():
    prep = preprocessing.Preprocessing(24, (0.5,), (0.5,), channels=1)
    images = torch.full((3, 1, 40, 40), 255, dtype=torch.uint8)
    out = prep.augmented(
        images, scale=(0.3, 0.5), flip=True, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (3, 1, 24, 24)
    assert torch.allclose(out, torch.ones_like(out))  # white stays white: (1 - 0.5) / 0.5
    assert preprocessing.augment(torch.rand(2, 3, 10, 10), out_size=6).shape == (2, 3, 6, 6)


def test_preprocessing_is_read_off_the_backbone():
    lab = models.load_backbone("labcnn", weights=None)
    assert lab.preprocessing() == preprocessing.Preprocessing(28, (0.5,), (0.5,), channels=1)
    assert lab.preprocessing(image_size=32).image_size == 32 and lab.num_stages == 5
    lite0 = models.load_backbone("lite0", weights=None)
    assert lite0.preprocessing() == preprocessing.Preprocessing(224, (0.5,) * 3, (0.5,) * 3, 3)
