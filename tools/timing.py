"""How long a notebook takes, and the one file that keeps the measurements.

:func:`measure` executes a notebook in a fresh kernel (``python -m tools.run_notebook``, the
course's executor) and returns its wall time, the peak memory of the executing process tree
(kernel included, sampled every 0.2 s), its exit code and the machine's load meanwhile
(:class:`LoadMeter`); :func:`record` merges a measurement into ``benchmarks/course_times.json``,
the one file the README's course map and each notebook's **Runtime** line are generated from
(``python -m tools.runtimes --write``). A run during which other work used more than a tenth of
the cores is *shared*: two torch processes on the same cores slow each other several times over.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "benchmarks" / "course_times.json"


def empty_caches() -> None:
    """Start cold: remove the cached features, results and lab networks under ``data/cache``
    (what a measured run must not find from an earlier one)."""
    import shutil

    for kind in ("features", "results", "lab"):
        shutil.rmtree(ROOT / "data" / "cache" / kind, ignore_errors=True)


def _read_times() -> dict:
    return json.loads(TIMES.read_text()) if TIMES.exists() else {"runs": {}}


def _write_times(times: dict) -> None:
    """Write ``benchmarks/course_times.json`` atomically."""
    tmp = TIMES.with_suffix(".tmp")
    tmp.write_text(json.dumps(times, indent=1) + "\n")
    tmp.replace(TIMES)


def machine() -> str:
    """``<CPU model>, <n> cores`` (and the GPU, if any): where a time was measured."""
    from helpers import config

    return config.machine()


def record(
    profile: str, notebook: str, seconds: float, gib: float | None, *, where: str = "", **extra
) -> None:
    """Merge one measurement into ``benchmarks/course_times.json`` (written atomically).

    ``where``: the machine, when it is not this one (a time measured on a lent GPU machine).
    """
    import torch

    times = _read_times()
    times["runs"].setdefault(profile, {})[notebook] = {
        "seconds": round(seconds, 1),
        "peak_gib": None if gib is None else round(gib, 2),
        "machine": where or machine(),
        "date": dt.date.today().isoformat(),
        "torch": torch.__version__,
        **extra,
    }
    times["runs"] = {p: dict(sorted(v.items())) for p, v in sorted(times["runs"].items())}
    _write_times(times)


def record_course(key: str, seconds: float, notebooks: int, **extra) -> None:
    """Merge one end-to-end run of the whole course (``make course RECORD=1``) into
    ``benchmarks/course_times.json`` under ``course``: its wall time from the first notebook's
    start to the last one's HTML."""
    import torch

    times = _read_times()
    times.setdefault("course", {})[key] = {
        "seconds": round(seconds, 1),
        "notebooks": notebooks,
        "machine": machine(),
        "date": dt.date.today().isoformat(),
        "torch": torch.__version__,
        **extra,
    }
    _write_times(times)


SHARED_LIMIT = 0.10  # other work above this share of the cores marks a measurement shared


def _busy_seconds() -> float:
    """CPU seconds spent by the whole machine so far (every core, every process)."""
    t = psutil.cpu_times()
    return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (a kernel, say)."""
    import resource

    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class LoadMeter:
    """``with LoadMeter() as m: …`` → ``m.load``: the load average before and after, the share of
    the cores this process and its children used, the share other work used meanwhile
    (``other_cpu_share``), and ``shared`` when that is above ``SHARED_LIMIT``."""

    def __enter__(self) -> LoadMeter:
        self.start = (os.getloadavg()[0], _busy_seconds(), _own_seconds(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        load, busy, own, start = self.start
        self.seconds = time.perf_counter() - start
        capacity = max(self.seconds, 1e-9) * (os.cpu_count() or 1)
        used, total = _own_seconds() - own, _busy_seconds() - busy
        other = max(0.0, total - used) / capacity
        self.load = {
            "load_before": round(load, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "cpu_share": round(used / capacity, 3),
            "other_cpu_share": round(other, 3),
            "shared": other > SHARED_LIMIT,
        }


def measure(
    notebook: Path, profile: str, keep: Path | None = None, results: str | None = None
) -> tuple[float, float, int, dict]:
    """(seconds, peak GiB, exit code, load) of one execution; ``keep``: where the executed copy
    goes; ``results``: ``TL_RESULTS`` for the run (``reference``: grids read the reference runs).

    ``load``: the load average before and after, the share of the cores the run itself used, and
    the share other work used meanwhile (``other_cpu_share``); ``shared`` when that is above
    ``SHARED_LIMIT`` — two torch processes on the same cores slow each other several times over.
    """
    env = {**os.environ, "TL_PROFILE": profile, "HF_HUB_OFFLINE": "1"}
    if results:
        env["TL_RESULTS"] = results
    with tempfile.TemporaryDirectory() as tmp:
        out = str(keep / profile) if keep else tmp
        cmd = [
            sys.executable,
            "-m",
            "tools.run_notebook",
            "--timeout=3600",
            "--output-dir",
            out,
            str(notebook),
        ]
        with LoadMeter() as meter:
            proc = subprocess.Popen(
                cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            parent, peak = psutil.Process(proc.pid), 0
            while proc.poll() is None:
                try:
                    tree = [parent, *parent.children(recursive=True)]
                    peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
                except psutil.Error:
                    pass
                time.sleep(0.2)
        return meter.seconds, peak / 2**30, proc.returncode, meter.load
