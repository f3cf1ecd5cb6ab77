import json

import pytest
import torch

from helpers import lab, models, training


@pytest.fixture
def lab_ready(require_dataset):
    require_dataset("fashion_mnist")
    require_dataset("mnist5k")


def test_task_splits_are_fixed_disjoint_and_balanced(lab_ready):
    a, b = lab.task_splits("a"), lab.task_splits("b")
    assert len(a["pool"]) == 25000 and len(a["val"]) == 2500 and len(a["test"]) == 7500
    assert a["pool"].classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    assert b["pool"].classes == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    digits = lab.task_splits("digits")
    assert len(digits["pool"]) == 3000 and len(digits["test"]) == 1500
    one = lab.sample_task("b", 10, 5, seed=1)
    again = lab.sample_task("b", 10, 5, seed=1)
    other = lab.sample_task("b", 10, 5, seed=2)
    assert torch.equal(one["train"].images, again["train"].images)
    assert not torch.equal(one["train"].images, other["train"].images)
    assert list(one["train"].counts().values()) == [10] * 5 and len(one["val"]) == 25
    assert torch.equal(one["test"].images, other["test"].images), (
        "every seed is tested on the same images"
    )
    assert len(lab.sample_task("digits", 5, 5, test_per_class=600)["test"]) == 1500, (
        "capped at the test set's 150 per class"
    )
    with pytest.raises(KeyError, match="unknown lab task"):
        lab.task_splits("c")


def test_committed_checkpoints_load_weights_only_and_know_their_task(lab_ready):
    # a sample of each checkpoint's test set is re-scored: 200 images per class (1,000 of 7,500)
    # puts the sample's accuracy within ±0.03 of the full test set's, with a margin of ~4 sd
    for task, floor in (("a", 0.90), ("b", 0.95), ("a2", 0.95), ("b2", 0.90)):
        backbone = lab.pretrained(task, train_if_missing=False)
        test = lab.sample_task(task, 1, seed=0, test_per_class=200)["test"]
        accuracy = training.evaluate(backbone.model, test, backbone.preprocessing(), device="cpu")
        report = lab.checkpoint_report(task)
        assert report["images_per_class"] == lab.RECIPE["images_per_class"]
        assert report["test_accuracy"] >= floor and accuracy["accuracy"] >= floor, task
        assert abs(accuracy["accuracy"] - report["test_accuracy"]) <= 0.03, (task, accuracy)
        assert backbone.labels == test.classes == report["classes"]
        assert {"date", "machine", "torch", "commit"} <= set(report), f"{task}: provenance"


def test_pretrain_command_writes_a_loadable_checkpoint(lab_ready, tmp_data_dir, capsys):
    lab.main(["pretrain", "--tasks", "digits", "--images-per-class", "20", "--epochs", "1"])
    path = lab.checkpoint_path("digits", 20, 1, 0)
    assert path.is_relative_to(tmp_data_dir), (
        "non-default recipes go to the cache, never over data/lab"
    )
    report = json.loads(path.with_suffix(".json").read_text())
    assert report["task"] == "digits" and len(report["classes"]) == 10
    backbone = models.load_backbone("labcnn", weights=str(path))
    assert backbone.head.out_features == 10
    assert "test accuracy" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="helpers.lab pretrain"):
        lab.pretrained("digits", images_per_class=21, epochs=1, train_if_missing=False)
