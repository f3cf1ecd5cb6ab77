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
        backbone.preprocessing(),
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
    result = training.evaluate(backbone.model, ds, backbone.preprocessing(), device="cpu")
    # the same function on the same weights and data, batch size and threads: an exact count
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
            backbone.preprocessing(),
            epochs=2,
            batch_size=4,
            augmentation={"scale": (0.7, 1.0), "flip": True},
            seed=5,
            progress=False,
            device="cpu",
        )["train_loss"]

    assert run() == run()  # exact on purpose: the same computation twice on one path


def test_warmup_cosine_schedule():
    f = training.warmup_cosine(total_steps=100, warmup_steps=10)
    assert f(0) == 0.1 and f(9) == 1.0
    assert f(10) == 1.0 and abs(f(55) - 0.5) < 1e-9 and f(100) == 0.0
    assert training.warmup_cosine(10, 0)(0) == 1.0


def test_lr_range_test_sweeps_geometrically_restores_weights_and_finds_the_cliff():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 4
    images = (torch.rand(64, 1, 28, 28, generator=g) * 40 + labels.view(-1, 1, 1, 1) * 60).to(
        torch.uint8
    )
    ds = data.ImageSet(images, labels, list("abcd"), "bands")
    backbone = models.load_backbone("labcnn", weights=None)
    models.replace_head(backbone, 4, seed=0)
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    result = training.lr_range_test(
        backbone.model,
        ds,
        backbone.preprocessing(),
        start_lr=1e-5,
        end_lr=10.0,
        steps=60,
        batch_size=16,
        device="cpu",
    )
    after = backbone.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), (
        "weights and BN statistics restored"
    )
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
            backbone.preprocessing(),
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


def test_amp_settings_follow_the_gpu_generation(monkeypatch):
    assert training.amp_settings(torch.device("cpu")) == (False, None)
    assert training.amp_settings("mps") == (False, None)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    for capability, dtype in (
        ((7, 5), torch.float16),
        ((7, 0), torch.float16),
        ((8, 0), torch.bfloat16),
        ((9, 0), torch.bfloat16),
    ):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None, c=capability: c)
        monkeypatch.setattr(
            torch.cuda, "is_bf16_supported", lambda *a, **k: True
        )  # as torch says on a T4
        assert training.amp_settings(torch.device("cuda")) == (True, dtype), capability
        assert training.amp_settings(torch.device("cuda:0")) == (True, dtype), capability


def _groups_snapshot(groups):
    return [{k: ([id(p) for p in v] if k == "params" else v) for k, v in g.items()} for g in groups]


def test_fit_and_lr_range_test_leave_the_callers_param_groups_alone():
    ds = _memorise_set(32)
    backbone = models.load_backbone("labcnn", weights=None)
    models.replace_head(backbone, 4, seed=0)
    groups = models.param_groups(backbone, head_lr=1e-3, backbone_lr=1e-4)
    before = _groups_snapshot(groups)
    prep = backbone.preprocessing()
    training.lr_range_test(
        backbone.model, ds, prep, param_groups=groups, steps=8, batch_size=8, device="cpu"
    )
    assert _groups_snapshot(groups) == before
    training.fit(
        backbone.model,
        ds,
        prep,
        param_groups=groups,
        epochs=1,
        batch_size=8,
        progress=False,
        device="cpu",
    )
    assert _groups_snapshot(groups) == before
    assert [g["lr"] for g in groups][-2:] == [1e-4, 1e-3]


