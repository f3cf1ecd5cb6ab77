"""Getting the course's photo datasets onto a machine: apt where there is apt, package files
where there is not.

- :func:`apt_install` installs Debian packages one by one and prints one line per package
  (installed / already there / failed, with the reason); the Colab setup cell uses it.
- ``python -m helpers.data fetch NAME --from FILE`` unpacks the image folders the course
  uses from a Debian package file (``.deb``) or, for Tux Paint, the upstream stamps archive,
  into the data folder — standard library only, every image checked against the SHA-256
  manifest committed with the course, atomically (see :func:`fetch`).

This module imports nothing from ``helpers`` but ``config``, so ``data`` can use it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from . import config

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _installed(package: str) -> bool:
    """Whether dpkg lists ``package`` as installed."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and result.stdout.strip().endswith("installed")


def apt_install(packages: Sequence[str], *, update: bool = True) -> dict[str, str]:
    """Install Debian ``packages`` with apt-get, one line of output per package.

    Runs ``apt-get update`` first (a fresh machine's package lists are empty or stale), then
    ``apt-get install -y --no-install-recommends`` for each package not yet installed.
    Returns ``{package: "installed" | "already there" | "failed: <reason>"}``; apt's own
    output is kept, and its last line is shown as the reason when a package fails.
    """
    status: dict[str, str] = {}
    if not packages:
        print("apt: this notebook needs no Debian package")
        return status
    if shutil.which("apt-get") is None:
        for package in packages:
            status[package] = "failed: apt-get is not available on this machine"
            print(f"apt: {package}: {status[package]}")
        return status
    env = {**os.environ, **APT_ENV}
    if update:
        result = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env)
        if result.returncode != 0:
            print(f"apt: update failed ({_last_line(result.stderr or result.stdout)})")
    for package in packages:
        if _installed(package):
            status[package] = "already there"
        else:
            command = ["apt-get", "install", "-y", "--no-install-recommends", package]
            result = subprocess.run(command, capture_output=True, text=True, env=env)
            ok = result.returncode == 0
            reason = _last_line(result.stderr or result.stdout)
            status[package] = "installed" if ok else f"failed: {reason}"
        print(f"apt: {package}: {status[package]}")
    return status


# ----------------------------------------------------------------------------- package files


@dataclass(frozen=True)
class PhotoSource:
    """Where a photo dataset's images sit in its package files, and where the course keeps them."""

    package: str  # the Debian package
    version: str  # the version the manifest was computed from
    folder: str  # the folder under the data folder that ``data.load_dataset`` reads first
    member: str  # regex: a package member's path → its path relative to the image root
    upstream: str  # what else ``--from`` accepts


SOURCES = {
    "tuxpaint": PhotoSource(
        package="tuxpaint-stamps-default",
        version="2022.06.04-1",
        folder="tuxpaint-stamps",
        member=r"(?:^|/)stamps/(.+)$",
        upstream="Tux Paint's own tuxpaint-stamps-2022.06.04.tar.gz release archive",
    ),
    "cartoons": PhotoSource(
        package="tuxpaint-stamps-default",
        version="2022.06.04-1",
        folder="tuxpaint-cartoons",
        member=r"(?:^|/)stamps/(.+)$",
        upstream="Tux Paint's own tuxpaint-stamps-2022.06.04.tar.gz release archive",
    ),
    "openclipart": PhotoSource(
        package="openclipart-png",
        version="1:0.18+dfsg-19",
        folder="openclipart-png",
        member=r"(?:^|/)openclipart/png/(.+)$",
        upstream="no other archive (the Debian package only)",
    ),
}


class FetchError(RuntimeError):
    """A package file that cannot be used: unreadable, incomplete, or not the expected files."""


def manifest_path(name: str) -> Path:
    """The committed SHA-256 manifest of a photo dataset: ``data/manifests/<name>.sha256``."""
    return config.repo_root() / "data" / "manifests" / f"{name}.sha256"


