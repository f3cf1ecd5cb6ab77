"""Profiles, paths, device choice, seeding and an environment printout.

``TL_PROFILE`` (quick | cpu | gpu) is read here and nowhere else. Nothing is evaluated at
import time: every function looks at the environment when it is called.
"""

from __future__ import annotations

import importlib.metadata as md
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
    """The active profile: ``$TL_PROFILE``, else ``gpu`` on CUDA machines, else ``cpu``.

    Apple MPS gets the ``cpu`` sizes by default (a laptop GPU is not a datacenter GPU); set
    ``TL_PROFILE=gpu`` to use the larger ones there.
    """
    value = os.environ.get("TL_PROFILE", "").strip().lower()
    if not value:
        return "gpu" if accelerator() == "cuda" else "cpu"
    if value not in PROFILES:
        raise ValueError(
            f"TL_PROFILE={value!r} is not a profile; choose one of {', '.join(PROFILES)}"
        )
    return value


def set_profile(name: str) -> str:
    """Choose the profile from a notebook cell, before its configuration cell runs.

    On Colab there is no shell before Jupyter starts; ``config.set_profile("quick")`` (or the
    cell magic ``%env TL_PROFILE=quick``) sets ``$TL_PROFILE`` for this kernel. Returns the name.
    """
    value = name.strip().lower()
    if value not in PROFILES:
        raise ValueError(f"{name!r} is not a profile; choose one of {', '.join(PROFILES)}")
    os.environ["TL_PROFILE"] = value
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
        warnings.warn(
            f"device {wanted!r} requested but CUDA is not available; using cpu", stacklevel=2
        )
        wanted = "cpu"
    if wanted == "mps" and accelerator() != "mps":
        warnings.warn("device 'mps' requested but not available; using cpu", stacklevel=2)
        wanted = "cpu"
    return torch.device(wanted)


def amp_settings(device: torch.device | str) -> tuple[bool, torch.dtype | None]:
    """``(enabled, dtype)`` for autocast on ``device``: the one precision choice of the course.

    - CUDA with compute capability ≥ 8.0 (A100, H100, RTX 30xx and newer): bf16.
    - Older CUDA GPUs (T4 = 7.5, V100 = 7.0): fp16, with a gradient scaler when training.
      torch reports bf16 as "supported" on a T4, but there it is emulated and slow.
    - Apple MPS and CPUs: off (fp32). bf16 autocast is many times slower on CPUs without
      bf16 units, and MPS autocast support varies between macOS and torch versions.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return False, None
    index = device.index if device.index is not None else torch.cuda.current_device()
    major, _ = torch.cuda.get_device_capability(index)
    return True, torch.bfloat16 if major >= 8 else torch.float16


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch.Generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


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


def machine() -> str:
    """``<CPU model>, <n> cores`` (and the GPU, if any): where a result was computed."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    text = f"{model or 'unknown CPU'}, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        text += f", {torch.cuda.get_device_name(0)}"
    return text


def commit() -> str:
    """The course's git commit (``+dirty`` with uncommitted changes), or ``"unknown"``."""
    import subprocess

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        if out.returncode:
            raise OSError(out.stderr)
        return out.stdout.strip()

    try:
        head, dirty = git("rev-parse", "HEAD"), git("status", "--porcelain", "helpers")
    except OSError:
        return "unknown"
    return head + ("+dirty" if dirty else "")


def environment() -> dict[str, Any]:
    """Versions, hardware and profile as a plain dict (see :func:`print_environment`)."""

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "not installed"

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "library default"),
        "profile": profile(),
        "device": str(pick_device()),
        "data_dir": str(data_dir()),
    }
    for pkg in (
        "torch",
        "torchvision",
        "timm",
        "numpy",
        "scikit-learn",
        "matplotlib",
        "ipywidgets",
    ):
        info[pkg] = version(pkg)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    return info


BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def use_threads(torch_threads: int | None = None, blas_threads: int | None = None) -> dict:
    """Set the thread pools the course's work runs on; returns ``{"torch": n, "blas": m}``.

    - torch's intra-op pool (training, feature extraction): ``torch_threads``, else
      ``$TL_THREADS``, else torch's own default (one thread per core).
    - the BLAS pools behind numpy, SciPy and scikit-learn's probes: ``blas_threads``, else
      ``$TL_BLAS_THREADS``, else 1. On 2 cores scikit-learn's logistic probes ran about three
      times faster with one BLAS thread than with two, alone and beside a second notebook
      (``benchmarks/RESULTS.md``, thread settings); torch's own matrix products are not these.

    Two notebooks at once on a small machine: ``TL_THREADS=1`` in each keeps them from
    slowing each other several times over (each then runs at one core's speed). Libraries
    already loaded are limited through ``threadpoolctl``; ones loaded later read the
    environment variables set here.
    """
    torch_threads = torch_threads or int(os.environ.get("TL_THREADS") or 0) or None
    blas_threads = blas_threads or int(os.environ.get("TL_BLAS_THREADS") or 0) or 1
    if torch_threads is not None:
        if torch_threads < 1:
            raise ValueError(f"torch_threads={torch_threads}: use at least one thread")
        torch.set_num_threads(torch_threads)
    for name in BLAS_VARIABLES:
        os.environ[name] = str(blas_threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=blas_threads, user_api="blas")
    return {"torch": torch.get_num_threads(), "blas": blas_threads}


def print_environment() -> None:
    """Print :func:`environment` as aligned ``key: value`` lines."""
    info = environment()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}} : {value}")
