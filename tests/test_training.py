import math

import torch

from helpers import data, models, training


def _memorise_set(n=16):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    return data.ImageSet(images, torch.arange(n) % 4, list("abcd"), "noise")


def test_fit_drives_loss_down_on_a_memorisable_batch():
    ds = _memorise_set()
    backbone = models.load_backbone("labcnn", weights=None)
    models.replace_head(backbone, 4, seed=0)
    history = training.fit(
        backbone.model,
        ds,
        training.Preprocessing.of(backbone),
        lr=3e-3,
        epochs=25,
        batch_size=16,
        val_set=ds,
        progress=False,
        device="cpu",
    )
    assert history["train_loss"][-1] < 0.2 * history["train_loss"][0]
    assert history["train_accuracy"][-1] == 1.0
    assert len(history["seconds"]) == len(history["lr"]) == 25
    result = training.evaluate(backbone.model, ds, training.Preprocessing.of(backbone), device="cpu")
    assert result["accuracy"] == history["val_accuracy"][-1] and math.isclose(
        result["loss"], history["val_loss"][-1], rel_tol=1e-5
    )


def test_fit_is_reproducible_with_seed():
    ds = _memorise_set(8)

    def run():
        torch.manual_seed(1)
        backbone = models.load_backbone("labcnn", weights=None)
        return training.fit(
            backbone.model,
            ds,
            training.Preprocessing.of(backbone),
            epochs=2,
            batch_size=4,
            augmentation={"scale": (0.7, 1.0), "flip": True},
            seed=5,
            progress=False,
            device="cpu",
        )["train_loss"]

    assert run() == run()


def test_warmup_cosine_schedule():
    f = training.warmup_cosine(total_steps=100, warmup_steps=10)
    assert f(0) == 0.1 and f(9) == 1.0
    assert f(10) == 1.0 and abs(f(55) - 0.5) < 1e-9 and f(100) == 0.0
    assert training.warmup_cosine(10, 0)(0) == 1.0


def test_augment_keeps_shape_and_identity_when_trivial():
    x = torch.rand(4, 3, 16, 16)
    same = training.augment(x, scale=(1.0, 1.0), flip=False)
    assert torch.allclose(same, x, atol=1e-5)
    g = torch.Generator().manual_seed(0)
    out = training.augment(x, scale=(0.5, 0.5), flip=True, generator=g)
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_cpu_trains_in_fp32():
    assert training.amp_settings(torch.device("cpu")) == (False, None)


def test_fused_augmentation_output_size_and_range():
    prep = training.Preprocessing(24, (0.5,), (0.5,), channels=1)
    images = torch.full((3, 1, 40, 40), 255, dtype=torch.uint8)
    out = prep.augmented(images, scale=(0.3, 0.5), flip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 1, 24, 24)
    assert torch.allclose(out, torch.ones_like(out))  # white stays white: (1 - 0.5) / 0.5
    assert training.augment(torch.rand(2, 3, 10, 10), out_size=6).shape == (2, 3, 6, 6)


def test_lr_range_test_sweeps_geometrically_restores_weights_and_finds_the_cliff():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 4
    images = (torch.rand(64, 1, 28, 28, generator=g) * 40 + labels.view(-1, 1, 1, 1) * 60).to(torch.uint8)
    ds = data.ImageSet(images, labels, list("abcd"), "bands")
    backbone = models.load_backbone("labcnn", weights=None)
    models.replace_head(backbone, 4, seed=0)
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    result = training.lr_range_test(
        backbone.model,
        ds,
        training.Preprocessing.of(backbone),
        start_lr=1e-5,
        end_lr=10.0,
        steps=60,
        batch_size=16,
        device="cpu",
    )
    after = backbone.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "weights and BN statistics restored"
    lrs = result["lr"]
    assert math.isclose(lrs[1] / lrs[0], (10.0 / 1e-5) ** (1 / 59), rel_tol=1e-9)
    assert len(lrs) < 60, "the loss blows up at LR 10 with Adam: the test stops early"
    assert 1e-5 < result["suggested_lr"] < result["min_lr"] < 10.0
    assert min(result["smoothed"]) < result["smoothed"][0]


def test_lr_range_test_keeps_group_ratios():
    ds = _memorise_set(16)
    backbone = models.load_backbone("labcnn", weights=None)
    models.replace_head(backbone, 4, seed=0)
    groups = models.param_groups(backbone, head_lr=1.0, backbone_lr=0.1)
    seen = []
    original_step = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        seen.append([g["lr"] for g in self.param_groups])
        return original_step(self, *args, **kwargs)

    torch.optim.AdamW.step = spy
    try:
        training.lr_range_test(
            backbone.model,
            ds,
            training.Preprocessing.of(backbone),
            param_groups=groups,
            start_lr=1e-4,
            end_lr=1e-2,
            steps=5,
            batch_size=8,
            device="cpu",
        )
    finally:
        torch.optim.AdamW.step = original_step
    assert all(math.isclose(lr[0] / lr[-1], 0.1) for lr in seen)
    assert math.isclose(seen[0][-1], 1e-4)
