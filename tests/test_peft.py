"""helpers.peft (LoRA, BitFit, norm-only, WiSE-FT, soups) and models.trainable_report."""

import copy

import pytest
import torch

from helpers import models, peft


@pytest.fixture
def net(lite0):
    backbone = copy.deepcopy(lite0)
    models.replace_head(backbone, 5, seed=0)
    return backbone


def _x(seed=0, n=4, size=64):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _step(backbone, x, lr=1e-2):
    """One AdamW step on every trainable parameter, BatchNorm in eval mode (statistics fixed)."""
    params = [p for p in backbone.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    backbone.model.eval()
    loss = backbone.model(x).logsumexp(1).mean() - backbone.model(x)[:, 0].mean()
    loss.backward()
    opt.step()


def test_lora_leaves_the_output_unchanged_at_initialisation_and_merges_to_the_same(net):
    x = _x()
    with torch.no_grad():
        before = net.model.eval()(x)
    paths = peft.add_lora(net, rank=4)
    assert len(paths) > 20 and "conv_head" in paths, "every pointwise convolution is wrapped"
    with torch.no_grad():
        at_init = net.model(x)
    # B starts at zero: the update adds exact zeros (a tolerance only for the sum's rounding)
    torch.testing.assert_close(at_init, before, rtol=0, atol=1e-6)
    trainable = {n for n, p in net.model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n or n.startswith("classifier") for n in trainable)
    head_conv = dict(net.stages)["head_conv"]
    assert any(p.requires_grad for p in head_conv.parameters()), "the stage sees the wrapper"
    _step(net, x)
    with torch.no_grad():
        trained = net.model(x)
    assert (trained - before).abs().max() > 1e-3, "the update trained"
    assert peft.merge_lora(net) == len(paths)
    assert not any(isinstance(m, peft.LoRAConv) for m in net.model.modules())
    with torch.no_grad():
        merged = net.model(x)
    # merging reorders the float sums (W + BA in one weight instead of two convolutions)
    torch.testing.assert_close(merged, trained, rtol=1e-5, atol=1e-5)


def test_lora_counts_rank_times_the_two_widths_and_refuses_other_convolutions(net):
    peft.add_lora(net, rank=2)
    lora = [m for m in net.model.modules() if isinstance(m, peft.LoRAConv)]
    expected = sum(2 * (m.base.in_channels + m.base.out_channels) for m in lora)
    head = sum(p.numel() for p in net.head.parameters())
    assert peft.trainable(net.model)[0] == expected + head
    with pytest.raises(ValueError, match="pointwise"):
        peft.LoRAConv(torch.nn.Conv2d(3, 8, 3), rank=2, alpha=2)


@pytest.mark.parametrize("what", ["bias", "norm"])
def test_bitfit_and_norm_only_leave_every_other_parameter_untouched(net, what):
    count = peft.train_only(net, what)
    start = {n: p.detach().clone() for n, p in net.model.named_parameters()}
    _step(net, _x())
    moved = {n for n, p in net.model.named_parameters() if not torch.equal(p, start[n])}
    allowed = {n for n, p in net.model.named_parameters() if p.requires_grad}
    # frozen means bit-identical: no arithmetic touches a parameter the optimizer does not hold
    assert moved and moved <= allowed, f"{what}: moved outside the trainable set"
    if what == "bias":
        assert all(n.endswith("bias") or n.startswith("classifier") for n in allowed)
    else:
        assert any(n.endswith("weight") and n.startswith("bn") for n in allowed)
    assert count == sum(start[n].numel() for n in allowed) < peft.trainable(net.model)[1] / 10
    with pytest.raises(ValueError, match="train_only"):
        peft.train_only(net, "weights")


def test_the_audit_catches_freezes_that_do_not_match_the_optimizer(net):
    models.freeze_stages(net, trainable_stages=2)
    good = torch.optim.SGD(models.param_groups(net, head_lr=0.1, backbone_lr=0.01), lr=0.1)
    report = models.trainable_report(net, good)
    assert report.in_optimizer == report.trainable > 0 and "head" in str(report)
    assert [r["part"] for r in report.rows][:2] == ["stem", "block0"]
    assert report.rows[0]["trainable"] == 0 and report.rows[-1]["trainable"] > 0
    everything = torch.optim.SGD(net.model.parameters(), lr=0.1)  # the tutorial's slip
    with pytest.raises(ValueError, match="frozen parameter"):
        models.trainable_report(net, everything)
    head_only = torch.optim.SGD(net.head.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="missing"):
        models.trainable_report(net, head_only)
    other = copy.deepcopy(net)
    with pytest.raises(ValueError, match="another network"):
        models.trainable_report(net, torch.optim.SGD(models.param_groups(other, 0.1, 0.01), lr=0.1))
    net.model.train()
    assert models.trainable_report(net).rows[1]["bn_train"] > 0


def test_interpolation_endpoints_are_exact_and_the_soup_averages(net):
    a = copy.deepcopy(net.model.state_dict())
    other = copy.deepcopy(net)
    peft.train_only(other, "norm")
    _step(other, _x())
    b = other.model.state_dict()
    for alpha, end in ((0, a), (1, b)):
        mixed = peft.interpolate(a, b, alpha)
        assert all(torch.equal(mixed[k], end[k]) for k in a), f"alpha={alpha} is that network"
    half = peft.interpolate(a, b, 0.5)
    key = next(k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k]))
    torch.testing.assert_close(half[key], (a[key] + b[key]) / 2)
    torch.testing.assert_close(peft.soup([a, b])[key], half[key])
    assert all(torch.equal(peft.soup([a])[k], a[k]) for k in a)
    with pytest.raises(ValueError, match="alpha"):
        peft.interpolate(a, b, 1.5)
    with pytest.raises(KeyError):
        peft.interpolate(a, {k: v for k, v in b.items() if k != key}, 0.5)
