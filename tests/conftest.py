"""Shared fixtures. Tests run offline: an accidental hub call fails at once."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TL_PROFILE", "quick")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def tmp_data_dir(tmp_path, monkeypatch):
    """An empty TL_DATA_DIR, so caches and lookups start from nothing."""
    monkeypatch.setenv("TL_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def _require_dataset(name: str):
    """Load a registered dataset; skip when it is not installed (fail instead when TL_REQUIRE_DATA=1)."""
    from helpers import data

    try:
        return data.load_dataset(name, download=False)
    except data.DatasetNotFoundError as err:
        if os.environ.get("TL_REQUIRE_DATA") == "1":
            raise
        pytest.skip(f"{name} not installed here: {err}")


@pytest.fixture(scope="session")
def lite0():
    from helpers import models

    return models.load_backbone("lite0")


@pytest.fixture
def require_dataset():
    """``require_dataset(name)`` → the dataset, or skip (fail under TL_REQUIRE_DATA=1) when missing."""
    return _require_dataset
