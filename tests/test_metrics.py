import math

import numpy as np
import pytest
import torch

from helpers import metrics


def test_confusion_matrix_and_report_match_a_hand_computed_case():
    # 3 classes; class 2 is rare and always mistaken for class 0
    labels = [0, 0, 0, 0, 1, 1, 1, 2]
    predicted = [0, 0, 0, 1, 1, 1, 0, 0]
    cm = metrics.confusion_matrix(labels, predicted, 3)
    assert cm.tolist() == [[3, 1, 0], [1, 2, 0], [1, 0, 0]]
    report = metrics.class_report(cm, ["cat", "dog", "fish"])
    assert report.support.tolist() == [4, 3, 1]
    np.testing.assert_allclose(report.recall, [3 / 4, 2 / 3, 0.0])
    np.testing.assert_allclose(report.precision[:2], [3 / 5, 2 / 3])
    assert math.isnan(report.precision[2])  # never predicted
    assert report.accuracy == pytest.approx(5 / 8)
    assert report.balanced_accuracy == pytest.approx((3 / 4 + 2 / 3 + 0) / 3)
    text = str(report)
    assert "fish" in text and "balanced accuracy 47.2 %" in text


def test_balanced_accuracy_ignores_absent_classes_and_bad_input_is_refused():
    cm = metrics.confusion_matrix([0, 0, 1], [0, 1, 1], 3)  # class 2 absent from the labels
    assert metrics.class_report(cm, "abc").balanced_accuracy == pytest.approx((1 / 2 + 1) / 2)
    with pytest.raises(ValueError, match="3 labels against 2"):
        metrics.confusion_matrix([0, 1, 1], [0, 1], 2)
    with pytest.raises(ValueError, match="0 … 1"):
        metrics.confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="for 2 classes"):
        metrics.class_report(np.zeros((3, 3)), ["a", "b"])


def test_confident_mistakes_are_sorted_and_only_mistakes():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95]])
    labels = torch.tensor([1, 1, 1, 0])  # wrong: 0 (0.9), 2 (0.6), 3 (0.95)
    found = metrics.confident_mistakes(probs, labels, k=2)
    assert [m["index"] for m in found] == [3, 0]
    assert found[0] == {"index": 3, "label": 0, "predicted": 1, "confidence": pytest.approx(0.95)}


def test_predictions_are_probabilities_in_dataset_order():
    from helpers.data import ImageSet

    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    ds = ImageSet(images, torch.tensor([0, 1, 0, 1, 0]), ["a", "b"], "tiny", "test")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    probs = metrics.predictions(model, ds, lambda x: x.float() / 255, batch_size=2, device="cpu")
    assert probs.shape == (5, 2)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    expected = torch.softmax(model(images.float() / 255), 1)
    torch.testing.assert_close(probs, expected)