def test_fit_is_the_plain_loop_plus_amp_and_scheduling():
    """Notebook 03 writes the loop out; with a constant LR and no AMP, fit does exactly that."""
    ds = _memorise_set(24)

    def fresh():
        torch.manual_seed(0)
        backbone = models.load_backbone("labcnn", weights=None)
        models.replace_head(backbone, 4, seed=0)
        return backbone

    ours = fresh()
    training.fit(
        ours.model,
        ds,
        ours.preprocessing(),
        lr=1e-2,
        epochs=2,
        batch_size=8,
        schedule="constant",
        channels_last=False,
        progress=False,
        device="cpu",
        seed=3,
    )
    plain = fresh()
    model, prep = plain.model, plain.preprocessing()
    generator = torch.Generator().manual_seed(3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(2):
        model.train()
        for idx in torch.randperm(len(ds), generator=generator).split(8):
            loss = torch.nn.functional.cross_entropy(model(prep(ds.images[idx])), ds.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    # another loop around the same kernels (fit's scheduler, its loss bookkeeping): rounding may
    # differ and two epochs of Adam carry it into the weights, hence a tolerance, not equality
    for (name, a), b in zip(ours.model.state_dict().items(), plain.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_fine_tune_is_notebook_03s_four_lines():
    """training.fine_tune = new head, freeze, per-group LRs, fit (what 03 writes out)."""
    ds = _memorise_set(24)
    split = {"train": ds, "val": ds, "test": ds}

    def fresh():
        torch.manual_seed(0)
        return models.load_backbone("labcnn", weights=None)

    ours = fresh()
    run = training.fine_tune(
        ours,
        split,
        trainable_stages=2,
        head_lr=3e-3,
        backbone_lr=3e-4,
        epochs=2,
        batch_size=8,
        augmentation={"scale": (0.7, 1.0), "flip": False},
        seed=1,
        device="cpu",
    )
    by_hand = fresh()
    models.replace_head(by_hand, len(ds.classes), seed=1)  # 2. new head
    models.freeze_stages(by_hand, trainable_stages=2)  # 3. freeze below the cut
    groups = models.param_groups(by_hand, head_lr=3e-3, backbone_lr=3e-4)  # 4. LRs
    training.fit(
        by_hand.model,
        ds,
        by_hand.preprocessing(),
        param_groups=groups,
        epochs=2,
        batch_size=8,
        warmup_epochs=1.0,
        bn_policy="eval",
        augmentation={"scale": (0.7, 1.0), "flip": False},
        val_set=ds,
        seed=1,
        progress=False,
        device="cpu",
    )
    # exact on purpose: both call `fit` with the same arguments, so the same kernels in the same
    # order; a difference means the recipe drifted from 03's lines
    for (name, a), b in zip(ours.model.state_dict().items(), by_hand.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert run["stages_trained"] == ["conv4", "conv5"] and 0 <= run["test_acc"] <= 1


def test_fine_tune_keeps_a_callers_freeze_and_can_freeze_the_head():
    """``trainable_stages=None`` keeps what the caller set (helpers.peft); ``train_head=False``
    trains the named stages under a fixed head (surgical fine-tuning)."""
    ds = _memorise_set(16)
    split = {"train": ds, "val": ds, "test": ds}
    torch.manual_seed(0)
    net = models.load_backbone("labcnn", weights=None)
    net.model.requires_grad_(False)
    dict(net.stages)["conv2"][0].requires_grad_(True)  # the caller's choice: one conv layer
    models.replace_head(net, len(ds.classes), seed=0)
    start = {n: p.detach().clone() for n, p in net.model.named_parameters()}
    opts = dict(head_lr=1e-2, backbone_lr=1e-2, epochs=1, batch_size=8, seed=0, device="cpu")
    run = training.fine_tune(net, split, trainable_stages=None, new_head=False, **opts)
    moved = {n for n, p in net.model.named_parameters() if not torch.equal(p, start[n])}
    assert (
        run["stages_trained"] == ["conv2"]
        and moved
        and all(n.startswith(("stages.1.0", "fc")) for n in moved)
    ), moved
    head = {n: p.detach().clone() for n, p in net.head.named_parameters()}
    training.fine_tune(
        net, split, trainable_stages=["conv5"], train_head=False, new_head=False, **opts
    )
    assert all(torch.equal(p, head[n]) for n, p in net.head.named_parameters()), "head fixed"


def test_cross_validation_chooses_on_held_out_folds_with_the_same_folds_for_every_option():
    images = torch.zeros(12, 3, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(12, dtype=torch.uint8)  # an id per image
    ds = data.ImageSet(images, torch.arange(12) % 3, ["a", "b", "c"], "tiny")
    parts = data.folds(ds, 2, seed=0)
    held = [set(h.images[:, 0, 0, 0].tolist()) for _, h in parts]
    assert [len(h) for _, h in parts] == [6, 6] and all(
        t.counts() == {c: 2 for c in "abc"} for t, _ in parts
    )
    seen = []

    def run(split, lr):
        seen.append((lr, len(split["train"]), len(split["test"])))
        return {1e-3: 0.5, 1e-2: 0.7, 1e-1: 0.7}[lr]

    chosen, scores = training.cross_validate(run, ds, [1e-3, 1e-2, 1e-1], folds=2)
    assert chosen == 1e-2, "a tie goes to the first option"
    assert scores == {1e-3: 0.5, 1e-2: 0.7, 1e-1: 0.7} and len(seen) == 6
    assert all(n_train == 6 and n_held == 6 for _, n_train, n_held in seen)
    assert not held[0] & held[1] and held[0] | held[1] == set(range(12)), "each held out once"
    try:
        data.folds(ds, 5)
    except ValueError as err:
        assert "fewer than 5 folds" in str(err)
    else:
        raise AssertionError("a class with fewer images than folds must be refused")
