import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data, fetch


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def user_folder(tmp_path):
    """Two classes with every awkward image mode, plus a corrupt and a truncated file."""
    root = tmp_path / "photos"
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "cats" / "rgb.jpg")
    Image.new("L", (30, 40), 128).save(root / "cats" / "gray.png")
    rgba = Image.new("RGBA", (20, 20), (0, 0, 255, 0))  # fully transparent blue → white
    rgba.save(root / "dogs" / "transparent.png")
    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.save(root / "dogs" / "palette.png")
    Image.new("I;16", (12, 12), 1000).save(root / "dogs" / "deep.png")
    (root / "dogs" / "corrupt.png").write_bytes(b"not an image at all")
    full = _png_bytes(Image.fromarray(np.random.randint(0, 255, (64, 64, 3), dtype=np.uint8)))
    (root / "cats" / "truncated.png").write_bytes(full[: len(full) // 2])
    (root / "cats" / "notes.txt").write_text("ignored")
    return root


def test_user_folder_modes_and_bad_files(user_folder):
    with pytest.warns(UserWarning, match="skipped 2 of 7"):
        ds = data.load_image_folder(user_folder, image_size=32)
    assert ds.classes == ["cats", "dogs"]
    assert ds.images.shape == (5, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.counts() == {"cats": 2, "dogs": 3}
    transparent = ds.images[ds.labels == 1][2]  # sorted: deep, palette, transparent
    assert transparent.min() == 255, "RGBA must be composited onto white"
    palette = ds.images[ds.labels == 1][1]
    assert palette[1].max() == 255 and palette[0].max() == 0  # green palette entry survived


def test_decompression_bomb_is_skipped(user_folder, monkeypatch):
    Image.new("RGB", (200, 200)).save(user_folder / "cats" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 200x200 = 40,000 > 2x limit
    with pytest.warns(UserWarning, match="skipped 3 of 8"):
        ds = data.load_image_folder(user_folder, image_size=16)
    assert len(ds) == 5
    with pytest.raises(data.BadImageError, match="decompression-bomb"):
        data.decode_image(user_folder / "cats" / "huge.png")


def test_user_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_image_folder(tmp_path / "nope")
    (tmp_path / "one" / "only").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "one" / "only" / "a.png")
    with pytest.raises(ValueError, match="at least two class subfolders"):
        data.load_image_folder(tmp_path / "one")
    (tmp_path / "one" / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*contains no images"):
        data.load_image_folder(tmp_path / "one")


def test_unknown_dataset_lists_known_names():
    with pytest.raises(KeyError, match="tuxpaint.*fashion_mnist"):
        data.load_dataset("imagenet")


@pytest.mark.parametrize(
    "name, package",
    [
        ("tuxpaint", "tuxpaint-stamps-default"),
        ("openclipart", "openclipart-png"),
        ("fashion_mnist", "dataset-fashion-mnist"),
    ],
)
def test_missing_dataset_names_the_package(name, package, tmp_data_dir, monkeypatch):
    monkeypatch.setitem(data.SYSTEM_PATHS, name, str(tmp_data_dir / "not-installed"))
    with pytest.raises(data.DatasetNotFoundError, match=f"apt-get install {package}"):
        data.load_dataset(name, download=False)


def _toy(n_per_class=(10, 10, 10)):
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(n_per_class)])
    images = (
        torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).clone()
    )
    return data.ImageSet(images, labels, ["a", "b", "c"], "toy")


def test_subset_per_class_balanced_and_seeded():
    ds = _toy()
    s0, s0b, s1 = (data.subset_per_class(ds, 4, seed=s) for s in (0, 0, 1))
    assert s0.counts() == {"a": 4, "b": 4, "c": 4}
    assert torch.equal(s0.images, s0b.images)
    assert not torch.equal(s0.images, s1.images)


def test_too_many_images_per_class_names_the_class():
    with pytest.raises(ValueError, match="toy: class .b. has 3 images"):
        data.subset_per_class(_toy((10, 3, 10)), 5)


def test_make_splits_disjoint_and_sized():
    ds = _toy((10, 20, 30))
    splits = data.make_splits(ds, train=2, val=0.2, test=None, seed=0)
    ids = {k: set(v.images[:, 0, 0, 0].tolist()) for k, v in splits.items()}
    assert (
        not (ids["train"] & ids["val"])
        and not (ids["train"] & ids["test"])
        and not (ids["val"] & ids["test"])
    )
    assert sum(map(len, ids.values())) == 60
    assert splits["train"].counts() == {"a": 2, "b": 2, "c": 2}
    assert splits["val"].counts() == {"a": 2, "b": 4, "c": 6}
    rest_train = data.make_splits(ds, train=None, val=1, test=3, seed=0)
    assert rest_train["train"].counts() == {"a": 6, "b": 16, "c": 26}
    with pytest.raises(ValueError, match="both"):
        data.make_splits(ds, train=None, val=1, test=None)


def test_imageset_validates():
    with pytest.raises(ValueError, match="uint8"):
        data.ImageSet(torch.zeros(2, 1, 4, 4), torch.zeros(2), ["a"])
    with pytest.raises(ValueError, match="labels"):
        data.ImageSet(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3), ["a"])


