import random

import numpy as np
import pytest
import torch

from helpers import config


def test_profile_from_env(monkeypatch):
    for name in config.PROFILES:
        monkeypatch.setenv("TL_PROFILE", name)
        assert config.profile() == name
    monkeypatch.setenv("TL_PROFILE", "fast")
    with pytest.raises(ValueError, match="quick, cpu, gpu"):
        config.profile()


def test_profile_default_follows_hardware(monkeypatch):
    monkeypatch.delenv("TL_PROFILE", raising=False)
    monkeypatch.setattr(config, "accelerator", lambda: None)
    assert config.profile() == "cpu"
    monkeypatch.setattr(config, "accelerator", lambda: "cuda")
    assert config.profile() == "gpu"
    monkeypatch.setattr(config, "accelerator", lambda: "mps")
    assert config.profile() == "cpu", "Apple MPS gets the cpu sizes unless TL_PROFILE=gpu"
    monkeypatch.setenv("TL_PROFILE", "gpu")
    assert config.profile() == "gpu"


def test_by_profile(monkeypatch):
    monkeypatch.setenv("TL_PROFILE", "cpu")
    assert config.by_profile(quick=1, cpu=2, gpu=3) == 2


def test_pick_device_never_fails_without_gpu(monkeypatch):
    monkeypatch.delenv("TL_DEVICE", raising=False)
    device = config.pick_device()
    assert device.type in {"cuda", "mps", "cpu"}
    if not torch.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert config.pick_device("cuda").type == "cpu"


def test_seed_everything_is_reproducible():
    config.seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(3))
    config.seed_everything(3)
    b = (random.random(), np.random.rand(), torch.rand(3))
    # exact on purpose: the same generators, seeded alike, on one path
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_data_dir_and_cache_dir(tmp_data_dir):
    assert config.data_dir() == tmp_data_dir
    path = config.cache_dir("features")
    assert path.is_dir() and path.parent.parent == tmp_data_dir


def test_environment_printout(capsys):
    info = config.environment()
    assert {"torch", "profile", "device", "python"} <= set(info)
    config.print_environment()
    assert "torch" in capsys.readouterr().out


def test_profile_can_be_set_from_a_cell(monkeypatch):
    monkeypatch.delenv("TL_PROFILE", raising=False)
    assert config.set_profile("CPU") == "cpu" and config.profile() == "cpu"
    assert config.by_profile(quick=1, cpu=2, gpu=3) == 2
    with pytest.raises(ValueError, match="quick, cpu, gpu"):
        config.set_profile("fast")


def test_use_threads_sets_the_torch_and_blas_pools(monkeypatch):
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    for name in config.BLAS_VARIABLES:
        monkeypatch.delenv(name, raising=False)  # monkeypatch restores what use_threads sets
    monkeypatch.delenv("TL_BLAS_THREADS", raising=False)
    monkeypatch.setenv("TL_THREADS", "1")
    try:
        assert config.use_threads() == {"torch": 1, "blas": 1}
        assert torch.get_num_threads() == 1
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and set(blas) == {1}
        assert config.environment()["blas_threads"] == "1"
        monkeypatch.setenv("TL_BLAS_THREADS", "2")
        monkeypatch.delenv("TL_THREADS")
        assert config.use_threads(torch_threads=before)["blas"] == 2
        assert torch.get_num_threads() == before
        with pytest.raises(ValueError, match="at least one thread"):
            config.use_threads(torch_threads=-1)
    finally:
        torch.set_num_threads(before)
        config.use_threads(torch_threads=before, blas_threads=1)
