import pytest
import torch

from helpers import probes


def _blobs(n=60, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, d, generator=g) + 4 * torch.nn.functional.one_hot(y, d).float()
    return x, y


@pytest.mark.parametrize("kind", probes.PROBES)
def test_probe_separates_blobs_and_picks_c_on_val(kind):
    xtr, ytr = _blobs(seed=0)
    xva, yva = _blobs(seed=1)
    xte, yte = _blobs(seed=2)
    result = probes.fit_probe(xtr, ytr, xva, yva, kind=kind, Cs=(0.01, 1.0))
    assert set(result.val_curve) == {0.01, 1.0}
    assert result.val_accuracy == max(result.val_curve.values())
    assert result.accuracy(xte, yte) > 0.9
    assert result.predict(xte).shape == (60,)


def test_probe_on_noise_is_near_chance():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 20, generator=g), torch.randint(0, 3, (300,), generator=g)
    result = probes.fit_probe(x[:150], y[:150], x[150:225], y[150:225])
    assert result.accuracy(x[225:], y[225:]) < 0.6


def test_probe_errors():
    x, y = _blobs()
    with pytest.raises(KeyError, match="logistic"):
        probes.fit_probe(x, y, x, y, kind="tree")
    with pytest.raises(ValueError, match="two classes"):
        probes.fit_probe(x, torch.zeros(60), x, y)
