"""The distance to ImageNet from BatchNorm's stored statistics: zero where the statistics
match, growing with a shift, and ordering the course's datasets as their known answers."""

import io

import numpy as np
import pytest
import torch

from helpers import advisor, data, similarity


def _matching_moments(net, n=4):
    """Moments exactly those ImageNet left in every BatchNorm layer, for ``n`` images."""
    out = {}
    for name, bn in similarity.batchnorm_layers(net.model):
        mean, var = bn.running_mean.double().numpy(), bn.running_var.double().numpy()
        first = np.tile(mean, (n, 1))
        out[name] = np.stack([first, np.tile(var + mean**2, (n, 1))])
    return out


def test_statistics_that_match_imagenets_are_at_distance_zero(lite0):
    per_layer = similarity.layer_distances(lite0, _matching_moments(lite0))
    assert len(per_layer) == len(similarity.batchnorm_layers(lite0.model)) > 40
    assert max(per_layer.values()) < 1e-9
    shifted = _matching_moments(lite0)
    for m in shifted.values():
        m[0] += 0.5  # every channel's mean moves, its variance stays
        m[1] += 0.5 * (2 * m[0] - 0.5)
    assert min(similarity.layer_distances(lite0, shifted).values()) > 0


def _photos():
    """Real photographs the thresholds never saw: crops of scikit-image's and scikit-learn's
    sample photos."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_images

    photos = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()]
    photos += list(load_sample_images().images)
    rng, crops = np.random.default_rng(0), []
    for k in range(48):
        image = photos[k % len(photos)]
        side = int(min(image.shape[:2]) * rng.uniform(0.4, 0.9))
        y, x = (rng.integers(0, d - side + 1) for d in image.shape[:2])
        crops.append(np.ascontiguousarray(image[y : y + side, x : x + side]))
    return crops


@pytest.mark.slow
def test_the_distance_grows_with_a_shift_in_contrast_or_colour(lite0):
    x = data.images_to_tensor(_photos(), size=160).float()
    contrast = [((x - x.mean()) * f + x.mean()) for f in (1.0, 0.5, 0.2)]
    tint = []
    for a in (0.3, 0.6, 0.9):
        blue = x.clone()
        blue[:, 2] = blue[:, 2] * (1 - a) + 255 * a
        tint.append(blue)
    for shifted in (contrast, tint):
        images = [s.round().clamp(0, 255).to(torch.uint8) for s in shifted]
        found = [similarity.imagenet_distance(lite0, i, boots=30).value for i in images]
        assert found == sorted(found) and found[-1] > 1.5 * found[0], found


@pytest.fixture(scope="module")
def course_distances(lite0, require_dataset_module):
    """The distance of 100 images of each of the course's datasets whose answers are known."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for name in ("tuxpaint", "openclipart", "cartoons", "fashion_mnist", "mnist5k"):
        ds = require_dataset_module(name)
        images = ds.images[torch.randperm(len(ds), generator=g)[:100]]
        out[name] = similarity.imagenet_distance(lite0, images, boots=50)
    return out


@pytest.mark.slow
def test_the_course_datasets_fall_on_the_side_of_the_threshold_their_answers_say(
    course_distances,
):
    d = course_distances
    assert d["tuxpaint"].call == "similar", d["tuxpaint"]
    for name in ("openclipart", "cartoons", "fashion_mnist", "mnist5k"):
        assert d[name].call == "different", (name, d[name])
    assert d["tuxpaint"].value < d["cartoons"].value < d["fashion_mnist"].value
    assert d["openclipart"].value < d["fashion_mnist"].value < d["mnist5k"].value
    # the threshold sits midway (log scale) between the photos and the nearest different set
    nearest = min(d[n].value for n in ("openclipart", "cartoons", "fashion_mnist", "mnist5k"))
    midway = (d["tuxpaint"].value * nearest) ** 0.5
    assert abs(np.log(similarity.SIMILAR_BELOW / midway)) < np.log(1.1), (midway, nearest)


@pytest.mark.slow
def test_the_advisor_calls_a_folder_of_real_photographs_similar(tmp_path):
    from PIL import Image

    for i, crop in enumerate(_photos()):
        folder = tmp_path / "mine" / ("even" if i % 2 == 0 else "odd")
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.fromarray(crop).save(buffer, "JPEG", quality=90)
        (folder / f"{i}.jpg").write_bytes(buffer.getvalue())
    report = advisor.advise(
        tmp_path / "mine", seeds=[0, 1], image_size=64, epochs=1, progress=False, plot=False
    )
    assert report.imagenet.call == "similar", str(report.imagenet)
    assert report.scenario == "small-similar" and "BatchNorm" in str(report)
