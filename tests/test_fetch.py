"""Photos without apt: unpacking the course's images from package files, checked and atomic."""

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from helpers import data, fetch


def test_manifests_list_what_the_loader_reads():
    for name in fetch.SOURCES:
        entries = fetch.read_manifest(name)
        assert len(entries) > 100 and all(len(d) == 64 for d in entries.values())
        assert all(rel.endswith(".png") and not rel.startswith("/") for rel in entries)
    tux = fetch.read_manifest("tuxpaint")
    assert not any("cartoon" in rel or "/toys/" in rel for rel in tux)


def _upstream_archive(tmp_path: Path, names: dict[str, bytes], top="tuxpaint-stamps-2022.06.04"):
    """A tar.gz in the upstream layout (<top>/stamps/<class folders>) holding ``names``."""
    path = tmp_path / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for rel, content in names.items():
            info = tarfile.TarInfo(f"{top}/stamps/{rel}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def installed_tuxpaint(require_data):
    root = Path(data.SYSTEM_PATHS["tuxpaint"])
    require_data(root.is_dir(), "tuxpaint-stamps-default is not installed")
    return {rel: (root / rel).read_bytes() for rel in fetch.read_manifest("tuxpaint")}


def test_fetch_from_an_upstream_archive(installed_tuxpaint, tmp_data_dir, tmp_path, monkeypatch):
    archive = _upstream_archive(tmp_path, {**installed_tuxpaint, "extra/readme.txt": b"x"})
    folder = fetch.fetch("tuxpaint", archive, progress=False)
    assert folder == tmp_data_dir / "tuxpaint-stamps"
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == sorted(installed_tuxpaint)  # the course's images, nothing else
    monkeypatch.setitem(data.SYSTEM_PATHS, "tuxpaint", str(tmp_path / "no-debian-here"))
    tux = data.load_dataset("tuxpaint", use_cache=False)
    assert tux.source == str(folder) and len(tux) == len(installed_tuxpaint)


def test_a_corrupted_or_incomplete_archive_is_refused(installed_tuxpaint, tmp_data_dir, tmp_path):
    files = dict(installed_tuxpaint)
    victim = sorted(files)[0]
    files[victim] = files[victim][:-10] + b"corrupted!"
    archive = _upstream_archive(tmp_path, files)
    with pytest.raises(fetch.FetchError, match="does not match the course's manifest"):
        fetch.fetch("tuxpaint", archive, progress=False)
    incomplete = _upstream_archive(tmp_path, {victim: installed_tuxpaint[victim]}, top="short")
    with pytest.raises(fetch.FetchError, match="lacks"):
        fetch.fetch("tuxpaint", incomplete, progress=False)
    # nothing half-written is left where the loader looks
    assert not (tmp_data_dir / "tuxpaint-stamps").exists()
    assert not list(tmp_data_dir.glob(".*partial*"))


def test_an_interrupted_fetch_leaves_nothing_trusted(installed_tuxpaint, tmp_data_dir, tmp_path):
    archive = _upstream_archive(tmp_path, installed_tuxpaint)
    stale = tmp_data_dir / ".tuxpaint-stamps.partial-killed"
    (stale / "animals").mkdir(parents=True)  # what a killed fetch leaves behind
    fetch.fetch("tuxpaint", archive, progress=False)
    assert not stale.exists()


def test_bad_files_give_clear_errors(tmp_data_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install tuxpaint-stamps-default"):
        fetch.fetch("tuxpaint", tmp_path / "missing.deb")
    junk = tmp_path / "junk.deb"
    junk.write_bytes(b"this is not an archive" * 10)
    with pytest.raises(fetch.FetchError, match="neither a Debian package nor a tar archive"):
        fetch.fetch("tuxpaint", junk)
    fake = tmp_path / "fake.deb"
    fake.write_bytes(
        b"!<arch>\n" + b"control.tar.xz/ 0           0     0     100644  4         `\n" + b"abcd"
    )
    with pytest.raises(fetch.FetchError, match="no data.tar member"):
        fetch.fetch("tuxpaint", fake)
    with pytest.raises(KeyError, match="tuxpaint, cartoons, openclipart"):
        fetch.fetch("cifar10", junk)


def test_missing_photos_message_names_fetch(tmp_data_dir, monkeypatch, tmp_path):
    monkeypatch.setitem(data.SYSTEM_PATHS, "tuxpaint", str(tmp_path / "absent"))
    with pytest.raises(data.DatasetNotFoundError) as err:
        data.load_dataset("tuxpaint", use_cache=False)
    text = str(err.value)
    assert "python -m helpers.data fetch tuxpaint --from FILE" in text
    assert "apt-get install tuxpaint-stamps-default" in text and ".deb" in text


@pytest.fixture(scope="session")
def tuxpaint_deb(tmp_path_factory):
    """The real Debian package file, as `apt-get download` fetches it."""
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not available to download the package file")
    folder = tmp_path_factory.mktemp("deb")
    result = subprocess.run(
        ["apt-get", "download", "tuxpaint-stamps-default"], cwd=folder, capture_output=True
    )
    files = list(folder.glob("tuxpaint-stamps-default_*.deb"))
    if result.returncode != 0 or not files:
        from conftest import data_missing

        data_missing(f"apt-get download failed: {result.stderr.decode()[-300:]}")
    return files[0]


@pytest.mark.slow
def test_fetch_from_the_real_debian_package(tuxpaint_deb, tmp_data_dir, tmp_path, monkeypatch):
    folder = fetch.fetch("tuxpaint", tuxpaint_deb, progress=False)
    manifest = fetch.read_manifest("tuxpaint")
    for rel, digest in list(manifest.items())[:20]:
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest
    assert sum(1 for p in folder.rglob("*.png")) == len(manifest)
    monkeypatch.setitem(data.SYSTEM_PATHS, "tuxpaint", str(tmp_path / "no-debian-here"))
    assert data.load_dataset("tuxpaint", use_cache=False).source == str(folder)
    code = fetch.main(["fetch", "tuxpaint", "--from", str(tuxpaint_deb)])
    assert code == 0


def test_apt_install_reports_one_line_per_package(monkeypatch, capsys):
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        ok = command[:2] != ["apt-get", "install"] or command[-1] != "no-such-package"
        out = "" if ok else "E: Unable to locate package no-such-package"
        return subprocess.CompletedProcess(command, 0 if ok else 100, stdout="", stderr=out)

    monkeypatch.setattr(fetch.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(fetch.subprocess, "run", run)
    monkeypatch.setattr(fetch, "_installed", lambda package: package == "already-here")
    status = fetch.apt_install(["already-here", "new-one", "no-such-package"])
    assert calls[0] == ["apt-get", "update"]
    assert status == {
        "already-here": "already there",
        "new-one": "installed",
        "no-such-package": "failed: E: Unable to locate package no-such-package",
    }
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"apt: {k}: {v}" for k, v in status.items()]
