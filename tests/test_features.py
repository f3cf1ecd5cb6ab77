import pytest
import torch

from helpers import data, features, models


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 48, 48), dtype=torch.uint8, generator=g)
    return data.ImageSet(images, torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "c"], "tiny")


def test_stage_and_penultimate_widths(lite0, tiny):
    expected = {
        "stem": 32,
        "block0": 16,
        "block3": 80,
        "block6": 320,
        "head_conv": 1280,
        "penultimate": 1280,
    }
    for layer, width in expected.items():
        feats = features.extract_features(
            lite0, tiny, layer=layer, image_size=64, cache=False, device="cpu"
        )
        assert feats.shape == (6, width), layer


def test_relu_on_off(lite0, tiny):
    relu = features.extract_features(lite0, tiny, image_size=64, cache=False, device="cpu")
    pre = features.extract_features(
        lite0, tiny, image_size=64, relu=False, cache=False, device="cpu"
    )
    assert relu.min() >= 0 and pre.min() < 0
    with pytest.raises(ValueError):
        features.extract_features(lite0, tiny, layer="block2", relu=False, cache=False)
    with pytest.raises(KeyError, match="penultimate"):
        features.extract_features(lite0, tiny, layer="block9", cache=False)


def test_feature_cache_reused_and_truncated_file_rebuilt(lite0, tiny, tmp_path):
    calls = []
    handle = lite0.model.conv_stem.register_forward_hook(lambda *a: calls.append(1))
    try:
        first = features.extract_features(
            lite0, tiny, image_size=64, cache_dir=tmp_path, device="cpu"
        )
        n_first = len(calls)
        second = features.extract_features(
            lite0, tiny, image_size=64, cache_dir=tmp_path, device="cpu"
        )
        assert n_first > 0 and len(calls) == n_first, "second call must not run the backbone"
        assert torch.equal(first, second)  # read back from the cache file: bit for bit
        (path,) = tmp_path.glob("*.pt")
        path.write_bytes(path.read_bytes()[:50])
        with pytest.warns(UserWarning, match="unreadable"):
            third = features.extract_features(
                lite0, tiny, image_size=64, cache_dir=tmp_path, device="cpu"
            )
        assert len(calls) > n_first and torch.allclose(first, third)
    finally:
        handle.remove()


def test_cache_key_depends_on_everything(lite0, tiny):
    base = features.cache_key(lite0, tiny, "penultimate", True, 64)
    other_data = tiny.subset([1, 0, 2, 3, 4, 5])
    variants = [
        features.cache_key(lite0, tiny, "block3", True, 64),
        features.cache_key(lite0, tiny, "penultimate", False, 64),
        features.cache_key(lite0, tiny, "penultimate", True, 96),
        features.cache_key(lite0, other_data, "penultimate", True, 64),
        features.cache_key(
            models.load_backbone("lite0", weights=None), tiny, "penultimate", True, 64
        ),
    ]
    assert len({base, *variants}) == 6
    other_random = features.cache_key(
        models.load_backbone("lite0", weights=None), tiny, "penultimate", True, 64
    )
    assert other_random != variants[-1], "two random initialisations must not share cached features"


def test_labcnn_grayscale_features():
    backbone = models.load_backbone("labcnn", weights=None)
    ds = data.ImageSet(
        torch.zeros(3, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 1, 2]), list("abc")
    )
    feats = features.extract_features(backbone, ds, cache=False, device="cpu")
    assert feats.shape == (3, 128)
    grid = features.extract_features(backbone, ds, layer="conv1", grid=2, cache=False, device="cpu")
    assert grid.shape == (3, 16 * 4)
    full = features.extract_features(backbone, ds, layer="conv1", cache=False, device="cpu")
    # the same sums in another order (four cell means, then their mean): float rounding only
    assert torch.allclose(grid.view(3, 16, 4).mean(-1), full, rtol=1e-5, atol=1e-6), (
        "a 2×2 grid averages to the global pool"
    )
    key = features.cache_key(backbone, ds, "conv1", True, 28)
    assert features.cache_key(backbone, ds, "conv1", True, 28, grid=2) != key


def test_feature_extraction_uses_the_course_precision(tiny, monkeypatch):
    """compute_features asks config.amp_settings, like training does (bf16 only on sm_80+)."""
    asked = []

    def amp(device):
        asked.append(torch.device(device).type)
        return False, None

    monkeypatch.setattr(features.config, "amp_settings", amp)
    backbone = models.load_backbone("labcnn", weights=None)
    feats = features.compute_features(backbone, tiny, device="cpu")
    assert asked == ["cpu"] and feats.shape == (6, backbone.feature_dim)
