"""A classifier you can ship: ONNX export with the preprocessing in the graph and the contract in
its metadata, parity with onnxruntime, int8, and a command line that fails in one clear line."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import classifier, data, models, training

SIZE = 96
pytestmark = pytest.mark.slow  # exports and quantizes networks: seconds each


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """Lite0 with its ImageNet head, saved and loaded as a classifier (class names: ImageNet's)."""
    net = models.load_backbone("lite0")
    path = tmp_path_factory.mktemp("kept") / "lite0.pt"
    return classifier.load_classifier(classifier.save_classifier(net, path, net.labels, SIZE))


@pytest.fixture(scope="module")
def exported(kept, tmp_path_factory):
    return classifier.export_onnx(kept, tmp_path_factory.mktemp("onnx") / "lite0.onnx")


def _padded(images):
    """Dataset images as the exported model takes them: uint8, padded with white to SIZE."""
    pictures = [Image.fromarray(i.permute(1, 2, 0).numpy()) for i in images]
    return data.images_to_tensor(pictures, size=SIZE, fit="pad")


def _folder(root, n=6):
    """A held-out folder of photo-like images the tests draw (PNG files in a class folder)."""
    rng = np.random.default_rng(0)
    (root / "things").mkdir(parents=True)
    for i in range(n):
        pixels = rng.integers(0, 255, (40 + 7 * i, 50, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "things" / f"{i}.png")
    return root


def test_the_export_computes_what_the_network_does_and_carries_its_contract(
    kept, exported, require_dataset
):
    contract = classifier.onnx_contract(exported)
    assert contract["image_size"] == SIZE and contract["classes"] == list(kept.labels)
    assert "padded with white" in contract["fit"]
    images = _padded(require_dataset("tuxpaint").images[::6])
    found = classifier.parity(kept, exported, images)
    assert found["top1_agreement"] == 1.0 and found["max_probability_gap"] < 1e-4
    assert not list(exported.parent.glob(".*tmp")), "nothing half-written"


def test_a_held_out_folder_gets_the_same_top_class_from_torch_and_onnxruntime(
    kept, exported, tmp_path
):
    folder = _folder(tmp_path / "held_out")
    mine = classifier.predict(kept, folder, k=3)
    theirs = classifier.predict_onnx(exported, folder, k=3)
    assert [p.source for p in mine] == [p.source for p in theirs]
    assert [p.top[0][0] for p in mine] == [p.top[0][0] for p in theirs]
    for a, b in zip(mine, theirs):
        assert abs(a.top[0][1] - b.top[0][1]) < 1e-4


def test_what_cannot_be_exported_says_so(tmp_path):
    with pytest.raises(classifier.ExportError, match="takes a classifier"):
        classifier.export_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
    unnamed = dataclasses.replace(models.load_backbone("lite0", weights=None), labels=None)
    with pytest.raises(classifier.ExportError, match="class names"):
        classifier.export_onnx(unnamed, tmp_path / "y.onnx")


def test_int8_is_smaller_and_keeps_the_top_class_of_a_trained_classifier(tmp_path, require_dataset):
    """int8 on the kind of classifier 08 ships: Lite0 with a five-class head trained on drawings;
    calibrated on training images, compared with the float network on the test images."""
    split = data.make_splits(require_dataset("tuxpaint"), train=None, val=0.2, test=0.3)
    net = models.load_backbone("lite0")
    options = {"epochs": 3, "image_size": SIZE, "seed": 0}
    training.fine_tune(net, split, trainable_stages=0, head_lr=0.01, backbone_lr=0.0, **options)
    net.labels = list(split["train"].classes)
    fp32 = classifier.export_onnx(net, tmp_path / "five.onnx", image_size=SIZE)
    int8 = classifier.quantize_int8(
        fp32, tmp_path / "five.int8.onnx", _padded(split["train"].images)
    )
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size
    assert classifier.onnx_contract(int8)["classes"] == net.labels
    found = classifier.parity(net, int8, _padded(split["test"].images))
    assert found["top1_agreement"] > 0.8, found


def _cli(*args):
    command = [sys.executable, "-m", "helpers.classifier", "predict", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True)


def test_the_command_line_predicts_from_either_file(kept, exported, tmp_path):
    folder = _folder(tmp_path / "mine", n=2)
    saved = classifier.save_classifier(kept, tmp_path / "k.pt", kept.labels, SIZE)
    for model in (saved, exported):
        done = _cli(model, folder, "-k", "2")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert (
            len(lines) == 2 and lines[0].startswith("things/0.png: ") and lines[0].count("%") == 2
        )


def test_bad_input_gives_one_clear_line_and_a_nonzero_exit(kept, exported, tmp_path):
    folder = _folder(tmp_path / "mine", n=1)
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not an image")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 not a model")
    bare = tmp_path / "bare.pt"
    torch.save(models.load_backbone("labcnn", weights=None).model.state_dict(), bare)
    other = tmp_path / "other.onnx"
    linear = torch.nn.Linear(3, 2).eval()
    torch.onnx.export(linear, (torch.zeros(1, 3),), other, verbose=False)
    cases = {
        "missing model": (tmp_path / "nowhere.pt", folder, "no classifier file"),
        "missing image": (exported, tmp_path / "nowhere.png", "no image file or folder"),
        "not an image": (exported, not_an_image, "no readable image"),
        "corrupt model": (garbage, folder, "not a readable ONNX model"),
        "a model of another kind (.pt)": (bare, folder, "not a classifier saved"),
        "a model of another kind (.onnx)": (other, folder, "not a classifier exported"),
    }
    for case, (model, path, message) in cases.items():
        done = _cli(model, path)
        assert done.returncode == 1, case
        assert message in done.stderr and "Traceback" not in done.stderr, (case, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (case, done.stderr)
