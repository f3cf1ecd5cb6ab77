"""Your folder from a zip or a Colab upload: unpacked safely, never half-written."""

import io
import stat
import sys
import types
import zipfile

import pytest
from PIL import Image

from helpers import data, uploads


def _png(colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 9), colour).save(buffer, "PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes], links=()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            z.writestr(name, content)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return buffer.getvalue()


FOLDER = {f"my_classes/{c}/{i}.png": _png() for c in ("cats", "dogs") for i in range(3)}


def test_a_zipped_folder_unpacks_to_its_class_folders_and_loads(tmp_path):
    extra = {"__MACOSX/my_classes/._0.png": b"junk", "my_classes/cats/notes.txt": b"hi"}
    folder = uploads.unpack_zip(_zip({**FOLDER, **extra}), tmp_path / "upload")
    assert folder == tmp_path / "upload" / "my_classes"
    assert (
        not (tmp_path / "upload" / "__MACOSX").exists()
        and not (folder / "cats" / "notes.txt").exists()
    )
    loaded = data.load_image_folder(folder, image_size=16)
    assert loaded.classes == ["cats", "dogs"] and len(loaded) == 6
    flat = uploads.unpack_zip(
        _zip({k.split("/", 1)[1]: v for k, v in FOLDER.items()}), tmp_path / "f"
    )
    assert flat == tmp_path / "f" and sorted(p.name for p in flat.iterdir()) == ["cats", "dogs"]


@pytest.mark.parametrize(
    "name",
    ["../evil.png", "/etc/evil.png", "a/../../evil.png", "C:/evil.png", "a\\..\\..\\evil.png"],
)
def test_a_member_outside_the_folder_is_refused_and_nothing_is_written(tmp_path, name):
    before = {"kept/cats/old.png": _png()}
    uploads.unpack_zip(_zip(before), tmp_path / "upload")
    with pytest.raises(uploads.UnsafeZip, match="outside the folder"):
        uploads.unpack_zip(_zip({**FOLDER, name: _png()}), tmp_path / "upload")
    assert (tmp_path / "upload" / "kept" / "cats" / "old.png").is_file(), "the old folder stays"
    assert not list(tmp_path.glob(".upload.partial-*")), "no partial folder is left"
    assert not (tmp_path / "evil.png").exists()


def test_links_bombs_and_non_zips_are_refused(tmp_path):
    with pytest.raises(uploads.UnsafeZip, match="is a link"):
        uploads.unpack_zip(_zip(FOLDER, links=["my_classes/cats/link.png"]), tmp_path / "a")
    bomb = _zip({"x/a/big.png": b"\0" * 5_000_000, "x/b/big.png": b"\0" * 10})  # compresses well
    assert len(bomb) < 100_000
    with pytest.raises(uploads.UnsafeZip, match="more than"):
        uploads.unpack_zip(bomb, tmp_path / "b", max_bytes=1_000_000)
    with pytest.raises(uploads.UnsafeZip, match="more than 3"):
        uploads.unpack_zip(_zip(FOLDER), tmp_path / "c", max_files=3)
    with pytest.raises(uploads.UnsafeZip, match="not a readable zip"):
        uploads.unpack_zip(b"not a zip at all", tmp_path / "d")
    with pytest.raises(uploads.UnsafeZip, match="no images"):
        uploads.unpack_zip(_zip({"readme.txt": b"x"}), tmp_path / "e")
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir()), "nothing half-written"


def test_open_folder_takes_a_folder_a_zip_or_an_upload_on_colab(tmp_path, monkeypatch):
    path = tmp_path / "mine.zip"
    path.write_bytes(_zip(FOLDER))
    assert uploads.open_folder(path, tmp_path / "u") == tmp_path / "u" / "my_classes"
    assert uploads.open_folder(tmp_path / "u", tmp_path / "x") == tmp_path / "u"
    with pytest.raises(FileNotFoundError, match="give a folder"):
        uploads.open_folder(tmp_path / "nowhere", tmp_path / "x")
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with pytest.raises(RuntimeError, match="works on Colab"):
        uploads.open_folder("upload", tmp_path / "x")
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(upload=lambda: {"mine.zip": _zip(FOLDER)})
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    sys.modules["google"].colab = colab
    folder = uploads.open_folder("upload", tmp_path / "up")
    assert data.load_image_folder(folder, image_size=16).classes == ["cats", "dogs"]
    colab.files = types.SimpleNamespace(upload=lambda: {"a.png": _png()})
    with pytest.raises(ValueError, match="upload one .zip"):
        uploads.open_folder("upload", tmp_path / "up")