def test_dataset_cache_reused_and_truncated_cache_rebuilt(tmp_data_dir, monkeypatch):
    calls = []
    original = data.DATASETS["digits8x8"]

    def counting(size):
        calls.append(size)
        return original.sources[0][1](size)

    monkeypatch.setitem(
        data.DATASETS,
        "digits8x8",
        data.DatasetInfo(**{**original.__dict__, "sources": (("scikit-learn", counting),)}),
    )
    first = data.load_dataset("digits8x8")
    second = data.load_dataset("digits8x8")
    assert len(calls) == 1 and torch.equal(first.images, second.images)
    (cache_file,) = (tmp_data_dir / "cache" / "datasets").glob("digits8x8*.pt")
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable cache"):
        third = data.load_dataset("digits8x8")
    assert len(calls) == 2 and torch.equal(first.images, third.images)


def test_digits_always_available():
    ds = data.load_dataset("digits8x8")
    assert ds.images.shape == (1797, 1, 8, 8) and ds.images.max() == 255
    assert len(ds.classes) == 10


def test_mnist5k(require_dataset):
    ds = require_dataset("mnist5k")
    assert ds.images.shape == (5000, 1, 28, 28)


def test_tuxpaint_photos_only(require_dataset):
    ds = require_dataset("tuxpaint")
    assert ds.classes == ["mammal", "bird", "fish", "fruit & vegetable", "flower"]
    assert ds.images.shape[1:] == (3, 256, 256) and len(ds) > 150
    assert min(ds.counts().values()) >= 10
    files = data._glob_classes(
        data.Path(data.SYSTEM_PATHS["tuxpaint"]), data.TUXPAINT_LAYOUT, ("cartoon", "toys")
    )
    assert not any("cartoon" in str(p) for p, _ in files)


def test_openclipart_same_classes(require_dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = require_dataset("openclipart")
    assert ds.classes == list(data.TUXPAINT_LAYOUT)
    assert len(ds) > 200


def test_lab_split_of_fashion_mnist(require_dataset):
    a, b = require_dataset("lab_a"), require_dataset("lab_b")
    assert a.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    assert b.classes == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert len(a) == len(b) == 35_000
    assert set(a.labels.unique().tolist()) == set(b.labels.unique().tolist()) == set(range(5))


def test_images_to_tensor_crop_and_pad():
    arr = np.zeros((30, 60, 3), dtype=np.uint8)
    crop = data.images_to_tensor([arr], size=16, fit="crop")
    pad = data.images_to_tensor([arr], size=16, fit="pad")
    assert crop.shape == pad.shape == (1, 3, 16, 16)
    assert crop.max() == 0 and pad.max() == 255  # padding is white
    with pytest.raises(ValueError):
        data.images_to_tensor([arr], fit="stretch")


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_online_extras_explain_themselves_offline(name, tmp_data_dir):
    with pytest.raises(data.DatasetNotFoundError, match="connect to the internet"):
        data.load_dataset(name, download=False)


def test_fashion_mnist_from_debian_becomes_torchvision_files(tmp_data_dir, require_data):
    require_data(
        Path(data.SYSTEM_PATHS["fashion_mnist"]).is_dir(), "dataset-fashion-mnist is not installed"
    )
    ds = data.load_dataset("fashion_mnist", download=False)
    raw = tmp_data_dir / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
    ]
    assert ds.images.shape == (70_000, 1, 28, 28) and ds.source.endswith("raw")
    assert not list(raw.glob("*.tmp*")) and not list(raw.glob("tmp*"))


def test_fixed_eval_keeps_test_and_val_whatever_the_training_size():
    labels = torch.arange(60) % 3
    splits = [
        data.split_indices(labels, 3, train=n, val=2, test=5, seed=4, fixed_eval=True)
        for n in (1, 3, 10)
    ]
    for part in ("val", "test"):
        assert all(torch.equal(s[part], splits[0][part]) for s in splits), part
    assert [len(s["train"]) for s in splits] == [3, 9, 30]
    moving = [data.split_indices(labels, 3, train=n, val=2, test=5, seed=4) for n in (1, 3)]
    assert not torch.equal(moving[0]["test"], moving[1]["test"])  # the default order shifts
    for s in splits:
        together = torch.cat([s["train"], s["val"], s["test"]])
        assert len(together) == len(set(together.tolist()))


