"""Frozen leading stages are computed once inside ``training.fit``: the same training, faster.

With the lower stages frozen, their BatchNorm in eval mode and no augmentation before them, the
stages give the same output for an image in every epoch; ``fit`` computes it once and trains the
rest. The weights after training must equal those of the full path to float tolerance (the
prefix is computed in other batch sizes than the training batches, so not bit for bit), with
and without BatchNorm updates above the cut; where it could not be exact the full path runs.
"""

import pytest
import torch

from helpers import data, models, prefix, training


def _images(n=48, channels=1, side=28, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, generator=g)
    return data.ImageSet(images, torch.arange(n) % classes, [str(i) for i in range(classes)], "x")


def _train(name, frozen, bn_policy, monkeypatch, *, full, augmentation=None, size=None):
    """Fine-tune the last stages of a fresh network; the weights, history and how often the
    first stage ran."""
    monkeypatch.setenv("TL_FROZEN_PREFIX", "0" if full else "1")
    torch.manual_seed(0)
    net = models.load_backbone(name, weights=None)
    models.replace_head(net, 4, seed=0)
    models.freeze_stages(net, trainable_stages=net.num_stages - frozen)
    calls = []
    first = models.get_module(net.model, net.model.stage_paths[0][0])
    first.register_forward_hook(lambda *_: calls.append(1))
    ds = _images(channels=net.in_channels, side=size or 28)
    groups = models.param_groups(net, head_lr=1e-2, backbone_lr=3e-3)
    history = training.fit(
        net.model,
        ds,
        net.preprocessing(size),
        param_groups=groups,
        epochs=3,
        batch_size=16,
        bn_policy=bn_policy,
        augmentation=augmentation,
        val_set=ds,
        seed=1,
        progress=False,
        device="cpu",
    )
    return net.model.state_dict(), history, len(calls)


def _same(a, b):
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), rtol=1e-4, atol=1e-5), k


@pytest.mark.parametrize("frozen", [1, 3, 5])
@pytest.mark.parametrize("bn_policy", ["eval", "frozen"])
def test_lab_cnn_trains_the_same_with_its_frozen_prefix_computed_once(
    frozen, bn_policy, monkeypatch
):
    full, full_history, full_calls = _train("labcnn", frozen, bn_policy, monkeypatch, full=True)
    fast, history, calls = _train("labcnn", frozen, bn_policy, monkeypatch, full=False)
    _same(full, fast)
    for key in ("train_loss", "val_loss"):
        assert history[key] == pytest.approx(full_history[key], rel=1e-4)
    assert history["train_accuracy"] == full_history["train_accuracy"]
    assert calls < full_calls / 2, "the first stage must not run every epoch"
    if bn_policy == "eval" and frozen < 5:  # BatchNorm above the cut updates its statistics
        stats = [k for k in full if k.startswith(f"stages.{frozen}.") and "running_mean" in k]
        assert stats and not torch.allclose(full[stats[0]], torch.zeros_like(full[stats[0]]))


@pytest.mark.parametrize("frozen", [2, 5])
def test_lite0_trains_the_same_with_its_frozen_prefix_computed_once(frozen, monkeypatch):
    full, _, full_calls = _train("lite0", frozen, "eval", monkeypatch, full=True, size=32)
    fast, _, calls = _train("lite0", frozen, "eval", monkeypatch, full=False, size=32)
    _same(full, fast)
    assert calls < full_calls / 2


@pytest.mark.parametrize(
    "case", ["augmentation", "batchnorm trains in a frozen stage", "nothing frozen", "too large"]
)
def test_the_full_path_runs_where_the_prefix_would_not_be_exact(case, monkeypatch):
    kwargs = (
        {"augmentation": {"scale": (0.7, 1.0), "flip": False}} if case == "augmentation" else {}
    )
    bn_policy = "train" if case.startswith("batchnorm") else "eval"
    frozen = 0 if case == "nothing frozen" else 2
    if case == "too large":
        monkeypatch.setattr(prefix, "LIMIT_GIB", 1e-6)
    _, _, calls = _train("labcnn", frozen, bn_policy, monkeypatch, full=False, **kwargs)
    # every epoch runs the first stage: 3 training and 1 validation batches (plus, when too large,
    # the two images that measured the activations)
    assert calls >= 3 * (3 + 1)


def test_a_network_without_stage_paths_trains_on_the_full_path(monkeypatch):
    net = models.load_backbone("labcnn", weights=None)
    models.freeze_stages(net, trainable_stages=2)
    del net.model.stage_paths  # a plain nn.Module: fit cannot know its stages
    monkeypatch.delenv("TL_FROZEN_PREFIX", raising=False)
    calls = []
    net.model.stages[0].register_forward_hook(lambda *_: calls.append(1))
    training.fit(
        net.model,
        _images(),
        net.preprocessing(),
        epochs=2,
        batch_size=16,
        bn_policy="eval",
        progress=False,
        device="cpu",
    )
    assert len(calls) == 2 * 3
