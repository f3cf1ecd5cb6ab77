import pytest
import torch

from helpers import advisor, data, features, models

RUN = dict(seeds=[0, 1], image_size=64, epochs=2)  # notebook 08's quick configuration


def _images(per_class: int, classes: int = 2) -> data.ImageSet:
    torch.manual_seed(0)
    n = per_class * classes
    return data.ImageSet(
        torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8),
        torch.arange(classes).repeat_interleave(per_class),
        [f"class{i}" for i in range(classes)],
        name="tiny",
    )


def test_too_little_data_is_reported_not_raised():
    report = advisor.advise(_images(2), plot=False, progress=False, **RUN)
    assert report.recommendation is None and report.runs == {} and report.choice is None
    assert report.counts == {"class0": 2, "class1": 2}
    text = str(report)
    assert "not measured: the probe curve" in text and "fewer than 4 images" in text
    assert "class0, class1" in text
    assert report.confidence is not None, "what needs no split is still measured"


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        advisor.advise(tmp_path / "nowhere", progress=False, **RUN)


def test_measured_chart_reads_lite0_rows_of_04_only(monkeypatch, tmp_path):
    chart, source, rows = advisor.measured_chart("small-similar")
    assert set(chart) <= set(advisor.STRATEGIES) and "Lite0" in source and "commit" in source
    assert rows and all(r["scenario"] == "small-similar" for r in rows)
    assert advisor.measured_chart("large-similar") == ({}, "", []), "no lab fallback"
    monkeypatch.setenv("TL_REFERENCE_DIR", str(tmp_path))
    assert advisor.measured_chart("small-similar") == ({}, "", [])


def test_the_domain_distance_tells_photos_from_noise_and_not_from_themselves(lite0):
    photos = (
        data.load_dataset("tuxpaint").images
        if advisor._reference_photos()[1].startswith("Tux")
        else advisor._reference_photos()[0]
    )
    noise = torch.randint(0, 256, (40, 3, 64, 64), dtype=torch.uint8)
    assert advisor.domain_distance(lite0, noise, photos, 64) > 1.5
    # two random halves of the same photos (the files are sorted by class: shuffle first)
    order = torch.randperm(len(photos), generator=torch.Generator().manual_seed(0))
    half = len(photos) // 2
    assert advisor.domain_distance(lite0, photos[order[:half]], photos[order[half:]], 64) < 1.0
    grey = noise[:, :1, :32, :32]  # another size and one channel: mixed with photos all the same
    assert advisor.domain_distance(lite0, grey, photos, 64) > 1.5


def _synthetic_folder(root, per_class=8):
    """Two classes a child could tell apart: reddish and bluish squares with noise, as PNGs."""
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for name, channel in (("red", 0), ("blue", 2)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = torch.randint(0, 90, (48, 48, 3), generator=gen, dtype=torch.uint8)
            pixels[..., channel] += 160
            Image.fromarray(pixels.numpy()).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_advise_measures_recommends_and_runs_two_strategies(tmp_path, monkeypatch):
    report = advisor.advise(_synthetic_folder(tmp_path / "mine"), progress=False, **RUN)
    net = models.load_backbone("lite0")
    assert report.counts == {"blue": 8, "red": 8} and report.imbalance == 1.0
    assert list(report.curve) == features.layer_names(net)
    assert report.peak_stage in report.curve
    assert report.scenario.startswith("small-"), "4 training images per class is small"
    assert report.recommendation in advisor.STRATEGIES
    assert report.alternative in advisor.STRATEGIES and report.alternative != report.recommendation
    assert list(report.runs) == [report.recommendation, report.alternative]
    assert all(len(v) == len(report.seeds) == 2 for v in report.runs.values())
    assert report.verdict.n == 2 and report.train_per_class == 4
    assert len(report.reasons) == 2 and "recommendation:" in str(report)
    assert report.imagenet is not None and "distance to ImageNet" in str(report)
    assert report.choice in (report.recommendation, report.alternative)
    assert report.advice in str(report)
    assert report.figure is not None and len(report.figure.axes) == 3
    best = max(report.curve.values(), key=lambda r: r["val"])
    assert best["val"] > 0.9, "two colours are separable by a linear probe on some stage"
