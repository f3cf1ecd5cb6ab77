"""Shared fixtures. Tests run offline: an accidental hub call fails at once."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TL_PROFILE", "quick")
# At most 2 threads (the machines the reference runs come from), or what OMP_NUM_THREADS asks
# for: `make test-threads` runs the unit tests with 1 thread to show that no test depends on it.
torch.set_num_threads(
    int(os.environ.get("OMP_NUM_THREADS") or 0) or max(1, min(2, os.cpu_count() or 1))
)


@pytest.fixture
def tmp_data_dir(tmp_path, monkeypatch):
    """An empty TL_DATA_DIR, so caches and lookups start from nothing."""
    monkeypatch.setenv("TL_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def data_missing(reason: str):
    """The one place that decides: skip a test whose data is missing, or fail it under CI.

    ``.ci/run`` sets ``TL_REQUIRE_DATA=1``: there every dataset must be installed, so a
    missing one is a failure, not a silent skip.
    """
    if os.environ.get("TL_REQUIRE_DATA") == "1":
        pytest.fail(f"required data missing (TL_REQUIRE_DATA=1): {reason}")
    pytest.skip(reason)


def _require_dataset(name: str):
    """Load a registered dataset; skip (or fail, see :func:`data_missing`) when it is missing."""
    from helpers import data

    try:
        return data.load_dataset(name, download=False)
    except data.DatasetNotFoundError as err:
        data_missing(f"{name} not installed here: {err}")


@pytest.fixture(scope="session")
def lite0():
    from helpers import models

    return models.load_backbone("lite0")


@pytest.fixture
def require_dataset():
    """``require_dataset(name)`` → the dataset, or skip (fail under TL_REQUIRE_DATA=1) when
    missing."""
    return _require_dataset


@pytest.fixture
def require_data():
    """``require_data(ok, reason)``: skip (fail under TL_REQUIRE_DATA=1) unless ``ok``."""

    def check(ok: bool, reason: str) -> None:
        if not ok:
            data_missing(reason)

    return check


def browser_missing(reason: str):
    """Skip a browser check, or fail it where ``TL_REQUIRE_BROWSER=1`` (CI) says it must run."""
    if os.environ.get("TL_REQUIRE_BROWSER") == "1":
        pytest.fail(f"required browser check cannot run (TL_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


def require_browser(what: str) -> None:
    """Debian's Chromium and Playwright from PyPI, or :func:`browser_missing`."""
    import shutil

    missing = []
    if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        missing.append("Chromium (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("Playwright (pip install -r requirements-dev.txt)")
    if missing:
        browser_missing(f"{what} needs " + " and ".join(missing))


@pytest.fixture
def require_interpreters():
    """``require_interpreters(ok, reason)``: skip unless ``ok``; fail where
    ``TL_REQUIRE_INTERPRETERS=1`` (CI) says the cross-interpreter check must run."""

    def check(ok: bool, reason: str) -> None:
        if ok:
            return
        if os.environ.get("TL_REQUIRE_INTERPRETERS") == "1":
            pytest.fail(f"needs two Pythons 3.10+ (TL_REQUIRE_INTERPRETERS=1): {reason}")
        pytest.skip(reason)

    return check


def pytest_terminal_summary(terminalreporter):
    """Name the Pythons whose code keys were compared (tests/test_codekey.py)."""
    module = __import__("sys").modules.get("test_codekey")
    compared = getattr(module, "COMPARED", None)
    if compared:
        found = ", ".join(f"{v} ({p})" for v, p in sorted(compared.items()))
        terminalreporter.write_line(f"code keys compared on Python {found}")


@pytest.fixture(scope="module")
def require_dataset_module():
    """:func:`require_dataset` for module-scoped fixtures."""
    return _require_dataset
