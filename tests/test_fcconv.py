import pytest
import torch
from torch import nn

from helpers import fcconv, models


@pytest.fixture(scope="module")
def alexnet():
    torch.manual_seed(0)
    return models.load_backbone("alexnet", weights=None).model.eval()


def test_linear_to_conv_is_exact():
    torch.manual_seed(0)
    linear = nn.Linear(8 * 3 * 3, 5)
    conv = fcconv.linear_to_conv(linear, 8, 3)
    x = torch.randn(4, 8, 3, 3)
    # FC ≡ conv: the same products summed by another kernel, so equal to float rounding (measured
    # 5e-7 on outputs of size 1, with 1 and 2 threads), not bit for bit
    assert torch.allclose(conv(x).flatten(1), linear(x.flatten(1)), rtol=1e-5, atol=1e-6)


def test_alexnet_equivalence_at_224(alexnet):
    fully_conv = fcconv.alexnet_fully_convolutional(alexnet)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, got = alexnet(x), fully_conv(x)
    assert got.shape == (2, 1000, 1, 1)
    # random weights give logits of about ±0.03; rounding measured 1.5e-8 (1 and 2 threads)
    assert (got.flatten(1) - expected).abs().max() <= 1e-5 * max(1.0, expected.abs().max())


@pytest.mark.parametrize("size, cells", [(224, 1), (256, 2), (384, 6), (448, 8)])
def test_score_map_shape(alexnet, size, cells):
    fully_conv = fcconv.alexnet_fully_convolutional(alexnet)
    with torch.no_grad():
        assert fully_conv(torch.zeros(1, 3, size, size)).shape == (1, 1000, cells, cells)


def test_arbitrary_small_net():
    torch.manual_seed(1)
    features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2))  # 12 → 10 → 5
    classifier = nn.Sequential(
        nn.Flatten(), nn.Linear(4 * 5 * 5, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3)
    )
    net = nn.Sequential(features, classifier).eval()
    fully_conv = nn.Sequential(
        features, fcconv.convert_classifier(list(classifier), (4, 5, 5))
    ).eval()
    x = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        assert torch.allclose(fully_conv(x).flatten(1), net(x), atol=1e-5)
        assert fully_conv(torch.randn(1, 3, 20, 20)).shape == (1, 3, 5, 5)  # 20 → 18 → 9 → 9-5+1


def test_unconvertible_layers_are_named():
    with pytest.raises(fcconv.NotConvertibleError, match="BatchNorm1d"):
        fcconv.convert_classifier([nn.Flatten(), nn.Linear(4, 4), nn.BatchNorm1d(4)], (1, 2, 2))
    with pytest.raises(fcconv.NotConvertibleError, match="cannot read a 3×2×2 volume"):
        fcconv.convert_classifier([nn.Linear(4, 4)], (3, 2, 2))
    with pytest.raises(fcconv.NotConvertibleError, match="no Linear"):
        fcconv.convert_classifier([nn.ReLU()], (3, 2, 2))


def test_crops_and_macs(alexnet):
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float).view(2, 3, 8, 8)
    batch, positions = fcconv.crops(images, 4, 2)
    assert batch.shape == (2 * 9, 3, 4, 4) and positions[1] == (0, 2)
    assert torch.equal(batch[1], images[0, :, 0:4, 2:6])  # a crop is a copy: exact
    macs = fcconv.count_macs(alexnet, torch.zeros(1, 3, 224, 224))
    assert 0.6e9 < macs < 0.8e9  # AlexNet (torchvision): ~0.71 GMACs


def test_class_evidence_map_averages_to_logits(lite0):
    x = torch.randn(1, 3, 160, 160)
    evidence = fcconv.class_evidence_map(lite0, x)
    with torch.no_grad():
        logits = lite0.model(x)
    assert evidence.shape == (1, 1000, 5, 5)
    # a mean of per-cell logits against the pooled logits: rounding only (measured 7e-7)
    assert torch.allclose(evidence.mean((2, 3)), logits, rtol=1e-5, atol=1e-4)


def test_forward_time_is_the_best_of_its_repeats():
    calls = []
    net = nn.Sequential(nn.Linear(4, 2))
    net.register_forward_hook(lambda *_: calls.append(torch.is_grad_enabled()))
    t = fcconv.forward_time(net, torch.randn(3, 4), repeats=3)
    assert t > 0 and calls == [False, False, False]  # three passes, none building a graph
    with pytest.raises(ValueError, match="repeats"):
        fcconv.forward_time(net, torch.randn(3, 4), repeats=0)