def test_sample_folder_draws_the_same_drawings_per_seed(monkeypatch, tmp_path):
    root = tmp_path / "openclipart"
    for sub, n in (("tools", 5), ("recreation/music", 4)):
        (root / sub / "x").mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(root / sub / "x" / f"d{i}.png")
    monkeypatch.setitem(data.SYSTEM_PATHS, "openclipart", str(root))
    categories = {"tools": "tools", "music": "recreation/music"}
    first = data.sample_folder(tmp_path / "sample", categories, per_class=3, seed=1)
    names = sorted(p.name for p in first.rglob("*.png"))
    again = data.sample_folder(tmp_path / "sample", categories, per_class=3, seed=1)
    assert sorted(p.name for p in again.rglob("*.png")) == names and len(names) == 6
    ds = data.load_image_folder(again, image_size=8)
    assert ds.classes == ["music", "tools"] and ds.counts() == {"music": 3, "tools": 3}
    with pytest.raises(ValueError, match="fewer than 5"):
        data.sample_folder(tmp_path / "sample", categories, per_class=5)
    monkeypatch.setitem(data.SYSTEM_PATHS, "openclipart", str(tmp_path / "missing"))
    with pytest.raises(data.DatasetNotFoundError, match="apt-get install openclipart-png"):
        data.sample_folder(tmp_path / "sample", categories, per_class=3)


def test_jpeg_at_low_quality_keeps_the_shape_and_loses_detail():
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, 32, 40), dtype=torch.uint8, generator=g)
    out = data.jpeg(image, quality=6)
    assert out.shape == image.shape and out.dtype == torch.uint8
    assert (out.float() - image.float()).abs().mean() > 20, "heavy compression changes pixels"
    flat = torch.full((3, 16, 16), 128, dtype=torch.uint8)
    assert (data.jpeg(flat, quality=95).float() - 128).abs().max() <= 2
    with pytest.raises(ValueError, match="one uint8 RGB image"):
        data.jpeg(image.float(), quality=6)


def test_an_installed_package_is_checked_against_the_manifest(
    tmp_data_dir, tmp_path, monkeypatch, require_data
):
    system = Path(data.SYSTEM_PATHS["tuxpaint"])
    require_data(system.is_dir(), "Tux Paint's stamps are not installed")
    copy = tmp_path / "stamps"
    shutil.copytree(system / "animals" / "fish", copy / "animals" / "fish")
    monkeypatch.setitem(data.SYSTEM_PATHS, "tuxpaint", str(copy))
    first = sorted((copy / "animals" / "fish").rglob("*.png"))[0]
    first.write_bytes(first.read_bytes() + b"\0")  # another release of one image
    with pytest.warns(fetch.ManifestWarning) as caught:
        data.load_dataset("tuxpaint", use_cache=False)
    text = str(caught[0].message)
    assert f"changed: animals/fish/{first.name}" in text and "missing: animals/birds/" in text
    assert "apt-get download tuxpaint-stamps-default=2022.06.04-1" in text
    assert "python -m helpers.data fetch tuxpaint --from" in text


def test_the_installed_packages_match_the_manifest_once_checked(tmp_data_dir, require_data):
    for name in ("tuxpaint", "openclipart"):
        root = Path(data.SYSTEM_PATHS[name])
        require_data(root.is_dir(), f"{name} is not installed")
        layout = {"tuxpaint": data.TUXPAINT_LAYOUT, "openclipart": data.OPENCLIPART_LAYOUT}[name]
        exclude = data.TUXPAINT_EXCLUDE if name == "tuxpaint" else ()
        files = [f for f, _ in data._glob_classes(root, layout, exclude)]
        assert fetch.check_installed(name, root, files) == []
        assert (tmp_data_dir / "cache" / "manifests" / f"{name}.json").is_file(), "remembered"


def test_a_held_out_test_set_is_fixed_and_disjoint_from_the_pool():
    images = torch.zeros(40, 3, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(40, dtype=torch.uint8)  # an id per image
    ds = data.ImageSet(images, torch.arange(40) % 4, list("abcd"), "tiny")
    pool, test = data.held_out(ds, 3)
    again, test2 = data.held_out(ds, 3)
    ids = lambda s: set(s.images[:, 0, 0, 0].tolist())  # noqa: E731
    assert len(test) == 12 and test.counts() == {c: 3 for c in "abcd"}
    assert ids(test) == ids(test2) and not ids(test) & ids(pool) and len(pool) == 28