def read_manifest(name: str) -> dict[str, str]:
    """``{relative path: sha256}`` from the manifest (``sha256sum`` format, ``#`` comments)."""
    entries = {}
    for line in manifest_path(name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, rel = line.split(maxsplit=1)
            entries[rel.strip()] = digest
    return entries


def write_manifest(name: str, root: Path, files: Sequence[Path]) -> Path:
    """Write the manifest of ``files`` (paths under ``root``); used once per package version."""
    source = SOURCES[name]
    lines = [
        f"# {name}: SHA-256 of every image the course reads, from the Debian package "
        f"{source.package} {source.version}",
        "# regenerate: python tools/make_manifests.py (with the package installed)",
    ]
    for path in sorted(files):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(root).as_posix()}")
    target = manifest_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n")
    return target


class _Slice(io.RawIOBase):
    """Read ``size`` bytes of ``file`` starting where it stands: one member of an ``ar`` archive."""

    def __init__(self, file: BinaryIO, size: int):
        self.file, self.left = file, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.file.read(min(len(buffer), self.left))
        buffer[: len(chunk)] = chunk
        self.left -= len(chunk)
        return len(chunk)


def _deb_data(file: BinaryIO) -> tuple[str, io.RawIOBase]:
    """The compression and a stream of the ``data.tar.*`` member of a Debian package file."""
    if file.read(8) != b"!<arch>\n":
        raise FetchError("not a Debian package (no 'ar' archive header)")
    while len(header := file.read(60)) == 60:
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        if name.startswith("data.tar"):
            compression = name.removeprefix("data.tar").lstrip(".") or "tar"
            return compression, _Slice(file, size)
        file.seek(size + size % 2, io.SEEK_CUR)
    raise FetchError("the Debian package holds no data.tar member")


def _tar_members(path: Path, stack: contextlib.ExitStack) -> tarfile.TarFile:
    """An open tar stream of a ``.deb``'s files or of a plain (compressed) tar archive."""
    file = stack.enter_context(path.open("rb"))
    if file.read(8) == b"!<arch>\n":
        file.seek(0)
        compression, stream = _deb_data(file)
        modes = {"xz": "r|xz", "gz": "r|gz", "bz2": "r|bz2", "tar": "r|"}
        if compression not in modes:
            raise FetchError(
                f"{path.name} compresses its files with {compression}, which this Python's "
                "standard library cannot read; install the package with apt, or unpack it "
                "with dpkg-deb -x and use the folder"
            )
        return stack.enter_context(tarfile.open(fileobj=stream, mode=modes[compression]))
    file.seek(0)
    try:
        return stack.enter_context(tarfile.open(fileobj=file, mode="r|*"))
    except tarfile.TarError as err:
        raise FetchError(f"{path.name} is neither a Debian package nor a tar archive") from err


def _unpack(name: str, path: Path, target: Path, progress: bool) -> None:
    """Copy the manifest's files out of ``path`` into ``target``, checking every digest."""
    wanted = read_manifest(name)
    pattern = re.compile(SOURCES[name].member)
    found: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        archive = _tar_members(path, stack)
        bar = tqdm(total=len(wanted), desc=f"fetch {name}", unit="img", disable=not progress)
        for member in archive:
            match = pattern.search(member.name)
            rel = match.group(1) if match else None
            if not member.isfile() or rel not in wanted or rel in found:
                continue
            content = archive.extractfile(member).read()
            digest = hashlib.sha256(content).hexdigest()
            if digest != wanted[rel]:
                raise FetchError(f"{path.name}: {rel} does not match the course's manifest")
            destination = target / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(content)
            found[rel] = digest
            bar.update()
        bar.close()
    if missing := sorted(set(wanted) - set(found)):
        raise FetchError(
            f"{path.name} lacks {len(missing)} of the {len(wanted)} images the course uses "
            f"(e.g. {missing[0]}); is it {SOURCES[name].package} {SOURCES[name].version}?"
        )


