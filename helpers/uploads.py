"""Your images from wherever they are: a folder, a zip of one, or an upload on Colab.

:func:`open_folder` turns what a notebook's ``MY_FOLDER`` names into a folder that
:func:`helpers.data.load_image_folder` reads (a subfolder per class): a folder as it is; a
``.zip`` unpacked safely (:func:`unpack_zip`); ``"upload"`` on Colab, a zip chosen in the
browser (``google.colab.files.upload``). A folder on Google Drive is a folder: mount Drive
(``from google.colab import drive; drive.mount("/content/drive")``) and give its path.

A zip is untrusted input. :func:`unpack_zip` writes nothing outside its destination (no absolute
paths, no ``..``, no links), stops at a size and a file-count limit counted on the bytes really
written (a zip's declared sizes can lie), keeps image files only, and unpacks into a temporary
folder that replaces the destination only when everything is there: a refused or interrupted
unpack leaves nothing half-written.
"""

from __future__ import annotations

import io
import shutil
import stat
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from . import data

MAX_BYTES = 512 * 2**20  # what a zip may unpack to
MAX_FILES = 20_000
SKIPPED = ("__MACOSX",)  # folders that zip tools add beside the content


class UnsafeZip(ValueError):
    """A zip that would write outside its folder, hold a link, or unpack past the limits."""


def _safe_name(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's path inside the destination, ``None`` to skip it; raises for an unsafe one."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeZip(f"{info.filename!r} would be written outside the folder")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeZip(f"{info.filename!r} is a link; a folder of images holds none")
    hidden = any(part.startswith(".") or part in SKIPPED for part in path.parts)
    if info.is_dir() or hidden or path.suffix.lower() not in data.IMAGE_SUFFIXES:
        return None
    return path


def _copy_limited(source, target: Path, budget: list[int]) -> None:
    """Copy a member's bytes, counting them against ``budget[0]`` as they are written."""
    with target.open("wb") as out:
        while chunk := source.read(1 << 20):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise UnsafeZip(f"the zip unpacks to more than {MAX_BYTES // 2**20} MiB")
            out.write(chunk)


def unpack_zip(
    zip_file, destination: str | Path, *, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES
) -> Path:
    """Unpack the images of ``zip_file`` (a path, bytes or a binary file) into
    ``destination`` (replaced) and return the folder of class subfolders: ``destination``
    itself, or its single top-level folder when the zip holds one (a zipped folder)."""
    source = io.BytesIO(zip_file) if isinstance(zip_file, bytes) else zip_file
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    try:
        with zipfile.ZipFile(source) as archive:
            members = [(i, _safe_name(i)) for i in archive.infolist()]
            members = [(i, p) for i, p in members if p is not None]
            if not members:
                raise UnsafeZip(
                    f"the zip holds no images ({', '.join(sorted(data.IMAGE_SUFFIXES))})"
                )
            if len(members) > max_files:
                raise UnsafeZip(f"the zip holds {len(members)} images, more than {max_files}")
            budget = [max_bytes]
            for info, path in members:
                target = partial.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as member:
                    _copy_limited(member, target, budget)
        shutil.rmtree(destination, ignore_errors=True)
        partial.rename(destination)
    except zipfile.BadZipFile as err:
        raise UnsafeZip(f"not a readable zip file ({err})") from err
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    inside = [p for p in destination.iterdir() if p.is_dir()]
    only_folder = len(inside) == 1 and not any(p.is_file() for p in destination.iterdir())
    return inside[0] if only_folder else destination


def colab_upload(destination: str | Path) -> Path:
    """On Colab: choose a zip of your folder in the browser; it is unpacked as
    :func:`unpack_zip` does. Elsewhere: a ``RuntimeError`` that says what to do instead."""
    if "google.colab" not in sys.modules:
        raise RuntimeError('MY_FOLDER="upload" works on Colab; elsewhere give a folder or a .zip')
    from google.colab import files

    uploaded = files.upload()  # {file name: bytes}
    zips = {name: content for name, content in uploaded.items() if name.lower().endswith(".zip")}
    if len(zips) != 1:
        got = ", ".join(sorted(uploaded)) or "nothing"
        raise ValueError(f"upload one .zip of your folder (a subfolder per class); got {got}")
    return unpack_zip(zips.popitem()[1], destination)


def open_folder(where: str | Path, unpack_to: str | Path) -> Path:
    """The folder of class subfolders that ``where`` names: a folder, a ``.zip`` (unpacked into
    ``unpack_to``), or ``"upload"`` on Colab (:func:`colab_upload`)."""
    if str(where) == "upload":
        return colab_upload(unpack_to)
    path = Path(where).expanduser()
    if path.is_file() and path.suffix.lower() == ".zip":
        return unpack_zip(path, unpack_to)
    if not path.exists():
        wanted = "a folder (a subfolder per class) or a .zip of one"
        raise FileNotFoundError(f"{path} does not exist: give {wanted}")
    return path
