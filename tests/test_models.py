import math
import re
import urllib.error
from pathlib import Path

import pytest
import torch
from skimage import data as skdata
from torch import nn
from torchvision.models import _api as torchvision_api

from helpers import data, models, training

CATS = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}


def test_lite0_classifies_real_photos(lite0):
    photos = data.images_to_tensor([skdata.coffee(), skdata.chelsea()], size=256)
    probs, names = models.predict_topk(lite0, photos, k=5)
    assert names[0][0] == "espresso", names[0]
    assert CATS & set(names[1][:3]), names[1]
    assert probs[0, 0] > 0.5


@pytest.mark.parametrize("name", ["lite1", "lite2"])
def test_lite1_and_lite2_load_offline_and_classify_a_photo(name):
    net = models.load_backbone(name)
    assert net.image_size == models.LITE[name][3] and net.stage_names[-1] == "head_conv"
    photos = data.images_to_tensor([skdata.coffee()], size=net.image_size)
    probs, names = models.predict_topk(net, photos, k=3)
    assert names[0][0] == "espresso", names[0]
    assert models.available_backbones()[name] == "ok"


def test_lite0_random_weights_differ(lite0):
    random_net = models.load_backbone("lite0", weights=None)
    assert random_net.weights == "random"
    w0 = lite0.model.conv_stem.weight
    assert not torch.allclose(w0, random_net.model.conv_stem.weight)


def test_backbone_metadata(lite0):
    assert lite0.mean == lite0.std == (0.5, 0.5, 0.5)
    assert lite0.feature_dim == 1280 and lite0.head.in_features == 1280
    assert lite0.stage_names[0] == "stem" and lite0.stage_names[-1] == "head_conv"
    covered = {id(p) for _, s in lite0.stages for p in s.parameters()} | {
        id(p) for p in lite0.head.parameters()
    }
    assert covered == {id(p) for p in lite0.model.parameters()}, (
        "stages + head must cover every parameter"
    )


def test_unknown_backbone_lists_names():
    with pytest.raises(KeyError, match="lite0, lite1, lite2, resnet18, alexnet, labcnn"):
        models.load_backbone("vgg16")


def test_resnet18_loads_from_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    from torchvision.models import ResNet18_Weights, resnet18

    reference = resnet18(weights=None).state_dict()
    path = models.hub_checkpoint(ResNet18_Weights.IMAGENET1K_V1.url)
    path.parent.mkdir(parents=True)
    torch.save(reference, path)
    backbone = models.load_backbone("resnet18")
    assert torch.equal(backbone.model.conv1.weight, reference["conv1.weight"])
    assert backbone.mean == models.IMAGENET_MEAN and backbone.feature_dim == 512
    assert models.available_backbones()["resnet18"] == "ok"


def test_missing_hub_weights_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision_api, "load_state_dict_from_url", offline)
    with pytest.raises(models.BackboneUnavailable, match="resnet18-f37072fd.pth.*lite0"):
        models.load_backbone("resnet18")
    assert models.available_backbones()["alexnet"].startswith("missing")


