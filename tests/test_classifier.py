import numpy as np
import pytest
import torch
from PIL import Image

from helpers import classifier, models


@pytest.fixture(scope="module")
def tuned():
    """A Lite0 with a fresh three-class head (random weights: nothing is downloaded)."""
    torch.manual_seed(0)
    net = models.load_backbone("lite0", weights=None)
    models.replace_head(net, 3, seed=0)
    net.model.eval()
    return net


def _same_weights_and_close_logits(net, back, x):
    """The file round trip is bit-exact, so the weights are compared with ``torch.equal``. The
    logits come from a second network object (its tensors laid out anew in memory), and the
    kernels' summation order may follow the layout: equal to float tolerance, not bit for bit."""
    mine, theirs = net.model.state_dict(), back.model.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine), "the file changed a weight"
    with torch.no_grad():
        torch.testing.assert_close(back.model(x), net.model.eval()(x), rtol=1e-5, atol=1e-6)


def test_round_trip_gives_identical_logits_and_labels(tuned, tmp_path):
    path = classifier.save_classifier(tuned, tmp_path / "mine.pt", ["cat", "dog", "fish"], 96)
    assert not list(tmp_path.glob(".*tmp")), "no temporary file left behind"
    payload = torch.load(path, weights_only=True)  # loads without executing pickled code
    assert payload["classes"] == ["cat", "dog", "fish"] and payload["image_size"] == 96
    back = classifier.load_classifier(path)
    assert back.labels == ["cat", "dog", "fish"] and back.image_size == 96
    assert (back.mean, back.std) == (tuned.mean, tuned.std)
    _same_weights_and_close_logits(tuned, back, torch.randn(2, 3, 96, 96))


def test_round_trip_of_the_lab_cnn(tmp_path):
    net = models.load_backbone("labcnn", weights=None, num_classes=4)
    path = classifier.save_classifier(net, tmp_path / "lab.pt", list("abcd"))
    back = classifier.load_classifier(path)
    x = torch.randn(3, net.in_channels, net.image_size, net.image_size)
    _same_weights_and_close_logits(net, back, x)
    assert back.labels == list("abcd")


def test_predict_a_tensor_a_file_and_a_folder(tuned, tmp_path):
    net = classifier.load_classifier(
        classifier.save_classifier(tuned, tmp_path / "m.pt", ["cat", "dog", "fish"], 64)
    )
    images = torch.randint(0, 256, (2, 3, 80, 80), dtype=torch.uint8)
    out = classifier.predict(net, images, k=5)  # k larger than the classes: all three
    assert [p.source for p in out] == ["0", "1"] and len(out[0].top) == 3
    assert abs(sum(p for _, p in out[0].top) - 1) < 1e-5
    assert out[0].top[0][1] >= out[0].top[1][1] and {n for n, _ in out[0].top} == {
        "cat",
        "dog",
        "fish",
    }
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, where in enumerate(("a.png", "sub/b.jpg")):
        pixels = np.full((40, 60, 3), 40 * i, dtype=np.uint8)
        Image.fromarray(pixels).save(folder / where)
    (folder / "broken.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        found = classifier.predict(net, folder, k=2)
    assert [p.source for p in found] == ["a.png", "sub/b.jpg"]
    one = classifier.predict(net, folder / "a.png", k=1)
    # Alone, the image is a batch of one; in the folder, a batch of two. Batch size, thread count
    # and the CPU's vector unit change the order of the float sums, so the probability may differ
    # in its last bits (seen: 0.6294262 vs 0.6294261): same class, probability to 1e-5 relative.
    (label, prob), ((folder_label, folder_prob),) = one[0].top[0], found[0].top[:1]
    assert one[0].source == "a.png" and len(one[0].top) == 1 and label == folder_label
    assert prob == pytest.approx(folder_prob, rel=1e-5)
    assert "a.png: " in str(one[0])


def test_bad_inputs_give_clear_errors(tuned, tmp_path):
    with pytest.raises(FileNotFoundError, match="no classifier file"):
        classifier.load_classifier(tmp_path / "missing.pt")
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(classifier.ClassifierFileError, match="not a classifier"):
        classifier.load_classifier(text)
    bare = tmp_path / "bare.pt"
    torch.save(tuned.model.state_dict(), bare)
    with pytest.raises(classifier.ClassifierFileError, match="bare state dict"):
        classifier.load_classifier(bare)
    good = classifier.save_classifier(tuned, tmp_path / "good.pt", ["a", "b", "c"])
    payload = torch.load(good, weights_only=True)
    payload["classes"] = ["a", "b", "c", "d"]  # the head has three outputs
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(classifier.ClassifierFileError, match="do not fit a lite0 with 4 classes"):
        classifier.load_classifier(tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="2 class names for a head with 3 outputs"):
        classifier.save_classifier(tuned, tmp_path / "x.pt", ["a", "b"])
    net = classifier.load_classifier(good)
    with pytest.raises(FileNotFoundError, match="no image file or folder"):
        classifier.predict(net, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        classifier.predict(net, tmp_path / "empty")
    with pytest.raises(ValueError, match="expected images"):
        classifier.predict(net, torch.zeros(4, 4, dtype=torch.uint8))
