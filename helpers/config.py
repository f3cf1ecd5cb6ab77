"""Profiles, paths, device choice, seeding and an environment printout.

``TL_PROFILE`` (quick | cpu | gpu) is read here and nowhere else. Nothing is evaluated at
import time: every function looks at the environment when it is called.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import warnings
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

PROFILES = ("quick", "cpu", "gpu")
T = TypeVar("T")


def accelerator() -> str | None:
    """Return ``"cuda"`` or ``"mps"`` when such a device is usable, else ``None``."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return None


def profile() -> str:
    """The active profile: ``$TL_PROFILE``, else ``gpu`` on CUDA/MPS machines, else ``cpu``."""
    value = os.environ.get("TL_PROFILE", "").strip().lower()
    if not value:
        return "gpu" if accelerator() else "cpu"
    if value not in PROFILES:
        raise ValueError(f"TL_PROFILE={value!r} is not a profile; choose one of {', '.join(PROFILES)}")
    return value


def by_profile(*, quick: T, cpu: T, gpu: T) -> T:
    """Pick the value for the active profile, e.g. ``by_profile(quick=2, cpu=10, gpu=30)``."""
    return {"quick": quick, "cpu": cpu, "gpu": gpu}[profile()]


def pick_device(prefer: str | None = None) -> torch.device:
    """cuda → mps → cpu; never fails on a CPU-only machine.

    ``prefer`` (or ``$TL_DEVICE``) forces a device; an unavailable choice falls back to CPU
    with a warning instead of crashing.
    """
    wanted = prefer or os.environ.get("TL_DEVICE") or accelerator() or "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(f"device {wanted!r} requested but CUDA is not available; using cpu", stacklevel=2)
        wanted = "cpu"
    if wanted == "mps" and accelerator() != "mps":
        warnings.warn("device 'mps' requested but not available; using cpu", stacklevel=2)
        wanted = "cpu"
    return torch.device(wanted)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch.Generator seeded with ``seed``.

    Pass the generator to a DataLoader together with ``worker_init_fn=seed_worker`` to make
    worker processes reproducible too.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive NumPy/random seeds from torch's per-worker seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def repo_root() -> Path:
    """The folder that holds ``helpers/`` (the course checkout when installed editable)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Where datasets and small assets live: ``$TL_DATA_DIR``, else the course's ``data/``.

    Falls back to ``~/.cache/transfer-learning-lab`` when helpers is installed outside a checkout.
    """
    env = os.environ.get("TL_DATA_DIR")
    if env:
        return Path(env).expanduser()
    checkout_data = repo_root() / "data"
    if (checkout_data / "README.md").exists():
        return checkout_data
    return Path.home() / ".cache" / "transfer-learning-lab"


def cache_dir(kind: str = "") -> Path:
    """A writable cache folder under ``data_dir()/cache`` (created on demand)."""
    path = data_dir() / "cache" / kind if kind else data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def environment() -> dict[str, Any]:
    """Versions, hardware and profile as a plain dict (see :func:`print_environment`)."""
    import importlib.metadata as md

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "not installed"

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "profile": profile(),
        "device": str(pick_device()),
        "data_dir": str(data_dir()),
    }
    for pkg in ("torch", "torchvision", "timm", "numpy", "scikit-learn", "matplotlib", "ipywidgets"):
        info[pkg] = version(pkg)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    return info


def print_environment() -> None:
    """Print :func:`environment` as aligned ``key: value`` lines."""
    info = environment()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}} : {value}")