def test_alexnet_downloads_through_the_weights_api_when_online(tmp_path, monkeypatch):
    """Online, torchvision's weights API fetches the file: progress shown, checksum checked."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    from torchvision.models import AlexNet_Weights, alexnet

    reference = alexnet(weights=None).state_dict()
    calls = []

    def download(url, *args, **kwargs):
        calls.append((url, kwargs))
        return reference

    monkeypatch.setattr(torchvision_api, "load_state_dict_from_url", download)
    backbone = models.load_backbone("alexnet")
    assert calls == [
        (
            AlexNet_Weights.IMAGENET1K_V1.url,
            {"progress": True, "check_hash": True, "weights_only": True},
        )
    ]
    assert torch.equal(backbone.model.features[0].weight, reference["features.0.weight"])


def test_alexnet_structure_random():
    backbone = models.load_backbone("alexnet", weights=None)
    assert backbone.stage_names == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    assert backbone.head.in_features == 4096


def _labcnn():
    return models.load_backbone("labcnn", weights=None)


def test_labcnn_shapes_and_checkpoint_roundtrip(tmp_path):
    backbone = _labcnn()
    assert backbone.model(torch.zeros(2, 1, 28, 28)).shape == (2, 5)
    assert backbone.stage_names == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    x, maps = torch.zeros(1, 1, 28, 28), []
    for _, stage in backbone.stages:
        x = stage(x)
        maps.append(tuple(x.shape[1:]))
    assert maps == [(16, 28, 28), (32, 14, 14), (64, 7, 7), (128, 4, 4), (128, 4, 4)]
    models.replace_head(backbone, 10)
    torch.save(backbone.model.state_dict(), tmp_path / "lab.pt")
    again = models.load_backbone("labcnn", weights=str(tmp_path / "lab.pt"))
    assert again.head.out_features == 10, "the head size comes from the checkpoint"
    assert torch.equal(again.model.fc.weight, backbone.model.fc.weight)
    with pytest.raises(models.BackboneUnavailable, match="python -m helpers.lab pretrain"):
        models.load_backbone("labcnn", weights=str(tmp_path / "missing.pt"))


def test_layerwise_lrs_decay_toward_the_input():
    lrs = models.layerwise_lrs(_labcnn(), top_lr=1e-2, decay=0.5)
    assert list(lrs) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert lrs["conv5"] == 1e-2 and math.isclose(lrs["conv1"], 1e-2 / 16)
    assert set(models.layerwise_lrs(_labcnn(), 1e-3, 1.0).values()) == {1e-3}
    with pytest.raises(ValueError):
        models.layerwise_lrs(_labcnn(), 1e-3, 0.0)


def test_reset_stages_reinitialises_only_the_named_stages():
    backbone = _labcnn()
    with torch.no_grad():
        for _, stage in backbone.stages:
            stage[1].running_mean.fill_(3.0)
    before = _snapshot(backbone.model)
    models.reset_stages(backbone, ["conv4", "conv5"], seed=1)
    changed = _changed(before, backbone.model)
    assert {k.split(".")[1] for k in changed} == {"3", "4"}
    assert float(backbone.model.stages[4][1].running_mean.abs().max()) == 0.0
    assert float(backbone.model.stages[0][1].running_mean.min()) == 3.0
    with pytest.raises(KeyError, match="unknown stages"):
        models.reset_stages(backbone, ["fc"])


def test_replace_head_and_freeze():
    backbone = _labcnn()
    head = models.replace_head(backbone, 3)
    assert backbone.model.fc is head and head.out_features == 3
    trainable = models.freeze_stages(backbone, trainable_stages=1)
    assert trainable == ["conv5"]
    flags = {
        name: all(p.requires_grad for p in stage.parameters()) for name, stage in backbone.stages
    }
    assert flags == {"conv1": False, "conv2": False, "conv3": False, "conv4": False, "conv5": True}
    assert all(p.requires_grad for p in head.parameters())
    with pytest.raises(ValueError):
        models.freeze_stages(backbone, trainable_stages=9)
    with pytest.raises(KeyError, match="unknown stages"):
        models.freeze_stages(backbone, ["conv9"])


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    """Exact on purpose: a frozen tensor must not move by a single bit."""
    after = module.state_dict()
    return {k for k in before if not torch.equal(before[k], after[k])}


def _one_step(policy: str):
    torch.manual_seed(0)
    backbone = _labcnn()
    models.freeze_stages(backbone, trainable_stages=1)
    before = _snapshot(backbone.model)
    images = torch.randint(0, 255, (16, 1, 28, 28), dtype=torch.uint8)
    ds = data.ImageSet(images, torch.arange(16) % 5, list("abcde"))
    groups = models.param_groups(backbone, head_lr=0.1, backbone_lr=0.01)
    training.fit(
        backbone.model,
        ds,
        backbone.preprocessing(),
        param_groups=groups,
        epochs=1,
        batch_size=16,
        bn_policy=policy,
        progress=False,
        device="cpu",
    )
    return backbone, _changed(before, backbone.model)


def test_bn_policy_frozen_keeps_frozen_weights_and_buffers():
    backbone, changed = _one_step("frozen")
    frozen_prefixes = ("stages.0.", "stages.1.", "stages.2.", "stages.3.")
    assert not {k for k in changed if k.startswith(frozen_prefixes)}, changed
    assert not {k for k in changed if "running" in k or "num_batches" in k}, "no BN buffer may move"
    assert "stages.4.0.weight" in changed and "fc.weight" in changed  # trainable parts did learn


def test_bn_policy_eval_and_train_differ_where_documented():
    _, eval_changed = _one_step("eval")
    assert not {
        k
        for k in eval_changed
        if k.startswith(("stages.0.", "stages.1.", "stages.2.", "stages.3."))
    }
    assert "stages.4.1.running_mean" in eval_changed  # BN of the trainable stage still adapts
    _, train_changed = _one_step("train")
    assert (
        "stages.0.1.running_mean" in train_changed
    )  # the tutorial's silent drift inside a frozen stage
    assert "stages.0.0.weight" not in train_changed
    with pytest.raises(ValueError, match="bn_policy"):
        models.apply_bn_policy(nn.BatchNorm2d(2), "freeze")


def test_bn_policy_kept_keeps_statistics_but_trains_affine_parameters():
    backbone, changed = _one_step("kept")
    assert not {k for k in changed if "running" in k or "num_batches" in k}, "statistics kept"
    assert "stages.4.1.weight" in changed and "stages.4.1.bias" in changed, "affine trains"
    assert not {k for k in changed if k.startswith(("stages.0.", "stages.3."))}


def test_param_groups_carry_requested_lrs():
    backbone = _labcnn()
    models.freeze_stages(backbone, trainable_stages=2)
    groups = models.param_groups(
        backbone, head_lr=1e-2, backbone_lr=1e-4, stage_lrs={"conv5": 1e-3}
    )
    assert [(g["name"], g["lr"]) for g in groups] == [
        ("conv4", 1e-4),
        ("conv5", 1e-3),
        ("head", 1e-2),
    ]
    optimizer = torch.optim.AdamW(groups)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-4, 1e-3, 1e-2]
    n_trainable = sum(p.numel() for p in backbone.model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == n_trainable


def torch_load_calls(text: str) -> list[str]:
    """The full text of every ``torch.load(...)`` call, nested parentheses included."""
    calls = []
    for match in re.finditer(r"torch\.load\(", text):
        depth, i = 1, match.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        calls.append(text[match.start() : i])
    return calls


def test_every_torch_load_uses_weights_only():
    root = Path(models.__file__).parent
    calls = [(p.name, c) for p in root.glob("*.py") for c in torch_load_calls(p.read_text())]
    assert len(calls) >= 4
    for name, call in calls:
        assert "weights_only=True" in call, f"{name}: {call}"


def test_stage_weight_change():
    backbone = models.load_backbone("labcnn", weights=None)
    reference = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    assert set(models.stage_weight_change(backbone, reference).values()) == {0.0}
    with torch.no_grad():
        backbone.model.stages[3][0].weight.mul_(1.5)
    change = models.stage_weight_change(backbone, reference)
    assert change["conv1"] == 0.0 and 0.0 < change["conv4"] <= 0.5


def test_recalibrate_bn_gives_a_random_network_its_data_statistics():
    torch.manual_seed(0)
    backbone = models.load_backbone("labcnn", weights=None)
    weights = {k: v.clone() for k, v in backbone.model.state_dict().items() if "running" not in k}
    images = torch.randint(100, 200, (40, 1, 28, 28), dtype=torch.uint8)
    ds = data.ImageSet(images, torch.arange(40) % 4, list("abcd"), "bright")
    first_bn = backbone.model.stages[0][1]
    assert torch.all(first_bn.running_mean == 0)
    models.recalibrate_bn(backbone, ds)
    x = backbone.preprocessing()(images)
    conv_out = backbone.model.stages[0][0](x)
    assert torch.allclose(first_bn.running_mean, conv_out.mean((0, 2, 3)), atol=1e-4)
    assert first_bn.momentum == 0.1 and not backbone.model.training
    after = backbone.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in weights.items() if "num_batches" not in k)