def fetch(name: str, source: str | Path, *, progress: bool = True) -> Path:
    """Unpack dataset ``name`` from a package file into the data folder; return its folder.

    ``source`` is the Debian package file (``.deb``) or, for Tux Paint, the upstream stamps
    archive. Only the images the course reads are written, each checked against the
    committed SHA-256 manifest. The work happens in a ``.partial`` folder that is renamed
    into place only when every image is there and correct: an interrupted or refused fetch
    leaves nothing that ``data.load_dataset`` would read.
    """
    if name not in SOURCES:
        raise KeyError(f"unknown photo dataset {name!r}; choose one of {', '.join(SOURCES)}")
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}; {how_to_get(name)}")
    root = config.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / SOURCES[name].folder
    for stale in root.glob(f".{final.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted fetch
    partial = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=root))
    try:
        _unpack(name, path, partial, progress)
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            partial.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


class ManifestWarning(UserWarning):
    """Images read from an installed package differ from the course's manifest."""


def check_installed(name: str, root: Path, files: Sequence[Path]) -> list[str]:
    """Compare the images a dataset reads from ``root`` (an installed package's folder) with
    the committed manifest; the differences, one line each (empty: the course's images).

    Hashing runs once per installed copy: a check that passed is remembered in the cache
    (``cache/manifests/<name>.json``) together with each file's size and time, and repeated
    only when one of them changes.
    """
    rel = {f.relative_to(root).as_posix(): f for f in files}
    stamp = hashlib.sha256()
    for key, path in sorted(rel.items()):
        info = path.stat()
        stamp.update(f"{key}\t{info.st_size}\t{info.st_mtime_ns}\n".encode())
    stamp.update(manifest_path(name).read_bytes())
    remembered = config.cache_dir("manifests") / f"{name}.json"
    if remembered.is_file() and remembered.read_text().strip() == stamp.hexdigest():
        return []
    wanted = read_manifest(name)
    changed = [
        k
        for k in sorted(set(rel) & set(wanted))
        if hashlib.sha256(rel[k].read_bytes()).hexdigest() != wanted[k]
    ]
    problems = [f"changed: {k}" for k in changed]
    problems += [f"missing: {k}" for k in sorted(set(wanted) - set(rel))]
    problems += [f"not in the manifest: {k}" for k in sorted(set(rel) - set(wanted))]
    if not problems:
        remembered.write_text(stamp.hexdigest() + "\n")
    return problems


def mismatch_message(name: str, root: Path, problems: Sequence[str]) -> str:
    """One paragraph: which images differ from the manifest, and what to do."""
    source = SOURCES[name]
    shown = "; ".join(problems[:3]) + (f"; … {len(problems) - 3} more" if len(problems) > 3 else "")
    return (
        f"{name}: the images in {root} are not the course's ({len(problems)} differ from "
        f"data/manifests/{name}.sha256, made from {source.package} {source.version}: {shown}). "
        f"This system ships another release: results will differ from the reference runs, and "
        f"their rows are recomputed. For the course's images: `apt-get download "
        f"{source.package}={source.version}` (or the file from another machine), then "
        f"`python -m helpers.data fetch {name} --from <that file>`."
    )


def how_to_get(name: str) -> str:
    """One sentence: the apt line, or the file to give ``fetch``."""
    source = SOURCES[name]
    return (
        f"install it with `apt-get install {source.package}`, or without apt: "
        f"`python -m helpers.data fetch {name} --from FILE`, FILE being the Debian package "
        f"file {source.package}_{source.version.split(':')[-1]}_all.deb (from any Debian "
        f"mirror; `apt-get download {source.package}` on a Debian machine) or "
        f"{source.upstream}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.data fetch NAME [--from FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data", description="get the course's photo datasets"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch", help="unpack Tux Paint or OpenClipart into the data folder")
    get.add_argument("name", choices=list(SOURCES))
    get.add_argument("--from", dest="source", help="a .deb (or, for tuxpaint, the stamps .tar.gz)")
    args = parser.parse_args(argv)
    if args.source is None:
        if shutil.which("apt-get") and os.geteuid() == 0:
            status = apt_install([SOURCES[args.name].package])
            return 0 if not any(s.startswith("failed") for s in status.values()) else 1
        print(f"{args.name}: {how_to_get(args.name)}")
        return 2
    try:
        folder = fetch(args.name, args.source)
    except (FetchError, FileNotFoundError) as err:
        print(f"fetch {args.name}: {err}")
        return 1
    print(f"{args.name}: {len(read_manifest(args.name))} images checked and unpacked into {folder}")
    return 0
